from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, ApiKeyScope
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an account and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="A read-only key: it can read everything and is refused (403) on every change.",
        )

    def handle(self, *args, account, name, read_only=False, **options):
        try:
            account_obj = Account.objects.get(pk=account)
        except Account.DoesNotExist:
            raise CommandError(f"No account with id {account}.") from None
        try:
            _, raw = api_key_create(
                account=account_obj,
                actor=None,
                name=name,
                scope=ApiKeyScope.READ_ONLY if read_only else ApiKeyScope.FULL,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(raw)
