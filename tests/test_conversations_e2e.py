"""Issue 16's end-to-end and concurrency tests, on the console's real processes
(tests/worker_helpers.py): `manage.py runserver` answers Twilio's signed webhooks over real HTTP
and a qcluster worker runs the lifecycle schedule and imports, on the same database.

- PostgreSQL: signed webhooks open a conversation; the per-minute schedule leaves it Open (the
  real clock is before its timeouts); then the clock is moved through the worker
  (`conversations_advance_task(now=...)` queued on the cluster: no test sleeps for minutes):
  Inactive with one extraction request, an agent's reply through the JSON API, Closed with a
  second request over the reply only, and later passes queue nothing more.
- Both databases: the same `MessageSid` delivered eight times at once (threads released by one
  barrier, eight HTTP requests in flight together), first as a new message and then as a
  redelivery: each answered 200 with empty TwiML, stored once, one conversation, and its
  `last_customer_at` is the stored message's (the duplicates did not bump it).
- Both databases: while a real qcluster writes a 150,000-row CSV import into the same store, a
  signed webhook posted every 0.5 s is answered 200 well within Twilio's 15-second limit, and each
  message is stored.
"""

import contextlib
import sqlite3
import statistics
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from tests.worker_helpers import (
    CONTACT_MAPS,
    api_client,
    create_account,
    create_api_key,
    create_store,
    import_ended,
    kill,
    migrate,
    people_csv,
    postgres_url,
    progress,
    qcluster,
    queue_import,
    set_twilio_auth_token,
    twilio_post,
    wait_for,
    web_server,
    worker_env,
)

TOKEN = "0123456789abcdef0123456789abcdef"
BUSINESS = "+14155550100"
CUSTOMER = "+14155550123"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
ADVANCE = "conversations.tasks.conversations_advance_task"
NOTHING_MOVED = "0 inactive, 0 closed, 0 extractions queued"


def _sms(sid: str, body: str = "Hello", customer: str = CUSTOMER) -> dict:
    """An incoming SMS as Twilio posts it to the number's messaging webhook."""
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": customer,
        "To": BUSINESS,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def _answered(answer):
    """Twilio's webhook answer: 200 with empty TwiML."""
    assert (answer.status, answer.body) == (200, TWIML), (answer.status, answer.body[-2000:])
    return answer


def _console(url: str, imports_dir: Path):
    """An account, a store and an API key, made by the commands a user runs: (env, store, key)."""
    env = worker_env(url, imports_dir)
    account = create_account(env)
    return env, create_store(env, account, "Shop"), create_api_key(env, account)


def _support_line(env: dict, base: str, key: str, store: int, **settings) -> int:
    """A conversation configuration capturing BUSINESS on SMS, created through the API, its Twilio
    auth token set with `set_twilio_auth_token`, as an operator sets one up; its id."""
    body = {"name": "Support line", "captures": [{"channel": "sms", "address": BUSINESS}], **settings}
    answer = api_client(base, key)("POST", f"/stores/{store}/conversation-configurations", body)
    assert answer.status == 201, answer.body
    configuration = answer.json()["id"]
    set_twilio_auth_token(env, configuration, TOKEN)
    return configuration


def _postgres_one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _sqlite_one(database: Path):
    """One-row queries on the SQLite file, written with %s placeholders as for PostgreSQL."""

    def one(sql: str, params=()):
        with contextlib.closing(sqlite3.connect(database, timeout=20)) as db:
            return db.execute(sql.replace("%s", "?"), params).fetchone()

    return one


def _sqlite_database(tmp_path: Path) -> tuple[str, Path]:
    """A database file of the test's own, migrated as `make run` does: (URL, path)."""
    database = tmp_path / "console.sqlite3"
    url = f"sqlite:///{database}"
    migrate(worker_env(url, tmp_path / "imports"))
    return url, database


# --- 1. PostgreSQL: webhooks, the schedule and a moved clock through a real qcluster ---------------


