"""The tenant wall and the role matrix, for every console URL that exists.

URLs are discovered from the URLconf, not listed by hand: a new view that is
not wrapped by `account_view`/`store_view` fails `test_every_console_view_declares_its_access`.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.access import READ, WRITE
from tests.factories import AdminMembershipFactory, MembershipFactory, StoreFactory

# URL name prefixes that are not console pages guarded by account/store access.
# Not behind a session: the Twilio webhooks are authenticated by Twilio's signature per configuration
# (tests/test_twilio_webhooks.py and tests/test_twilio_conversations_webhooks.py cover the wall:
# another store's token is refused).
# /favicon.ico redirects to a public static file, as browsers ask for it before anyone signs in;
# /metrics is for Prometheus (loopback or METRICS_TOKEN; tests/test_metrics.py).
NOT_CONSOLE = {
    "login",
    "logout",
    "home",
    "twilio_messaging",
    "twilio_voice",
    "twilio_conversations",
    "favicon",
    "metrics",
}


def _walk(patterns, namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace in {"admin", "api"}:
                continue
            ns = p.namespace or namespace
            yield from _walk(p.url_patterns, ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace else p.name
            yield name, p


def console_urls():
    return [(name, p) for name, p in _walk(get_resolver().url_patterns) if name not in NOT_CONSOLE]


def _kwargs(pattern, ids):
    params = set(pattern.pattern.converters)
    unknown = params - set(ids)
    assert not unknown, f"extend the tenant matrix for URL parameters {unknown}"
    return {k: ids[k] for k in params}


def _tenant_objects(membership, store):
    """One object of every kind a console URL can name, inside `store`."""
    from django.utils import timezone

    from accounts.services import api_key_create
    from conversations.models import Observation
    from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
    from identity.services import identity_rule_create
    from imports.models import ImportStatus, ProfileImport
    from profiles.models import Profile
    from traits.services import trait_create, trait_group_create

    group = trait_group_create(store=store, actor=None, name="Loyalty")
    trait = trait_create(group=group, actor=None, name="tier", data_type="string")
    profile = Profile.objects.create(store=store, traits={"Loyalty": {"tier": "gold"}})
    observation = Observation.objects.create(
        store=store,
        profile=profile,
        content="Prefers SMS",
        kind="preference",
        source="builtin",
        occurred_at=timezone.now(),
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return {
        "store_id": store.pk,
        "membership_id": membership.pk,
        "group_id": group.pk,
        "trait_id": trait.pk,
        "profile_id": profile.pk,
        "observation_id": observation.pk,
        "rule_id": identity_rule_create(store=store, actor=None, name="User ID", kind="user_id").pk,
        "key_id": api_key_create(account=membership.account, actor=None, name=f"key for {store.name}")[0].pk,
        "import_id": ProfileImport.objects.create(
            store=store, file_name="people.csv", status=ImportStatus.MAPPING, headers=["email", "a", "b"]
        ).pk,
        "configuration_id": conversation_configuration_create(
            store=store, actor=None, data=ConfigurationInput(name="Support line", captures=[("sms", "+14155550100")])
        ).pk,
        "conversation_id": communication_ingest(
            store=store, channel="sms", direction="inbound", from_address="+14155550123", to_address="+14155550100"
        ).conversation.pk,
    }


def test_every_console_view_declares_its_access():
    undeclared = [name for name, p in console_urls() if getattr(p.callback, "access", None) not in (READ, WRITE)]
    assert undeclared == []
    assert len(console_urls()) >= 12


@pytest.fixture
def two_tenants(db):
    a_admin = AdminMembershipFactory()
    b_admin = AdminMembershipFactory()
    a_support = MembershipFactory(account=a_admin.account, role="support")
    a_store = StoreFactory(account=a_admin.account, name="Alpha store")
    b_store = StoreFactory(account=b_admin.account, name="Bravo store")
    return {
        "a_admin": a_admin,
        "a_support": a_support,
        "a_store": a_store,
        "a_ids": _tenant_objects(a_admin, a_store),
        "b_admin": b_admin,
        "b_store": b_store,
        "b_ids": _tenant_objects(b_admin, b_store),
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_admin_of_another_account_gets_404_for_every_store_and_member_url(client, two_tenants, method):
    t = two_tenants
    client.force_login(t["a_admin"].user)
    checked = 0
    for name, pattern in console_urls():
        params = set(pattern.pattern.converters)
        if not params:
            continue
        url = reverse(name, kwargs=_kwargs(pattern, t["b_ids"]))
        response = getattr(client, method)(url, {"name": "Hijacked", "confirm_name": "Bravo store"})
        assert response.status_code == 404, f"{method.upper()} {url} answered {response.status_code}"
        checked += 1
    assert checked >= 10
    t["b_store"].refresh_from_db()
    assert t["b_store"].name == "Bravo store"


@pytest.mark.parametrize("method", ["get", "post"])
def test_support_gets_403_for_every_write_url(client, two_tenants, method):
    t = two_tenants
    client.force_login(t["a_support"].user)
    writes = [(n, p) for n, p in console_urls() if p.callback.access == WRITE]
    assert {"stores:create", "stores:edit", "stores:delete", "accounts:member_create"} <= {n for n, _ in writes}
    for name, pattern in writes:
        url = reverse(name, kwargs=_kwargs(pattern, t["a_ids"]))
        response = getattr(client, method)(
            url, {"name": "Renamed by support", "confirm_name": "Alpha store", "role": "support"}
        )
        assert response.status_code == 403, f"{method.upper()} {url} answered {response.status_code}"
    t["a_store"].refresh_from_db()
    assert t["a_store"].name == "Alpha store"
    t["a_admin"].refresh_from_db()
    assert t["a_admin"].role == "admin"


def test_support_can_open_every_read_page_of_its_own_account(client, two_tenants):
    t = two_tenants
    client.force_login(t["a_support"].user)
    for name, pattern in console_urls():
        if pattern.callback.access != READ:
            continue
        url = reverse(name, kwargs=_kwargs(pattern, t["a_ids"]))
        response = client.get(url, follow=True)
        assert response.status_code == 200, f"GET {url} answered {response.status_code}"


def test_anonymous_visitor_is_sent_to_sign_in_for_every_console_url(client, two_tenants):
    t = two_tenants
    for name, pattern in console_urls():
        url = reverse(name, kwargs=_kwargs(pattern, t["a_ids"]))
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_user_without_an_account_is_refused(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("stores:get_started"))
    assert response.status_code == 403
    assert b"not a member of any account" in response.content


@pytest.mark.parametrize("method", ["get", "post"])
def test_ids_of_another_store_in_the_same_account_answer_404(client, two_tenants, method):
    t = two_tenants
    sibling = StoreFactory(account=t["a_admin"].account, name="Sibling store")
    sibling_ids = {**_tenant_objects(t["a_admin"], sibling), "store_id": t["a_store"].pk}
    client.force_login(t["a_admin"].user)
    checked = 0
    for name, pattern in console_urls():
        params = set(pattern.pattern.converters)
        if "store_id" not in params or len(params) < 2:
            continue
        url = reverse(name, kwargs=_kwargs(pattern, sibling_ids))
        response = getattr(client, method)(url, {"value": "1"})
        assert response.status_code == 404, f"{method.upper()} {url} answered {response.status_code}"
        checked += 1
    assert checked >= 3


def test_support_posts_change_nothing(client, two_tenants):
    from traits.models import Trait, TraitGroup

    t = two_tenants
    client.force_login(t["a_support"].user)
    for name, pattern in console_urls():
        if pattern.callback.access == WRITE:
            client.post(reverse(name, kwargs=_kwargs(pattern, t["a_ids"])), {"name": "X", "value": "2"})
    assert TraitGroup.objects.filter(pk=t["a_ids"]["group_id"]).exists()
    assert Trait.objects.filter(pk=t["a_ids"]["trait_id"]).exists()
    from profiles.models import Profile

    assert Profile.objects.get(pk=t["a_ids"]["profile_id"]).traits == {"Loyalty": {"tier": "gold"}}
    from identity.models import IdentityRule

    rule = IdentityRule.objects.get(pk=t["a_ids"]["rule_id"])
    assert (rule.name, rule.priority) == ("User ID", 5)
    from accounts.models import ApiKey

    assert ApiKey.objects.get(pk=t["a_ids"]["key_id"]).revoked_at is None
