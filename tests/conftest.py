import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import AccountFactory, MembershipFactory, StoreFactory

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
STRICT = os.environ.get("MC_STRICT_TESTS") == "1"


def _is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config, items):
    is_pg = _is_postgres()
    has_chromium = CHROMIUM.exists()
    if is_pg:  # not skipped (make ci allows no skip): they ran in the SQLite pass
        sqlite_only = [item for item in items if item.get_closest_marker("sqlite")]
        if sqlite_only:
            config.hook.pytest_deselected(items=sqlite_only)
            items[:] = [item for item in items if not item.get_closest_marker("sqlite")]
    for item in items:
        if "postgres" in item.keywords and not is_pg:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL: make test runs it when PostgreSQL is up (DATABASE_URL=postgres://...)"
                )
            )
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM}: apt-get install -y chromium"))


def pytest_sessionfinish(session, exitstatus):
    """In CI (make ci) a skipped test is a failure: everything must run."""
    if not STRICT:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"STRICT: {len(skipped)} test(s) skipped; make ci requires every test to run.")
        session.exitstatus = 1


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    """Uploaded CSV files of a test go to its own directory, never the project's var/."""
    settings.IMPORTS_DIR = tmp_path / "imports"


@pytest.fixture(autouse=True)
def _builtin_memory_extractor(settings, monkeypatch):
    """The built-in memory extractor and no embeddings unless a test configures them
    (tests/test_memory_llm.py, tests/test_recall_embeddings.py): MEMORY_LLM_* and
    MEMORY_EMBEDDINGS_* in the developer's environment must not send the suite's data anywhere."""
    settings.MEMORY_LLM_BASE_URL = settings.MEMORY_LLM_MODEL = settings.MEMORY_LLM_API_KEY = ""
    for name in ("MEMORY_EMBEDDINGS_BASE_URL", "MEMORY_EMBEDDINGS_MODEL", "MEMORY_EMBEDDINGS_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def account(db):
    return AccountFactory()


@pytest.fixture
def other_account(db):
    return AccountFactory()


@pytest.fixture
def admin_user(account):
    return MembershipFactory(account=account, role="admin").user


@pytest.fixture
def support_user(account):
    return MembershipFactory(account=account, role="support").user


@pytest.fixture
def store(account):
    return StoreFactory(account=account)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client


class ApiClient:
    """The JSON API (`/api/v1`) through Django's test client, authenticated with a bearer key."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def raw(self, method, path, body: str | bytes, **extra):
        """Send `body` as it is (JSON text, so numbers and escapes go exactly as written)."""
        auth = f"Bearer {self.key}"
        return getattr(self.client, method)(
            f"/api/v1{path}", data=body, content_type="application/json", HTTP_AUTHORIZATION=auth, **extra
        )

    def call(self, method, path, body=None, **extra):
        """Send `body` (a Python value) as JSON; no body for None."""
        if body is None:
            return getattr(self.client, method)(f"/api/v1{path}", HTTP_AUTHORIZATION=f"Bearer {self.key}", **extra)
        return self.raw(method, path, json.dumps(body), **extra)


@pytest.fixture
def key(account):
    """A full API key of `account`, named "CRM sync"."""
    from accounts.services import api_key_create

    return api_key_create(account=account, actor=None, name="CRM sync")[1]


@pytest.fixture
def api(client, key):
    return ApiClient(client, key)
