"""Two settings of an identity rule (issue 14): blocked values, which never identify anyone, and the
limit policy (keep existing values, or replace the oldest one). Their matcher and validator
(`identity.blocking`), the defaults of a new store, the services, the console and the API."""

import json
import re
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from identity.blocking import BlockList, blocked_values_clean
from identity.defaults import DEFAULT_BLOCKED_VALUES
from identity.models import IdentityRule, LimitPolicy
from identity.services import identity_rule_create, identity_rule_update

EMAIL_DEFAULTS = list(DEFAULT_BLOCKED_VALUES["email"])
PHONE_DEFAULTS = list(DEFAULT_BLOCKED_VALUES["phone"])


def _rule(store, kind) -> IdentityRule:
    return IdentityRule.objects.get(store=store, kind=kind)


def _refusal(values) -> str:
    with pytest.raises(ValidationError) as caught:
        blocked_values_clean(values)
    assert list(caught.value.message_dict) == ["blocked_values"]
    return caught.value.message_dict["blocked_values"][0]


# --- the matcher -----------------------------------------------------------------------------------


def test_an_empty_list_never_blocks():
    empty = BlockList([])
    assert not empty
    for raw, normalised in [("", None), ("n/a", None), ("noreply@shop.example", "noreply@shop.example"), ("0", "0")]:
        assert empty.blocks(raw, normalised) is None


def test_exact_values_block_ignoring_case_and_answer_the_pattern_as_written():
    blocks = BlockList(["Test@Test.com", "N/A", "0000000000"]).blocks
    assert blocks("test@test.com", "test@test.com") == "Test@Test.com"
    assert blocks("TEST@TEST.COM", None) == "Test@Test.com"
    assert blocks("n/A", None) == "N/A"
    assert blocks("test@test.co", "test@test.co") is None
    assert blocks("xtest@test.com", "xtest@test.com") is None
    assert blocks("n/a please", None) is None


def test_a_star_matches_any_run_of_characters_at_the_start_middle_or_end():
    blocks = BlockList(["noreply@*", "*@mailinator.com", "test*@example.com"]).blocks
    assert blocks("NoReply@shop.example", "noreply@shop.example") == "noreply@*"
    assert blocks("noreply@", None) == "noreply@*"  # a run of no characters
    assert blocks("anyone@Mailinator.com", "anyone@mailinator.com") == "*@mailinator.com"
    assert blocks("test@example.com", "test@example.com") == "test*@example.com"
    assert blocks("test.42@example.com", "test.42@example.com") == "test*@example.com"
    assert blocks("atest@example.com", "atest@example.com") is None
    assert blocks("reply@shop.example", "reply@shop.example") is None
    assert blocks("test@example.community", "test@example.community") is None


def test_several_stars_need_their_text_in_order():
    blocks = BlockList(["a*b*c"]).blocks
    assert blocks("abc", None) == "a*b*c"
    assert blocks("a-b-b-c", None) == "a*b*c"
    assert blocks("acb", None) is None
    assert BlockList(["*aa*a"]).blocks("aaa", None) == "*aa*a"
    assert BlockList(["*aa*a"]).blocks("aa", None) is None


def test_question_marks_brackets_and_backslashes_are_ordinary_characters():
    blocks = BlockList(["n?a", "[test]", "a\\d", "x.y"]).blocks
    assert blocks("n?a", None) == "n?a"
    assert blocks("n/a", None) is None
    assert blocks("[test]", None) == "[test]"
    assert blocks("t", None) is None
    assert blocks("a\\d", None) == "a\\d"
    assert blocks("a1", None) is None
    assert blocks("xzy", None) is None


def test_the_normalised_value_is_checked_too():
    blocks = BlockList(["+14155550100", "robot@shop.example"]).blocks
    assert blocks("(415) 555-0100", "+14155550100") == "+14155550100"
    assert blocks("Robot@SHOP.example ", "robot@shop.example") == "robot@shop.example"
    assert blocks("(415) 555-0100", None) is None  # normalising failed: only the raw value and its digits


def test_a_value_of_digits_and_punctuation_is_also_checked_as_its_digits():
    blocks = BlockList(["0000000000", "1234567890"]).blocks
    assert blocks("(000) 000-0000", None) == "0000000000"
    assert blocks("000.000.0000", "+10000000000") == "0000000000"
    assert blocks("+1 (234) 567-890", None) == "1234567890"
    assert blocks("\uff10" * 10, None) == "0000000000"  # fullwidth digits
    assert blocks("call 000 000 0000", None) is None  # letters: not a number written with punctuation
    assert blocks("(000) 000-00000", None) is None


