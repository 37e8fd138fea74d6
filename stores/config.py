"""The version of a store's configuration (its identity rules and traits).

Every service that changes traits or identity rules calls `store_config_bump`; the per-process
cache of the rules and trait schema (`identity.config.store_config`) is keyed by this version, so
a cached copy is never used after a change.
"""

from django.db.models import F

# issue 14: moving (lead). identity/services/identify.py and batch.py still import store_config
# from here; once they import it from identity.config, delete this line and its ignore_imports
# entry in pyproject.toml. (The cache reads identity and traits, apps above this one.)
from identity.config import StoreConfig, store_config  # noqa: F401

from .models import Store


def store_config_bump(*, store_id: int) -> None:
    Store.objects.filter(pk=store_id).update(config_version=F("config_version") + 1)
