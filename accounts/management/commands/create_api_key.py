from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an account and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True)
        parser.add_argument("--name", required=True)

    def handle(self, *args, account, name, **options):
        try:
            account_obj = Account.objects.get(pk=account)
        except Account.DoesNotExist:
            raise CommandError(f"No account with id {account}.") from None
        try:
            _, raw = api_key_create(account=account_obj, actor=None, name=name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(raw)
