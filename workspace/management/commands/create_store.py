from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from workspace.services import store_create


class Command(BaseCommand):
    help = "Create a memory store in an account and print its id."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True, help="Account id")
        parser.add_argument("name")
        parser.add_argument("--description", default="")

    def handle(self, *args, account, name, description, **options):
        try:
            account_obj = Account.objects.get(pk=account)
        except Account.DoesNotExist:
            raise CommandError(f"No account with id {account}.") from None
        try:
            store = store_create(account=account_obj, actor=None, name=name, description=description)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(str(store.pk))
