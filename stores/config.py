"""The version of a store's configuration (its identity rules and traits).

Every service that changes traits or identity rules calls `store_config_bump`; the per-process
cache of the rules and trait schema (`identity.config.store_config`) is keyed by this version, so
a cached copy is never used after a change.
"""

from django.db.models import F

from .models import Store


def store_config_bump(*, store_id: int) -> None:
    Store.objects.filter(pk=store_id).update(config_version=F("config_version") + 1)
