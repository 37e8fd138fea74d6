"""Set (or rotate) the Twilio auth token of a conversation configuration: read from standard input,
so it stays out of the shell's history and the process list."""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from conversations.models import ConversationConfiguration
from conversations.services import twilio_auth_token_set


class Command(BaseCommand):
    help = "Set a conversation configuration's Twilio auth token (read from standard input)."

    def add_arguments(self, parser):
        parser.add_argument("--configuration", type=int, required=True, help="The configuration's id.")

    def handle(self, *args, configuration: int, **options):
        found = ConversationConfiguration.objects.select_related("store").filter(pk=configuration).first()
        if found is None:
            raise CommandError(f"No conversation configuration #{configuration}.")
        try:
            twilio_auth_token_set(configuration=found, actor=None, token=sys.stdin.readline())
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Set the Twilio auth token of {found.name} (#{found.pk}).")
