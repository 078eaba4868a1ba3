"""A pytest plugin (tests/conftest.py loads it): no test leaves a thread behind, and nothing logs to a
stream that is gone ("--- Logging error ---"), which is what a thread that outlives its test does.

The test that started a thread still alive THREAD_GRACE_SECONDS after it ended fails at teardown, and so
does any test during which a logging handler failed; a logging error after the last test fails the session.
Logging handlers a test added to the root logger (the CLI's, on the test's captured stderr) go with it.
"""

import logging
import re
import threading
import time
import traceback

import pytest

# Threads that libraries keep for the whole process by design, started by whichever test first needs them
# (fsspec's event loop, Ray's driver threads, gRPC's pollers, asyncio's and concurrent.futures' idle pools).
LASTING_THREADS = re.compile(r"fsspecIO|asyncio_")
THREAD_GRACE_SECONDS = 3.0  # for a thread told to stop to finish (a server's handler, a closed socket)
LOGGING_ERRORS: list[str] = []  # "--- Logging error ---" as logging reports it, with what failed


def _record_logging_error(handler: logging.Handler, record: logging.LogRecord) -> None:
    """logging's own report of a handler that failed (e.g. writing to a stream closed after its test)."""
    LOGGING_ERRORS.append(f"{record.name}: {record.msg!r}: {traceback.format_exc(limit=1).strip()[-300:]}")
    _HANDLE_ERROR(handler, record)


_HANDLE_ERROR = logging.Handler.handleError
logging.Handler.handleError = _record_logging_error  # type: ignore[method-assign]


def _left_behind(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since `before` that still run (library threads that last by design aside)."""
    return [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not LASTING_THREADS.search(t.name)
    ]


@pytest.fixture(autouse=True)
def no_thread_left_and_no_logging_error():
    """Fail the test whose threads outlive it, and any test during which logging failed to write."""
    before, errors = set(threading.enumerate()), len(LOGGING_ERRORS)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    # The CLI's handler on the test's captured stderr (cli.main configures logging) goes with the test:
    # left in place, the next test's lines would be written to a stream pytest has closed.
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    while (left := _left_behind(before)) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = [f"threads still alive after the test: {', '.join(t.name for t in left)}"] if left else []
    problems += [f"logging error: {e}" for e in LOGGING_ERRORS[errors:]]
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """A logging error after the last test (a thread that outlived every test) fails the session too."""
    if LOGGING_ERRORS and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nlogging errors during the session: {LOGGING_ERRORS}")
