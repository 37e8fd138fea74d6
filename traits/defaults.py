"""What every store starts with in the Traits tab."""

DEFAULT_GROUP = "Contact"
DEFAULT_GROUP_DESCRIPTION = "How to reach the customer and what to call them."
DEFAULT_TRAITS = (
    ("firstName", "string", "The customer's first (given) name."),
    ("lastName", "string", "The customer's last (family) name."),
    ("phone", "string", "The customer's phone number as they gave it."),
    ("address", "string", "The customer's postal address."),
)
