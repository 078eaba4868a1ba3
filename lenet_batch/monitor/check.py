"""`lenet-batch check`: the output's health, and the metrics file written whatever happens."""

import contextlib
from dataclasses import replace

from lenet_batch.errors import LenetError, StorageError
from lenet_batch.monitor import metrics
from lenet_batch.monitor.health import Health, assess
from lenet_batch.monitor.links import history_page, link
from lenet_batch.store.layout import Layout


def check(
    layout: Layout,
    max_age_seconds: float,
    stale_lock_seconds: int,
    metrics_file: str = "",
    base_url: str = "",
) -> Health:
    """The output's health, with links under `base_url` (--report-base-url) when one is given; the metrics
    file (when asked for) says whether the check itself succeeded (lenet_batch_check_success 1, or 0 when
    the output could not be read). A StorageError (exit 2, one line) when the output cannot be read or that
    file cannot be written."""
    output = layout.output
    try:
        found = with_links(assess(layout, max_age_seconds, stale_lock_seconds), layout, base_url)
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


def with_links(found: Health, layout: Layout, base_url: str) -> Health:
    """The health with the newest night's report and the history page as links under `base_url`, named at
    the end of its line too; as it is without a base URL."""
    if not base_url:
        return found
    report = link(found.night.report if found.night else None, layout.output, base_url)
    history = history_page(layout, base_url)
    said = (f"; report: {report}" if report else "") + f"; history: {history}"
    return replace(found, report_url=report, history_url=history, message=found.message + said)
