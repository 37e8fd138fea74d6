"""Rows checked in a forked process (big files) give exactly what checking in-process gives."""

from pathlib import Path

import pytest

from identity.models import Identifier
from imports import pipeline
from imports.models import ImportStatus
from profiles.models import Profile
from tests.imports_helpers import CONTACT, csv_text, queue, run, upload
from traits.coercion import DELETE

ROWS = [
    "ada@example.com,+14155552671,Ada,Lovelace",
    "grace@example.com,,Grace,Hopper",
    "bad-email,,X,Y",
    "ADA@example.com,,Ada,\\N",  # same person: \N removes lastName
    "alan@example.com,(415) 555-0100,Alan,Turing",
]


def _outcome(store, done):
    profiles = sorted(
        (tuple(sorted(Identifier.objects.filter(profile=p).values_list("kind", "value"))), repr(p.traits))
        for p in Profile.objects.filter(store=store, merged_into=None)
    )
    errors = list(done.row_errors.values_list("line", "column", "value", "reason", "row_failed"))
    counts = (done.status, done.rows_ingested, done.rows_failed, done.profiles_created, done.profiles_updated)
    return profiles, errors, counts


@pytest.mark.django_db
def test_forked_row_checking_gives_the_same_import_as_in_process(store, account, monkeypatch):
    from stores.services import store_create

    twin = store_create(account=account, actor=None, name="Twin")
    in_process = run(twin, csv_text(*ROWS), CONTACT)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(pipeline, "BATCH", 2)  # several batches through the pipe
    forked = run(store, csv_text(*ROWS), CONTACT)
    assert _outcome(store, forked) == _outcome(twin, in_process)
    assert forked.status == ImportStatus.COMPLETED and forked.rows_failed == 1
    ada = Identifier.objects.get(store=store, kind="email", value="ada@example.com").profile
    assert ada.traits["Contact"] == {"firstName": "Ada"}  # the \N crossed the pipe as DELETE


def test_the_delete_marker_stays_itself_through_pickle():
    import pickle

    assert pickle.loads(pickle.dumps({"Contact": {"lastName": DELETE}}))["Contact"]["lastName"] is DELETE


@pytest.mark.django_db
def test_a_file_error_found_by_the_forked_reader_fails_the_import_and_applies_nothing(store, monkeypatch):
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    with open(Path(queued.file_path), "a", encoding="utf-8") as handle:
        handle.write('late@example.com,,"never closed,x\r\n')  # the file changed after its check
    from imports.services import import_run

    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.FAILED
    assert "malformed" in done.failure_reason and "Nothing from the file was applied" in done.failure_reason
    assert not Profile.objects.filter(store=store).exists()
