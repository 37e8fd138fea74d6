"""The identity rules every store starts with, in priority order: (name, kind, limit), and the
values their rules block from the start (`identity.blocking`: ``*`` matches any run of characters,
case is ignored).

The blocked lists hold placeholders people type into forms and CRMs when they have no real value:
no-reply senders, the usual fake addresses and numbers, and words for "nothing". Only new stores get
them (`identity_rules_defaults_create`); stores created before them keep empty lists.
"""

DEFAULT_RULES = (
    ("phone", "phone", 5),
    ("email", "email", 5),
    ("whatsappid", "whatsappid", 5),
    ("chat", "chat", 10),
)
DEFAULT_KINDS = tuple(kind for _, kind, _ in DEFAULT_RULES)
CUSTOM_RULE_LIMIT = 1

DEFAULT_BLOCKED_VALUES = {
    "email": (
        "noreply@*",
        "no-reply@*",
        "donotreply@*",
        "do-not-reply@*",
        "test@test.com",
        "test@example.com",
        "email@example.com",
        "none@none.com",
        "n/a",
        "na",
        "none",
        "null",
        "unknown",
    ),
    "phone": (
        "0000000000",
        "1111111111",
        "1234567890",
        "n/a",
        "none",
        "null",
        "unknown",
    ),
}
