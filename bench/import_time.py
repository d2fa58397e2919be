"""Cold-start import cost: a fresh interpreter importing a function's handler module vs ``import boto3``.

Both are measured inside fresh child interpreters of the same venv, interleaved, in one run; we
print medians and their ratio (target: handler / boto3 <= 1.5). Absolute times are noisy here.

The handler is imported twice over:
- from the layer as ``sam build`` makes it (``make -C layers/kms_core layer-code``: the skms code
  with its bytecode, ``unchecked-hash``), over the venv's dependencies (which pip compiled when it
  installed them, as the layer's are and as the runtime's boto3 is). This is what a Lambda cold
  start imports, and what the target is about.
- from the source only, with no bytecode to read (as in Lambda before the layer shipped its bytecode:
  a read-only layer without .pyc files; or with PYTHONDONTWRITEBYTECODE). Shown for comparison.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 15

_CHILD = """
import sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""


def _child_import_seconds(module: str, *paths: str) -> float:
    code = _CHILD.format(module=module, paths=list(paths))
    # No bytecode written by the children: each one starts from what is on disk, as a cold start does.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip())


def _build_layer_code(artifacts: Path) -> Path:
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-C",
            str(ROOT / "layers" / "kms_core"),
            "layer-code",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
    )
    return artifacts / "python"


def run(functions: tuple[str, ...] = ("create_key", "create_datakey", "decrypt_datakey")) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        layer = str(_build_layer_code(Path(scratch)))
        # A copy of the source without bytecode (the checkout may hold __pycache__ directories).
        source = Path(scratch) / "source"
        shutil.copytree(
            ROOT / "layers" / "kms_core" / "skms",
            source / "skms",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        samples: dict[str, list[float]] = {"boto3": []}
        for function in functions:
            samples[function] = []
            samples[function + " (source)"] = []
        for _ in range(ROUNDS):
            samples["boto3"].append(_child_import_seconds("boto3"))
            for function in functions:
                app = str(ROOT / "functions" / function)
                samples[function].append(_child_import_seconds("app", app, layer))
                samples[function + " (source)"].append(_child_import_seconds("app", app, str(source)))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"import time, median of {ROUNDS} fresh interpreters (interleaved):")
    print(f"  {'import boto3':<44} {medians['boto3'] * 1000:8.1f} ms")
    ratios = {}
    for function in functions:
        ratios[function] = medians[function] / medians["boto3"]
        source_ratio = medians[function + " (source)"] / medians["boto3"]
        print(
            f"  {'functions/' + function + '/app, layer as built':<44} {medians[function] * 1000:8.1f} ms"
            f"   ratio to boto3: {ratios[function]:.2f}  (target <= 1.5)"
        )
        print(
            f"  {'  the same from source, no bytecode':<44} {medians[function + ' (source)'] * 1000:8.1f} ms"
            f"   ratio to boto3: {source_ratio:.2f}"
        )
    return ratios


if __name__ == "__main__":
    run()
