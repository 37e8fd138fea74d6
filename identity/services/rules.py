"""Identity rules: create, edit, reorder and delete the rules of a store (priority, limit, limit
policy, blocked values, mapped traits)."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.services import audit_record
from memory_console.text import text_nfc
from stores.config import store_config_bump
from stores.models import Store
from traits.charset import name_problem

from ..blocking import blocked_values_clean
from ..defaults import CUSTOM_RULE_LIMIT, DEFAULT_BLOCKED_VALUES, DEFAULT_RULES
from ..models import IdentityRule, LimitPolicy, RuleSource

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# --- rules -------------------------------------------------------------------------------------


def identity_rules_defaults_create(*, store: Store) -> None:
    """The default rules of a new store, with the default blocked values of their kinds."""
    IdentityRule.objects.bulk_create(
        IdentityRule(
            store=store,
            name=name,
            kind=kind,
            limit=limit,
            priority=position,
            is_default=True,
            blocked_values=list(DEFAULT_BLOCKED_VALUES.get(kind, ())),
        )
        for position, (name, kind, limit) in enumerate(DEFAULT_RULES, start=1)
    )


RULE_NAME_MAX = IdentityRule._meta.get_field("name").max_length


def _clean_rule_fields(*, store: Store, name: str, limit, mapped_traits, source: str, exclude_pk=None):
    """(name in NFC, limit, traits), or ValidationError naming the field."""
    name = text_nfc(name or "")
    problem = name_problem(name)
    if problem:
        raise ValidationError({"name": f"The rule name {problem}."})
    if len(name) > RULE_NAME_MAX:
        raise ValidationError({"name": f"The rule name can have at most {RULE_NAME_MAX} characters."})
    if IdentityRule.objects.filter(store=store, name__iexact=name).exclude(pk=exclude_pk).exists():
        raise ValidationError({"name": f"An identity rule named “{name}” already exists in this memory store."})
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise ValidationError({"limit": "The limit must be a whole number from 1 to 100."}) from None
    if not 1 <= limit <= 100:
        raise ValidationError({"limit": "The limit must be a whole number from 1 to 100."})
    traits = list(mapped_traits or [])
    if any(t.store_id != store.pk for t in traits):
        raise ValidationError({"mapped_traits": "Mapped traits must belong to this memory store."})
    if source != RuleSource.TRAITS and traits:
        # Never dropped silently: only a rule defined by mapped traits keeps them.
        raise ValidationError(
            {"mapped_traits": "Only a rule defined by “Mapped traits” maps traits: choose it, or pick no traits."}
        )
    if source == RuleSource.TRAITS and not traits:
        raise ValidationError({"mapped_traits": "Pick at least one trait to map, or choose “API identifier”."})
    return name, limit, traits


_POLICY_SHORT = {LimitPolicy.LIFO: "keep existing", LimitPolicy.FIFO: "replace oldest"}


def _clean_limit_policy(limit_policy) -> str:
    if not isinstance(limit_policy, str) or limit_policy not in LimitPolicy.values:
        choices = " or ".join(f"“{value}” ({label.lower()})" for value, label in LimitPolicy.choices)
        raise ValidationError({"limit_policy": f"The limit policy must be {choices}."})
    return limit_policy


def _settings_summary(rule: IdentityRule) -> str:
    """A rule's limit settings for the audit trail: ``limit 5, keep existing, 3 blocked values``."""
    count = len(rule.blocked_values)
    blocked = f"{count} blocked value" + ("" if count == 1 else "s")
    return f"limit {rule.limit}, {_POLICY_SHORT[rule.limit_policy]}, {blocked}"


