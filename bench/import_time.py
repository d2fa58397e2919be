"""Cold-start import cost: a fresh interpreter importing a function's handler module vs ``import boto3``.

Both are measured inside fresh child interpreters of the same venv, interleaved, in one run; we
print medians and their ratio (target: handler / boto3 <= 1.5). Absolute times are noisy here.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 15

_CHILD = """
import sys, time
sys.path.insert(0, {path!r})
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""


def _child_import_seconds(module: str, path: str = "") -> float:
    code = _CHILD.format(module=module, path=path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def run(functions: tuple[str, ...] = ("create_key", "create_datakey", "decrypt_datakey")) -> dict[str, float]:
    samples: dict[str, list[float]] = {"boto3": [], **{f: [] for f in functions}}
    for _ in range(ROUNDS):
        samples["boto3"].append(_child_import_seconds("boto3"))
        for function in functions:
            samples[function].append(_child_import_seconds("app", str(ROOT / "functions" / function)))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"import time, median of {ROUNDS} fresh interpreters (interleaved):")
    print(f"  {'import boto3':<28} {medians['boto3'] * 1000:8.1f} ms")
    ratios = {}
    for function in functions:
        ratios[function] = medians[function] / medians["boto3"]
        print(
            f"  {'functions/' + function + '/app':<28} {medians[function] * 1000:8.1f} ms"
            f"   ratio to boto3: {ratios[function]:.2f}  (target <= 1.5)"
        )
    return ratios


if __name__ == "__main__":
    run()