def test_values_are_compared_in_nfc_with_invisible_edges_trimmed():
    composed, decomposed = "jos\u00e9@*", "jose\u0301@shop.example"
    assert BlockList([composed]).blocks(decomposed, None) == composed
    assert BlockList(["jose\u0301@*"]).blocks("JOS\u00c9@shop.example", None) == "jose\u0301@*"
    blocks = BlockList(["test@test.com", "n/a"]).blocks
    assert blocks("\u200btest@test.com\u00a0", None) == "test@test.com"
    assert blocks("\ufeff N/A \u2060", None) == "n/a"
    assert blocks("n\u200b/a", None) is None  # inside, it is a different value
    assert BlockList(["strasse@*"]).blocks("STRAßE@shop.example", None) == "strasse@*"


def test_the_first_matching_pattern_is_answered():
    blocks = BlockList(["x@*", "*@y.example", "n/a"]).blocks
    assert blocks("a@y.example", None) == "*@y.example"
    assert blocks("x@y.example", None) == "x@*"


def test_a_pattern_full_of_stars_answers_at_once_on_a_long_value():
    hostile = BlockList(["*a" * 40 + "*b"])
    started = time.perf_counter()
    assert hostile.blocks("a" * 255, None) is None
    assert hostile.blocks("a" * 100_000, None) is None
    assert time.perf_counter() - started < 1


# --- the validator ---------------------------------------------------------------------------------


def test_the_list_is_trimmed_stored_in_nfc_and_duplicates_are_dropped():
    cleaned = blocked_values_clean([" noreply@* ", "\u200bN/A", "n/a", "jose\u0301@x.example", "JOS\u00c9@X.example"])
    assert cleaned == ["noreply@*", "N/A", "jos\u00e9@x.example"]
    assert blocked_values_clean([]) == [] and blocked_values_clean(None) == []
    assert blocked_values_clean(["same"] * 500) == ["same"]


def test_one_text_with_a_value_per_line_is_read_as_the_list():
    assert blocked_values_clean("noreply@*\r\n\r\n  n/a  \n0000000000\r") == ["noreply@*", "n/a", "0000000000"]
    assert blocked_values_clean("  \n\u00a0\n") == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (5, "must be a list of text values, not a number"),
        ({"a": "b"}, "must be a list of text values, not an object"),
        (["ok", 7], "Blocked value 2 must be text, not a number"),
        (["ok", None], "Blocked value 2 must be text, not null"),
        (["ok", ["x"]], "Blocked value 2 must be text, not a list"),
        (["ok", " \u200b "], "Blocked value 2 is empty"),
        (["ok", "te\x00st"], "Blocked value 2 “te<U+0000>st” contains U+0000 NULL"),
        (["te\x1bst"], "Blocked value 1 “te<U+001B>st” contains U+001B ESCAPE"),
        (["no\u200breply@*"], "Blocked value 1 “no<U+200B>reply@*” contains U+200B ZERO WIDTH SPACE"),
        (["ok", "x" * 256], "Blocked value 2 “" + "x" * 60 + "...” is longer than 255 characters"),
        (["ok", "*"], "Blocked value 2 “*” would block every value"),
        (["***"], "Blocked value 1 “***” would block every value"),
        ("ok\n\n*\n", "Line 3 “*” would block every value"),
        ("ok\nbad\x07", "Line 2 “bad<U+0007>” contains U+0007 BELL"),
        ([f"v{n}" for n in range(101)], "At most 100 blocked values are allowed (this list has 101)"),
    ],
)
def test_each_refusal_names_the_entry_at_fault(values, expected):
    assert expected in _refusal(values)


def test_a_value_of_255_characters_and_100_values_are_accepted():
    assert len(blocked_values_clean(["x" * 255])[0]) == 255
    assert len(blocked_values_clean([f"v{n}" for n in range(100)])) == 100
    assert blocked_values_clean(["e\u0301" * 255]) == ["\u00e9" * 255]  # counted after NFC


# --- defaults and existing stores ------------------------------------------------------------------