@pytest.mark.django_db
def test_the_lifecycle_task_acts_at_the_time_it_is_given_and_at_the_clocks_without_one(store):
    from django.utils import timezone

    from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
    from conversations.tasks import conversations_advance_task
    from memory_console.timestamps import TimestampError

    configuration = conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Support line", captures=[("sms", BUSINESS)])
    )
    at = timezone.now()
    communication_ingest(
        store=store, channel="sms", direction="inbound", from_address=CUSTOMER, to_address=BUSINESS, occurred_at=at
    )
    assert configuration.timeout_minutes is None  # SMS alone: its default, 15 minutes
    assert conversations_advance_task() == NOTHING_MOVED  # as the schedule calls it: the clock's time
    assert conversations_advance_task(now=(at + timedelta(minutes=14)).isoformat()) == NOTHING_MOVED
    with pytest.raises(TimestampError):
        conversations_advance_task(now="in a quarter of an hour")
    assert conversations_advance_task(now=(at + timedelta(minutes=15)).isoformat()) == (
        "0 inactive, 1 closed, 0 extractions queued"  # observations are off
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_signed_webhooks_then_a_moved_clock_close_the_conversation_and_queue_extraction_once(tmp_path):
    from django_q.brokers import get_broker
    from django_q.models import Schedule
    from django_q.scheduler import scheduler
    from django_q.tasks import async_task, fetch

    from conversations.models import Communication, Conversation, ExtractionRequest, LifecycleEvent
    from profiles.models import Profile

    imports_dir, log = tmp_path / "imports", tmp_path / "processes.log"
    url = postgres_url()
    schedule = Schedule.objects.get(func=ADVANCE)  # installed by migrate
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats, schedule.args, schedule.kwargs) == (
        Schedule.MINUTES,
        1,
        -1,
        None,
        None,
    )
    cluster = qcluster(imports_dir, log, url)
    try:
        env, store, key = _console(url, imports_dir)
        with web_server(url, imports_dir, log) as base:
            _support_line(
                env,
                base,
                key,
                store,
                lifecycle="inactive",
                inactivity_minutes=5,
                timeout_minutes=15,
                observations_enabled=True,
            )
            for n, body in enumerate(["Hi", "Where is my order?", "It is #1234 📦"], start=1):
                _answered(twilio_post(base, _sms(f"SM{n}", body), TOKEN))
            conversation = Conversation.objects.get()
            bodies = list(Communication.objects.order_by("id").values_list("body", flat=True))
            assert bodies == ["Hi", "Where is my order?", "It is #1234 📦"]
            assert conversation.status == "open" and conversation.store_id == store
            last = conversation.last_customer_at
            posted = Communication.objects.order_by("id").last().created_at

            # The cluster's scheduler queues due schedules every 30 s; its tick is made here instead of
            # waited for: the schedule (due since migrate) is queued, and the cluster runs it.
            scheduler(broker=get_broker())

            def scheduled_run():
                """The schedule's run that started after the messages were stored, once done."""
                task_id = Schedule.objects.get(func=ADVANCE).task
                task = fetch(task_id) if task_id else None
                return task if task is not None and task.started > posted else None

            run = wait_for(scheduled_run, 150, "the per-minute schedule to run after the messages", log, every=0.1)
            assert (run.success, run.result) == (True, NOTHING_MOVED)  # the real clock: nothing is due yet
            assert Conversation.objects.get().status == "open" and not ExtractionRequest.objects.exists()

            def advance(at) -> str:
                """One pass of the lifecycle worker on the cluster, at `at` instead of the clock's time."""
                task_id = async_task(ADVANCE, now=at.isoformat())
                task = wait_for(lambda: fetch(task_id), 60, f"the worker's pass at {at}", log, every=0.1)
                assert task.success, task.result
                return task.result

            assert advance(last + timedelta(minutes=4, seconds=59)) == NOTHING_MOVED
            assert advance(last + timedelta(minutes=5)) == "1 inactive, 0 closed, 1 extractions queued"
            assert Conversation.objects.get().status == "inactive"
            assert advance(last + timedelta(minutes=10)) == NOTHING_MOVED  # Inactive is asked for once

            # An agent answers through the JSON API: the conversation stays Inactive (only the customer
            # reopens it) and its timeout still counts from the customer's last message.
            reply = {
                "channel": "sms",
                "from": BUSINESS,
                "to": CUSTOMER,
                "direction": "outbound",
                "body": "It ships tomorrow.",
                "timestamp": (last + timedelta(seconds=1)).isoformat(),  # a communication is never dated ahead
                "external_id": "SMagent1",
                "author_name": "Sam (agent)",
            }
            answer = api_client(base, key)("POST", f"/stores/{store}/communications", reply)
            assert answer.status == 201, answer.body
            assert answer.json()["communication"]["conversation_id"] == conversation.pk
            assert Conversation.objects.get().status == "inactive"
            assert Conversation.objects.get().last_customer_at == last

            assert advance(last + timedelta(minutes=14, seconds=59)) == NOTHING_MOVED
            assert advance(last + timedelta(minutes=15)) == "0 inactive, 1 closed, 1 extractions queued"
            assert advance(last + timedelta(minutes=16)) == NOTHING_MOVED  # Closed is final: asked for once
            assert advance(last + timedelta(days=2)) == NOTHING_MOVED

            # A redelivery of a stored message leaves the Closed conversation alone; a new message
            # from the customer opens another.
            _answered(twilio_post(base, _sms("SM3", "It is #1234 📦"), TOKEN))
            assert Conversation.objects.count() == 1 and Communication.objects.count() == 4
            _answered(twilio_post(base, _sms("SM5", "One more thing"), TOKEN))
    finally:
        kill(cluster)

    closed = Conversation.objects.get(pk=conversation.pk)
    assert (closed.status, closed.last_customer_at) == ("closed", last)
    assert (closed.inactive_at, closed.closed_at) == (last + timedelta(minutes=5), last + timedelta(minutes=15))
    ids = list(Communication.objects.filter(conversation=closed).order_by("id").values_list("id", flat=True))
    assert len(ids) == 4
    requests = list(
        ExtractionRequest.objects.order_by("id").values_list(
            "conversation_id", "transition", "after_communication_id", "last_communication_id", "requested_at"
        )
    )
    # Each transition asked once, each over the communications no earlier request covered.
    assert requests == [
        (closed.pk, "inactive", 0, ids[2], last + timedelta(minutes=5)),
        (closed.pk, "closed", ids[2], ids[3], last + timedelta(minutes=15)),
    ]
    history = list(LifecycleEvent.objects.filter(conversation=closed).order_by("id").values_list("kind", "at"))
    assert history[1:] == [("inactive", last + timedelta(minutes=5)), ("closed", last + timedelta(minutes=15))]
    assert history[0][0] == "opened"
    newer = Conversation.objects.exclude(pk=closed.pk).get()
    assert newer.status == "open" and newer.profile_id == closed.profile_id
    assert list(newer.communications.values_list("body", flat=True)) == ["One more thing"]
    assert Profile.objects.count() == 1  # the customer; the business number never becomes a profile


