"""The issue 16 and 18 benchmarks keep working: each runs its `--check` mode (tiny counts, on databases of
its own, dropped after) and must finish with its correctness check passed. They measure PostgreSQL
(the lifecycle one SQLite too), so they run in the PostgreSQL pass."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.postgres


def _run(script: str) -> str:
    database = settings.DATABASES["default"]
    server = f"postgres://{database.get('USER') or 'postgres'}@{database.get('HOST') or '127.0.0.1'}"
    env = {**os.environ, "DATABASE_URL": f"{server}:{database.get('PORT') or 5432}/postgres"}
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_webhook_benchmark_runs_and_every_message_is_stored():
    out = _run("webhooks.py")
    assert "Twilio messaging webhook" in out and "baseline: hello view" in out
    assert "communications stored of 48 sent" in out and ": correct" in out


def test_the_lifecycle_benchmark_runs_on_both_databases_and_closes_every_conversation():
    out = _run("lifecycle.py")
    assert out.count("check: correct") == 2, out
    assert "SQLite / PostgreSQL" in out


def test_the_scale_out_benchmark_runs_imports_on_one_and_three_clusters_and_identifies_every_item():
    out = _run("scale_out.py")
    assert "3 qclusters x 1 worker" in out and "gunicorn 4 sync worker(s)" in out
    assert "check: every import 300 profiles: True; 12,000 of 12,000 identified" in out
