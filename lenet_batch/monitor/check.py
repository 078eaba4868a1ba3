"""`lenet-batch check`: the output's health, and the metrics file written whatever happens."""

import contextlib

from lenet_batch.errors import LenetError, StorageError
from lenet_batch.monitor import metrics
from lenet_batch.monitor.health import Health, assess
from lenet_batch.store.layout import Layout


def check(layout: Layout, max_age_seconds: float, stale_lock_seconds: int, metrics_file: str = "") -> Health:
    """The output's health; the metrics file (when asked for) says whether the check itself succeeded
    (lenet_batch_check_success 1, or 0 when the output could not be read). A StorageError (exit 2, one
    line) when the output cannot be read or that file cannot be written."""
    output = layout.output
    try:
        found = assess(layout, max_age_seconds, stale_lock_seconds)
    except LenetError:
        if metrics_file:  # the check failed: said in the file, then in one line
            with contextlib.suppress(LenetError):
                metrics.write_metrics(metrics_file, output, None, *metrics.check_samples(False, output))
        raise
    if metrics_file:
        try:
            metrics.write_metrics(metrics_file, output, found, *metrics.check_samples(True, output))
        except LenetError as exc:
            raise StorageError(f"metrics file {metrics_file} not written: {exc}") from None
    return found
