"""Small records that several stages write and read: the data a run used, a seed's attempt, the commit.

JSON objects in run.json, metrics.json, checkpoints and summary.json; typed everywhere else.
"""

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
