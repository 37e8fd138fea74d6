"""Write paths for memory stores: the store row, its name and settings.

What reaches into the apps above (the default traits and rules of a new store, deleting a store with
everything in it) is in `workspace.services`.
"""

import secrets

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account
from accounts.services import audit_record
from memory_console.text import TextError, description_clean, display_name_clean

from .models import Store

NAME_MAX = Store._meta.get_field("name").max_length
DESCRIPTION_MAX = Store._meta.get_field("description").max_length

_ADJECTIVES = (
    "amber",
    "azure",
    "bold",
    "brisk",
    "calm",
    "cedar",
    "clear",
    "coral",
    "crisp",
    "dawn",
    "deft",
    "eager",
    "ember",
    "fern",
    "gentle",
    "golden",
    "harbor",
    "ivory",
    "jade",
    "keen",
    "lively",
    "lunar",
    "maple",
    "misty",
    "noble",
    "olive",
    "pearl",
    "quiet",
    "rapid",
    "river",
    "sage",
    "silver",
    "solar",
    "steady",
    "swift",
    "tidal",
    "velvet",
    "vivid",
    "warm",
    "willow",
)
_NOUNS = (
    "falcon",
    "harbor",
    "meadow",
    "comet",
    "otter",
    "summit",
    "lantern",
    "orchard",
    "beacon",
    "canyon",
    "delta",
    "ember",
    "fjord",
    "glade",
    "heron",
    "island",
    "juniper",
    "kestrel",
    "lagoon",
    "mesa",
    "nebula",
    "oasis",
    "pine",
    "quarry",
    "reef",
    "sparrow",
    "tundra",
    "valley",
    "willow",
    "zephyr",
)


def _generated_name() -> str:
    return f"{secrets.choice(_ADJECTIVES).title()} {secrets.choice(_NOUNS).title()}"


def _clean_name(name: str) -> str:
    """The name in NFC with runs of spaces made one (`memory_console.text.display_name_clean`)."""
    try:
        return display_name_clean(name, max_length=NAME_MAX)
    except TextError as exc:
        raise ValidationError({"name": f"The memory store name {exc.reason}."}) from None


def _clean_description(description: str) -> str:
    try:
        return description_clean(description, max_length=DESCRIPTION_MAX)
    except TextError as exc:
        raise ValidationError({"description": f"The description {exc.reason}."}) from None


def _check_unique(*, account_id: int, name: str, exclude_pk: int | None = None) -> None:
    clash = Store.objects.filter(account_id=account_id, name__iexact=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"name": f"Your account already has a memory store named “{name}”."})


def store_create_empty(*, account: Account, name: str | None = None, description: str = "") -> Store:
    """The store row alone: no traits, no identity rules, no audit event. Without a name, generate a
    readable one unique in the account.

    Every caller wants `workspace.services.store_create`, which adds the defaults every store starts
    with (those apps stand above this one) and records the event.
    """
    description = _clean_description(description)
    if name is not None:
        name = _clean_name(name)
        with transaction.atomic():
            _check_unique(account_id=account.pk, name=name)
            return Store.objects.create(account=account, name=name, description=description)
    for attempt in range(50):
        candidate = _generated_name()
        if attempt >= 10:
            candidate = f"{candidate} {secrets.randbelow(9000) + 1000}"
        try:
            with transaction.atomic():
                if Store.objects.filter(account=account, name__iexact=candidate).exists():
                    continue
                return Store.objects.create(account=account, name=candidate, description=description)
        except IntegrityError:
            continue
    raise ValidationError("Could not generate a free memory store name; please give one.")


@transaction.atomic
def store_update(*, store: Store, actor, name: str, description: str, default_region: str | None = None) -> Store:
    name = _clean_name(name)
    description = _clean_description(description)
    default_region = (default_region or store.default_region).upper()
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError({"default_region": f"“{default_region}” is not a region phone numbers know."})
    _check_unique(account_id=store.account_id, name=name, exclude_pk=store.pk)
    changes = {}
    for field, value in (("name", name), ("description", description), ("default_region", default_region)):
        if getattr(store, field) != value:
            changes[field] = [getattr(store, field), value]
            setattr(store, field, value)
    if not changes:
        return store
    store.save(update_fields=["name", "description", "default_region", "updated_at"])
    audit_record(
        account=store.account,
        actor=actor,
        action="store.update",
        summary=f"Edited settings of memory store {store.name}",
        store_id=store.pk,
        details=changes,
    )
    return store
