"""nightly.sh's helper for the Ray Jobs API: submission id, submission, the job's log and exit status.

Run with the venv's Python (it needs only `ray`, not lenet_batch):
  ray_job.py pick-id ADDRESS BASE_ID         print `submit ID`, `running ID` or `succeeded ID`
  ray_job.py submit ADDRESS ID REPO VENV METADATA_JSON -- ENTRYPOINT...
                                             submit the job (REPO uploaded as its working dir); one line
  ray_job.py wait ADDRESS ID SUBMITTER       stream the job's lines as they come (each with a UTC time),
                                             then exit with its entrypoint's exit code

It talks to the Jobs API through Ray's SDK rather than `ray job submit`, whose notes (".git is now ignored",
"Ignoring upload … .gitignore", a "Next steps" block) would fill the cron log, and which exits 1 for any
failed job and 0 for a stopped one: the exact status comes from the job's record
(JobDetails.driver_exit_code), read here.
"""

import asyncio
import datetime as dt
import json
import logging
import os
import re
import shlex
import sys
import time
from pathlib import Path

# Never uploaded: caches, outputs, tests, and env files (they may hold credentials). The venv is added
# when it lives inside the repo. Patterns are gitignore-style, relative to the working dir.
EXCLUDES = [
    ".git",
    ".venv",
    "venv",
    "/runs/",
    "/smoke/",
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
# How often the job's status is read while its log streams (the script exits within this of the job's end;
# the stream alone ends a second or two later), and how long the Jobs API may be unreachable.
POLL_SECONDS, PATIENCE_SECONDS = 0.5, 600.0
# Ray's notes while it packages and uploads the working dir ("Ignoring upload …", "Uploading package …",
# "… already exists, skipping upload") and while it streams logs ("WebSocket closed …"): not for the cron log.
QUIET_LOGGERS = (
    "ray._private.runtime_env",
    "ray.dashboard.modules.dashboard_sdk",
    "ray.dashboard.modules.job.sdk",
)


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


def submit(
    address: str, submission_id: str, repo: str, venv: str, metadata: dict, entrypoint: list[str]
) -> int:
    """Submit the job, REPO its working dir; 0, or 1 with one line (a duplicate id, a failed upload)."""
    client = _client(address)
    env = {**runtime_env(repo, venv), "working_dir": repo}
    # EXCLUDES holds Ray's defaults (.git, .venv, venv, __pycache__): no note that they are "now ignored".
    os.environ["RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES"] = ""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    command = shlex.join(entrypoint)
    try:
        client.submit_job(entrypoint=command, submission_id=submission_id, runtime_env=env, metadata=metadata)
    except Exception as exc:  # noqa: BLE001 - `wait` then says whose job holds the id, if any
        log(f"job {submission_id} was not submitted: {first_line(str(exc)) or repr(exc)}")
        return 1
    log(f"job {submission_id} submitted (working dir {env['working_dir']}): {command}")
    return 0


def wait(address: str, submission_id: str, submitter: str, out=None) -> int:
    """Stream the job's lines to `out` until it ends; return its entrypoint's exit code (143: stopped)."""
    client = _client(address)
    info = _info(client, submission_id)
    if info is None:
        fail(1, f"job {submission_id} was not created (see the line above)")
    if (info.metadata or {}).get("submitter") != submitter:
        fail(EXIT_LOCKED, f"job {submission_id} was submitted by another run ({info.metadata}); refused")
    tail = Tail(out or sys.stdout)
    info = asyncio.run(follow(client, submission_id, info, tail))
    tail.finish(_whole_log(client, submission_id))
    return exit_status(submission_id, info)


def exit_status(submission_id: str, info) -> int:
    """The entrypoint's exit code of an ended job: 143 when stopped, 128 + N when killed by signal N."""
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
    return 128 - code if code < 0 else code


async def follow(client, submission_id: str, info, tail: "Tail"):
    """Copy the job's log stream into `tail` while reading its status every POLL_SECONDS; its final details
    as soon as it ends (the stream is then dropped: `Tail.finish` adds what it had not brought yet).
    Rides out up to PATIENCE_SECONDS of an unreachable Jobs API."""
    stream = asyncio.create_task(_copy(client, submission_id, tail))
    last_ok = time.monotonic()
    try:
        while not info.status.is_terminal():
            await asyncio.sleep(POLL_SECONDS)
            try:
                info = await asyncio.to_thread(client.get_job_info, submission_id)
                last_ok = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - network blips while a night's job runs on
                if time.monotonic() - last_ok > PATIENCE_SECONDS:
                    fail(1, f"lost the Ray Jobs API while job {submission_id} runs: {first_line(str(exc))}")
    finally:
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
    return info


async def _copy(client, submission_id: str, tail: "Tail") -> None:
    """The log stream into `tail`; a broken stream is said once (the status still decides the end)."""
    try:
        async for chunk in client.tail_job_logs(submission_id):
            tail.add(chunk)
    except Exception as exc:  # noqa: BLE001 - a broken stream is not a failed job
        reason = first_line(str(exc)) or repr(exc)
        log(f"the log stream of job {submission_id} broke off ({reason}); waiting")


def _whole_log(client, submission_id: str) -> str | None:
    """The job's whole log once it ended, or None (said in one line) when it cannot be read."""
    try:
        return client.get_job_logs(submission_id)
    except Exception as exc:  # noqa: BLE001 - the lines streamed so far stand
        log(f"could not read the end of job {submission_id}'s log: {first_line(str(exc)) or repr(exc)}")
        return None


class Tail:
    """The job's log written to `out` line by line as chunks come, each line stamped (stamped_line)."""

    def __init__(self, out) -> None:
        self.out, self.received, self.pending = out, 0, ""

    def add(self, chunk: str) -> None:
        """Write the chunk's complete lines; keep a trailing partial line for the next chunk."""
        self.received += len(chunk)
        *lines, self.pending = (self.pending + chunk).split("\n")
        for line in lines:
            self.out.write(stamped_line(line) + "\n")
        self.out.flush()

    def finish(self, whole: str | None) -> None:
        """Write what the whole log holds beyond what the stream brought (the stream is its beginning)."""
        if whole is not None and len(whole) > self.received:
            self.add(whole[self.received :])
        if self.pending:
            self.out.write(stamped_line(self.pending) + "\n")
            self.out.flush()
            self.pending = ""


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


def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


def log(message: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stderr.write(f"{stamp} nightly.sh: {message}\n")


def fail(code: int, message: str):
    log(message)
    sys.exit(code)


USAGE = (
    "usage: ray_job.py pick-id ADDRESS BASE_ID | wait ADDRESS ID SUBMITTER | "
    "submit ADDRESS ID REPO VENV METADATA_JSON -- ENTRYPOINT..."
)


def main(argv: list[str]) -> int:
    if argv[:1] == ["pick-id"] and len(argv) == 3:
        print(pick_id(argv[1], argv[2]))
    elif argv[:1] == ["submit"] and len(argv) > 7 and argv[6] == "--":
        return submit(argv[1], argv[2], argv[3], argv[4], json.loads(argv[5]), argv[7:])
    elif argv[:1] == ["wait"] and len(argv) == 4:
        return wait(argv[1], argv[2], argv[3])
    else:
        fail(EXIT_USAGE, USAGE)
    return 0


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except SystemExit as exc:  # fail(): its line is written
        status = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    # No interpreter teardown: unloading Ray's modules takes a second or two on a busy host, after the job
    # has ended (nothing here needs an exit handler: the log stream and HTTP sessions are closed).
    os._exit(status)
