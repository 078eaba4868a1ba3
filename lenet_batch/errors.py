"""Errors a user can cause, each with the exit code the CLI and jobs map it to."""

from lenet_batch.redaction import redact_text

# Exit codes shared by every command and job (README, "The CLI").
EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_SEEDS_FAILED = 3
EXIT_REGRESSION = 4
EXIT_LOCKED = 5
EXIT_FAILED = 6  # `check`: the newest night failed in a stage, was interrupted, or its records are damaged
EXIT_STALE = 7  # `check`: no night succeeded within --max-age
EXIT_INCONCLUSIVE = 8  # the gate could not tell a drop beyond --max-drop from seed noise
EXIT_CLUSTER_UNAVAILABLE = 9  # Ray could not be started or reached (infrastructure, not a bug)
EXIT_INTERRUPTED = 143  # 128 + SIGTERM, as shells report a process ended by it

# Ends before any work (refused, locked out, no Ray): a run that wrote nothing gets neither record nor log.
NOTHING_RAN = (EXIT_USAGE, EXIT_LOCKED, EXIT_CLUSTER_UNAVAILABLE)


class LenetError(Exception):
    """A user-facing error: printed as one line, no traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, *args: object, document: object = None) -> None:
        super().__init__(*args)
        # What the stage produced before it failed (a summary, a night), printed by the CLI before the error
        # line: `--json` gives its document on exits 3 and 4 too.
        self.document = document

    def __str__(self) -> str:
        # Messages name URIs (inputs, outputs, data): wherever one is printed or recorded, its
        # credentials are masked (the exception itself keeps the text it was given).
        return redact_text(super().__str__())


class ConfigError(LenetError):
    """A bad flag, environment variable or config file."""


class DataError(LenetError):
    """The dataset or an input file is missing, malformed or fails verification."""


class DataMismatch(DataError):
    """Data given for a run's evaluation differs from the test split the run recorded."""


class InputError(DataError):
    """An image set to score is malformed: its file, or a row of it (a label out of range, a short image)."""


class ModelFileError(LenetError):
    """A parameter file is missing, not a parameter file, or does not fit the network."""


class StorageError(LenetError):
    """An output or input URI cannot be read or written (path, bucket, credentials)."""


class SeedsFailed(LenetError):
    """Some seeds failed; the others completed."""

    exit_code = EXIT_SEEDS_FAILED


class RegressionDetected(LenetError):
    """Accuracy dropped against the baseline run by more than allowed."""

    exit_code = EXIT_REGRESSION


class SeedDiverged(LenetError):
    """A seed's training loss or parameters became NaN or infinite: that seed failed."""

    exit_code = EXIT_SEEDS_FAILED


class GateInconclusive(LenetError):
    """The mean fell by more than allowed, but the seeds are too noisy to tell it from chance."""

    exit_code = EXIT_INCONCLUSIVE


class ClusterUnavailable(LenetError):
    """Ray could not be started locally, or the cluster at --address could not be reached."""

    exit_code = EXIT_CLUSTER_UNAVAILABLE


class LockHeld(LenetError):
    """Another run holds the lock on this output."""

    exit_code = EXIT_LOCKED
