from typing import Literal

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field, StrictInt

from memory_console.errors import FieldError
from stores.api import api_store
from traits.models import Trait
from traits.selectors import trait_by_path, trait_schema

from . import services
from .blocking import MAX_PATTERN_LENGTH, MAX_PATTERNS
from .models import IdentityRule, LimitPolicy, RuleSource
from .selectors import identity_rules

router = Router(tags=["Identity rules"])

LimitPolicyValue = Literal[tuple(LimitPolicy.values)]
LIMIT_POLICY_HELP = (
    "When a profile already holds `limit` values of this kind: `lifo` keeps the existing values (the new "
    "one is not added), `fifo` replaces the oldest value."
)
BLOCKED_VALUES_HELP = (
    f"Values that never identify anyone (at most {MAX_PATTERNS}, each at most {MAX_PATTERN_LENGTH} characters; "
    "case is ignored, duplicates are dropped). `*` matches any run of characters, e.g. `noreply@*`; nothing "
    "else is a wildcard. A pattern of digits also blocks the value written with punctuation: `0000000000` "
    "blocks `(000) 000-0000`."
)


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    limit: int
    priority: int
    source: str
    mapped_traits: list[str]
    is_default: bool
    limit_policy: str = Field(description=LIMIT_POLICY_HELP)
    blocked_values: list[str] = Field(description=BLOCKED_VALUES_HELP)

    @staticmethod
    def resolve_mapped_traits(obj):
        return [trait.path for trait in obj.mapped_traits.all()]


class RuleIn(Schema):
    name: str
    kind: str
    limit: StrictInt = 1  # JSON integers only: pydantic's lax mode would read true as 1 and "5" as 5
    source: str = RuleSource.API
    mapped_traits: list[str] = Field(
        [],
        description=(
            "Group.trait paths whose values are also identifiers of this kind; at least one with source "
            "`traits`, none with source `api` (422 on `mapped_traits` otherwise: never dropped)."
        ),
    )
    limit_policy: LimitPolicyValue = Field(LimitPolicy.LIFO.value, description=LIMIT_POLICY_HELP)
    blocked_values: list[str] = Field([], description=BLOCKED_VALUES_HELP)


class RuleUpdate(Schema):
    name: str
    limit: StrictInt
    mapped_traits: list[str] = Field(
        [], description="Group.trait paths; a rule with source `api` takes none (422 on `mapped_traits` otherwise)."
    )
    limit_policy: LimitPolicyValue | None = Field(None, description=LIMIT_POLICY_HELP + " Left out: unchanged.")
    blocked_values: list[str] | None = Field(
        None, description=BLOCKED_VALUES_HELP + " Left out: unchanged; `[]` removes them all."
    )


class RuleOrder(Schema):
    rule_ids: list[StrictInt]


def _traits(store, paths: list[str]) -> list[Trait]:
    """Resolve "Group.trait" paths (read in NFC, `trait_by_path`) to the store's traits; unknown
    paths are a 422 naming them."""
    schema = trait_schema(store=store)
    found = {p: trait_by_path(schema, p) for p in paths}
    unknown = [p for p, trait in found.items() if trait is None]
    if unknown:
        raise ValidationError(
            [FieldError(f"Unknown trait “{p}” (write it as Group.trait).", ("mapped_traits", p)) for p in unknown]
        )
    return list(dict.fromkeys(found[p] for p in paths))


@router.get("/{store_id}/identity-rules", response=list[RuleOut], summary="List identity rules in priority order")
def list_rules(request, store_id: int):
    return list(identity_rules(store=api_store(request, store_id)))


@router.post("/{store_id}/identity-rules", response={201: RuleOut}, summary="Add a rule (at the lowest priority)")
def create_rule(request, store_id: int, payload: RuleIn):
    store = api_store(request, store_id)
    rule = services.identity_rule_create(
        store=store,
        actor=request.auth,
        name=payload.name,
        kind=payload.kind,
        limit=payload.limit,
        source=payload.source,
        mapped_traits=_traits(store, payload.mapped_traits),
        limit_policy=payload.limit_policy,
        blocked_values=payload.blocked_values,
    )
    return Status(201, rule)


@router.put("/{store_id}/identity-rules/order", response=list[RuleOut], summary="Set the priority order of all rules")
def order_rules(request, store_id: int, payload: RuleOrder):
    store = api_store(request, store_id)
    services.identity_rules_reorder(store=store, actor=request.auth, rule_ids=payload.rule_ids)
    return list(identity_rules(store=store))


@router.put(
    "/{store_id}/identity-rules/{rule_id}",
    response=RuleOut,
    summary="Edit a rule's name, limit, limit policy, blocked values and traits",
)
def update_rule(request, store_id: int, rule_id: int, payload: RuleUpdate):
    store = api_store(request, store_id)
    rule = get_object_or_404(IdentityRule, pk=rule_id, store=store)
    return services.identity_rule_update(
        rule=rule,
        actor=request.auth,
        name=payload.name,
        limit=payload.limit,
        mapped_traits=_traits(store, payload.mapped_traits),
        limit_policy=payload.limit_policy,
        blocked_values=payload.blocked_values,
    )


@router.delete("/{store_id}/identity-rules/{rule_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request, store_id: int, rule_id: int):
    rule = get_object_or_404(IdentityRule, pk=rule_id, store=api_store(request, store_id))
    services.identity_rule_delete(rule=rule, actor=request.auth)
    return Status(204, None)
