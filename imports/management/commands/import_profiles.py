"""Import a CSV file into a store from the command line, with the same rules as the console."""

import threading
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError

from imports.models import ImportStatus
from imports.selectors import import_live_counts
from imports.services import import_run, import_start
from memory_console.busy import MESSAGE as BUSY_MESSAGE
from memory_console.busy import is_database_busy
from stores.models import Store


def _messages(exc: ValidationError) -> str:
    return "\n".join(f"  - {message}" for message in exc.messages)


class Command(BaseCommand):
    help = (
        "Import profiles from a CSV file: --map 'Email=identifier:email' --map 'First Name=Contact.firstName' ... "
        "Runs the import in this process (printing progress) unless --queue hands it to the qcluster worker."
    )
    report_every = 2.0  # seconds between two progress lines

    def add_arguments(self, parser):
        parser.add_argument("--store", type=int, required=True, help="memory store id")
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            dest="specs",
            metavar="HEADER=TARGET",
            help="TARGET is identifier:KIND or Group.trait; repeat for every column to import",
        )
        parser.add_argument("--queue", action="store_true", help="queue for the worker instead of running here")

    def handle(self, *args, store, file, specs, queue, **options):
        target = Store.objects.filter(pk=store).first()
        if target is None:
            raise CommandError(f"No memory store with id {store}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        actor = "cli:import_profiles"

        def chunks():
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    yield block

        try:
            profile_import = import_start(
                store=target, actor=actor, file_name=path.name, chunks=chunks(), specs=specs, enqueue=queue
            )
        except ValidationError as exc:
            raise CommandError("The import was rejected:\n" + _messages(exc)) from None
        except OperationalError as exc:
            if not is_database_busy(exc):
                raise
            raise CommandError(BUSY_MESSAGE) from None
        self.stdout.write(f"Import #{profile_import.pk}: {profile_import.total_rows:,} rows, checked.")
        for note in profile_import.file_notes:  # what the check ignored or read differently, as on the mapping page
            self.stdout.write(f"  {note}")
        if queue:
            self.stdout.write(f"Queued import #{profile_import.pk} for the worker.")
            return
        done = threading.Event()
        watcher = threading.Thread(target=self._report, args=(profile_import, done), daemon=True)
        watcher.start()
        try:
            finished = import_run(import_id=profile_import.pk, attempt=profile_import.attempt)
        finally:
            done.set()
            watcher.join()
        if finished is None:
            raise CommandError(f"Import #{profile_import.pk} was taken by a worker; follow it in the console.")
        self.stdout.write(
            f"{finished.get_status_display()}: {finished.rows_ingested:,} rows ingested, "
            f"{finished.rows_failed:,} failed; profiles created {finished.profiles_created:,}, "
            f"updated {finished.profiles_updated:,}, merged {finished.profiles_merged:,}; "
            f"{finished.identifiers_dropped:,} identifiers not kept; took {finished.duration}."
        )
        for error in finished.row_errors.filter(row_failed=True)[:20]:
            self.stdout.write(f"  line {error.line} {error.column}: “{error.value}” {error.reason}")
        if finished.status in (ImportStatus.FAILED, ImportStatus.CANCELLED):  # nothing from the file stays applied
            raise CommandError(finished.failure_reason)

    def _report(self, profile_import, done):
        total = profile_import.total_rows
        while not done.wait(self.report_every):
            live = import_live_counts(profile_import=profile_import)
            if live is None:
                continue  # not started, or finished (then the outcome is printed next)
            self.stdout.write(f"  {live[0]:,} / {total:,} rows processed")
