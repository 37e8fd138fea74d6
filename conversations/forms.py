"""The wizard's and the edit page's fields, read from a plain POST into a `ConfigurationInput`,
and the service's validation errors mapped back to the wizard's steps."""

from django.core.exceptions import ValidationError

from .lifecycle import Channel, Grouping, Lifecycle
from .services import ConfigurationInput, conversation_configuration_check

# The wizard's steps (the seed's order) and the fields each one sets.
STEPS = [
    (1, "Name", ("name", "description")),
    (2, "Configure lifecycle", ("lifecycle", "inactivity_minutes", "timeout_minutes", "grouping")),
    (3, "Addresses to capture", ("captures",)),
    (4, "Observations and summaries", ("observations_enabled", "status_callback_urls")),
    (5, "Summary", ()),
]
LAST_STEP = len(STEPS)
STEP_OF_FIELD = {name: number for number, _, fields in STEPS for name in fields}


def _minutes(raw: str):
    """Whole minutes as int, "" as None; anything else as typed (the service names it)."""
    text = (raw or "").strip().replace(",", "")
    if not text:
        return None
    # ASCII digits only ("²" passes isdigit), and a length no minute count reaches (int() of thousands
    # of digits is refused by Python): anything else goes on as typed, for the service to name.
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 12 else text


def input_from_post(post) -> ConfigurationInput:
    channels = post.getlist("capture_channel")
    addresses = post.getlist("capture_address")
    captures = [
        (channel, address.strip()) for channel, address in zip(channels, addresses, strict=False) if address.strip()
    ]
    return ConfigurationInput(
        name=post.get("name", ""),
        description=post.get("description", ""),
        lifecycle=post.get("lifecycle", Lifecycle.BASIC),
        # The period's field stays in the form (hidden) when Basic is chosen: it applies to Inactive only.
        inactivity_minutes=(
            _minutes(post.get("inactivity_minutes", "")) if post.get("lifecycle") == Lifecycle.INACTIVE else None
        ),
        timeout_minutes=_minutes(post.get("timeout_minutes", "")),
        grouping=post.get("grouping", Grouping.ADDRESSES_CHANNEL),
        observations_enabled=post.get("observations_enabled") == "on",
        captures=captures,
        status_callback_urls=callback_urls(post.getlist("status_callback_urls")),
    )


def callback_urls(texts: list[str]) -> list[str]:
    """The status callback URLs: the textarea's lines (one URL a line), or the wizard's hidden
    fields (one URL each); empty lines dropped."""
    return [line.strip() for text in texts for line in text.splitlines() if line.strip()]


def input_from_configuration(configuration) -> ConfigurationInput:
    return ConfigurationInput.of(configuration)


def errors_of(exc: ValidationError) -> dict[str, str]:
    """{field: message} of a service's ValidationError ("__all__" for one naming no field)."""
    if not hasattr(exc, "error_dict"):
        return {"general": " ".join(exc.messages)}
    return {
        name: " ".join(e.message % e.params if e.params else e.message for e in errs)
        for name, errs in exc.error_dict.items()
    }


def validate(*, store, data: ConfigurationInput, exclude_pk: int | None = None) -> dict[str, str]:
    """The service's own validation (no write): {field: message}, empty when valid."""
    try:
        conversation_configuration_check(store=store, data=data, exclude_pk=exclude_pk)
    except ValidationError as exc:
        return errors_of(exc)
    return {}


def first_step_with(errors: dict[str, str]) -> int | None:
    steps = [STEP_OF_FIELD.get(name, 1) for name in errors]
    return min(steps) if steps else None


def rows(data: ConfigurationInput, *, extra: int = 0) -> list[tuple[str, str]]:
    """The capture rows to show: those typed, at least one, plus `extra` empty ones."""
    shown = list(data.captures) or [(Channel.SMS.value, "")]
    return shown + [(Channel.SMS.value, "")] * extra