# --- 2. Both databases: the same MessageSid eight times at once, over HTTP --------------------------

AT_ONCE = 8
REPLAY_SQL = {
    "communications": "SELECT count(*) FROM conversations_communication WHERE store_id = %s",
    "conversations": "SELECT count(*) FROM conversations_conversation WHERE store_id = %s",
    "profiles": "SELECT count(*) FROM profiles_profile WHERE store_id = %s",
}
STORED_SQL = (
    "SELECT m.occurred_at, c.last_customer_at, c.status FROM conversations_communication AS m "
    "JOIN conversations_conversation AS c ON c.id = m.conversation_id WHERE m.store_id = %s AND m.external_id = %s"
)


def _at_once(base: str, fields: dict) -> list:
    """Post `fields` AT_ONCE times together: each from its own thread and connection, released by
    one barrier. The answers, in thread order."""
    barrier = threading.Barrier(AT_ONCE)
    answers: list = [None] * AT_ONCE
    windows: list = [None] * AT_ONCE
    errors: list = []

    def deliver(n: int):
        try:
            barrier.wait(timeout=30)
            sent = time.monotonic()
            answers[n] = twilio_post(base, fields, TOKEN)
            windows[n] = (sent, time.monotonic())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and all(answers), errors
    # Truly at once: a moment when all eight were sent and none was answered yet.
    assert max(sent for sent, _ in windows) < min(done for _, done in windows), windows
    return answers


def _replayed_eight_times_at_once(tmp_path: Path, url: str, one) -> None:
    imports_dir, log = tmp_path / "imports", tmp_path / "processes.log"
    env, store, key = _console(url, imports_dir)
    with web_server(url, imports_dir, log) as base:
        _support_line(env, base, key, store)
        fields = _sms("SMreplayed", "Is my order on its way?")

        def counts():
            return {name: one(sql, [store])[0] for name, sql in REPLAY_SQL.items()}

        # A new message delivered eight times together: the deliveries race to open the
        # conversation and to store the message.
        first = _at_once(base, fields)
        for answer in first:
            _answered(answer)
        assert counts() == {"communications": 1, "conversations": 1, "profiles": 1}
        occurred, last_customer, status = one(STORED_SQL, [store, "SMreplayed"])
        assert status == "open"
        assert last_customer == occurred  # the stored delivery's time; the others' later times rolled back

        # Twilio redelivers it, eight times together again: nothing moves.
        again = _at_once(base, fields)
        for answer in again:
            _answered(answer)
        assert counts() == {"communications": 1, "conversations": 1, "profiles": 1}
        assert one(STORED_SQL, [store, "SMreplayed"]) == (occurred, last_customer, "open")
    seconds = [answer.seconds for answer in first + again]
    print(f"\n{2 * AT_ONCE} deliveries at once: max {max(seconds):.3f} s, median {statistics.median(seconds):.3f} s")


