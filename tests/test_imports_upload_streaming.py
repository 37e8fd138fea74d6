"""A big upload goes to disk as it arrives: the web process never holds the file whole in memory."""

import http.client
import re
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from imports.models import ImportStatus, ProfileImport

pytestmark = pytest.mark.django_db(transaction=True)
BOUNDARY = "memory-console-test-boundary"


def _write_csv(path, rows: int) -> int:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("email,firstName,lastName,nickname\r\n")
        for i in range(rows):
            handle.write(f"customer{i}@example.com,First{i % 997},Last{i % 991},nickname number {i}\r\n")
    return path.stat().st_size


def _multipart(token: str, path, file_size: int):
    """The form's body, read from disk in 64 KiB pieces as it is sent; (length, pieces)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def pieces():
        yield head
        with open(path, "rb") as handle:
            while piece := handle.read(65536):
                yield piece
        yield tail

    return len(head) + file_size + len(tail), pieces()


def test_a_csv_much_bigger_than_memory_uploads_without_being_held_in_memory(
    live_server, client, admin_user, store, tmp_path
):
    path = tmp_path / "big.csv"
    file_size = _write_csv(path, 250_000)
    assert file_size > 4 * settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    client.force_login(admin_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    url = reverse("imports:upload", args=[store.pk])
    server = urlsplit(live_server.url)

    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=120)
    connection.request("GET", url, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"})
    page = connection.getresponse()
    html = page.read().decode()
    assert page.status == 200
    csrf_cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    length, body = _multipart(token, path, file_size)
    tracemalloc.start()
    try:
        connection.request(
            "POST",
            url,
            body=body,
            headers={
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={csrf_cookie}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(length),
            },
        )
        answer = connection.getresponse()
        answer.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        connection.close()

    # Accepted and checked: on to the mapping page, with every byte and row on disk.
    assert answer.status == 302, answer.status
    profile_import = ProfileImport.objects.get(store=store)
    assert answer.getheader("Location").endswith(reverse("imports:mapping", args=[store.pk, profile_import.pk]))
    assert profile_import.status == ImportStatus.MAPPING
    assert profile_import.total_rows == 250_000
    assert Path(profile_import.file_path).read_bytes() == path.read_bytes()
    # Receiving, saving and checking the file (server and client in this process) never held more than
    # a small part of it: a file read whole, or kept in memory by the upload handler, would show here.
    assert peak < file_size / 4, f"peak {peak:,} bytes for a {file_size:,}-byte file"
