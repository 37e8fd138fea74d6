from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import account_create


class Command(BaseCommand):
    help = "Create an account with its first Administrator and print the account id."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)

    def handle(self, *args, name, admin_email, admin_password, **options):
        try:
            account = account_create(name=name, admin_email=admin_email, admin_password=admin_password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(str(account.pk))
