"""Helpers for tests that run the console's real processes: a qcluster worker and a web server
(`manage.py runserver`) as subprocesses, on a SQLite file of the test's own or on pytest-django's
PostgreSQL test database, set up through the commands a user runs."""

import contextlib
import http.cookiejar
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
ADMIN_EMAIL = "a@example.com"
ADMIN_PASSWORD = "x9-pass-long"
CONTACT_MAPS = ("Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName")


def postgres_url() -> str:
    """pytest-django's PostgreSQL test database, for the subprocesses (the test must use `db`)."""
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(url: str, imports_dir: Path, workers: int = 1) -> dict:
    return {**os.environ, "DATABASE_URL": url, "IMPORTS_DIR": str(imports_dir), "Q_WORKERS": str(workers)}


def qcluster(imports_dir: Path, log: Path, url: str, workers: int = 1, **extra: str) -> subprocess.Popen:
    env = {**worker_env(url, imports_dir, workers), **extra}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the test kills the whole cluster
    )


def kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(predicate, timeout: float, what: str, log: Path, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; log:\n{log.read_text()[-3000:]}")


def people_csv(rows: int) -> str:
    lines = ["Email,First,Last"]
    lines += [f"person{i}@example.com,First{i},Last{i}" for i in range(rows)]
    return "\r\n".join(lines) + "\r\n"


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def migrate(env: dict) -> None:
    """Migrate a new database the way a user sets one up (`make run`): `migrate`, and on SQLite
    `migrate --database queue` for django-q2's file. The only place the worker tests migrate."""
    manage(env, "migrate", "-v0")
    if env["DATABASE_URL"].startswith("sqlite"):
        manage(env, "migrate", "--database", "queue", "-v0")


def sqlite_query(database: Path):
    """A function running one SQL query on the database file and returning its first row."""

    def query(sql: str, params=()):
        with contextlib.closing(sqlite3.connect(database, timeout=20)) as db:
            return db.execute(sql, params).fetchone()

    return query


def sqlite_console(tmp_path: Path, stores: int, rows: int):
    """The embedded default, set up and fed through the commands a user runs: a database file of
    its own, an account, `stores` stores and a queued import of `rows` rows in each. Returns the
    database, its URL and a one-row query function."""
    database = tmp_path / "console.sqlite3"
    url = f"sqlite:///{database}"
    env = worker_env(url, tmp_path / "imports")
    migrate(env)
    account = create_account(env)
    path = tmp_path / "people.csv"
    path.write_text(people_csv(rows))
    for n in range(1, stores + 1):
        store = create_store(env, account, f"Shop {n}")
        assert f"Queued import #{n}" in queue_import(env, store, path, CONTACT_MAPS)
    return database, url, sqlite_query(database)


def create_account(env: dict) -> int:
    """`create_account`: an account whose Administrator signs in with ADMIN_EMAIL / ADMIN_PASSWORD."""
    out = manage(env, "create_account", "Acme", "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD)
    return int(out.strip())


def create_store(env: dict, account: int, name: str) -> int:
    return int(manage(env, "create_store", "--account", str(account), name).strip())


def create_api_key(env: dict, account: int) -> str:
    return manage(env, "create_api_key", "--account", str(account), "--name", "CRM sync").strip()


def queue_import(env: dict, store: int, path: Path, maps) -> str:
    """`import_profiles --queue`: upload, check and queue the file for the worker; its output."""
    return manage(env, "import_profiles", "--store", str(store), str(path), *(f"--map={m}" for m in maps), "--queue")


def import_ended(query):
    """A `wait_for` predicate: the only import's status once it is Completed or Failed, else None.
    `query` runs one SQL query and returns its first row (`sqlite_query`)."""

    def ended():
        status = query("SELECT status FROM imports_profileimport")[0]
        return status if status in ("completed", "failed") else None

    return ended


def progress(imports_dir: Path) -> dict:
    """The running import's progress file (the only import of the test), or {} if there is none."""
    for path in imports_dir.glob("store-*/*.progress.json"):
        with contextlib.suppress(OSError, ValueError):  # gone, or being replaced
            return json.loads(path.read_text())
    return {}


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def web_server(url: str, imports_dir: Path, log: Path):
    """The console and its API served by `manage.py runserver` (threaded, no reloader) on a free
    port, on database `url`; yields its base URL. Killed on exit."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=worker_env(url, imports_dir),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers():
            if server.poll() is not None:
                raise AssertionError(f"runserver exited ({server.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                return Http(base).request("GET", "/accounts/login/").status == 200
            return False

        wait_for(answers, 60, "runserver to answer", log)
        yield base
    finally:
        kill(server)


@dataclass
class Answer:
    status: int
    body: str
    headers: dict
    seconds: float  # from sending the request to reading the whole answer

    def json(self):
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer of its own (urllib then raises HTTPError with it)


class Http:
    """A browser-like HTTP client (stdlib only): keeps cookies, does not follow redirects."""

    def __init__(self, base: str, timeout: float = 60):
        self.base, self.timeout = base, timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def request(self, method: str, path: str, *, form=None, body=None, headers=None) -> Answer:
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                content = response.read()
                status, answer_headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            content, status, answer_headers = error.read(), error.code, dict(error.headers)
        return Answer(status, content.decode("utf-8", "replace"), answer_headers, time.monotonic() - started)

    def post_form(self, path: str, form: dict, **headers) -> Answer:
        """POST a console form with the CSRF token, as the browser does."""
        return self.request(
            "POST", path, form={**form, "csrfmiddlewaretoken": self.cookie("csrftoken")}, headers=headers
        )


def sign_in(base: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> Http:
    """A console session signed in through the sign-in form."""
    browser = Http(base)
    assert browser.request("GET", "/accounts/login/").status == 200
    answer = browser.post_form("/accounts/login/", {"username": email, "password": password})
    assert answer.status == 302, answer.body[-2000:]
    assert browser.cookie("sessionid"), "signed in without a session cookie"
    return browser


def api_client(base: str, key: str):
    """A function calling the JSON API with a bearer key: api(method, path, body) -> Answer."""
    client = Http(base)

    def call(method: str, path: str, body=None) -> Answer:
        return client.request(method, f"/api/v1{path}", body=body, headers={"Authorization": f"Bearer {key}"})

    return call


# --- Conversations: a configuration's Twilio auth token and Twilio's signed webhooks -----------------

TWILIO_MESSAGING = "/webhooks/twilio/messaging"


def set_twilio_auth_token(env: dict, configuration: int, token: str) -> str:
    """`set_twilio_auth_token`: the token goes in on standard input, as an operator types it."""
    done = subprocess.run(
        [sys.executable, "manage.py", "set_twilio_auth_token", "--configuration", str(configuration)],
        cwd=ROOT,
        env=env,
        input=token + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def twilio_post(base: str, fields: dict, token: str, path: str = TWILIO_MESSAGING, timeout: float = 60) -> Answer:
    """POST Twilio's form fields to a webhook over HTTP, signed as Twilio signs them
    (`X-Twilio-Signature`, computed by the `twilio` package on the URL called and the fields)."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(token).compute_signature(base + path, fields)
    return Http(base, timeout).request("POST", path, form=fields, headers={"X-Twilio-Signature": signature})
