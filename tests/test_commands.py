from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, Membership, Role
from stores.models import Store


def _call(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_account_prints_the_id_of_an_account_with_an_administrator(db):
    account_id = _call(
        "create_account", "Acme", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-Passw0rd"
    )
    account = Account.objects.get(pk=int(account_id))
    assert account.name == "Acme"
    member = Membership.objects.get(account=account)
    assert (member.user.email, member.role) == ("ops@acme.test", Role.ADMINISTRATOR)
    assert member.user.check_password("s3cret-Passw0rd")


def test_create_account_with_a_taken_email_fails_cleanly_and_creates_nothing(db):
    _call("create_account", "Acme", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-Passw0rd")
    with pytest.raises(CommandError, match="already exists"):
        _call("create_account", "Other", "--admin-email", "OPS@acme.test", "--admin-password", "s3cret-Passw0rd")
    assert Account.objects.count() == 1


def test_create_store_prints_the_id_and_refuses_duplicates(db):
    account_id = _call(
        "create_account", "Acme", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-Passw0rd"
    )
    store_id = _call("create_store", "--account", account_id, "Production")
    assert Store.objects.get(pk=int(store_id)).name == "Production"
    with pytest.raises(CommandError, match="already has a memory store"):
        _call("create_store", "--account", account_id, "production")
    with pytest.raises(CommandError, match="No account with id 999"):
        _call("create_store", "--account", "999", "X")


def test_demo_admin_prints_working_credentials_and_is_idempotent(db, client):
    first = _call("demo_admin", "--demo-profiles", "20")
    second = _call("demo_admin", "--demo-profiles", "20")
    assert "admin@example.com" in first and "memory-console-demo" in first
    assert "Created Demo store with 20 demo profiles" in first
    assert "Created" not in second
    store = Store.objects.get(name="Demo store")
    assert store.profiles.count() == 20
    assert Membership.objects.filter(user__email="admin@example.com", role=Role.ADMINISTRATOR).count() == 1
    # Through the sign-in form: django-axes's backend needs the request, which client.login lacks.
    response = client.post("/accounts/login/", {"username": "admin@example.com", "password": "memory-console-demo"})
    assert response.status_code == 302 and "_auth_user_id" in client.session
