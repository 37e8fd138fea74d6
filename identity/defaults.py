"""The identity rules every store starts with, in priority order: (name, kind, limit)."""

DEFAULT_RULES = (
    ("phone", "phone", 5),
    ("email", "email", 5),
    ("whatsappid", "whatsappid", 5),
    ("chat", "chat", 10),
)
DEFAULT_KINDS = tuple(kind for _, kind, _ in DEFAULT_RULES)
CUSTOM_RULE_LIMIT = 1
