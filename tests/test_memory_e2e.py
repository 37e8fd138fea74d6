"""Issue 17's acceptance, end to end on PostgreSQL with the console's real processes
(tests/worker_helpers.py): `manage.py runserver` answers Twilio's signed webhooks over real HTTP,
a real qcluster runs the lifecycle pass (at a moved clock: the test queues
`conversations_advance_task(now=...)` on the cluster, it never sleeps for minutes) and the memory
extraction the pass queues, and recall is asked through the JSON API with an API key.

A customer says where they live and an allergy; the conversation closes; observations with their
evidence and a summary appear on the customer's profile. A later conversation says they moved:
the one location observation is updated, its earlier content kept in its history, and recall for
"Where did they move?" answers the new content first and never the superseded one.
"""

from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_conversations_e2e import ADVANCE, CUSTOMER, TOKEN, TWIML, _console, _sms, _support_line
from tests.worker_helpers import (
    api_client,
    kill,
    postgres_url,
    qcluster,
    twilio_post,
    wait_for,
    web_server,
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhooks_to_observations_a_contradiction_updates_one_and_recall_answers_it(tmp_path: Path):
    from django_q.tasks import async_task, fetch

    from conversations.models import (
        Communication,
        Conversation,
        ExtractionRequest,
        Observation,
        ObservationRevision,
        Summary,
    )

    imports_dir, log = tmp_path / "imports", tmp_path / "processes.log"
    url = postgres_url()
    env, store, key = _console(url, imports_dir)
    cluster = qcluster(imports_dir, log, url)
    try:
        with web_server(url, imports_dir, log) as base:
            api = api_client(base, key)
            _support_line(env, base, key, store, timeout_minutes=15, observations_enabled=True)

            def say(sid: str, text: str) -> None:
                answer = twilio_post(base, _sms(sid, text), TOKEN)
                assert (answer.status, answer.body) == (200, TWIML), answer.body

            def close_and_extract(conversation) -> None:
                """The worker's pass 15 minutes after the customer's last message closes the
                conversation and queues its extraction, which the cluster then runs."""
                at = conversation.last_customer_at + timedelta(minutes=15)
                task_id = async_task(ADVANCE, now=at.isoformat())
                task = wait_for(lambda: fetch(task_id), 60, "the lifecycle pass", log, every=0.1)
                assert (task.success, task.result) == (True, "0 inactive, 1 closed, 1 extractions queued")
                wait_for(
                    lambda: not ExtractionRequest.objects.filter(conversation=conversation, status="pending").exists(),
                    60,
                    "the extraction to be processed",
                    log,
                    every=0.1,
                )

            # 1. The first conversation: an order problem, where they live, an allergy.
            say("SM1", "Hi, my order #1234 hasn't arrived yet.")
            say("SM2", "I live in Denver. I'm allergic to peanuts.")
            first = Conversation.objects.get()
            close_and_extract(first)
            first.refresh_from_db()
            assert first.status == "closed"
            assert ExtractionRequest.objects.get(conversation=first).status == "done"
            profile = first.profile_id
            said = Communication.objects.get(external_id="SM2")
            observations = {o.subject: o for o in Observation.objects.filter(profile_id=profile)}
            assert observations["location"].content == "Lives in Denver"
            assert "peanut" in observations["allergy"].content.lower()
            for observation in observations.values():  # each with the message that supports it
                assert list(observation.evidence.values_list("pk", flat=True)) == [said.pk]
            summary = Summary.objects.get(conversation=first)
            assert summary.profile_id == profile and "order" in summary.content

            # 2. A later conversation contradicts the location: the same observation is updated.
            say("SM3", "Hello again! I moved to Austin last week.")
            second = Conversation.objects.exclude(pk=first.pk).get()
            assert second.profile_id == profile
            close_and_extract(second)
            location = Observation.objects.get(pk=observations["location"].pk)
            assert location.content.startswith("Moved to Austin")
            assert list(location.evidence.values_list("external_id", flat=True)) == ["SM3"]
            revisions = ObservationRevision.objects.filter(observation=location).order_by("id")
            history = list(revisions.values_list("content", "decision"))
            assert history == [("Lives in Denver", "added"), (location.content, "updated")]
            assert Observation.objects.filter(profile_id=profile, subject="location").count() == 1

            # 3. Recall at the start of the next conversation, by the customer's phone number.
            answer = api(
                "POST",
                f"/stores/{store}/profiles/phone:{CUSTOMER}/recall",
                {"query": "Where did they move?", "observationsLimit": 5},
            )
            assert answer.status == 200, answer.body
            recalled = answer.json()
            assert recalled["profileId"] == profile
            contents = [o["content"] for o in recalled["observations"]]
            assert contents[0] == location.content and recalled["observations"][0]["score"] > 0
            assert not any("Denver" in content for content in contents)  # superseded: never recalled
            assert "Austin" in recalled["text"] and "Denver" not in recalled["text"]
            assert any("order" in s["content"] for s in recalled["summaries"])
    finally:
        kill(cluster)
