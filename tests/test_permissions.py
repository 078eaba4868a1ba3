"""Every file and folder lenet-batch writes honours the umask, checked by reading them as another user.

Under umask 022 a monitoring user, an analyst or a web server (here: `nobody`, through runuser) reads every
output; under 077 it reads none. The tests run as root, so the reads go through runuser.
"""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests import helpers
from tests.prediction_helpers import fashion

pytestmark = pytest.mark.slow

RUNUSER = shutil.which("runuser")


def _nobody_exists() -> bool:
    import pwd

    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return False
    return True


if not (RUNUSER and _nobody_exists() and os.geteuid() == 0):
    pytest.skip(
        "needs root, runuser and the user nobody to read outputs as another user", allow_module_level=True
    )


@pytest.fixture(scope="module")
def tiny_data_dir() -> str:
    folder = Path(tempfile.mkdtemp(prefix="lbperm-data-", dir="/tmp"))
    helpers.write_dataset(folder, fashion(), n_train=2000, n_test=500)
    yield str(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shared_folder():
    """A folder every user may enter (pytest's tmp_path is 0700 under root's own folder)."""
    folder = tempfile.mkdtemp(prefix="lbperm-", dir="/tmp")
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cli(umask: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(helpers.VENV_BIN / "lenet-batch"), *args],
        capture_output=True,
        text=True,
        cwd=helpers.REPO,
        timeout=900,
        preexec_fn=lambda: os.umask(umask),
    )


def _read_as_nobody(paths: list[Path]) -> dict[str, bool]:
    """Which paths `nobody` can read (files) or list (folders)."""
    script = (
        'for p in "$@"; do if [ -d "$p" ]; then ls "$p"; else cat "$p"; fi >/dev/null 2>&1 '
        '&& echo "OK $p" || echo "NO $p"; done'
    )
    result = subprocess.run(
        [RUNUSER, "-u", "nobody", "--", "sh", "-c", script, "sh", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {line[3:]: line.startswith("OK") for line in result.stdout.splitlines()}


# The same writers as a nightly (atomic writes, JSON records, partitions, summary, heartbeat, lock), called
# in one process without Ray: the umask 077 case does not need a second nightly to prove its point.
LIBRARY_RUN = """
import sys
from lenet_batch.config import Recipe
from lenet_batch.data import fashion_mnist
from lenet_batch.data.inputs import ImageSource
from lenet_batch.pipeline.hand_summary import summarise
from lenet_batch.store import lock, storage
from lenet_batch.store.layout import Layout
from lenet_batch.training.seed import run_seed
from tests.helpers import score_seed

data = fashion_mnist.load(sys.argv[2], verify=False)
run = Layout(sys.argv[1]).run("p1")
lock.acquire(run, stale_seconds=60)  # left held: its mode is checked too
run_seed(data.arrays(), data_info=data.info(), recipe=Recipe(epochs=1), seed=0, run=run)
score_seed(run, 0, ImageSource(batch_size=4096), test_split=data.arrays())
summarise(run)
storage.write_json_atomic(run.layout.heartbeat(), {"run_id": "p1"})
"""


def _write_outputs(umask: int, out: str, data: str) -> None:
    """A run's outputs written under the umask: a real nightly (022) or the same writers without Ray (077)."""
    if umask == 0o022:
        args = ("--data", data, "--no-verify", "--run-id", "p1", "--seeds", "0", "--epochs", "1")
        night = _cli(umask, "nightly", "--output", out, *args)
        assert night.returncode == 0, night.stderr[-3000:]
    else:
        library = subprocess.run(
            [str(helpers.VENV_BIN / "python"), "-c", LIBRARY_RUN, out, data],
            capture_output=True,
            text=True,
            cwd=helpers.REPO,
            timeout=900,
            preexec_fn=lambda: os.umask(umask),
        )
        assert library.returncode == 0, library.stderr[-3000:]
    predict = ["predict", "--output", out, "--run", "p1", "--seed", "0", "--data", data, "--no-verify"]
    for args in (
        ["data", "--data", data, "--no-verify", "--plot", f"{out}/plots/first.png", "-q"],
        [*predict, "--plot", f"{out}/plots/predicted.png", "-q"],
    ):
        result = _cli(umask, *args)
        assert result.returncode == 0, result.stderr[-3000:]


EXPECTED = (
    "_last_success.json",
    "runs/p1/run.json",
    "runs/p1/seeds/seed=0/model.params",
    "runs/p1/seeds/seed=0/metrics.json",
    "runs/p1/summary/report.html",
    "runs/p1/summary/summary.json",
    "predictions/run_id=p1/seed=0/part-00000.parquet",
    "predictions/run_id=p1/seed=0/_COMMITTED.json",
    "plots/first.png",
    "plots/predicted.png",
)


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode", "readable"),
    [(0o022, 0o644, 0o755, True), (0o077, 0o600, 0o700, False)],
    ids=["umask 022", "umask 077"],
)
def test_every_output_honours_the_umask_and_reads_back_as_another_user(
    tiny_data_dir, shared_folder, umask, file_mode, dir_mode, readable
):
    out = os.path.join(shared_folder, "out")
    _write_outputs(umask, out, tiny_data_dir)
    files = sorted(p for p in Path(out).rglob("*") if p.is_file())
    folders = sorted(p for p in Path(out).rglob("*") if p.is_dir())
    names = {str(p.relative_to(out)) for p in files}
    assert set(EXPECTED) <= names, sorted(names)
    assert any(n.endswith(".png") and n.startswith("runs/p1/summary/") for n in names)
    assert ("_lock.json" in names) == (umask == 0o077)  # the library run leaves its lock held
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [*files, *folders]}
    wrong = {str(p): oct(m) for p, m in modes.items() if m != (dir_mode if p.is_dir() else file_mode)}
    assert wrong == {}

    seen = _read_as_nobody([Path(out), *folders, *files])
    assert len(seen) == 1 + len(folders) + len(files)
    assert {p: ok for p, ok in seen.items() if ok != readable} == {}
