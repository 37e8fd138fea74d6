"""The layer contracts in pyproject.toml bite (docs/ARCHITECTURE.md, "Layers").

Each test copies the checked packages and pyproject.toml into a temporary directory, breaks one
rule in the copy and runs `lint-imports` there: the real tree is never touched.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
ROOT_PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
APPS = "Apps stand in layers: an app never imports a higher one (its interface aside)"
INTERFACE = "Only the interface imports the interface"
EXTRACTION = "Memory extraction is pure Python: no Django, no model, no other app"


@pytest.fixture
def tree(tmp_path):
    for package in ROOT_PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the copy, not the real tree
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_unchanged_tree_keeps_every_contract(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{APPS} KEPT" in result.stdout
    assert f"{INTERFACE} KEPT" in result.stdout
    assert f"{EXTRACTION} KEPT" in result.stdout


def test_the_root_app_importing_a_higher_app_breaks_the_layers(tree):
    append(tree / "stores" / "models.py", "\nfrom imports import models as _imports_models  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{APPS} BROKEN" in result.stdout
    assert "stores is not allowed to import imports" in result.stdout
    assert "stores.models -> imports.models" in result.stdout


def test_an_import_hidden_inside_a_function_breaks_the_layers_too(tree):
    append(
        tree / "traits" / "services.py",
        "\n\ndef _hidden():\n    from profiles.models import Profile\n\n    return Profile\n",
    )
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{APPS} BROKEN" in result.stdout
    assert "traits.services -> profiles.models" in result.stdout


def test_independent_apps_may_not_import_each_other(tree):
    append(tree / "conversations" / "models.py", "\nfrom imports.models import ProfileImport  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "conversations is not allowed to import imports" in result.stdout


def test_the_domain_importing_the_interface_breaks_the_interface_contract(tree):
    append(tree / "identity" / "selectors.py", "\nfrom identity import views as _views  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{INTERFACE} BROKEN" in result.stdout
    assert "identity.selectors -> identity.views" in result.stdout


def test_memory_extraction_importing_django_or_a_model_breaks_its_contract(tree):
    append(
        tree / "conversations" / "extraction" / "reconcile.py", "\nfrom django.db import models  # noqa: E402,F401\n"
    )
    append(
        tree / "conversations" / "extraction" / "builtin.py",
        "\nfrom profiles.models import Profile  # noqa: E402,F401\n",
    )
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{EXTRACTION} BROKEN" in result.stdout
    assert "conversations.extraction.reconcile -> django" in result.stdout
    assert "conversations.extraction.builtin -> profiles.models" in result.stdout
