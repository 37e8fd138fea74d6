"""Helpers for import tests: upload a CSV text, map it, run the worker's function inline."""

from identity.config import store_config
from imports.mapping import mapping_from_specs
from imports.services import import_queue, import_run, import_upload


def upload(store, text: str | bytes, name="people.csv", actor=None):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return import_upload(store=store, actor=actor, file_name=name, chunks=iter([data]))


def queue(profile_import, specs, actor=None):
    schema = store_config(store=profile_import.store).schema
    mapping = mapping_from_specs(headers=profile_import.headers, specs=specs, schema=schema)
    return import_queue(profile_import=profile_import, actor=actor, mapping=mapping)


def run(store, text, specs, name="people.csv"):
    """Upload, queue and ingest; the finished ProfileImport."""
    queued = queue(upload(store, text, name=name), specs)
    return import_run(import_id=queued.pk, attempt=queued.attempt)


CONTACT = ["Email=identifier:email", "Phone=identifier:phone", "First=Contact.firstName", "Last=Contact.lastName"]


def csv_text(*rows, header="Email,Phone,First,Last") -> str:
    return "\r\n".join([header, *rows]) + "\r\n"
