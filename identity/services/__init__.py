"""Identity's writes: rules (`rules`), identifying one event (`identify`) and many (`batch`).

The resolution rule itself lives once, database-free, in `identity.resolution`; these modules read
what it needs, ask it for a plan and write the plan.
"""

from .batch import profiles_identify_batch
from .identify import (
    IdentifyResult,
    Note,
    ResolutionInput,
    identify_input_prepare,
    is_deadlock,
    profile_identify,
    profile_merge,
    profile_merge_rows,
    profile_owned_models,
    profile_resolve,
    profile_traits_set,
)
from .rules import (
    identity_rule_create,
    identity_rule_delete,
    identity_rule_update,
    identity_rules_defaults_create,
    identity_rules_reorder,
)

__all__ = [
    "IdentifyResult",
    "Note",
    "ResolutionInput",
    "identify_input_prepare",
    "identity_rule_create",
    "identity_rule_delete",
    "identity_rule_update",
    "identity_rules_defaults_create",
    "identity_rules_reorder",
    "is_deadlock",
    "profile_identify",
    "profile_merge",
    "profile_merge_rows",
    "profile_owned_models",
    "profile_resolve",
    "profile_traits_set",
    "profiles_identify_batch",
]