@pytest.mark.sqlite
def test_the_same_message_sid_eight_times_at_once_over_http_is_stored_once_on_sqlite(tmp_path):
    url, database = _sqlite_database(tmp_path)
    _replayed_eight_times_at_once(tmp_path, url, _sqlite_one(database))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_sid_eight_times_at_once_over_http_is_stored_once_on_postgres(tmp_path):
    _replayed_eight_times_at_once(tmp_path, postgres_url(), _postgres_one)


# --- 3. Both databases: webhooks answered in time while an import writes ---------------------------

SQLITE_ROWS = 150_000  # its writing phase (short steps after every row is checked) lasts a few seconds
POSTGRES_ROWS = 150_000  # written while read, in one transaction
TWILIO_LIMIT = 15.0  # Twilio gives up on a webhook after 15 s
ANSWER_SECONDS = 5.0  # what a webhook may take while an import runs: a third of Twilio's limit
POST_EVERY = 0.5
MIN_SAMPLES = 6  # at least this many webhooks answered while the import wrote
STORED_ONE_SQL = "SELECT count(*) FROM conversations_communication WHERE store_id = %s AND external_id = %s"


def _webhooks_while_an_import_writes(tmp_path: Path, url: str, one, rows: int, writing) -> None:
    """Queue a `rows`-row import into the store, start a qcluster, and once `writing(progress)`
    holds post a signed webhook (a new customer each time) every POST_EVERY seconds until the import
    has ended. Each is answered 200 with empty TwiML within ANSWER_SECONDS and stored."""
    imports_dir, log = tmp_path / "imports", tmp_path / "processes.log"
    env, store, key = _console(url, imports_dir)
    path = tmp_path / "people.csv"
    path.write_text(people_csv(rows))
    with web_server(url, imports_dir, log) as base:
        _support_line(env, base, key, store)
        assert "Queued import #" in queue_import(env, store, path, CONTACT_MAPS)
        ended = import_ended(one)
        cluster = qcluster(imports_dir, log, url)
        try:
            wait_for(lambda: writing(progress(imports_dir)), 300, "the worker to write the rows", log, every=0.05)
            answers, n = [], 0
            while True:
                n += 1
                started = time.monotonic()
                answer = twilio_post(base, _sms(f"SMimport{n}", f"Message {n}", f"+1415556{n:04d}"), TOKEN)
                answers.append((n, answer))
                if ended():
                    break
                time.sleep(max(0.0, POST_EVERY - (time.monotonic() - started)))
            status = wait_for(ended, 300, "the import to end", log)
        finally:
            kill(cluster)
    seconds = [answer.seconds for _, answer in answers]
    print(
        f"\n{len(answers)} webhooks while {rows:,} rows were written: max {max(seconds):.3f} s, "
        f"median {statistics.median(seconds):.3f} s (Twilio's limit: {TWILIO_LIMIT:.0f} s)"
    )
    assert status == "completed", log.read_text()[-3000:]
    assert len(answers) >= MIN_SAMPLES, f"the import wrote too fast to sample: {len(answers)} webhooks"
    for n, answer in answers:
        _answered(answer)
        assert answer.seconds < ANSWER_SECONDS, f"webhook {n} took {answer.seconds:.3f} s"
        assert one(STORED_ONE_SQL, [store, f"SMimport{n}"]) == (1,), f"webhook {n} not stored"
    assert one("SELECT count(*) FROM profiles_profile WHERE store_id = %s", [store])[0] == rows + len(answers)


@pytest.mark.sqlite
def test_webhooks_are_answered_well_within_15_s_while_a_150000_row_import_writes_on_sqlite(tmp_path):
    url, database = _sqlite_database(tmp_path)
    # The import's writing phase: every row checked, then applied in short steps.
    _webhooks_while_an_import_writes(
        tmp_path, url, _sqlite_one(database), SQLITE_ROWS, lambda now: "rows_applied" in now
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhooks_are_answered_well_within_15_s_while_a_150000_row_import_writes_on_postgres(tmp_path):
    # One transaction that reads and writes together: from its first chunks on.
    _webhooks_while_an_import_writes(
        tmp_path, postgres_url(), _postgres_one, POSTGRES_ROWS, lambda now: now.get("rows_processed", 0) >= 5_000
    )
