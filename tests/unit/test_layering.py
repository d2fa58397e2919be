"""The architecture, checked: the crypto core is pure and handlers stay thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "kms_core" / "skms"
FORBIDDEN_IN_CORE = ("boto3", "botocore", "aws_lambda_powertools", "pydantic", "sqlite3")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", sorted((LAYER / "crypto").glob("*.py")), ids=lambda p: p.name)
def test_crypto_core_imports_no_aws_powertools_or_pydantic(module: Path) -> None:
    # Given a module of the crypto core / When its imports are read / Then none is forbidden
    assert _imports(module).isdisjoint(FORBIDDEN_IN_CORE)


@pytest.mark.parametrize("module", sorted(LAYER.rglob("*.py")), ids=lambda p: str(p.relative_to(LAYER)))
def test_only_storage_and_root_key_adapters_touch_boto3_or_sqlite(module: Path) -> None:
    relative = module.relative_to(LAYER).as_posix()
    # The adapter packages touch their own driver only.
    if relative.startswith("storage/dynamodb/"):
        assert "sqlite3" not in _imports(module), relative
        return
    if relative.startswith("storage/sqlite/"):
        assert _imports(module).isdisjoint({"boto3", "botocore"}), relative
        return
    if relative in {"storage/idempotency.py", "root_keys/aws_kms.py"}:
        return
    assert _imports(module).isdisjoint({"boto3", "botocore", "sqlite3"}), relative


@pytest.mark.parametrize(
    "app", sorted((REPO_ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name
)
def test_handlers_are_thin(app: Path) -> None:
    # A handler file wires a model to one logic function; logic lives in the layer.
    tree = ast.parse(app.read_text(encoding="utf-8"))
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert _imports(app) <= {"skms"}


@pytest.mark.parametrize("function", ["create_key", "create_datakey", "decrypt_datakey", "list_keys"])
def test_handler_import_stays_lean(function: str) -> None:
    """Cold starts: importing a handler builds nothing AWS-shaped and defers the heavy optional
    parts (boto3, Powertools Idempotency, password hashing) to first use."""
    import subprocess
    import sys

    probe = (
        "import hashlib, sys\n"
        "calls = []\n"
        "real = hashlib.scrypt\n"
        "hashlib.scrypt = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'functions' / function)!r})\n"
        "import app\n"
        "lazy = ('boto3', 'aws_lambda_powertools.utilities.idempotency')\n"
        "heavy = [m for m in lazy if m in sys.modules]\n"
        "print(heavy, len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] 0"
