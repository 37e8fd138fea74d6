"""Conversation configurations in the console and the API (issue 16): the list and its empty
state, the seed's create wizard through plain POSTs, errors on the step that holds the field, the
configuration page, edit (observations on and off), delete, Support read-only, tenant walls."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from conversations.models import ConversationConfiguration
from conversations.services import ConfigurationInput, conversation_configuration_create
from tests.factories import AccountFactory, StoreFactory

pytestmark = pytest.mark.django_db


def _create(store, name="Support line", captures=(("sms", "+14155550100"),), **fields):
    return conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name=name, captures=list(captures), **fields)
    )


def _wizard(client, store, step, action="next", **fields):
    """One press of a wizard button: the whole form as the browser sends it."""
    post = {
        "step": step,
        "action": action,
        "name": "",
        "description": "",
        "lifecycle": "basic",
        "inactivity_minutes": "",
        "timeout_minutes": "",
        "grouping": "addresses_channel",
    }
    post.update(fields)
    return client.post(reverse("conversations:create", args=[store.pk]), post)


def _text(response):
    return response.content.decode()


def test_empty_list_calls_to_set_one_up(admin_client, store):
    html = _text(admin_client.get(reverse("conversations:list", args=[store.pk])))
    assert "No conversation configurations yet" in html
    assert "Set up a conversation configuration" in html
    assert reverse("conversations:create", args=[store.pk]) in html
    assert "Coming soon" not in html


def test_wizard_happy_path_by_plain_posts(admin_client, store):
    url = reverse("conversations:create", args=[store.pk])
    first = _text(admin_client.get(url))
    assert "Step 1 of 5: Name" in first and "At most 32 characters." in first

    step2 = _text(_wizard(admin_client, store, 1, name="Support line", description="Inbound support"))
    assert "Step 2 of 5: Configure lifecycle" in step2
    assert "Left empty, the defaults apply" in step2
    assert 'name="name" value="Support line"' in step2  # carried in a hidden field

    step3 = _text(_wizard(admin_client, store, 2, name="Support line", description="Inbound support"))
    assert "Step 3 of 5: Addresses to capture" in step3

    fields = {
        "name": "Support line",
        "description": "Inbound support",
        "capture_channel": ["sms", "sms"],
        "capture_address": ["(415) 555-0100", ""],
    }
    more = _text(_wizard(admin_client, store, 3, action="add_row", **fields))
    assert "Step 3 of 5" in more and more.count('name="capture_address"') == 2

    step4 = _text(_wizard(admin_client, store, 3, **fields))
    assert "Step 4 of 5: Observations and summaries" in step4
    assert "Turn on observations and summaries" in step4
    assert 'name="observations_enabled" id="id_observations_enabled">' in step4  # off by default

    fields.update(capture_channel=["sms"], capture_address=["(415) 555-0100"])
    summary = _text(_wizard(admin_client, store, 4, observations_enabled="on", **fields))
    assert "Step 5 of 5: Summary" in summary
    assert "SMS: 15 min — the default for SMS" in summary
    assert "<code>+14155550100</code>" in summary and "Inbound support" in summary  # as it will be stored
    assert 'Observations and summaries</dt><dd class="col-sm-8">On' in summary

    done = _wizard(admin_client, store, 5, action="create", observations_enabled="on", **fields)
    configuration = ConversationConfiguration.objects.get(store=store)
    assert done.status_code == 302
    assert done["Location"] == reverse("conversations:detail", args=[store.pk, configuration.pk])
    assert (configuration.name, configuration.observations_enabled) == ("Support line", True)
    assert [(r.channel, r.pattern) for r in configuration.captures.all()] == [("sms", "+14155550100")]
    assert AuditEvent.objects.filter(action="conversation_configuration.create", store_id=store.pk).exists()

    page = _text(admin_client.get(done["Location"]))
    assert "Created conversation configuration Support line." in page
    assert "15 min — the default for SMS" in page
    listing = _text(admin_client.get(reverse("conversations:list", args=[store.pk])))
    assert "Support line" in listing and "the default for SMS" in listing


def test_wizard_over_htmx_swaps_the_step_and_redirects_when_created(admin_client, store):
    url = reverse("conversations:create", args=[store.pk])
    step2 = admin_client.post(url, {"step": 1, "action": "next", "name": "Chat"}, HTTP_HX_REQUEST="true")
    assert "<html" not in _text(step2) and "Step 2 of 5" in _text(step2)
    post = {"step": 5, "action": "create", "name": "Chat", "lifecycle": "basic", "grouping": "profile"}
    post.update(capture_channel=["chat", "whatsapp"], capture_address=["web-widget", "+14155550111"])
    done = admin_client.post(url, post, HTTP_HX_REQUEST="true")
    configuration = ConversationConfiguration.objects.get(store=store, name="Chat")
    assert done["HX-Redirect"] == reverse("conversations:detail", args=[store.pk, configuration.pk])


def test_a_33_character_name_stays_on_step_1(admin_client, store):
    html = _text(_wizard(admin_client, store, 1, name="x" * 33))
    assert "Step 1 of 5: Name" in html
    assert "The friendly name" in html and "is-invalid" in html


def test_a_bad_address_stays_on_step_3(admin_client, store):
    html = _text(
        _wizard(admin_client, store, 3, name="Line", capture_channel=["sms"], capture_address=["not a number"])
    )
    assert "Step 3 of 5: Addresses to capture" in html
    assert "SMS: “not a number”" in html


def test_an_address_of_another_configuration_is_named_and_create_goes_back_to_its_step(admin_client, store):
    _create(store, name="Sales")
    fields = {"name": "Support", "capture_channel": ["sms"], "capture_address": ["+14155550100"]}
    html = _text(_wizard(admin_client, store, 3, **fields))
    assert "Step 3 of 5" in html and "is captured by “Sales”" in html
    # The same clash found only at Create (another admin took it meanwhile) shows on step 3 too.
    html = _text(_wizard(admin_client, store, 5, action="create", **fields))
    assert "Step 3 of 5" in html and "is captured by “Sales”" in html
    assert ConversationConfiguration.objects.filter(store=store).count() == 1


def test_an_inactivity_period_not_shorter_than_the_timeout_goes_back_to_step_2(admin_client, store):
    fields = {"name": "Line", "lifecycle": "inactive", "inactivity_minutes": "30"}
    fields.update(capture_channel=["sms"], capture_address=["+14155550100"])
    html = _text(_wizard(admin_client, store, 3, **fields))
    assert "Step 2 of 5: Configure lifecycle" in html
    assert "must be shorter than the conversation timeout (15 min)" in html


def test_back_keeps_what_was_typed(admin_client, store):
    html = _text(_wizard(admin_client, store, 2, action="back", name="Kept", timeout_minutes="40"))
    assert "Step 1 of 5" in html and 'value="Kept"' in html
    assert 'name="timeout_minutes" value="40"' in html


def test_configuration_page_and_edit_turns_observations_on_then_off(admin_client, store):
    configuration = _create(store, captures=[("sms", "+14155550100"), ("voice", "+14155550100")])
    page = _text(admin_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])))
    assert "the longest default of your channels, applied to all of them" in page
    assert 'data-testid="observations">Off' in page

    url = reverse("conversations:edit", args=[store.pk, configuration.pk])
    form = _text(admin_client.get(url))
    assert 'value="Support line"' in form and form.count('name="capture_address"') == 2
    post = {"name": "Support line", "lifecycle": "basic", "grouping": "addresses_channel"}
    post.update(capture_channel=["sms", "voice"], capture_address=["+14155550100", "+14155550100"])
    response = admin_client.post(url, {**post, "observations_enabled": "on"}, follow=True)
    assert 'data-testid="observations">On' in _text(response)
    configuration.refresh_from_db()
    assert configuration.observations_enabled is True
    admin_client.post(url, post)
    configuration.refresh_from_db()
    assert configuration.observations_enabled is False
    assert AuditEvent.objects.filter(action="conversation_configuration.update").count() == 2

    bad = _text(admin_client.post(url, {**post, "name": "y" * 33}))
    assert "The friendly name" in bad and "is-invalid" in bad


def test_delete_asks_then_deletes(admin_client, store):
    configuration = _create(store)
    url = reverse("conversations:delete", args=[store.pk, configuration.pk])
    confirm = _text(admin_client.get(url))
    assert "Delete the conversation configuration <strong>Support line</strong>?" in confirm
    response = admin_client.post(url, follow=True)
    assert "Deleted conversation configuration Support line." in _text(response)
    assert "No conversation configurations yet" in _text(response)
    assert not ConversationConfiguration.objects.filter(pk=configuration.pk).exists()
    assert AuditEvent.objects.filter(action="conversation_configuration.delete").exists()


def test_delete_over_htmx_closes_the_sheet_and_swaps_the_list(admin_client, store):
    configuration = _create(store)
    url = reverse("conversations:delete", args=[store.pk, configuration.pk])
    response = admin_client.post(url, HTTP_HX_REQUEST="true")
    assert response["HX-Trigger"] == "sheet:close"
    assert 'id="conversation-configurations" hx-swap-oob="true"' in _text(response)


def test_the_confirmation_as_a_page_posts_plainly_and_from_the_configurations_page_goes_to_the_list(
    admin_client, store
):
    configuration = _create(store)
    url = reverse("conversations:delete", args=[store.pk, configuration.pk])
    page = _text(admin_client.get(url))  # opened as a page (a new tab, no JavaScript)
    assert "hx-post" not in page  # a plain POST, redirected: not swapped into a hidden sheet
    detail = "http://testserver" + reverse("conversations:detail", args=[store.pk, configuration.pk])
    response = admin_client.post(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=detail)
    assert response["HX-Redirect"] == reverse("conversations:list", args=[store.pk])  # its page is gone
    listing = _text(admin_client.get(reverse("conversations:list", args=[store.pk])))
    assert "Deleted conversation configuration Support line." in listing


def test_support_reads_without_controls_and_cannot_write(support_client, store):
    configuration = _create(store)
    listing = _text(support_client.get(reverse("conversations:list", args=[store.pk])))
    assert "Support line" in listing
    assert reverse("conversations:create", args=[store.pk]) not in listing
    assert reverse("conversations:edit", args=[store.pk, configuration.pk]) not in listing
    page = _text(support_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])))
    assert "Support line" in page and ">Edit<" not in page
    for name, args in [
        ("conversations:create", [store.pk]),
        ("conversations:edit", [store.pk, configuration.pk]),
        ("conversations:delete", [store.pk, configuration.pk]),
    ]:
        assert (
            support_client.post(
                reverse(name, args=args), {"name": "Hijacked", "step": 5, "action": "create"}
            ).status_code
            == 403
        )
    assert list(ConversationConfiguration.objects.values_list("name", flat=True)) == ["Support line"]


def test_another_stores_configuration_is_not_found(admin_client, store, account):
    other_store = StoreFactory(account=account, name="Second")
    foreign = _create(StoreFactory(account=AccountFactory()), name="Theirs")
    sibling = _create(other_store, name="Sibling")
    for configuration in (foreign, sibling):
        for name in ("conversations:detail", "conversations:edit", "conversations:delete"):
            url = reverse(name, args=[store.pk, configuration.pk])
            assert admin_client.get(url).status_code == 404
            assert admin_client.post(url, {"name": "Hijacked"}).status_code == 404
    assert ConversationConfiguration.objects.filter(name__in=["Theirs", "Sibling"]).count() == 2


def test_overview_step_is_done_once_a_configuration_exists(admin_client, store):
    def step():
        response = admin_client.get(reverse("stores:overview", args=[store.pk]))
        return next(s for s in response.context["steps"] if s.title == "Set up conversations")

    assert step().done is False and step().url == reverse("conversations:list", args=[store.pk])
    _create(store)
    assert step().done is True


# The API


def _path(store, *rest):
    return "/".join([f"/stores/{store.pk}/conversation-configurations", *map(str, rest)])


def test_api_create_list_get_patch_delete(api, store):
    body = {
        "name": "Support line",
        "captures": [{"channel": "sms", "address": "(415) 555-0100"}, {"channel": "voice", "address": "+1415*"}],
    }
    created = api.call("post", _path(store), body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["captures"] == [
        {"channel": "sms", "address": "+14155550100"},
        {"channel": "voice", "address": "+1415*"},
    ]
    assert data["observations_enabled"] is False
    assert data["effective_timeouts"] == [
        {
            "channel": "sms",
            "minutes": 15,
            "text": "15 min",
            "why": "the longest default of your channels, applied to all of them",
        },
        {
            "channel": "voice",
            "minutes": 15,
            "text": "15 min",
            "why": "the longest default of your channels, applied to all of them; a call in progress is not timed "
            "out (its end closes it; at most 4 hours)",
        },
    ]
    assert [c["name"] for c in api.call("get", _path(store)).json()] == ["Support line"]
    assert api.call("get", _path(store, data["id"])).json()["name"] == "Support line"

    patched = api.call("patch", _path(store, data["id"]), {"observations_enabled": True, "timeout_minutes": 30})
    assert patched.status_code == 200, patched.content
    assert patched.json()["observations_enabled"] is True
    assert patched.json()["effective_timeouts"][0] == {
        "channel": "sms",
        "minutes": 30,
        "text": "30 min",
        "why": "the timeout you set",
    }
    assert len(patched.json()["captures"]) == 2  # not sent, kept

    assert api.call("delete", _path(store, data["id"])).status_code == 204
    assert api.call("get", _path(store, data["id"])).status_code == 404
    actions = set(AuditEvent.objects.filter(store_id=store.pk).values_list("action", flat=True))
    assert {
        "conversation_configuration.create",
        "conversation_configuration.update",
        "conversation_configuration.delete",
    } <= actions


def test_api_422_names_the_fields(api, store):
    _create(store, name="Sales")
    response = api.call(
        "post", _path(store), {"name": "x" * 33, "captures": [{"channel": "sms", "address": "+14155550100"}]}
    )
    assert response.status_code == 422
    locs = {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}
    assert set(locs) == {("body", "name"), ("body", "captures")}
    assert "captured by “Sales”" in locs[("body", "captures")]
    bad = api.call("post", _path(store), {"name": "A", "timeout_minutes": "soon"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "timeout_minutes"]
    assert ConversationConfiguration.objects.filter(store=store).count() == 1


def test_api_another_accounts_configuration_is_404(api, store):
    foreign_store = StoreFactory(account=AccountFactory())
    foreign = _create(foreign_store, name="Theirs")
    assert api.call("get", _path(foreign_store)).status_code == 404
    for method in ("get", "delete"):
        assert api.call(method, _path(store, foreign.pk)).status_code == 404
    assert api.call("patch", _path(store, foreign.pk), {"observations_enabled": True}).status_code == 404
    assert ConversationConfiguration.objects.filter(pk=foreign.pk, observations_enabled=False).exists()


def test_data_sources_lists_configurations_with_edit_as_the_seed_says(admin_client, store):
    configuration = _create(store)
    html = _text(admin_client.get(reverse("imports:list", args=[store.pk])))
    assert "Support line" in html
    assert reverse("conversations:edit", args=[store.pk, configuration.pk]) in html


def test_api_patch_refuses_null_and_turning_inactive_off_drops_its_period(api, store):
    made = api.call(
        "post",
        _path(store),
        {
            "name": "Line",
            "lifecycle": "inactive",
            "inactivity_minutes": 5,
            "captures": [{"channel": "sms", "address": "+14155550100"}],
        },
    ).json()
    null = api.call("patch", _path(store, made["id"]), {"status_callback_urls": None})
    assert null.status_code == 422 and null.json()["detail"][0]["loc"][-1] == "status_callback_urls"
    basic = api.call("patch", _path(store, made["id"]), {"lifecycle": "basic"})
    assert basic.status_code == 200 and basic.json()["inactivity_minutes"] is None
    both = api.call("patch", _path(store, made["id"]), {"lifecycle": "basic", "inactivity_minutes": 5})
    assert both.status_code == 422 and both.json()["detail"][0]["loc"][-1] == "inactivity_minutes"
