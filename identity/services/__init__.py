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
    merge_create,
    merge_rows_move,
    profile_identify,
    profile_traits_identify,
    profile_traits_update,
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
    "merge_create",
    "merge_rows_move",
    "profile_traits_identify",
    "profile_traits_update",
    "profiles_identify_batch",
]
