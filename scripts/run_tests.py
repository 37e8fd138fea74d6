#!/usr/bin/env python
"""Run the test suite the way `make test` and `make ci` want it.

1. ruff check, then lint-imports (the layer contracts in pyproject.toml; docs/ARCHITECTURE.md, "Layers").
2. The SQLite pass (the embedded default database).
3. The PostgreSQL pass, when PostgreSQL answers at TEST_POSTGRES_URL
   (default postgres://postgres@127.0.0.1:5432/memory_console).
Browser tests run in both passes when /usr/bin/chromium exists.

--strict (make ci): PostgreSQL and Chromium must be there and no test may be skipped.
Without it, whatever is missing is skipped with a reason pytest prints.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/memory_console")


def postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    from urllib.parse import urlparse

    parts = urlparse(url)
    try:
        with psycopg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password,
            dbname="postgres",
            connect_timeout=3,
        ):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {exc}".strip()


TOTALS = {"passed": 0, "failed": 0, "skipped": 0}


def run(cmd: list[str], env: dict[str, str]) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def run_pytest(cmd: list[str], env: dict[str, str]) -> int:
    """Run one pass and add its counts to TOTALS (read from pytest's JUnit XML)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        code = run([*cmd, f"--junitxml={report}"], env)
        if report.exists():
            suite = ET.parse(report).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            tests, errors, failures, skipped = (
                int(suite.get(k, 0)) for k in ("tests", "errors", "failures", "skipped")
            )
            TOTALS["failed"] += errors + failures
            TOTALS["skipped"] += skipped
            TOTALS["passed"] += tests - errors - failures - skipped
        elif code != 0:
            TOTALS["failed"] += 1
    return code


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strict", action="store_true", help="fail if anything is skipped or missing")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if args.strict:
        env["MC_STRICT_TESTS"] = "1"

    failures = []
    if run([str(VENV_BIN / "ruff"), "check", "."], env) != 0:
        failures.append("ruff check")
    if run([str(VENV_BIN / "lint-imports")], env) != 0:
        failures.append("lint-imports (layers)")

    pg_problem = postgres_reachable(PG_URL)
    pytest = [str(VENV_BIN / "python"), "-m", "pytest", *args.pytest_args]

    print("\n=== SQLite pass ===", flush=True)
    sqlite_cmd = list(pytest)
    if pg_problem is None:
        # PostgreSQL-only tests run in the PostgreSQL pass below instead of skipping here.
        sqlite_cmd += ["-m", "not postgres"]
    if run_pytest(sqlite_cmd, env) != 0:
        failures.append("SQLite pass")

    print("\n=== PostgreSQL pass ===", flush=True)
    if pg_problem is None:
        if run_pytest(pytest, {**env, "DATABASE_URL": PG_URL}) != 0:
            failures.append("PostgreSQL pass")
    else:
        message = f"PostgreSQL pass skipped: {PG_URL} is not reachable ({pg_problem})"
        print(message, flush=True)
        if args.strict:
            failures.append(message)

    if failures:
        print("\nFAILED: " + "; ".join(failures), flush=True)
    else:
        print("\nAll passes succeeded.", flush=True)
    # A plain closing line for CI: the totals over every pass.
    print(
        f"total: {TOTALS['passed']} passed, {TOTALS['failed']} failed, {TOTALS['skipped']} skipped",
        flush=True,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
