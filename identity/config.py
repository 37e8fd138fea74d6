"""A store's identity rules and trait schema, cached per process by `Store.config_version`.

Identify calls and imports read both on every call; they change rarely. Every service that changes
traits or identity rules calls `stores.config.store_config_bump`, so a cached copy is never used
after a change: each read costs one indexed query for the version instead of four for the
configuration. Here, not in `stores`, because it reads identity's rules and traits' schema.
"""

from collections import OrderedDict
from dataclasses import dataclass, field

from memory_console import rawsql
from stores.models import Store
from traits.selectors import trait_schema

from .models import IdentityRule
from .resolution import RuleSet

_STORES = Store._meta.db_table
_CACHE: "OrderedDict[tuple, StoreConfig]" = OrderedDict()
_MAX = 256


@dataclass(frozen=True)
class StoreConfig:
    version: int
    rules: list  # IdentityRule, priority order, mapped traits prefetched
    schema: dict  # {group: {trait: Trait}}
    _rulesets: dict = field(default_factory=dict, repr=False, compare=False)

    def ruleset(self, region: str) -> RuleSet:
        """The rules as the planner reads them (`RuleSet.of`) for the store's default phone region:
        built once per version and region (the planner only reads it)."""
        built = self._rulesets.get(region)
        if built is None:
            built = self._rulesets[region] = RuleSet.of(self.rules, region=region)
        return built


def store_config(*, store: Store) -> StoreConfig:
    # created_at guards against a reused id (SQLite can reuse the id of a deleted last row).
    # By hand (`memory_console.rawsql`): every identify reads it, the Twilio webhook's too.
    row = rawsql.fetch(f"SELECT config_version, created_at FROM {_STORES} WHERE id = %s", [store.pk], [], leading=2)
    if not row:
        raise Store.DoesNotExist(f"Store {store.pk} does not exist")
    version, created_at = row[0]
    key = (store.pk, version, created_at)
    config = _CACHE.get(key)
    if config is None:
        rules = list(
            IdentityRule.objects.filter(store=store).order_by("priority", "id").prefetch_related("mapped_traits__group")
        )
        config = StoreConfig(version=version, rules=rules, schema=trait_schema(store=store))
        _CACHE[key] = config
        while len(_CACHE) > _MAX:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return config
