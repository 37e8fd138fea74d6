"""What a new user's trial of conversations and memory found, fixed (each as the user meets it):
the wizard refuses an inactivity period not shorter than the timeout on the lifecycle step itself;
the Recall preview's errors name the form's fields; a memory extraction re-run is listed apart from
the lifecycle's requests; `manage.py conversations_tick` runs the lifecycle pass at once;
/favicon.ico answers; a communications batch's 422 names every bad item."""

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from conversations import memory_services
from conversations.memory import extractions_pending_process
from conversations.models import Communication, Conversation, ExtractionRequest
from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
from profiles.models import Profile
from tests.test_memory_observations import _closed_conversation, _configuration

pytestmark = pytest.mark.django_db


# -- 1. the wizard's lifecycle step -------------------------------------------------------------


def _step2(client, store, htmx=False, **fields):
    post = {
        "step": 2,
        "action": "next",
        "name": "Support line",
        "description": "",
        "lifecycle": "inactive",
        "inactivity_minutes": "",
        "timeout_minutes": "",
        "grouping": "addresses_channel",
        **fields,
    }
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("conversations:create", args=[store.pk]), post, **extra).content.decode()


@pytest.mark.parametrize("htmx", [False, True], ids=["plain form", "htmx"])
@pytest.mark.parametrize(("inactivity", "timeout"), [("30", "20"), ("20", "20")])
def test_an_inactivity_period_not_shorter_than_the_timeout_is_refused_on_the_lifecycle_step(
    admin_client, store, htmx, inactivity, timeout
):
    html = _step2(admin_client, store, htmx=htmx, inactivity_minutes=inactivity, timeout_minutes=timeout)
    assert "Step 2 of 5: Configure lifecycle" in html and "Step 3 of 5" not in html
    assert ("<html" in html) is not htmx
    # Under the inactivity period's field, which wears the error.
    assert (
        f'<div class="invalid-feedback" id="inactivity-error" data-error-for="id_inactivity_minutes">The inactivity '
        f"period ({inactivity} min) must be shorter than the conversation timeout ({timeout} min)"
    ) in html
    assert 'id="id_inactivity_minutes" name="inactivity_minutes" value="' + inactivity in html
    assert 'aria-describedby="inactivity-help inactivity-error" aria-invalid="true"' in html


def test_a_shorter_inactivity_period_goes_on_to_the_addresses(admin_client, store):
    html = _step2(admin_client, store, inactivity_minutes="5", timeout_minutes="20")
    assert "Step 3 of 5: Addresses to capture" in html and "is-invalid" not in html


def test_the_lifecycle_step_says_the_period_must_be_shorter_than_the_timeout(admin_client, store):
    html = _step2(admin_client, store, step=1, lifecycle="basic")  # Next on step 1
    assert "Step 2 of 5" in html
    assert "shorter than the conversation timeout below (left empty, the timeout is 15 minutes" in html


# -- 3. the Recall preview's errors --------------------------------------------------------------


