"""The shared layer as `sam build` makes it (layers/kms_core/Makefile): the skms code with the bytecode
of every module, used without a look at the source (a Lambda layer is read-only, so Python cannot
cache bytecode there: without it each cold start compiled every module; bench/import_time.py).

The dependencies part (pip for Lambda's platform) needs the package index and is left to `sam build`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEMPLATE
from tests.support.template import load_template

LAYER_SOURCE = TEMPLATE.parent / "layers" / "kms_core"


def _build_code(artifacts: Path) -> Path:
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(LAYER_SOURCE),
            "layer-code",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        capture_output=True,
    )
    return artifacts / "python"


def test_the_template_builds_the_layer_with_its_makefile() -> None:
    layer = load_template()["Resources"]["KmsCoreLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert TEMPLATE.parent / layer["Properties"]["ContentUri"] == LAYER_SOURCE
    # The target SAM runs: build-<logical id>.
    assert "\nbuild-KmsCoreLayer:" in (LAYER_SOURCE / "Makefile").read_text()


def test_every_module_of_the_layer_ships_its_bytecode_used_unchecked(tmp_path: Path) -> None:
    layer = _build_code(tmp_path)
    modules = sorted((layer / "skms").rglob("*.py"))
    assert len(modules) > 100
    for module in modules:
        compiled = Path(importlib.util.cache_from_source(str(module)))
        assert compiled.is_file(), f"no bytecode for {module.relative_to(layer)}"
        header = compiled.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source. Hash-based, unchecked.
        assert int.from_bytes(header[4:8], "little") == 0b01, module


def test_the_built_layer_imports_a_handler_from_its_bytecode(tmp_path: Path) -> None:
    layer = _build_code(tmp_path)
    function = TEMPLATE.parent / "functions" / "create_datakey"
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(function)!r}, {str(layer)!r}]\n"
        "import app, skms.api.handler as h\n"
        "assert h.__file__.startswith(sys.path[1]), h.__file__\n"
        "assert h.__cached__ and h.__spec__.cached, h.__spec__\n"
        "print(callable(app.lambda_handler))\n"
    )
    # The source of the handler module replaced by a line that exits: the import succeeds only if
    # its bytecode is what is read.
    (layer / "skms" / "api" / "handler.py").write_text("raise SystemExit('the source was compiled')\n")
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"


def test_a_python_other_than_3_11_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    other = tmp_path / "python3.9"  # answers like another Python would: not 3.11
    other.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.exit(1)'\n")
    other.chmod(0o755)
    out = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(LAYER_SOURCE),
            "layer-code",
            f"ARTIFACTS_DIR={tmp_path / 'out'}",
            f"PYTHON={other}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "built with Python 3.11" in out.stderr
    assert not (tmp_path / "out").exists()
