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


TEST_HOOK_PARAMETERS = {"nonce", "iv", "salt", "rng", "random", "randomness", "entropy"}


@pytest.mark.parametrize("module", sorted((LAYER / "crypto").glob("*.py")), ids=lambda p: p.name)
def test_crypto_public_functions_take_no_nonce_or_randomness(module: Path) -> None:
    """Pinning the nonce or randomness is for known-answer tests only, through private functions
    (``aead._seal_with_nonce``), so no public API invites a caller to reuse a nonce."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    public = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_")
    ]
    offending = {
        f"{function.name}({argument.arg})"
        for function in public
        for argument in [*function.args.args, *function.args.posonlyargs, *function.args.kwonlyargs]
        if argument.arg in TEST_HOOK_PARAMETERS
    }
    assert not offending


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


def _unit_of(module: str) -> str | None:
    """The part of the layer a module belongs to: ``skms.caller`` -> ``skms.logic``."""
    parts = module.split(".")
    if parts[0] != "skms" or len(parts) < 2:
        return None
    unit = LAYER / parts[1]
    return f"skms.{parts[1]}" if unit.is_dir() or unit.with_suffix(".py").is_file() else None


def _imported_modules(path: Path) -> set[str]:
    """Every module a file of the layer imports (at any depth, lazy imports included), absolute."""
    relative = path.relative_to(LAYER.parent).with_suffix("")
    package = list(relative.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # ``from skms import errors`` imports the module skms.errors
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    """Which parts of the layer (subpackages and top-level modules of ``skms``) import which."""
    graph: dict[str, set[str]] = {}
    for path in LAYER.rglob("*.py"):
        source = _unit_of(".".join(path.relative_to(LAYER.parent).with_suffix("").parts))
        if source is None:  # skms/__init__.py
            continue
        targets = {_unit_of(module) for module in _imported_modules(path)}
        graph.setdefault(source, set()).update(t for t in targets if t is not None and t != source)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path (first node repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_package_graph_is_read() -> None:
    # Guards the test below against passing because nothing was parsed.
    graph = package_graph()
    assert {"skms.errors", "skms.clock", "skms.crypto"} <= graph["skms.logic"]
    assert "skms.sam_template" in graph["skms.openapi"]


def test_packages_import_each_other_without_cycles() -> None:
    """The layer's parts form a DAG: a cycle between packages (e.g. auth <-> logic) means one of
    them holds something both need, which belongs in a neutral module (as skms.clock)."""
    # Given the import graph between the subpackages and modules of skms / Then it has no cycle
    assert find_cycle(package_graph()) is None


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


def _attributes_read(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def _attributes_tested(path: Path) -> set[str]:
    """Attributes of anything but the request ``body`` read inside a comparison or a condition
    (``if``, ``and``/``or``, ``x if c else y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tests: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare | ast.BoolOp):
            tests.append(node)
        elif isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
            tests.append(node.test)
    return {
        n.attr
        for test in tests
        for n in ast.walk(test)
        if isinstance(n, ast.Attribute) and not (isinstance(n.value, ast.Name) and n.value.id == "body")
    }


# The modules that may test a key's state or usage to decide what may be done with it: the gate
# (every use of an existing key), the lifecycle state machine (which state changes are allowed) and
# the deletion sweep (which keys are due). Models render them and storage stores them; others may
# read them to answer, never to decide.
STATE_AND_USAGE_READERS = {
    "key_usage": {"logic/gate.py"},
    "key_state": {"logic/gate.py", "logic/lifecycle.py", "logic/sweep.py"},
}


@pytest.mark.parametrize("module", sorted(LAYER.rglob("*.py")), ids=lambda p: str(p.relative_to(LAYER)))
def test_only_the_gate_checks_key_state_and_usage(module: Path) -> None:
    relative = module.relative_to(LAYER).as_posix()
    if relative.startswith(("storage/", "models/")) or relative == "domain.py":
        return
    tested = _attributes_tested(module)
    for attribute, allowed in STATE_AND_USAGE_READERS.items():
        assert attribute not in tested or relative in allowed, f"{relative} tests .{attribute}"


def test_every_use_of_an_existing_key_goes_through_the_gate() -> None:
    # Only the gate reads a key for a caller; the others (sweep, automatic rotation, storage) are
    # not on a caller's behalf.
    readers = {
        module.relative_to(LAYER).as_posix()
        for module in LAYER.rglob("*.py")
        if "get_key" in _attributes_read(module)
    }
    assert {r for r in readers if r.startswith(("logic/", "api/", "auth/"))} <= {
        "logic/gate.py",
        "logic/sweep.py",
        "logic/auto_rotation.py",
    }
