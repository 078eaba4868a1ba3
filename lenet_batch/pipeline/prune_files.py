"""What pruning removes of one night, found with its sizes, and its removal (local folders and object stores).

Of a night go: its evaluation's predictions (predictions/run_id=<id>/), any staged scoring left behind
(predictions/_staging/<id>/), its predictions of named inputs (scored/input=*/run_id=<id>/), its seeds'
models and epoch checkpoints (runs/<id>/seeds/seed=*/model.params and checkpoint/) and its logs
(runs/<id>/logs/). Its run.json, summary/ and the seeds' metrics.json and attempts.json stay.

The partitions' commit markers go first, so that no reader lists a partition whose files are going.
Locally nothing is followed through a symlink: a link goes, never what it points at, and a FIFO is removed
without being opened.
"""

import contextlib
import os
import posixpath
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.layout import MARKER, Layout, RunRef

SEED_FILES = ("model.params", "checkpoint")  # of each seed folder: its model and its epoch checkpoints


@dataclass(frozen=True)
class Doomed:
    """What goes of one night: each folder or file found (URI) with the files in it (path -> bytes)."""

    found: Mapping[str, Mapping[str, int]]

    @property
    def files(self) -> int:
        return sum(len(f) for f in self.found.values())

    @property
    def bytes(self) -> int:
        return sum(sum(f.values()) for f in self.found.values())


def scored_inputs(layout: Layout) -> list[str]:
    """The named inputs' folders under scored/ (input=NAME), listed once for every night."""
    return [n for n in storage.list_dir(layout.scored_root(), layout.options) if n.startswith("input=")]


def _raise(exc: OSError) -> None:
    raise exc


def _local(path: str) -> dict[str, int] | None:
    """Every file under a local path with its size (None: nothing there); links and FIFOs are files."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return {path: st.st_size}
    found = {}
    for folder, dirs, names in os.walk(path, onerror=_raise):  # a linked folder is not walked into
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            found[os.path.join(folder, name)] = os.lstat(os.path.join(folder, name)).st_size
    return found


def _files(uri: str, options: StorageOptions | None) -> dict[str, int] | None:
    """Every file under a URI (a folder, or a file itself) with its size; None when nothing is there."""
    fs, path = storage.get_fs(uri, options)
    with storage.storage_errors(uri):
        if storage.is_local(uri):
            return _local(path)
        fs.invalidate_cache(path)
        found = fs.find(path, detail=True)
    return {p: int(info.get("size") or 0) for p, info in found.items()} or None


def _seeds(run: RunRef) -> dict[str, dict[str, int]]:
    """The seeds' models and checkpoints (their URIs, each with its files), from one listing of seeds/."""
    _, root = storage.get_fs(run.seeds_dir, run.options)
    found: dict[str, dict[str, int]] = {}
    for path, size in (_files(run.seeds_dir, run.options) or {}).items():
        parts = posixpath.relpath(path, root).split("/")
        if len(parts) >= 2 and parts[0].startswith("seed=") and parts[1] in SEED_FILES:
            found.setdefault(storage.join(run.seeds_dir, parts[0], parts[1]), {})[path] = size
    return found


def doomed(run: RunRef, inputs: Sequence[str]) -> Doomed:
    """What pruning the night removes, as it is now (`inputs`: scored_inputs of its output)."""
    layout = run.layout
    roots = [
        storage.join(layout.predictions_root(), f"run_id={run.run_id}"),
        storage.join(layout.staging_dir(), run.run_id),
        *(storage.join(layout.scored_root(), name, f"run_id={run.run_id}") for name in inputs),
        run.logs_dir,
    ]
    found = {uri: files for uri in roots if (files := _files(uri, run.options)) is not None}
    return Doomed({**found, **_seeds(run)})


def _remove_local(root: str, paths: list[str], whole: bool) -> None:
    """Remove the files (and, `whole`, the folder or file `root` itself) without following a link."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if whole and os.path.lexists(root):
        if os.path.isdir(root) and not os.path.islink(root):
            shutil.rmtree(root)  # never follows a link inside
        else:
            os.unlink(root)


def _batch(doomed: Doomed, markers: bool) -> dict[str, list[str]]:
    """Each found folder's files that are partition markers (or, `markers` False, that are not)."""
    return {
        u: sorted(p for p in f if (posixpath.basename(p) == MARKER) == markers)
        for u, f in doomed.found.items()
    }


def remove(run: RunRef, doomed: Doomed) -> None:
    """Remove what goes of the night: every partition's marker first, then the rest (on object stores in
    one request per thousand keys each)."""
    local = storage.is_local(run.output)
    for markers in (True, False):
        batch = _batch(doomed, markers)
        for uri, paths in batch.items() if local else ():
            with storage.storage_errors(uri):
                _remove_local(storage.get_fs(uri, run.options)[1], paths, whole=not markers)
        paths = [p for ps in batch.values() for p in ps] if not local else []
        if paths:
            fs, _ = storage.get_fs(run.run_dir, run.options)
            with storage.storage_errors(run.run_dir), contextlib.suppress(FileNotFoundError):
                fs.rm(paths)
