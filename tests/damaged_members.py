"""The members of each family of damage that tests/test_damaged_records.py tries, and a strategy that
reshapes a record at random (hypothesis): what stands in a run's records instead of what the program wrote.
"""

import copy
import json
import math
import os
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from lenet_batch.store import record_reads, storage

# Hypothesis caches what it learns in .hypothesis/ of the working directory: never in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lenet-batch-hypothesis")

DEEP = 100_000
BIG = 10**400  # json reads it as an int that no float holds

RUN_JSON = {
    "nested-100k-deep": (lambda d: "[" * DEEP + "]" * DEEP, "nested too deeply"),
    "object-nested-100k-deep": (lambda d: '{"a":' * DEEP + "1" + "}" * DEEP, "nested too deeply"),
    "stages-a-string": (lambda d: d.update(stages="complete"), "stages: expected an object"),
    "a-stage-a-list": (lambda d: d["stages"].update(train=[]), "stages.train: expected an object"),
    "a-seed-a-string": (lambda d: d["stages"]["train"]["seeds"][0].update(seed="0"), "expected int"),
    "seconds-10**400": (lambda d: d["stages"]["train"].update(seconds=BIG), "a finite number"),
    "seed-past-64-bits": (lambda d: d["stages"]["train"]["seeds"][0].update(seed=2**70), "64 bits"),
    "seconds-NaN": (lambda d: d["stages"]["train"].update(seconds=math.nan), "a finite number"),
    "seconds-Infinity": (lambda d: d["stages"]["train"].update(seconds=-math.inf), "a finite number"),
    "created-at-a-number": (lambda d: d.update(created_at=5), "created_at: expected str"),
    "config-a-list": (lambda d: d.update(config=[1]), "config: expected an object"),
    "another-runs-record": (lambda d: d.update(run_id="2026-01-09"), "not the folder's"),
    "no-run-id": (lambda d: d.pop("run_id") and None, "run_id"),
    "an-array": (lambda d: [d], "expected a JSON object, found list"),
    "null": (lambda d: "null", "found NoneType"),
    "truncated": (lambda d: json.dumps(d)[:100], "not valid JSON"),
    "empty": (lambda d: "", "empty file"),
    "blank": (lambda d: " \n", "empty file"),
    "binary": (lambda d: bytes(range(256)) * 8, "run.json: not"),
    "invalid-utf-8": (lambda d: b'{"run_id": "\xff\xfe"}', "not UTF-8"),
}

SUMMARY_JSON = {
    "per-seed-none": (lambda d: d.update(per_seed="none"), "per_seed: expected a list"),
    "mean-10**400": (lambda d: d["across_seeds"].update(mean=BIG), "mean: expected a finite number"),
    "mean-NaN": (lambda d: d["across_seeds"].update(mean=math.nan), "a finite number"),
    "mean-Infinity": (lambda d: d["across_seeds"].update(mean=math.inf), "a finite number"),
    "mean-not-an-accuracy": (lambda d: d["across_seeds"].update(mean=5.0), "outside [0, 1]"),
    "a-seed-accuracy-negative": (lambda d: d["per_seed"][0].update(test_accuracy=-1), "outside [0, 1]"),
    "another-runs-summary": (lambda d: d.update(run_id="2026-01-09"), "not the folder's"),
    "comparison-a-list": (lambda d: d.update(comparison=[1]), "comparison: expected an object"),
    "confusion-matrix-text": (lambda d: d.update(confusion_matrix="none"), "confusion_matrix"),
    "truncated": (lambda d: json.dumps(d)[:-3], "not valid JSON"),
    "invalid-utf-8": (lambda d: b"\xc3\x28" * 10, "not UTF-8"),
    "nested-100k-deep": (lambda d: "[" * DEEP + "]" * DEEP, "nested too deeply"),
}


def link_to(target: str):
    def make(path: Path) -> None:
        path.unlink()
        path.symlink_to(target)

    return make


def sparse(size: int):
    def make(path: Path) -> None:
        with path.open("r+b") as f:
            f.truncate(size)

    return make


def folder_made_a_file(path: Path) -> None:
    folder = path.parent
    for p in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        p.rmdir() if p.is_dir() and not p.is_symlink() else p.unlink()
    folder.rmdir()
    folder.write_text("not a folder")


def folder_made_a_loop(path: Path) -> None:
    folder_made_a_file(path)
    path.parent.unlink()
    path.parent.symlink_to(path.parent.name)


NOT_A_FILE = {  # what stands where run.json should be (or its folder)
    "a-folder": (lambda p: (p.unlink(), p.mkdir()), "run.json: is a folder, not a file"),
    "a-symlink-loop": (link_to("run.json"), "run.json: a symlink loop"),
    "a-symlink-to-dev-zero": (link_to("/dev/zero"), "not a regular file"),
    "a-fifo": (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file"),
    "a-huge-file": (sparse(record_reads.RECORD_LIMIT + 1), "too large for a record"),
    "a-dangling-symlink": (link_to("/nonexistent/run.json"), "run.json: not found"),
    "the-run-folder-is-a-file": (folder_made_a_file, "a file, not a run folder"),
    "the-run-folder-is-a-symlink-loop": (folder_made_a_loop, "a symlink loop"),
}

ODD_NAMES = [
    "r 2 ünï ☃",
    "with space",
    "x" * 65,
    "glob[1]*?",
    "-leading-dash",
    "new\nline",
    "tab\there",
    os.fsdecode(b"not-utf-8-\xff"),
]


def s3_rewrite(uri: str, change) -> None:
    new = change(json.loads(storage.read_bytes(uri)))
    storage.write_bytes_atomic(uri, new if isinstance(new, bytes) else json.dumps(new).encode())


S3_MEMBERS = {
    "run.json-not-json": ("run.json", lambda d: b'{"run_id": ', "not valid JSON"),
    "run.json-empty": ("run.json", lambda d: b"", "empty file"),  # a ranged GET of 0 bytes is HTTP 416
    "stages-a-string": ("run.json", lambda d: {**d, "stages": "complete"}, "expected an object"),
    "per-seed-none": ("summary/summary.json", lambda d: {**d, "per_seed": "none"}, "expected a list"),
    "mean-10**400": (
        "summary/summary.json",
        lambda d: {**d, "across_seeds": {**d["across_seeds"], "mean": BIG}},
        "a finite number",
    ),
}

DEEP_MARK = "__deeply_nested__"
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([BIG, -BIG, 2**63, -(2**63) - 1, 0, 1, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.just(DEEP_MARK),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def reshaped(draw, doc: dict) -> object:
    """The document with 1-3 of its values (at any depth) replaced, removed, given an extra key, or nested
    too deeply to read; the whole document may be replaced too."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        parent, key, node = None, None, doc
        while isinstance(node, dict | list) and node and draw(st.integers(0, 3)):  # go down, 3 times in 4
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            parent, node = node, node[key]
        action = draw(st.sampled_from(["replace", "remove", "extra", "deep"]))
        value = DEEP_MARK if action == "deep" else draw(JSON_VALUES)
        if parent is None:
            doc = value if action in ("replace", "deep") else doc
        elif action == "remove":
            del parent[key]
        elif action == "extra" and isinstance(node, dict):
            node[draw(st.text(max_size=8))] = value
        else:
            parent[key] = value
    return doc


def as_text(doc: object) -> str:
    deep = "[" * 5000 + "]" * 5000  # past any recursion limit of a JSON reader
    return json.dumps(doc).replace(json.dumps(DEEP_MARK), deep)
