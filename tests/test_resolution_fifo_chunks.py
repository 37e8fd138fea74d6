"""A FIFO import across chunks ends where identifying each row ends (found in the review of issue 14:
SQLite gave identifiers the clock time instead of the import's, so a merge sorted their ages wrongly)."""

import pytest

from identity.models import Identifier
from identity.resolution import Code
from identity.services import identity_rule_update, profile_identify
from imports.models import ImportRowError, ImportStatus
from profiles.models import Profile

from .imports_helpers import run

pytestmark = pytest.mark.django_db

HEADER = "Email,Phone,Chat,First,Last"
SPECS = [
    "Email=identifier:email",
    "Phone=identifier:phone",
    "Chat=identifier:chat",
    "First=Contact.firstName",
    "Last=Contact.lastName",
]
P9 = "+14155550109"
ROWS = [
    ("a@x.example", "", "cp", "1"),  # P: chat cp, email a
    ("q@x.example", P9, "", "2"),  # Q: phone p9, email q
    ("x1@x.example", "", "x1", "3"),  # filler
    ("x2@x.example", "", "x2", "4"),  # filler
    ("c@x.example", "", "cp", "5"),  # P gets c (in memory, chunk 3)
    ("d@x.example", P9, "cp", "6"),  # Q primary (phone), P merges in, d over the FIFO limit 3
]


def _setup(store):
    identity_rule_update(
        rule=store.identity_rules.get(kind="email"), actor=None, name="email", limit=3, limit_policy="fifo"
    )


def _live(store):
    out = set()
    for p in Profile.objects.filter(store=store, merged_into__isnull=True):
        out.add(frozenset(Identifier.objects.filter(profile=p).values_list("kind", "value")))
    return out


@pytest.mark.parametrize("chunk_rows", [2, 10_000])
def test_fifo_import_multi_chunk_matches_one_by_one(store, account, monkeypatch, chunk_rows):
    from .factories import StoreFactory

    other = StoreFactory(account=account, name="one by one")
    _setup(store)
    _setup(other)
    for email, phone, chat, first in ROWS:
        ids = [("email", email)] + ([("phone", phone)] if phone else []) + ([("chat", chat)] if chat else [])
        profile_identify(
            store=other, identifiers=ids, traits={"Contact": {"firstName": first, "lastName": "L"}}, source="t"
        )
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", chunk_rows)
    text = "\r\n".join([HEADER, *(",".join(r) + ",L" for r in ROWS)]) + "\r\n"
    finished = run(store, text, SPECS)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert _live(store) == _live(other)
    assert frozenset(
        {("email", "q@x.example"), ("email", "c@x.example"), ("email", "d@x.example"), ("phone", P9), ("chat", "cp")}
    ) in _live(store)
    notes = list(ImportRowError.objects.filter(profile_import=finished).values_list("line", "value", "code"))
    assert notes == [(7, "a@x.example", Code.LIMIT_REPLACED)]
