import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import Account, Membership, Role
from stores.models import Store
from workspace.demo import demo_profiles_seed
from workspace.services import store_create

DEFAULT_EMAIL = "admin@example.com"
DEFAULT_PASSWORD = "memory-console-demo"


class Command(BaseCommand):
    help = (
        "Create (or reset) the local demo administrator and print its credentials. "
        "DEMO_ADMIN_EMAIL and DEMO_ADMIN_PASSWORD override the defaults. For local use only."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--demo-profiles",
            type=int,
            default=250,
            help="Profiles to seed into a 'Demo store' when the demo account has no store yet (0: no store).",
        )

    def handle(self, *args, demo_profiles, **options):
        email = os.environ.get("DEMO_ADMIN_EMAIL", DEFAULT_EMAIL).strip().lower()
        password = os.environ.get("DEMO_ADMIN_PASSWORD", DEFAULT_PASSWORD)
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=email, defaults={"email": email})
        user.set_password(password)
        user.is_active = True
        user.save()
        membership = Membership.objects.filter(user=user).first()
        if membership is None:
            account = Account.objects.create(name="Demo account")
            Membership.objects.create(account=account, user=user, role=Role.ADMINISTRATOR)
        elif membership.role != Role.ADMINISTRATOR:
            membership.role = Role.ADMINISTRATOR
            membership.save(update_fields=["role"])
        account = Membership.objects.get(user=user).account
        if demo_profiles > 0 and not Store.objects.filter(account=account).exists():
            store = store_create(account=account, actor=None, name="Demo store", description="Seeded demo profiles.")
            demo_profiles_seed(store=store, count=demo_profiles)
            self.stdout.write(f"Created {store.name} with {demo_profiles} demo profiles.")
        self.stdout.write("Demo administrator:")
        self.stdout.write(f"  email:    {email}")
        self.stdout.write(f"  password: {password}")
