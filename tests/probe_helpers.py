"""A CLI command in a fresh interpreter that reports the heavy modules it imported; file snapshots."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests import helpers

PROBE = """
import json, sys
from lenet_batch.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("PROBE " + json.dumps({{"code": code, "heavy": [m for m in ("mxnet", "ray") if m in sys.modules]}}))
"""


def cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str, list[str]]:
    """Run `lenet-batch ARGV` in a fresh interpreter: (exit code, stdout, stderr, heavy modules imported)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=list(argv))],
        capture_output=True,
        text=True,
        cwd=helpers.REPO,
        timeout=300,
        env=env,
    )
    *out, probe = result.stdout.rstrip("\n").split("\n")
    assert probe.startswith("PROBE "), result.stderr[-3000:]
    found = json.loads(probe[len("PROBE ") :])
    return found["code"], "\n".join(out), result.stderr, found["heavy"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder and the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