def test_a_new_store_blocks_placeholders_on_its_email_and_phone_rules_only(store):
    assert _rule(store, "email").blocked_values == EMAIL_DEFAULTS
    assert _rule(store, "phone").blocked_values == PHONE_DEFAULTS
    assert _rule(store, "whatsappid").blocked_values == [] and _rule(store, "chat").blocked_values == []
    assert {rule.limit_policy for rule in IdentityRule.objects.filter(store=store)} == {LimitPolicy.LIFO}
    email = BlockList(_rule(store, "email").blocked_values)
    for placeholder in ("noreply@shop.example", "Do-Not-Reply@bank.example", "TEST@test.com", "N/A", "unknown"):
        assert email.blocks(placeholder, None), placeholder
    # Addresses the rest of the suite uses as real customers still identify.
    for address in ("none@example.com", "placeholder@example.com", "ada@example.com", "reply@shop.example"):
        assert email.blocks(address, address) is None, address
    phone = BlockList(_rule(store, "phone").blocked_values)
    assert phone.blocks("(123) 456-7890", None) == "1234567890"
    assert phone.blocks("(415) 555-0150", "+14155550150") is None


def test_the_default_lists_are_what_the_validator_keeps():
    for values in DEFAULT_BLOCKED_VALUES.values():
        assert blocked_values_clean(list(values)) == list(values)


def test_a_rule_created_without_the_settings_blocks_nothing_and_keeps_existing_values(store):
    rule = IdentityRule.objects.create(store=store, name="Legacy", kind="legacy_id", priority=9)
    rule.refresh_from_db()
    assert (rule.blocked_values, rule.limit_policy) == ([], LimitPolicy.LIFO)


