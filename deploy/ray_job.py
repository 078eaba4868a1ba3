"""Helpers of deploy/nightly.sh for the Ray Jobs API: runtime env, submission id, the job's exit status.

Run with the venv's Python (it needs only `ray`, not lenet_batch):
  ray_job.py runtime-env REPO VENV           print the --runtime-env-json for `ray job submit`
  ray_job.py pick-id ADDRESS BASE_ID         print `submit ID`, `running ID` or `succeeded ID`
  ray_job.py wait ADDRESS ID SUBMITTER       stream the job's lines as they come (each with a UTC time),
                                             then exit with its entrypoint's exit code
  ray_job.py relog < lines                   copy lines: colour codes removed, Ray's times in UTC ISO-8601

`ray job submit` itself exits 1 for any failed job and 0 for a stopped one, so the exact status comes
from the job's record (JobDetails.driver_exit_code), read here.
"""

import asyncio
import datetime as dt
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

# Never uploaded: caches, outputs, tests, and env files (they may hold credentials). The venv is added
# when it lives inside the repo. Patterns are gitignore-style, relative to the working dir.
EXCLUDES = [
    ".git",
    ".venv",
    "/runs/",
    "/tests/",
    "/bench-results/",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
    "*.env",
    "/deploy/",
]
SCRIPT_ONLY = {
    "LENET_BATCH_VENV",
    "LENET_BATCH_ENV",
    "LENET_BATCH_SUBMISSION_ID",
    "LENET_BATCH_FORWARD_AWS",
    "LENET_BATCH_CLUSTER_PYTHON",
}
AWS_PLAIN = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
AWS_SECRET = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
EXIT_USAGE, EXIT_LOCKED, EXIT_STOPPED = 2, 5, 143
POLL_SECONDS, PATIENCE_SECONDS = 3.0, 600.0  # poll period; how long the Jobs API may be unreachable


def runtime_env(repo: str, venv: str) -> dict:
    """The job's runtime env: excludes, and the LENET_BATCH_* settings (the job sees no other env)."""
    excludes = list(EXCLUDES)
    venv_path, repo_path = Path(venv).resolve(), Path(repo).resolve()
    if venv_path.is_relative_to(repo_path) and venv_path != repo_path:
        excludes.append("/" + venv_path.relative_to(repo_path).as_posix() + "/")
    names = [k for k in os.environ if k.startswith("LENET_BATCH_") and k not in SCRIPT_ONLY]
    names += [k for k in AWS_PLAIN if k in os.environ]
    if os.environ.get("LENET_BATCH_FORWARD_AWS") == "1":
        names += [k for k in AWS_SECRET if k in os.environ]
    return {"excludes": excludes, "env_vars": {k: os.environ[k] for k in sorted(names)}}


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - connection, auth and version errors all mean "cannot submit"
        reason = first_line(str(exc)) or repr(exc)  # (`… or exc!r` would quote the message itself)
        fail(EXIT_USAGE, f"cannot use the Ray Jobs API at {address}: {reason}")


def _info(client, submission_id: str):
    """The job's details, or None when no job has this submission id."""
    try:
        return client.get_job_info(submission_id)
    except RuntimeError as exc:
        if "does not exist" in str(exc) or "404" in str(exc):
            return None
        raise


def pick_id(address: str, base: str) -> str:
    """First free id of BASE, BASE-attempt2, …; stops at one that is running or succeeded."""
    client = _client(address)
    for attempt in range(1, 50):
        candidate = base if attempt == 1 else f"{base}-attempt{attempt}"
        info = _info(client, candidate)
        if info is None:
            return f"submit {candidate}"
        status = info.status.value
        if status in ("PENDING", "RUNNING"):
            return f"running {candidate}"
        if status == "SUCCEEDED":
            return f"succeeded {candidate}"
    fail(EXIT_USAGE, f"{base}: 49 earlier attempts failed; set LENET_BATCH_SUBMISSION_ID to go on")


