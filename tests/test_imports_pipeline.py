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
    from workspace.services import store_create

    twin = store_create(account=account, actor=None, name="Twin")
    in_process = run(twin, csv_text(*ROWS), CONTACT)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(pipeline, "BATCH", 2)  # several batches through the pipe
    forked = run(store, csv_text(*ROWS), CONTACT)
    assert pipeline._checkers() >= 2  # the batches alternate between children
    assert _outcome(store, forked) == _outcome(twin, in_process)
    assert forked.status == ImportStatus.COMPLETED and forked.rows_failed == 1
    ada = Identifier.objects.get(store=store, kind="email", value="ada@example.com").profile
    assert ada.traits["Contact"] == {"firstName": "Ada"}  # the \N crossed the pipe as DELETE


def test_the_delete_marker_stays_itself_through_pickle():
    import pickle

    assert pickle.loads(pickle.dumps({"Contact": {"lastName": DELETE}}))["Contact"]["lastName"] is DELETE


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [1, 2, 1000], ids=["second-child's-batch", "first-child's-batch", "one-batch"])
def test_a_file_error_found_by_the_forked_reader_fails_the_import_and_applies_nothing(store, monkeypatch, batch):
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(pipeline, "BATCH", batch)  # the broken last row falls in either child's batch
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    with open(Path(queued.file_path), "a", encoding="utf-8") as handle:
        handle.write('late@example.com,,"never closed,x\r\n')  # the file changed after its check
    from imports.services import import_run

    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.FAILED
    assert "malformed" in done.failure_reason and "Nothing from the file was applied" in done.failure_reason
    assert not Profile.objects.filter(store=store).exists()


EMPTY_STORE_ROWS = [
    "a@example.com,+14155552671,A1,L",
    "b@example.com,,B1,L",
    "a@example.com,,A2,",  # repeat of row 2 in a later chunk: matches, later value wins
    "c@example.com,+14155552671,C1,L",  # the phone of A (phone outranks email): joins A
    "b@example.com,+14155550100,B2,\\N",
    "d@example.com,+14155550100,D1,L",  # B's new phone: joins B
]


@pytest.mark.parametrize("forked", [False, True], ids=["in-process", "child"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_a_first_import_into_an_empty_store_ends_where_identifying_row_by_row_ends(
    account, monkeypatch, chunk_rows, forked
):
    if forked:
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    from identity.services import profile_identify
    from workspace.services import store_create

    row_by_row = store_create(account=account, actor=None, name="Row by row")
    for line in EMPTY_STORE_ROWS:
        email, phone, first, last = line.split(",")
        traits = {"firstName": first, "lastName": None if last == "\\N" else last}
        profile_identify(
            store=row_by_row,
            identifiers=[("email", email)] + ([("phone", phone)] if phone else []),
            traits={"Contact": traits},
            source="rows",
        )
    imported = store_create(account=account, actor=None, name="Imported")
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", chunk_rows)
    done = run(imported, csv_text(*EMPTY_STORE_ROWS), CONTACT)
    assert done.status == ImportStatus.COMPLETED, done.failure_reason

    def live(store):
        return sorted(
            (tuple(sorted(Identifier.objects.filter(profile=p).values_list("kind", "value"))), repr(p.traits))
            for p in Profile.objects.filter(store=store, merged_into=None)
        )

    assert live(imported) == live(row_by_row)
    assert len(live(imported)) == 2 and done.profiles_created == 2


@pytest.mark.django_db
def test_an_identifier_another_writer_adds_during_a_first_import_is_matched_not_duplicated(store, monkeypatch):
    from identity.services import profile_identify
    from imports import engine

    # After the worker saw an empty store (PostgreSQL: it then trusts a filter of what it wrote;
    # SQLite: others write between its steps all along).
    real_init = engine.ChunkResolver.__init__
    rival = {}

    def rival_writes_after_the_import_began(self, **kwargs):
        real_init(self, **kwargs)
        rival["profile"] = profile_identify(
            store=store, identifiers=[("email", "ada@example.com")], source="api"
        ).profile

    monkeypatch.setattr(engine.ChunkResolver, "__init__", rival_writes_after_the_import_began)
    done = run(store, csv_text(*ROWS), CONTACT)
    assert done.status == ImportStatus.COMPLETED, done.failure_reason
    ada = Identifier.objects.get(store=store, kind="email", value="ada@example.com").profile
    assert ada.pk == rival["profile"].pk  # the import matched the rival's profile on retry
    assert ada.traits["Contact"] == {"firstName": "Ada"}


@pytest.mark.django_db
def test_forked_children_read_a_declared_semicolon_file_and_send_failed_rows_cells(store, monkeypatch):
    from imports.services import import_failed_rows_csv

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(pipeline, "BATCH", 2)
    rows = [row.replace(",", ";") + ";" for row in ROWS]  # a trailing separator on every row too
    text = "sep=;\r\n" + csv_text(*rows, header="Email;Phone;First;Last")
    done = run(store, text, CONTACT)
    assert (done.status, done.rows_ingested, done.rows_failed) == (ImportStatus.COMPLETED, 4, 1)
    assert list(done.row_errors.values_list("line", "cells")) == [(5, ["bad-email", "", "X", "Y"])]
    download = "".join(import_failed_rows_csv(profile_import=done)).splitlines()
    assert download[1].startswith("bad-email;;X;Y;5;failed row;Email;")
