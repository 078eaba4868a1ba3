"""Small records that several stages write and read: the data a run used, a seed's attempt, the commit.

JSON objects in run.json, metrics.json, checkpoints and summary.json; typed everywhere else.
"""

import hashlib
from dataclasses import dataclass, field

from lenet_batch.json_records import JsonRecord


@dataclass(frozen=True)
class DataInfo(JsonRecord):
    """The data a run used: where from, the SHA-256 of each decompressed file, whether it was verified, and
    the size of the class-balanced subset taken of each split (None: the whole split)."""

    source: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    verified: bool | None = None
    train_limit: int | None = None
    test_limit: int | None = None


@dataclass(frozen=True)
class Attempt(JsonRecord):
    """One attempt at training a seed: which one, on which host and process, from when."""

    attempt: int
    host: str | None = None
    pid: int | None = None
    started_at: str | None = None


@dataclass(frozen=True)
class GitCommit(JsonRecord):
    """The checkout's commit and whether its tree had uncommitted changes."""

    commit: str | None = None
    dirty: bool | None = None


def hosts_of(attempts: tuple[Attempt, ...] | list[Attempt]) -> str | None:
    """The hosts a seed's attempts ran on, in order and without repeats, comma-separated."""
    hosts = [a.host for a in attempts if a.host]
    return ", ".join(dict.fromkeys(hosts)) or None


TEST_FILES = ("test_images", "test_labels")


def digest_of_test_split(data: DataInfo | None) -> str | None:
    """One short digest of a run's test split: SHA-256 over its two files' digests (12 hex digits).

    What the evaluation partition was scored on, what the gate compares runs by, and what a refusal names;
    None when the run recorded no test digests. Any recorded subset limit of the test split (a field named
    test_limit) is part of it, so that a subset never passes for the whole split.
    """
    digests = data.sha256 if data else {}
    if not all(name in digests for name in TEST_FILES):
        return None
    parts = [f"{name}={digests[name]}" for name in TEST_FILES]
    limit = getattr(data, "test_limit", None)
    if limit is not None:
        parts.append(f"test_limit={limit}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
