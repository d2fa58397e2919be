"""Peak memory (max RSS) of each function: a fresh interpreter imports the handler and serves
its events (create-key for every key spec; 100 data keys of 8192 bits). The MemorySize of each
function in template.yaml is chosen from these figures (peak x 2, rounded up to a Lambda size,
at least 256 MB), see the README."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, resource, sys
from pathlib import Path
os.environ["KMS_DATA_DIR"] = sys.argv[1]
os.environ["KMS_DIRECT_INVOCATION_PROJECTS"] = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"  # direct events
root = Path(sys.argv[2])
from skms.sam_template import routes_from_template, load_handler
handlers = {r.code_uri.name: load_handler(r) for r in routes_from_template(root / "template.yaml")}
project = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
def call(fn, body):
    return handlers[fn]({"project_id": project, "body": body}, None)
function = sys.argv[3]
# Keys the measured function needs are made first, then the baseline is taken after import.
key_id = cipher = None
if function != "create_key":
    key_id = call("create_key", {"key_alias": "bench-aes"})["key_info"]["key_id"]
    cipher = call("create_datakey", {"key_id": key_id, "datakey_length": "8192"})["cipher_text"]
if function == "create_key":
    for spec in ["AES_256", "SM4", "RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P384", "SM2"]:
        assert "key_info" in call("create_key", {"key_alias": "k-" + spec, "key_spec": spec})
elif function == "create_datakey":
    for _ in range(100):
        assert "cipher_text" in call("create_datakey", {"key_id": key_id, "datakey_length": "8192"})
else:
    for _ in range(100):
        body = {"key_id": key_id, "cipher_text": cipher, "datakey_cipher_length": "1024"}
        assert "data_key" in call("decrypt_datakey", body)
print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LAMBDA_SIZES = (128, 256, 512, 1024, 1536, 2048)


def run() -> dict[str, float]:
    peaks = {}
    print("peak memory per function (max RSS of a fresh interpreter serving its events):")
    for function in ("create_key", "create_datakey", "decrypt_datakey"):
        with tempfile.TemporaryDirectory() as data_dir:
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, data_dir, str(ROOT), function],
                capture_output=True,
                text=True,
                check=True,
            )
        peak = json.loads(out.stdout.strip().splitlines()[-1])["max_rss_mb"]
        suggested = next(size for size in LAMBDA_SIZES if size >= max(256, 2 * peak))
        peaks[function] = peak
        print(f"  {function:<18} {peak:7.1f} MB   -> MemorySize >= {suggested}")
    return peaks


if __name__ == "__main__":
    run()
