"""Production settings: check --deploy, collectstatic and whitenoise with DEBUG=False."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Variables of the test run itself that a production process would not have.
NOT_INHERITED = {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}


def _base_env(tmp_path, extra):
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}", **extra})
    return env


def _manage(*args, env_extra, tmp_path):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_base_env(tmp_path, env_extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


PROD = {
    "DEBUG": "False",
    "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
    "ALLOWED_HOSTS": "console.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
}


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_extra=PROD, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_false_without_secret_key_refuses_to_start(tmp_path):
    env = {**PROD, "SECRET_KEY": ""}
    result = _manage("check", env_extra=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG=False" in result.stderr


def test_collectstatic_works_with_debug_false_and_whitenoise_serves_the_files(tmp_path):
    static_root = tmp_path / "static"
    env = {**PROD, "STATIC_ROOT": str(static_root)}
    result = _manage("collectstatic", "--noinput", env_extra=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = static_root / "staticfiles.json"
    assert manifest.exists()
    assert list(static_root.glob("vendor/bootstrap-5.3.9/css/bootstrap.min.*.css"))
    assert (static_root / "vendor/bootstrap-5.3.9/LICENSE").exists()
    script = (
        "import django; django.setup();"
        "from django.test import Client; from django.templatetags.static import static;"
        "url = static('vendor/bootstrap-5.3.9/css/bootstrap.min.css');"
        "r = Client(HTTP_HOST='console.example.com').get(url, secure=True);"
        "print(url, r.status_code, r.headers.get('Cache-Control'))"
    )
    env_all = _base_env(tmp_path, {**env, "DJANGO_SETTINGS_MODULE": "memory_console.settings"})
    served = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env_all, capture_output=True, text=True)
    assert served.returncode == 0, served.stderr
    url, status, cache = served.stdout.split(maxsplit=2)
    assert status == "200" and ".css" in url and url != "/static/vendor/bootstrap-5.3.9/css/bootstrap.min.css"
    assert "max-age" in cache