@pytest.mark.django_db(transaction=True)
def test_the_migration_leaves_existing_rules_with_no_blocked_values():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("identity", "0006_set_based_references")]
    executor = MigrationExecutor(connection)
    after = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        account = old.get_model("accounts", "Account").objects.create(name="Old")
        store = old.get_model("stores", "Store").objects.create(account=account, name="Old store")
        old.get_model("identity", "IdentityRule").objects.create(
            store=store, name="email", kind="email", limit=5, priority=1, is_default=True
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    rule = IdentityRule.objects.get(store_id=store.pk, kind="email")
    assert (rule.blocked_values, rule.limit_policy) == ([], LimitPolicy.LIFO)


# --- services --------------------------------------------------------------------------------------


def test_services_store_the_settings_and_audit_them(store, admin_user):
    rule = identity_rule_create(
        store=store,
        actor=admin_user,
        name="User ID",
        kind="user_id",
        limit=2,
        blocked_values="guest\n*-test\nGUEST",
        limit_policy="fifo",
    )
    rule.refresh_from_db()
    assert (rule.blocked_values, rule.limit_policy) == (["guest", "*-test"], LimitPolicy.FIFO)
    identity_rule_update(rule=rule, actor=admin_user, name="User ID", limit=3)  # settings left out: kept
    rule.refresh_from_db()
    assert (rule.blocked_values, rule.limit_policy) == (["guest", "*-test"], LimitPolicy.FIFO)
    identity_rule_update(rule=rule, actor=admin_user, name="User ID", limit=3, blocked_values=[], limit_policy="lifo")
    rule.refresh_from_db()
    assert (rule.blocked_values, rule.limit_policy) == ([], LimitPolicy.LIFO)
    summaries = list(AuditEvent.objects.filter(store_id=store.pk).order_by("pk").values_list("summary", flat=True))
    assert summaries[-3:] == [
        "Added identity rule User ID (user_id, limit 2, replace oldest, 2 blocked values)",
        "Edited identity rule User ID (limit 3, replace oldest, 2 blocked values)",
        "Edited identity rule User ID (limit 3, keep existing, 0 blocked values)",
    ]


@pytest.mark.parametrize("policy", ["sometimes", "LIFO", "", 1, None])
def test_an_unknown_limit_policy_is_refused_naming_the_field(store, policy):
    with pytest.raises(ValidationError) as caught:
        identity_rule_create(store=store, actor=None, name="User ID", kind="user_id", limit_policy=policy)
    assert "limit_policy" in caught.value.message_dict
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()


def test_a_refused_edit_changes_nothing(store):
    rule = _rule(store, "email")
    version = type(store).objects.get(pk=store.pk).config_version
    with pytest.raises(ValidationError):
        identity_rule_update(rule=rule, actor=None, name="email", limit=4, limit_policy="fifo", blocked_values=["*"])
    rule.refresh_from_db()
    assert (rule.limit, rule.limit_policy, rule.blocked_values) == (5, LimitPolicy.LIFO, EMAIL_DEFAULTS)
    assert type(store).objects.get(pk=store.pk).config_version == version


# --- console ---------------------------------------------------------------------------------------


def _field_error(html: str, field: str) -> str:
    """The error text crispy shows under `field` (empty when there is none)."""
    found = re.findall(rf'<[^>]+id="error_\d+_id_{field}"[^>]*>(.*?)</', html, re.S)
    return " ".join(found)


def test_console_creates_a_rule_with_blocked_values_and_a_policy(admin_client, store):
    url = reverse("identity:rule_create", args=[store.pk])
    form = admin_client.get(url).content.decode()
    assert re.search(r'<label\s+for="id_blocked_values"', form) and 'textarea name="blocked_values"' in form
    assert "* matches any run of characters" in form and "noreply@*" in form
    assert "When the limit is reached" in form
    assert re.search(r'value="lifo"[^>]*checked', form) and "Replace the oldest value" in form
    response = admin_client.post(
        url,
        {
            "name": "User ID",
            "kind": "user_id",
            "source": "api",
            "limit": "2",
            "limit_policy": "fifo",
            "blocked_values": "guest\r\n\r\n  anonymous-*  \r\nGUEST\r\n",
        },
    )
    assert response.status_code == 302
    rule = _rule(store, "user_id")
    assert (rule.blocked_values, rule.limit_policy) == (["guest", "anonymous-*"], LimitPolicy.FIFO)
    page = admin_client.get(reverse("identity:list", args=[store.pk])).content.decode()
    row = re.search(r'<tr data-rule="user_id">.*?</tr>', page, re.S).group(0)
    assert "Replace the oldest value" in row and "2 blocked" in row and "anonymous-*" in row
    email_row = re.search(r'<tr data-rule="email">.*?</tr>', page, re.S).group(0)
    assert "Keep existing values" in email_row and f"{len(EMAIL_DEFAULTS)} blocked" in email_row
    assert "None" in re.search(r'<tr data-rule="chat">.*?</tr>', page, re.S).group(0)


def test_console_create_without_the_new_fields_takes_the_defaults(admin_client, store):
    url = reverse("identity:rule_create", args=[store.pk])
    response = admin_client.post(url, {"name": "User ID", "kind": "user_id", "source": "api", "limit": "1"})
    assert response.status_code == 302
    rule = _rule(store, "user_id")
    assert (rule.blocked_values, rule.limit_policy) == ([], LimitPolicy.LIFO)


def test_console_edit_shows_the_list_and_saves_changes(admin_client, store):
    rule = _rule(store, "email")
    url = reverse("identity:rule_edit", args=[store.pk, rule.pk])
    form = admin_client.get(url).content.decode()
    textarea = re.search(r'<textarea[^>]*name="blocked_values"[^>]*>(.*?)</textarea>', form, re.S).group(1)
    assert textarea.split() == ["noreply@*", "no-reply@*", *EMAIL_DEFAULTS[2:]]
    assert re.search(r'value="lifo"[^>]*checked', form)
    response = admin_client.post(
        url,
        {"name": "email", "limit": "5", "priority": "2", "limit_policy": "fifo", "blocked_values": "n/a\nnoreply@*"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.blocked_values, rule.limit_policy) == (["n/a", "noreply@*"], LimitPolicy.FIFO)
    assert AuditEvent.objects.filter(summary="Edited identity rule email (limit 5, replace oldest, 2 blocked values)")
    # An empty textarea removes them all.
    cleared = {"name": "email", "limit": "5", "priority": "2", "limit_policy": "fifo", "blocked_values": ""}
    admin_client.post(url, cleared)
    rule.refresh_from_db()
    assert rule.blocked_values == []


def test_console_edit_that_leaves_the_new_fields_out_keeps_them(admin_client, store):
    rule = _rule(store, "email")
    response = admin_client.post(
        reverse("identity:rule_edit", args=[store.pk, rule.pk]), {"name": "Email", "limit": "4", "priority": "2"}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.limit, rule.blocked_values, rule.limit_policy) == (
        "Email",
        4,
        EMAIL_DEFAULTS,
        LimitPolicy.LIFO,
    )


@pytest.mark.parametrize(
    ("blocked", "policy", "field", "message"),
    [
        ("ok\n*", "lifo", "blocked_values", "Line 2 “*” would block every value"),
        ("ok\nbad\x00value", "lifo", "blocked_values", "Line 2 “bad&lt;U+0000&gt;value” contains U+0000 NULL"),
        ("x" * 300, "lifo", "blocked_values", "Line 1 “" + "x" * 60 + "...” is longer than 255 characters"),
        ("ok", "sometimes", "limit_policy", "Select a valid choice"),
    ],
)
def test_console_edit_errors_show_next_to_the_field_and_change_nothing(
    admin_client, store, blocked, policy, field, message
):
    rule = _rule(store, "email")
    response = admin_client.post(
        reverse("identity:rule_edit", args=[store.pk, rule.pk]),
        {"name": "email", "limit": "3", "priority": "2", "limit_policy": policy, "blocked_values": blocked},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert message in _field_error(html, field), html
    rule.refresh_from_db()
    assert (rule.limit, rule.blocked_values, rule.limit_policy) == (5, EMAIL_DEFAULTS, LimitPolicy.LIFO)
    if field == "blocked_values":  # what was typed stays in the box to be corrected
        assert "ok" in re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S).group(1) or "x" * 300 in html


def test_console_create_errors_show_next_to_the_field(admin_client, store):
    response = admin_client.post(
        reverse("identity:rule_create", args=[store.pk]),
        {"name": "User ID", "kind": "user_id", "source": "api", "limit": "1", "blocked_values": "**"},
    )
    assert "Line 1 “**” would block every value" in _field_error(response.content.decode(), "blocked_values")
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()


def test_traits_picked_for_an_api_rule_are_refused_not_dropped(admin_client, api, store):
    from traits.services import trait_create, trait_group_create

    group = trait_group_create(store=store, actor=None, name="Account")
    user_id = trait_create(group=group, actor=None, name="userId", data_type="string")
    form = admin_client.get(reverse("identity:rule_create", args=[store.pk])).content.decode()
    assert 'data-shown-when-source="traits"' in form  # console.js shows the picker for "Mapped traits" only
    response = admin_client.post(
        reverse("identity:rule_create", args=[store.pk]),
        {"name": "User ID", "kind": "user_id", "source": "api", "limit": "1", "mapped_traits": [str(user_id.pk)]},
    )
    assert response.status_code == 200
    assert "Only a rule defined by “Mapped traits” maps traits" in _field_error(
        response.content.decode(), "mapped_traits"
    )
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()

    refused = api.call(
        "post", _rules_path(store), {"name": "User ID", "kind": "user_id", "mapped_traits": ["Account.userId"]}
    )
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "mapped_traits"]
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()


def test_support_sees_the_settings_but_cannot_change_them(support_client, store):
    rule = _rule(store, "email")
    page = support_client.get(reverse("identity:list", args=[store.pk])).content.decode()
    row = re.search(r'<tr data-rule="email">.*?</tr>', page, re.S).group(0)
    assert f"{len(EMAIL_DEFAULTS)} blocked" in row and "noreply@*" in row and "Keep existing values" in row
    assert "Edit rule" not in page
    url = reverse("identity:rule_edit", args=[store.pk, rule.pk])
    assert support_client.get(url).status_code == 403
    response = support_client.post(
        url, {"name": "email", "limit": "5", "priority": "2", "limit_policy": "fifo", "blocked_values": ""}
    )
    assert response.status_code == 403
    created = support_client.post(
        reverse("identity:rule_create", args=[store.pk]),
        {"name": "X", "kind": "x_id", "source": "api", "limit": "1", "blocked_values": "a"},
    )
    assert created.status_code == 403
    rule.refresh_from_db()
    assert (rule.blocked_values, rule.limit_policy) == (EMAIL_DEFAULTS, LimitPolicy.LIFO)


# --- API -------------------------------------------------------------------------------------------


def _rules_path(store, rule=None):
    return f"/stores/{store.pk}/identity-rules" + (f"/{rule.pk}" if rule else "")


def test_api_lists_the_settings_of_every_rule(api, store):
    rules = {r["kind"]: r for r in api.call("get", _rules_path(store)).json()}
    assert rules["email"]["blocked_values"] == EMAIL_DEFAULTS
    assert rules["phone"]["blocked_values"] == PHONE_DEFAULTS
    assert rules["chat"]["blocked_values"] == []
    assert {r["limit_policy"] for r in rules.values()} == {"lifo"}


def test_api_creates_and_edits_the_settings(api, store):
    created = api.call(
        "post",
        _rules_path(store),
        {
            "name": "User ID",
            "kind": "user_id",
            "blocked_values": [" guest ", "GUEST", "anon-*"],
            "limit_policy": "fifo",
        },
    )
    assert created.status_code == 201, created.content
    assert (created.json()["blocked_values"], created.json()["limit_policy"]) == (["guest", "anon-*"], "fifo")
    rule = _rule(store, "user_id")
    assert (rule.blocked_values, rule.limit_policy) == (["guest", "anon-*"], LimitPolicy.FIFO)

    kept = api.call("put", _rules_path(store, rule), {"name": "User ID", "limit": 2})  # left out: unchanged
    assert (kept.json()["blocked_values"], kept.json()["limit_policy"]) == (["guest", "anon-*"], "fifo")
    changed = api.call(
        "put", _rules_path(store, rule), {"name": "User ID", "limit": 2, "blocked_values": [], "limit_policy": "lifo"}
    )
    assert (changed.json()["blocked_values"], changed.json()["limit_policy"]) == ([], "lifo")
    plain = api.call("post", _rules_path(store), {"name": "Account", "kind": "account_id"}).json()
    assert (plain["blocked_values"], plain["limit_policy"]) == ([], "lifo")
    audit = AuditEvent.objects.filter(store_id=store.pk, action="identity_rule.update").order_by("-pk").first()
    assert audit.actor_label == "API key “CRM sync”"
    assert audit.summary == "Edited identity rule User ID (limit 2, keep existing, 0 blocked values)"


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"blocked_values": 5}, ["body", "blocked_values"], "valid list"),
        ({"blocked_values": "noreply@*"}, ["body", "blocked_values"], "valid list"),
        ({"blocked_values": {"a": 1}}, ["body", "blocked_values"], "valid list"),
        ({"blocked_values": [1, 2]}, ["body", "blocked_values", 0], "valid string"),
        ({"blocked_values": ["ok", None]}, ["body", "blocked_values", 1], "valid string"),
        ({"blocked_values": ["ok", "a\u0000b"]}, ["body", "blocked_values", 1], "U+0000"),
        ({"blocked_values": ["ok", "\u200b"]}, ["body", "blocked_values"], "Blocked value 2 is empty"),
        ({"blocked_values": [f"v{n}" for n in range(101)]}, ["body", "blocked_values"], "At most 100"),
        ({"blocked_values": ["noreply@*", "*"]}, ["body", "blocked_values"], "Blocked value 2 “*” would block"),
        ({"blocked_values": ["x" * 256]}, ["body", "blocked_values"], "longer than 255"),
        ({"limit_policy": "sometimes"}, ["body", "limit_policy"], "'lifo' or 'fifo'"),
        ({"limit_policy": 1}, ["body", "limit_policy"], "'lifo' or 'fifo'"),
        ({"limit_policy": True}, ["body", "limit_policy"], "'lifo' or 'fifo'"),
        ({"limit_policy": ["fifo"]}, ["body", "limit_policy"], "'lifo' or 'fifo'"),
    ],
)
@pytest.mark.parametrize("method", ["post", "put"])
def test_api_refuses_hostile_settings_naming_the_field(api, store, method, body, loc, message):
    rule = _rule(store, "email")
    if method == "post":
        response = api.call("post", _rules_path(store), {"name": "User ID", "kind": "user_id", **body})
    else:
        response = api.call("put", _rules_path(store, rule), {"name": "email", "limit": 3, **body})
    assert response.status_code == 422, response.content
    errors = response.json()["detail"]
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()
    rule.refresh_from_db()
    assert (rule.limit, rule.blocked_values, rule.limit_policy) == (5, EMAIL_DEFAULTS, LimitPolicy.LIFO)


WRONG = ["null", "true", "0", "-1", "1e300", "1.5", '""', '"x"', "[]", "[null]", "[[]]", "{}", '[{"a": 1}]', '["*"]']


def test_api_never_answers_500_to_a_wrong_type_in_the_settings(api, store):
    rule = _rule(store, "email")
    failures = []
    for field in ("blocked_values", "limit_policy"):
        for text in WRONG:
            for method, path, body in (
                ("post", _rules_path(store), {"name": "Fuzz", "kind": "fuzz"}),
                ("put", _rules_path(store, rule), {"name": "email", "limit": 5}),
            ):
                raw = json.dumps({**body, field: "@@"}).replace('"@@"', text)
                response = api.raw(method, path, raw)
                if response.status_code >= 500 or (
                    response.status_code == 422 and response.json()["detail"][0]["loc"][:2] != ["body", field]
                ):
                    failures.append((method, field, text, response.status_code, response.content[:200]))
                IdentityRule.objects.filter(store=store, kind="fuzz").delete()
    assert not failures, failures
