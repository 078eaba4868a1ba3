"""The suite's own guard (tests/hygiene.py) fails a test that leaves a thread running or during which
logging failed to write, and nothing else: tried on a small suite run in a subprocess."""

import subprocess
import sys
from pathlib import Path

INNER = """
import io
import logging
import threading
import time


def test_leaves_a_thread():
    threading.Thread(target=time.sleep, args=(30,), name="leaky", daemon=True).start()


def test_logs_to_a_closed_stream():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger("late").addHandler(handler)
    stream.close()
    try:
        logging.getLogger("late").error("after its test")
    finally:
        logging.getLogger("late").removeHandler(handler)


def test_a_thread_that_ends_in_time():
    stop = threading.Event()
    threading.Thread(target=stop.wait, name="short", daemon=True).start()
    stop.set()


def test_adds_a_root_handler_on_its_captured_stderr(capsys):
    import sys

    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))


def test_logs_after_that_stream_is_gone():
    logging.getLogger("next").warning("written to the handler the last test left")
"""


def test_the_guard_fails_a_leftover_thread_and_a_logging_error_and_nothing_else(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER)
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.hygiene", "-p", "no:cacheprovider", "-rE"],
        cwd=tmp_path,
        env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout
    assert done.returncode == 1, report[-3000:]
    said = "ERROR test_inner.py::test_leaves_a_thread - Failed: threads still alive after the test: leaky"
    assert said in report
    said = "ERROR test_inner.py::test_logs_to_a_closed_stream - Failed: logging error: late: 'after its test'"
    assert said in report
    assert "5 passed, 2 errors" in report, report[-3000:]
