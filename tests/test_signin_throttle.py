"""Sign-in is throttled after repeated failures (django-axes; issue 13), through the real sign-in form."""

import html
import json
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from accounts.services import api_key_create
from tests.factories import PASSWORD

WAIT = "Sign-in is blocked for 15 minutes"


def _sign_in(client, email, password, ip="203.0.113.7"):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failed_sign_ins_lock_the_email_at_that_address_for_15_minutes(client, admin_user):
    for attempt in range(1, 5):
        response = _sign_in(client, admin_user.email, f"wrong-{attempt}")
        assert response.status_code == 200
        assert "Please enter a correct" in _text(response) and WAIT not in _text(response)

    fifth = _sign_in(client, admin_user.email, "wrong-5")
    assert fifth.status_code == 429
    assert WAIT in _text(fifth) and "(5 in a row)" in _text(fifth)
    assert "wrong-5" not in _text(fifth)  # the password is not echoed back

    # The right password is refused while the lock lasts, with the same message.
    locked = _sign_in(client, admin_user.email, PASSWORD)
    assert locked.status_code == 429 and WAIT in _text(locked)
    assert not _signed_in(client)
    assert client.get(reverse("accounts:members")).status_code == 302  # still sent to the sign-in page


def test_the_lock_is_per_email_and_address(client, admin_user, account):
    from tests.factories import MembershipFactory

    other = MembershipFactory(account=account, role="admin").user
    for attempt in range(5):
        # Another spelling of the same email counts under the same name.
        _sign_in(client, admin_user.email.upper() if attempt % 2 else admin_user.email, f"wrong-{attempt}")
    assert _sign_in(client, admin_user.email, PASSWORD).status_code == 429

    # The same person from another address, and another user from the same address, still sign in.
    assert _sign_in(client, admin_user.email, PASSWORD, ip="198.51.100.4").status_code == 302
    client.post(reverse("logout"))
    assert _sign_in(client, other.email, PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off_and_success_clears_the_count(client, admin_user):
    for attempt in range(5):
        _sign_in(client, admin_user.email, f"wrong-{attempt}")
    assert _sign_in(client, admin_user.email, PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert _sign_in(client, admin_user.email, PASSWORD).status_code == 302
    assert _signed_in(client)
    client.post(reverse("logout"))

    # The successful sign-in reset the count: four new failures do not lock.
    for attempt in range(4):
        assert _sign_in(client, admin_user.email, f"again-{attempt}").status_code == 200
    assert _sign_in(client, admin_user.email, PASSWORD).status_code == 302


def test_limits_come_from_the_settings(client, admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    assert _sign_in(client, admin_user.email, "wrong").status_code == 200
    second = _sign_in(client, admin_user.email, "wrong")
    assert second.status_code == 429
    assert "Sign-in is blocked for 1 minute:" in _text(second) and "(2 in a row)" in _text(second)


def test_a_hostile_email_field_is_refused_by_the_form_not_a_server_error(client, admin_user):
    for username in ("a" * 300 + "@example.com", "ada\x00@example.com"):
        response = _sign_in(client, username, "wrong")
        assert response.status_code == 200
    assert not AccessAttempt.objects.exists()


def test_api_keys_are_not_throttled(client, account, admin_user):
    for attempt in range(6):
        _sign_in(client, admin_user.email, f"wrong-{attempt}", ip="127.0.0.1")
    raw = api_key_create(account=account, actor=None, name="CRM sync")[1]
    response = client.get("/api/v1/stores", HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200 and isinstance(json.loads(response.content), list)


@pytest.mark.parametrize("header", ["Bearer mc_wrong", "Bearer nope"])
def test_wrong_api_keys_answer_401_and_lock_nobody_out(client, admin_user, header):
    for _ in range(6):
        assert client.get("/api/v1/stores", HTTP_AUTHORIZATION=header).status_code == 401
    assert _sign_in(client, admin_user.email, PASSWORD, ip="127.0.0.1").status_code == 302