@pytest.fixture
def profile(store):
    return Profile.objects.create(store=store, traits={"Contact": {"firstName": "Ada"}})


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"observationsLimit": "500"}, "Observations: must be a whole number from 0 to 100."),
        ({"summariesLimit": "-1"}, "Summaries: must be a whole number from 0 to 50."),
        ({"communicationsLimit": "101"}, "Messages: must be a whole number from 0 to 100."),
        ({"relevanceThreshold": "2"}, "Min. score: must be a number from 0 to 1."),
        ({"beginDate": "2026-11-02T00:00", "endDate": "2026-11-01T00:00"}, "Before (UTC): must be after “From (UTC)”."),
        ({"beginDate": "yesterday"}, "From (UTC): must be a date and time"),
    ],
)
def test_the_recall_previews_errors_name_the_forms_labels(support_client, store, profile, query, shown):
    url = reverse("conversations:recall_preview", args=[store.pk, profile.pk])
    html = support_client.get(url, {"query": "", **query}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="recall-errors"' in html and shown in html
    for api_name in ("observationsLimit", "summariesLimit", "communicationsLimit", "relevanceThreshold"):
        assert api_name not in html
    assert "beginDate" not in html and "endDate" not in html


def test_the_api_keeps_its_own_names_for_recalls_errors(api, store, profile):
    response = api.call(
        "post", f"/stores/{store.pk}/profiles/{profile.pk}/recall", {"beginDate": "2026-11-02", "endDate": "2026-11-01"}
    )
    assert response.status_code == 422
    assert any(item["loc"][-1] == "endDate" and "endDate" in item["msg"] for item in response.json()["detail"])


# -- 4. a re-run of memory extraction on the conversation's page ------------------------------


def test_a_re_run_is_listed_apart_from_the_lifecycles_requests_with_who_applied_it_and_when(
    store, admin_client, admin_user
):
    _configuration(store)
    conversation = _closed_conversation(store, ["I live in Denver."])
    extractions_pending_process()
    rows = memory_services.extraction_preview(conversation=conversation)
    url = reverse("conversations:extraction_rerun", args=[store.pk, conversation.pk])
    admin_client.post(url, {"fingerprint": memory_services.preview_fingerprint(rows)})
    rerun = ExtractionRequest.objects.exclude(requested_by="").get(conversation=conversation)

    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, conversation.pk])).content.decode()
    lifecycle = page[page.index('data-testid="history"') : page.index("Memory extraction re-runs")]
    assert lifecycle.count('data-testid="extraction"') == 1  # the Closed transition's request only
    assert "Memory extraction queued" in lifecycle and admin_user.email not in lifecycle
    reruns = page[page.index('data-testid="reruns"') :]
    assert reruns.count('data-testid="rerun"') == 1
    assert f'applied by <strong data-testid="rerun-by">{admin_user.email}</strong>' in reruns
    assert timezone.localtime(rerun.requested_at).strftime("%Y") in reruns and ">Done</span>" in reruns
    assert "dry runs write nothing and are not listed" in reruns


def test_without_a_re_run_the_page_has_no_re_runs_section(store, admin_client):
    _configuration(store)
    conversation = _closed_conversation(store, ["I live in Denver."])
    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, conversation.pk])).content.decode()
    assert "Memory extraction re-runs" not in page and 'data-testid="extraction"' in page


# -- 5. the lifecycle pass on demand ------------------------------------------------------------


def test_conversations_tick_closes_what_is_due_now_and_extracts_with_extract(store):
    conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(
            name="Support line", captures=[("sms", "+14155550100")], timeout_minutes=30, observations_enabled=True
        ),
    )
    an_hour_ago = timezone.now() - timedelta(hours=1)
    info = communication_ingest(
        store=store,
        channel="sms",
        direction="inbound",
        from_address="+14155550123",
        to_address="+14155550100",
        body="I'm allergic to peanuts.",
        occurred_at=an_hour_ago,
    )
    out = StringIO()
    call_command("conversations_tick", "--extract", stdout=out)
    assert Conversation.objects.get(pk=info.conversation.pk).status == "closed"
    assert "0 conversations went Inactive, 1 Closed; 1 memory extractions requested." in out.getvalue()
    assert "Memory extraction: 1 requests done, 0 failed." in out.getvalue()
    assert ExtractionRequest.objects.get(conversation=info.conversation).status == "done"
    again = StringIO()
    call_command("conversations_tick", stdout=again)  # nothing more is due: nothing moves twice
    assert "0 Closed; 0 memory extractions requested." in again.getvalue()


def test_make_run_and_the_readme_say_how_to_run_the_lifecycle_pass_now():
    from django.conf import settings

    run = (settings.BASE_DIR / "scripts" / "run.sh").read_text()
    readme = (settings.BASE_DIR / "README.md").read_text()
    assert "manage.py conversations_tick --extract" in run
    assert "manage.py conversations_tick" in readme


# -- 6. the favicon ----------------------------------------------------------------------------


def test_favicon_ico_leads_to_the_consoles_icon_and_pages_link_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("console/favicon.ico")
    assert "max-age=86400" in response["Cache-Control"]
    from django.contrib.staticfiles import finders

    ico = Path(finders.find("console/favicon.ico")).read_bytes()  # served by whitenoise (the browser test fetches it)
    assert ico[:6] == b"\x00\x00\x01\x00\x01\x00" and ico[6:8] == b"\x20\x20"  # one 32x32 icon
    assert "<svg" in Path(finders.find("console/favicon.svg")).read_text()
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon" href="/static/console/favicon.ico"' in page
    assert 'rel="icon" href="/static/console/favicon.svg" type="image/svg+xml"' in page


