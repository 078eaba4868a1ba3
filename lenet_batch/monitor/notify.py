"""The nightly's webhook (--notify URL): POST a small JSON document about the night, never at its expense.

The document carries a `text` field, so Slack- and Teams-style incoming webhooks show it as a message; the
other fields are for programs (`changes`: what the run recorded differently from its baseline in words, as
`check --json` gives it; summary.json has it key by key). The POST runs in a daemon thread
that the night waits for at most --notify-timeout seconds in all (one retry included): a hook that is down,
slow or answers 500 is logged and the night keeps its exit code. The URL is never logged or recorded
whole: its path is often its secret.
"""

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from lenet_batch import __version__
from lenet_batch.json_records import JsonRecord
from lenet_batch.redaction import redact_text, redact_webhook
from lenet_batch.state.night import NightStatus, changed_line

log = logging.getLogger(__name__)

PROBLEMS = ("failed", "seeds_failed", "regressed")
RETRY_PAUSE = 0.5  # seconds between the two attempts (when the timeout leaves room)
WORDS = {"ok": "OK", "failed": "FAILED", "seeds_failed": "SEEDS FAILED", "regressed": "REGRESSED"}


@dataclass(frozen=True)
class Notice(JsonRecord):
    """What the webhook receives about one night."""

    run_id: str
    state: str  # ok, failed, seeds_failed or regressed
    exit_code: int
    output: str
    headline: str
    stage: str | None = None  # where it failed
    reason: str = ""
    changes: str | None = None  # since the baseline: "lr 0.1 → 0.01" or "nothing recorded changed"
    report: str | None = None
    history: str | None = None
    text: str = ""  # one message for people (Slack's and Teams' incoming webhooks show it)


def notice_of(night: NightStatus, output: str, history: str | None, error: str, exit_code: int) -> Notice:
    """The night as the webhook tells it; `error` (with its exit code) is what ended the night, if any."""
    state = night.outcome if night.outcome in WORDS else "failed"
    reason = night.reason
    if error and state == "ok":  # the run completed but the night did not (e.g. its history)
        state, reason = "failed", error
    headline = night.headline or reason or error or "no summary"
    where = f" in {night.stage}" if state == "failed" and night.stage else ""
    lines = [
        f"lenet-batch night {night.run_id}: {WORDS[state]}{where} (exit {exit_code})",
        headline,
        reason if reason != headline else "",
        changed_line(night) or "",
        f"report: {night.report}" if night.report else "",
    ]
    return Notice(
        run_id=night.run_id,
        state=state,
        exit_code=exit_code,
        output=output,
        headline=headline,
        stage=night.stage if state != "ok" else None,
        reason=reason,
        changes=night.changes,
        report=night.report,
        history=history,
        text=redact_text("\n".join(x for x in lines if x)),
    )


def wanted(notice: Notice, on: str) -> bool:
    """Whether --notify-on asks for this night: problems (failures, failed seeds, regressions) or always."""
    return on == "always" or notice.state in PROBLEMS


def _request(url: str, body: bytes) -> urllib.request.Request:
    """The POST; credentials in the URL (https://user:pass@host/…) go as HTTP basic auth, as curl does."""
    headers = {"Content-Type": "application/json", "User-Agent": f"lenet-batch/{__version__}"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        secret = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return urllib.request.Request(url, data=body, method="POST", headers=headers)


def _post_once(url: str, body: bytes, timeout: float) -> str:
    """POST the body; '' when the hook took it (2xx), else what went wrong."""
    request = _request(url, body)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError) as exc:  # timeouts, resets, a malformed answer
        return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _post(url: str, body: bytes, deadline: float, outcome: list[str]) -> None:
    """Up to two attempts within the deadline; the last problem (or '') goes into `outcome`."""
    for attempt in (1, 2):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        problem = _post_once(url, body, left)
        outcome.append(problem)
        if not problem:
            return
        log.warning("notify %s: attempt %d failed: %s", redact_webhook(url), attempt, redact_text(problem))
        if attempt == 1:
            time.sleep(max(0.0, min(RETRY_PAUSE, deadline - time.monotonic() - 0.1)))


def send(url: str, notice: Notice, timeout: float) -> bool:
    """POST the notice, waiting at most `timeout` seconds in all; True when the hook took it. Never raises."""
    body = json.dumps(notice.to_json(), sort_keys=True).encode()
    outcome: list[str] = []
    worker = threading.Thread(
        target=_post, args=(url, body, time.monotonic() + timeout, outcome), name="notify", daemon=True
    )
    worker.start()
    worker.join(timeout)
    name = redact_webhook(url)
    if outcome and not outcome[-1]:
        log.info("notify %s: told the hook that night %s %s", name, notice.run_id, notice.state)
        return True
    why = "no answer" if worker.is_alive() or not outcome else redact_text(outcome[-1])
    log.error("notify %s: night %s not delivered within %g s: %s", name, notice.run_id, timeout, why)
    return False
