import time

from django.core.management.base import BaseCommand, CommandError

from stores.models import Store
from workspace.demo import demo_profiles_seed


class Command(BaseCommand):
    help = "Add realistic demo profiles (traits, email and phone identifiers, events) to a memory store."

    def add_arguments(self, parser):
        parser.add_argument("--store", type=int, required=True, help="Memory store id")
        parser.add_argument("--profiles", type=int, default=1000, help="How many profiles to add")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same seed, same data)")

    def handle(self, *args, store, profiles, seed, **options):
        if profiles < 1:
            raise CommandError("--profiles must be at least 1.")
        try:
            store_obj = Store.objects.get(pk=store)
        except Store.DoesNotExist:
            raise CommandError(f"No memory store with id {store}.") from None
        started = time.monotonic()
        demo_profiles_seed(store=store_obj, count=profiles, seed=seed)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Added {profiles} demo profiles to {store_obj.name} (store {store_obj.pk}) in {elapsed:.1f}s"
        )