# -- 7. a communications batch's refusal names every bad item ----------------------------------


BUSINESS = "+14155550100"


@pytest.fixture
def configured(store):
    conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Support", captures=[("sms", BUSINESS)])
    )
    return store


def _message(n, **extra):
    return {"channel": "sms", "from": "+14155550123", "to": BUSINESS, "direction": "inbound", "body": "Hi",
            "external_id": f"m{n}", **extra}  # fmt: skip


def test_a_batch_with_several_bad_values_is_one_422_naming_each_item_and_field(api, configured):
    items = [_message(0, body="a\u0000b"), _message(1), _message(2, author_name="x\u0000"), _message(3, body="\ud800")]
    response = api.raw("post", f"/stores/{configured.pk}/communications/batch", json.dumps({"items": items}))
    assert response.status_code == 422
    assert [(item["loc"], item["msg"]) for item in response.json()["detail"]] == [
        (["body", "items", 0, "body"], "The value contains U+0000 NULL."),
        (["body", "items", 2, "author_name"], "The value contains U+0000 NULL."),
        (["body", "items", 3, "body"], "The value contains U+D800 (a lone surrogate, not a character)."),
    ]
    assert not Communication.objects.exists()


def test_a_batch_with_missing_fields_names_every_item_too(api, configured):
    items = [{"from": "+14155550123"}, _message(1), _message(2, direction=5)]
    response = api.call("post", f"/stores/{configured.pk}/communications/batch", {"items": items})
    assert response.status_code == 422
    locs = [item["loc"] for item in response.json()["detail"]]
    assert ["body", "items", 0, "channel"] in locs and ["body", "items", 2, "direction"] in locs
    assert not any(loc[:3] == ["body", "items", 1] for loc in locs)
    assert not Communication.objects.exists()


def test_a_batchs_invalid_items_answer_in_identify_batchs_shape_and_the_others_are_stored(api, configured):
    items = [_message(0, to="+12125550100"), _message(1), _message(2, direction="sideways")]
    response = api.call("post", f"/stores/{configured.pk}/communications/batch", {"items": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["error", "created", "error"]
    assert results[0]["errors"] == [
        {
            "loc": ["body", "items", 0, "to"],
            "msg": "No conversation configuration of this store captures +12125550100 (sms).",
        }  # fmt: skip
    ]
    assert results[2]["errors"] == [
        {"loc": ["body", "items", 2, "direction"], "msg": "The direction must be inbound or outbound."}
    ]
    assert Communication.objects.count() == 1


def test_the_openapi_document_describes_the_batchs_422(client):
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/stores/{store_id}/communications/batch"]["post"]
    refused = operation["responses"]["422"]
    assert "every problem of every item" in refused["description"]
    assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationErrorDetail"}
    assert "ValidationErrorDetail" in document["components"]["schemas"]
    assert '["body", "items", index, field]' in operation["description"]
    item = document["components"]["schemas"]["BatchItemError"]
    assert set(item["required"]) == {"loc", "msg"}


@override_settings(DEBUG=False)
def test_a_body_with_more_bad_values_than_listed_stops_at_the_limit(api, configured):
    from memory_console.jsonvalues import PROBLEMS_MAX

    items = [_message(n, body="\u0000") for n in range(PROBLEMS_MAX + 5)]
    response = api.raw("post", f"/stores/{configured.pk}/communications/batch", json.dumps({"items": items}))
    assert response.status_code == 422 and len(response.json()["detail"]) == PROBLEMS_MAX


def test_json_problems_lists_every_bad_value_in_document_order():
    from memory_console.jsonvalues import json_problem, json_problems, loads

    body = loads('{"items": [{"a": "x\\u0000"}, {"ok": 1}, {"k\\u0000": {"deep": "\\ud800"}}, {"n": NaN}]}')
    assert json_problems(body) == [
        (("items", 0, "a"), "contains U+0000 NULL"),
        (("items", 2, "k\x00"), "is a key that contains U+0000 NULL"),
        (("items", 3, "n"), "is not a finite number (or is too large)"),
    ]
    assert json_problem(body) == json_problems(body)[0]
    assert json_problems(body, limit=2) == json_problems(body)[:2]
    assert json_problems({"fine": ["a", 1, None]}) == []
