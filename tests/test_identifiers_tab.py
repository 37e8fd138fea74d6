from django.urls import reverse

from identity.models import IdentityRule
from identity.services import identity_rule_create


def _order(store):
    return list(IdentityRule.objects.filter(store=store).order_by("priority").values_list("kind", flat=True))


def test_priority_moves_work_without_javascript_one_submit_at_a_time(admin_client, store):
    chat = IdentityRule.objects.get(store=store, kind="chat")
    url = reverse("identity:priority", args=[store.pk])
    response = admin_client.post(url, {"move": f"{chat.pk}:up"})
    assert response.status_code == 200 and b"<html" in response.content
    assert _order(store) == ["phone", "email", "chat", "whatsappid"]
    admin_client.post(url, {"move": f"{chat.pk}:down"})
    assert _order(store) == ["phone", "email", "whatsappid", "chat"]


def test_saving_an_incomplete_or_foreign_order_is_refused_and_changes_nothing(admin_client, store, other_account):
    from tests.factories import StoreFactory

    foreign = IdentityRule.objects.filter(store=StoreFactory(account=other_account, name="X")).first()
    ids = list(IdentityRule.objects.filter(store=store).order_by("priority").values_list("pk", flat=True))
    url = reverse("identity:priority", args=[store.pk])
    for order in (ids[:2], [*ids[:3], foreign.pk], [*ids, ids[0]], ["x", *ids[1:]]):
        response = admin_client.post(url, {"order": order}, HTTP_HX_REQUEST="true")
        assert (
            b"every identity rule of this memory store exactly once" in response.content
            or b"rule ids" in response.content
        )
    assert _order(store) == ["phone", "email", "whatsappid", "chat"]


def test_edit_rule_changes_name_limit_and_priority_together(admin_client, store):
    rule = identity_rule_create(store=store, actor=None, name="User ID", kind="user_id")
    url = reverse("identity:rule_edit", args=[store.pk, rule.pk])
    assert b'value="User ID"' in admin_client.get(url).content
    response = admin_client.post(url, {"name": "Customer ID", "limit": "3", "priority": "2"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.limit) == ("Customer ID", 3)
    assert _order(store) == ["phone", "user_id", "email", "whatsappid", "chat"]


def test_edit_rule_rejects_a_limit_outside_1_to_100(admin_client, store):
    rule = IdentityRule.objects.get(store=store, kind="email")
    response = admin_client.post(
        reverse("identity:rule_edit", args=[store.pk, rule.pk]), {"name": "email", "limit": "101", "priority": "2"}
    )
    assert b"less than or equal to 100" in response.content
    rule.refresh_from_db()
    assert rule.limit == 5


def test_support_sees_rules_without_actions(support_client, store):
    html = support_client.get(reverse("identity:list", args=[store.pk])).content.decode()
    assert 'data-rule="phone"' in html
    assert "Add identity rule" not in html and "Edit priority" not in html and "Delete rule" not in html