def wait(address: str, submission_id: str, submitter: str, out=None) -> int:
    """Stream the job's lines to `out` until it ends; return its entrypoint's exit code (143: stopped)."""
    client = _client(address)
    info = _info(client, submission_id)
    if info is None:
        fail(1, f"job {submission_id} was not created (see the `ray job submit` output above)")
    if (info.metadata or {}).get("submitter") != submitter:
        fail(EXIT_LOCKED, f"job {submission_id} was submitted by another run ({info.metadata}); refused")
    follow(client, submission_id, out or sys.stdout)
    info = poll_until_done(client, submission_id, info)
    status = info.status.value
    if status == "SUCCEEDED":
        return 0
    if status == "STOPPED":
        log(f"job {submission_id} was stopped: {info.message}")
        return EXIT_STOPPED
    code = info.driver_exit_code
    log(f"job {submission_id} failed with exit code {code}: {first_line(info.message)}")
    if code is None:  # the job failed before its entrypoint ran (e.g. its runtime env)
        return 1
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports it


def poll_until_done(client, submission_id: str, info):
    """The job's final details; rides out up to PATIENCE_SECONDS of an unreachable Jobs API."""
    last_ok = time.monotonic()
    while not info.status.is_terminal():
        time.sleep(POLL_SECONDS)
        try:
            info, last_ok = client.get_job_info(submission_id), time.monotonic()
        except Exception as exc:  # noqa: BLE001 - network blips while a night's job runs on
            if time.monotonic() - last_ok > PATIENCE_SECONDS:
                fail(1, f"lost the Ray Jobs API while job {submission_id} runs: {first_line(str(exc))}")
    return info


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# A line of Ray's own logging: "2026-11-28 02:00:01,234\tINFO cli.py:39 -- message" (host's local time).
RAY_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\s+([A-Z]+) \S+ -- (.*)$")


# A line of lenet-batch's own: "2026-11-28T02:00:01.234Z INFO message" (already UTC).
UTC_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


def relog_line(line: str) -> str:
    """A line for the cron log: no colour codes; Ray's local timestamps as lenet-batch's UTC ones."""
    line = ANSI.sub("", line)
    match = RAY_LINE.match(line)
    if not match:
        return line
    local = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").astimezone()
    stamp = local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{match.group(2)}Z {match.group(3)} {match.group(4)}"


def stamped_line(line: str, now: dt.datetime | None = None) -> str:
    """relog_line, and a line with no time of its own (a traceback, Ray's notes) gets its arrival time."""
    line = relog_line(line)
    if UTC_LINE.match(line):
        return line
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.strftime('%Y-%m-%dT%H:%M:%S')}.{now.microsecond // 1000:03d}Z {line}"


def relog(lines, out) -> None:
    """Copy lines as they come (the job's log is streamed), each through relog_line."""
    for line in lines:
        out.write(relog_line(line.rstrip("\n")) + "\n")
        out.flush()


def follow(client, submission_id: str, out) -> bool:
    """Copy the job's log to `out` line by line as the Jobs API streams it, until the job ends.

    False when the stream broke off (the caller then polls the job's status instead).
    """

    async def copy() -> None:
        pending = ""
        async for chunk in client.tail_job_logs(submission_id):
            *lines, pending = (pending + chunk).split("\n")
            for line in lines:
                out.write(stamped_line(line) + "\n")
            out.flush()
        if pending:
            out.write(stamped_line(pending) + "\n")
            out.flush()

    # The SDK says "WebSocket closed …" at the end, in Ray's own local-time format: not for the cron log.
    logging.getLogger("ray.dashboard.modules.job.sdk").setLevel(logging.WARNING)
    try:
        asyncio.run(copy())
        return True
    except Exception as exc:  # noqa: BLE001 - a broken stream is not a failed job
        reason = first_line(str(exc)) or repr(exc)
        log(f"the log stream of job {submission_id} broke off ({reason}); waiting")
        return False


def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


def log(message: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stderr.write(f"{stamp} nightly.sh: {message}\n")


def fail(code: int, message: str):
    log(message)
    sys.exit(code)


def main(argv: list[str]) -> int:
    if argv[:1] == ["runtime-env"] and len(argv) == 3:
        print(json.dumps(runtime_env(argv[1], argv[2])))
    elif argv[:1] == ["pick-id"] and len(argv) == 3:
        print(pick_id(argv[1], argv[2]))
    elif argv[:1] == ["relog"] and len(argv) == 1:
        relog(sys.stdin, sys.stdout)
    elif argv[:1] == ["wait"] and len(argv) == 4:
        return wait(argv[1], argv[2], argv[3])
    else:
        fail(
            EXIT_USAGE,
            "usage: ray_job.py runtime-env REPO VENV | pick-id ADDRESS BASE_ID | wait ADDRESS ID SUBMITTER",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
