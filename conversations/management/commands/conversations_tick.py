"""Run one pass of the conversation lifecycle now, on the real clock, instead of waiting for the
worker's per-minute schedule (`conversations.tasks.conversations_advance_task` runs the same
service): Open -> Inactive after the inactivity period, Open/Inactive -> Closed after the
conversation timeout, each transition recorded and, with observations on, one memory extraction
requested (`conversations.services.conversations_advance`). The requests are processed by the
worker, or here at once with `--extract`. Safe to run at any time, also beside a running worker:
a conversation moves once per transition and its extraction is requested once."""

from django.core.management.base import BaseCommand

from conversations.memory import extractions_pending_process
from conversations.services import conversations_advance


class Command(BaseCommand):
    help = "Move conversations through their lifecycle now (what the worker does every minute)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--extract",
            action="store_true",
            help="Also process every pending memory extraction request now, in this process "
            "(otherwise the worker does, within a minute).",
        )

    def handle(self, *args, extract: bool, **options):
        counts = conversations_advance()
        self.stdout.write(
            f"Lifecycle pass: {counts.inactive:,} conversations went Inactive, {counts.closed:,} Closed; "
            f"{counts.extractions:,} memory extractions requested."
        )
        if not extract:
            return
        done = failed = 0
        while True:
            sweep = extractions_pending_process()
            if not sweep["done"] and not sweep["failed"]:
                break
            done, failed = done + sweep["done"], failed + sweep["failed"]
        self.stdout.write(f"Memory extraction: {done:,} requests done, {failed:,} failed.")