@transaction.atomic
def identity_rule_create(
    *,
    store: Store,
    actor,
    name: str,
    kind: str,
    limit=CUSTOM_RULE_LIMIT,
    source: str = RuleSource.API,
    mapped_traits=(),
    blocked_values=(),
    limit_policy: str = LimitPolicy.LIFO,
) -> IdentityRule:
    """A custom rule; it goes in at the lowest priority.

    `blocked_values`: a list of patterns, or one text with a pattern per line
    (`identity.blocking.blocked_values_clean`); `limit_policy`: a `LimitPolicy` value.
    """
    kind = (kind or "").strip()
    if not KIND_PATTERN.match(kind):
        raise ValidationError(
            {"kind": "The identifier kind must start with a lower-case letter and use only a-z, 0-9 and _ (max 64)."}
        )
    if IdentityRule.objects.filter(store=store, kind=kind).exists():
        raise ValidationError({"kind": f"This memory store already has a rule for the identifier kind “{kind}”."})
    if source not in RuleSource.values:
        raise ValidationError({"source": "Choose “API identifier” or “Mapped traits”."})
    name, limit, traits = _clean_rule_fields(
        store=store, name=name, limit=limit, mapped_traits=mapped_traits, source=source
    )
    limit_policy = _clean_limit_policy(limit_policy)
    blocked_values = blocked_values_clean(blocked_values)
    last = IdentityRule.objects.filter(store=store).order_by("-priority").values_list("priority", flat=True).first()
    rule = IdentityRule.objects.create(
        store=store,
        name=name,
        kind=kind,
        limit=limit,
        priority=(last or 0) + 1,
        source=source,
        blocked_values=blocked_values,
        limit_policy=limit_policy,
    )
    rule.mapped_traits.set(traits if source == RuleSource.TRAITS else [])
    _rules_changed(
        store=store,
        actor=actor,
        action="identity_rule.create",
        summary=f"Added identity rule {name} ({kind}, {_settings_summary(rule)})",
    )
    return rule


@transaction.atomic
def identity_rule_update(
    *,
    rule: IdentityRule,
    actor,
    name: str,
    limit,
    mapped_traits=(),
    blocked_values=None,
    limit_policy: str | None = None,
) -> IdentityRule:
    """Edit a rule. `blocked_values` and `limit_policy` left as None keep what the rule has."""
    store = rule.store
    name, limit, traits = _clean_rule_fields(
        store=store, name=name, limit=limit, mapped_traits=mapped_traits, source=rule.source, exclude_pk=rule.pk
    )
    policy = rule.limit_policy if limit_policy is None else _clean_limit_policy(limit_policy)
    blocked = rule.blocked_values if blocked_values is None else blocked_values_clean(blocked_values)
    rule.name, rule.limit, rule.limit_policy, rule.blocked_values = name, limit, policy, blocked
    rule.save(update_fields=["name", "limit", "limit_policy", "blocked_values"])
    if rule.source == RuleSource.TRAITS:
        rule.mapped_traits.set(traits)
    _rules_changed(
        store=store,
        actor=actor,
        action="identity_rule.update",
        summary=f"Edited identity rule {name} ({_settings_summary(rule)})",
    )
    return rule


@transaction.atomic
def identity_rules_reorder(*, store: Store, actor, rule_ids: list[int]) -> list[IdentityRule]:
    """Set the priority order of all the store's rules at once (first = highest priority)."""
    rules = {r.pk: r for r in IdentityRule.objects.select_for_update().filter(store=store)}
    try:
        ids = [int(i) for i in rule_ids]
    except (TypeError, ValueError):
        raise ValidationError("The new order must list rule ids.") from None
    if sorted(ids) != sorted(rules) or len(set(ids)) != len(ids):
        raise ValidationError("The new order must list every identity rule of this memory store exactly once.")
    for position, pk in enumerate(ids, start=1):
        rules[pk].priority = position
    IdentityRule.objects.bulk_update(rules.values(), ["priority"])
    _rules_changed(
        store=store,
        actor=actor,
        action="identity_rule.reorder",
        summary="Changed identity rule priority: " + ", ".join(rules[pk].name for pk in ids),
    )
    return [rules[pk] for pk in ids]


@transaction.atomic
def identity_rule_delete(*, rule: IdentityRule, actor) -> None:
    """Stop using the rule's identifiers to match and merge. Past merges and stored identifiers stay."""
    store, name = rule.store, rule.name
    rule.delete()
    remaining = list(IdentityRule.objects.filter(store=store).order_by("priority", "id"))
    for position, other in enumerate(remaining, start=1):
        other.priority = position
    IdentityRule.objects.bulk_update(remaining, ["priority"])
    _rules_changed(store=store, actor=actor, action="identity_rule.delete", summary=f"Deleted identity rule {name}")


def _rules_changed(*, store: Store, actor, action: str, summary: str) -> None:
    """After any rule change: identify calls and imports read the rules afresh (the cache is keyed
    by the store's configuration version), and the audit trail says who changed what."""
    store_config_bump(store_id=store.pk)
    audit_record(account=store.account, actor=actor, action=action, store_id=store.pk, summary=summary)
