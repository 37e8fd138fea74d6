"""Write paths for accounts, members and the audit trail.

Keyword-only, transactional; raise ValidationError with a message a person
can act on. Views and commands call these; nothing here imports a view.
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from memory_console.busy import skipped_when_busy

from .models import Account, ApiKey, ApiKeyScope, AuditEvent, Membership, Role

User = get_user_model()


def audit_record(
    *,
    account: Account,
    actor,
    action: str,
    summary: str,
    store_id: int | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Write one entry of the account's Activity trail.

    ``actor`` is who made the change: a user (console, commands), an ``ApiKey`` (every write through
    the JSON API: the event keeps the key and the label “API key “NAME””, which stays when the key is
    revoked), a text label, or None for the system itself (workers, recovery), shown as "system".
    """
    user = key = None
    label = ""
    if isinstance(actor, ApiKey):
        key, label = actor, actor.audit_label
    elif actor is not None:
        label = getattr(actor, "email", "") or str(actor)
        user = actor if getattr(actor, "pk", None) else None
    return AuditEvent.objects.create(
        account=account,
        store_id=store_id,
        actor=user,
        api_key=key,
        actor_label=label[:254],
        action=action,
        summary=summary[:500],
        details=details or {},
    )


def _normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": "Enter a valid email address."}) from exc
    return email


@transaction.atomic
def user_create(*, email: str, password: str, first_name: str = "", last_name: str = ""):
    email = _normalise_email(email)
    if User.objects.filter(username=email).exists():
        raise ValidationError({"email": f"A user with the email {email} already exists."})
    user = User(username=email, email=email, first_name=first_name.strip(), last_name=last_name.strip())
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def account_create(*, name: str, admin_email: str, admin_password: str) -> Account:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "The account name is required."})
    account = Account.objects.create(name=name)
    user = user_create(email=admin_email, password=admin_password)
    Membership.objects.create(account=account, user=user, role=Role.ADMINISTRATOR)
    audit_record(
        account=account,
        actor=user,
        action="account.create",
        summary=f"Created account {name} with administrator {user.email}",
    )
    return account


@transaction.atomic
def member_create(
    *,
    account: Account,
    actor,
    email: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": "Choose Administrator or Support."})
    user = user_create(email=email, password=password, first_name=first_name, last_name=last_name)
    membership = Membership.objects.create(account=account, user=user, role=role)
    audit_record(
        account=account,
        actor=actor,
        action="member.create",
        summary=f"Added {user.email} as {membership.get_role_display()}",
        details={"user_id": user.pk, "role": role},
    )
    return membership


def _admins_other_than(membership: Membership) -> int:
    return (
        Membership.objects.filter(account_id=membership.account_id, role=Role.ADMINISTRATOR)
        .exclude(pk=membership.pk)
        .count()
    )


@transaction.atomic
def member_change_role(*, membership: Membership, actor, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": "Choose Administrator or Support."})
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if membership.role == role:
        return membership
    if membership.role == Role.ADMINISTRATOR and _admins_other_than(membership) == 0:
        raise ValidationError("This is the account's only administrator. Make another member an administrator first.")
    old = membership.get_role_display()
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        account=membership.account,
        actor=actor,
        action="member.role",
        summary=f"Changed {membership.user.email} from {old} to {membership.get_role_display()}",
        details={"user_id": membership.user_id, "role": role},
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor) -> None:
    membership = Membership.objects.select_for_update().select_related("user", "account").get(pk=membership.pk)
    if actor is not None and membership.user_id == actor.pk:
        raise ValidationError("You cannot remove yourself. Ask another administrator to do it.")
    if membership.role == Role.ADMINISTRATOR and _admins_other_than(membership) == 0:
        raise ValidationError("The account's only administrator cannot be removed.")
    email = membership.user.email
    account = membership.account
    # The user exists only to be this account's member: remove the login too.
    membership.user.delete()
    audit_record(
        account=account,
        actor=actor,
        action="member.remove",
        summary=f"Removed {email} from the account",
    )


# --- API keys ------------------------------------------------------------------------------------

API_KEY_PREFIX = "mc_"


def _hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, account: Account, actor, name: str, scope: str = ApiKeyScope.FULL) -> tuple[ApiKey, str]:
    """Create a key; returns it with the secret, which is never stored or shown again.

    ``scope``: ``"full"`` (every route) or ``"read_only"`` (refused with 403 on every route that
    changes data). Anything else raises ValidationError on ``scope``. The Activity trail records the
    creation with the scope (``details["scope"]``).
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name, e.g. the system that will use it."})
    if scope not in ApiKeyScope.values:
        choices = " or ".join(f"“{value}”" for value in ApiKeyScope.values)
        raise ValidationError({"scope": f"Choose the key's scope: {choices}."})
    scope = ApiKeyScope(scope)
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        account=account,
        name=name[:100],
        prefix=raw[:11],
        key_hash=_hash_key(raw),
        created_by=actor if getattr(actor, "pk", None) else None,
        scope=scope,
    )
    audit_record(
        account=account,
        actor=actor,
        action="api_key.create",
        summary=f"Created API key {key.name} ({scope.label.lower()})",
        details={"scope": scope.value},
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key, actor) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(account=key.account, actor=actor, action="api_key.revoke", summary=f"Revoked API key {key.name}")


def api_key_authenticate(raw: str):
    """The active key for a presented secret, or None. Records when it was last used (once a minute)."""
    if not raw or not raw.startswith(API_KEY_PREFIX):
        return None
    key = ApiKey.objects.select_related("account").filter(key_hash=_hash_key(raw), revoked_at__isnull=True).first()
    if key is not None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            # Not worth a wait: on SQLite, behind an import's lock, a read-only call would otherwise
            # wait out the busy timeout and fail. Skipped then; the next call records it.
            with skipped_when_busy():
                ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
