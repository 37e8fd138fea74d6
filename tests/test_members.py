from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Role
from tests.factories import PASSWORD, AdminMembershipFactory, MembershipFactory

User = get_user_model()


def test_admin_adds_a_support_member_who_can_then_sign_in(admin_client, account, client):
    response = admin_client.post(
        reverse("accounts:member_create"),
        {
            "email": "Agent@Example.com",
            "role": "support",
            "password": "a-long-unusual-passphrase",
            "first_name": "Ada",
        },
        follow=True,
    )
    assert b"Added agent@example.com as Support" in response.content
    membership = Membership.objects.get(user__email="agent@example.com")
    assert (membership.account, membership.role) == (account, Role.SUPPORT)
    admin_client.logout()
    login = client.post(reverse("login"), {"username": "AGENT@example.com", "password": "a-long-unusual-passphrase"})
    assert login.status_code == 302


def test_adding_a_member_with_a_used_email_or_weak_password_explains_why(admin_client, admin_user):
    response = admin_client.post(
        reverse("accounts:member_create"),
        {"email": admin_user.email, "role": "support", "password": "x-y-z-long-pass"},
    )
    assert f"A user with the email {admin_user.email} already exists".encode() in response.content
    response = admin_client.post(
        reverse("accounts:member_create"), {"email": "new@example.com", "role": "support", "password": "123"}
    )
    assert b"too short" in response.content
    assert not User.objects.filter(email="new@example.com").exists()


def test_admin_changes_a_member_role(admin_client, account):
    member = MembershipFactory(account=account, role="support")
    admin_client.post(reverse("accounts:member_role", args=[member.pk]), {"role": "admin"})
    member.refresh_from_db()
    assert member.role == Role.ADMINISTRATOR
    assert AuditEvent.objects.filter(action="member.role").exists()


def test_the_only_administrator_cannot_be_demoted_or_removed(client, account):
    only_admin = AdminMembershipFactory(account=account)
    other_admin = AdminMembershipFactory(account=account)
    client.force_login(other_admin.user)
    # Demote the other admin: allowed while one remains.
    client.post(reverse("accounts:member_role", args=[only_admin.pk]), {"role": "support"})
    only_admin.refresh_from_db()
    assert only_admin.role == Role.SUPPORT
    # Now other_admin is the only administrator: promoting back is fine; removing self is refused.
    response = client.post(reverse("accounts:member_remove", args=[other_admin.pk]), follow=True)
    assert b"cannot remove yourself" in response.content
    assert Membership.objects.filter(pk=other_admin.pk).exists()


def test_service_refuses_to_demote_the_last_administrator(account, admin_user):
    import pytest
    from django.core.exceptions import ValidationError

    from accounts.services import member_change_role

    with pytest.raises(ValidationError, match="only administrator"):
        member_change_role(membership=admin_user.membership, actor=admin_user, role="support")


def test_removing_a_member_asks_first_then_removes_their_login(admin_client, account):
    member = MembershipFactory(account=account, role="support")
    confirm = admin_client.get(reverse("accounts:member_remove", args=[member.pk]))
    assert b"will no longer be able to sign in" in confirm.content
    assert Membership.objects.filter(pk=member.pk).exists()
    admin_client.post(reverse("accounts:member_remove", args=[member.pk]))
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert not User.objects.filter(pk=member.user_id).exists()


def test_members_page_lists_only_this_account(admin_client, account, other_account):
    mine = MembershipFactory(account=account)
    theirs = MembershipFactory(account=other_account)
    response = admin_client.get(reverse("accounts:members"))
    assert mine.user.email.encode() in response.content
    assert theirs.user.email.encode() not in response.content


def test_support_sees_members_read_only(support_client, account):
    response = support_client.get(reverse("accounts:members"))
    assert response.status_code == 200
    assert b"+ Add member" not in response.content
    assert b"Change role" not in response.content


def test_sign_in_and_out_with_the_console_pages(client, admin_user):
    page = client.get(reverse("login"))
    assert b"Sign in to Memory Console" in page.content
    response = client.post(reverse("login"), {"username": admin_user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("stores:get_started")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("stores:get_started")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, admin_user):
    response = client.post(reverse("login"), {"username": admin_user.email, "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content


def test_activity_page_shows_the_account_trail_filtered_by_store(admin_client, account, store, other_account):
    from tests.factories import StoreFactory

    StoreFactory(account=other_account, name="Foreign")
    admin_client.post(
        reverse("stores:edit", args=[store.pk]), {"name": "Renamed", "description": "", "default_region": "US"}
    )
    response = admin_client.get(reverse("accounts:activity"), {"store": store.pk})
    assert b"Edited settings of memory store Renamed" in response.content
    assert b"Foreign" not in response.content


def test_account_pages_keep_the_store_last_visited_in_the_header_and_sidebar(admin_client, account, store):
    import re

    from tests.factories import StoreFactory

    other = StoreFactory(account=account, name="Second shop")
    admin_client.get(reverse("traits:list", args=[other.pk]))  # any page of a store makes it the current one
    for name in ("accounts:api_keys", "accounts:members", "accounts:activity"):
        html = admin_client.get(reverse(name)).content.decode()
        current = re.search(r'data-testid="current-store-name">(.*?)</span>', html).group(1)
        assert current == "Second shop", name
        assert f'href="{reverse("profiles:list", args=[other.pk])}"' in html, name  # the store's sections
    # A store since deleted is forgotten: no current store, no store sections.
    admin_client.post(reverse("stores:delete", args=[other.pk]), {"confirm_name": "Second shop"})
    html = admin_client.get(reverse("accounts:members")).content.decode()
    assert 'data-testid="current-store-name">Choose a memory store</span>' in html
    assert reverse("profiles:list", args=[other.pk]) not in html


def test_activity_names_the_store_of_each_event(admin_client, account, store):
    import re

    from tests.factories import StoreFactory

    gone = StoreFactory(account=account, name="Old shop")
    admin_client.post(
        reverse("stores:edit", args=[store.pk]), {"name": "Renamed", "description": "", "default_region": "US"}
    )
    admin_client.post(reverse("stores:delete", args=[gone.pk]), {"confirm_name": "Old shop"})
    admin_client.post(
        reverse("accounts:member_create"),
        {"email": "agent@example.com", "role": "support", "password": "a-long-unusual-passphrase", "first_name": ""},
    )
    html = admin_client.get(reverse("accounts:activity")).content.decode()
    rows = {}
    for row in re.findall(r'<tr data-testid="activity-event">.*?</tr>', html, re.S):
        when, where, who, what = (
            re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        )
        rows[what] = where
    assert rows["Edited settings of memory store Renamed"] == "Renamed"
    assert rows["Deleted memory store Old shop and everything in it"] == f"Deleted memory store #{gone.pk}"
    assert any(store_label == "Account" and "agent@example.com" in what for what, store_label in rows.items())
