"""The nightly's webhook (--notify URL): POST a small JSON document about the night, never at its expense.

The document carries a `text` field, so Slack- and Teams-style incoming webhooks show it as a message; the
other fields are for programs (`changes`: what the run recorded differently from its baseline in words, as
`check --json` gives it; summary.json has it key by key). The POST runs in a thread that the night waits
for at most --notify-timeout seconds in all (one retry included); a POST still waiting then has its socket
closed, so the thread never outlives the send. A hook that is down, slow or answers 500 is logged in one
line saying what happened and when, and the night keeps its exit code. The URL is never logged or recorded
whole: its path is often its secret (config.py checks it whole: checks.check_webhook_url).
"""

import base64
import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lenet_batch import __version__
from lenet_batch.json_records import JsonRecord
from lenet_batch.monitor.links import link
from lenet_batch.redaction import redact_text, redact_webhook
from lenet_batch.state.night import NightStatus, changed_line
from lenet_batch.state.outcome import AttemptEnd

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.5  # seconds between the two attempts (when the timeout leaves room)
ABORT_WAIT = 2.0  # seconds for the POST's thread to end once its socket is closed (a connect in progress)
NO_ANSWER = "no answer"  # an attempt that timed out
URL_SAFE = "/%:@!$&'()*+,;=-._~"  # what a URL's path keeps as it is (RFC 3986's reserved and unreserved)


@dataclass(frozen=True)
class Notice(JsonRecord):
    """What the webhook receives about one end of a night."""

    run_id: str
    state: str  # how the attempt ended (state/outcome.py): ok, regressed, failed, refused, interrupted, …
    exit_code: int
    output: str
    headline: str
    stage: str | None = None  # where it failed or stopped
    reason: str = ""
    changes: str | None = None  # since the baseline: "lr 0.1 → 0.01" or "nothing recorded changed"
    report: str | None = None
    history: str | None = None
    text: str = ""  # one message for people (Slack's and Teams' incoming webhooks show it)


def notice_of(
    night: NightStatus | None, end: AttemptEnd, output: str, history: str | None, base_url: str = ""
) -> Notice:
    """How the attempt ended as the webhook tells it, with the night's numbers when there is a night; the
    report and the history as links under `base_url` (--report-base-url) when one is given."""
    own = night is not None and night.outcome == end.outcome and night.reason  # the night's own words
    report = link(night.report if night else None, output, base_url)
    history = link(history, output, base_url)
    reason = night.reason if own else end.reason
    headline = (night.headline if night else None) or reason or "no summary"
    stage = night.stage if night is not None and end.outcome != "ok" else None
    where = f" in {stage}" if stage and end.outcome in ("failed", "interrupted") else ""
    word = end.outcome.upper().replace("_", " ")
    lines = [
        f"lenet-batch night {end.run_id}: {word}{where} (exit {end.exit_code})",
        headline,
        reason if reason != headline else "",
        (changed_line(night) if night else None) or "",
        f"report: {report}" if report else "",
        f"history: {history}" if history and base_url else "",  # a page to open, not a path
    ]
    return Notice(
        run_id=end.run_id,
        state=end.outcome,
        exit_code=end.exit_code,
        output=output,
        headline=headline,
        stage=stage,
        reason=reason,
        changes=night.changes if night else None,
        report=report,
        history=history,
        text=redact_text("\n".join(x for x in lines if x)),
    )


def wanted(notice: Notice, on: str) -> bool:
    """Whether --notify-on asks for this end: problems (every non-zero exit) or always."""
    return on == "always" or notice.exit_code != 0


def _ascii_url(parts: urllib.parse.SplitResult) -> str:
    """The URL without its credentials, as HTTP sends it: the host IDNA-encoded, the path percent-encoded."""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")
    netloc = host + (f":{parts.port}" if parts.port else "")
    path = urllib.parse.quote(parts.path, safe=URL_SAFE)
    query = urllib.parse.quote(parts.query, safe=URL_SAFE + "?")
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))


def _request(url: str, body: bytes) -> urllib.request.Request:
    """The POST; credentials in the URL (https://user:pass@host/…) go as HTTP basic auth, as curl does."""
    headers = {"Content-Type": "application/json", "User-Agent": f"lenet-batch/{__version__}"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        secret = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return urllib.request.Request(_ascii_url(parts), data=body, method="POST", headers=headers)


class _Tracked:
    """urllib handlers that keep each connection they open, so that the waiting thread can close a socket
    that still waits for an answer when the time is up (the POST's thread then ends at once)."""

    def __init__(self) -> None:
        self.connections: list[http.client.HTTPConnection] = []
        tracked = self

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(tracked.made(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(tracked.made(http.client.HTTPSConnection), req, context=self._context)

        # The proxy of the environment (https_proxy, no_proxy) is honoured as by urlopen.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler(), Http(), Https())

    def made(self, kind: type) -> Callable[..., http.client.HTTPConnection]:
        """A factory of `kind` connections (what urllib's do_open takes) that keeps each one it makes."""

        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            connection = kind(*args, **kwargs)
            self.connections.append(connection)
            return connection

        return make

    def abort(self) -> None:
        """Close every socket still open: a read blocked on it returns at once."""
        for connection in self.connections:
            with contextlib.suppress(OSError, AttributeError):
                connection.sock.shutdown(socket.SHUT_RDWR)


def _post_once(url: str, body: bytes, timeout: float, tracked: _Tracked) -> str:
    """POST the body; '' when the hook took it (2xx), else what went wrong."""
    try:
        with tracked.opener.open(_request(url, body), timeout=timeout) as response:
            response.read(65536)
            return "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return NO_ANSWER if isinstance(exc.reason, TimeoutError) else str(exc.reason)
    except TimeoutError:
        return NO_ANSWER
    except Exception as exc:  # noqa: BLE001 - resets, a malformed answer, anything: never out of the thread
        return type(exc).__name__ + (f": {exc}" if str(exc) else "")


@dataclass
class _Attempts:
    """What the POST's thread did: each attempt's problem ('' when the hook took it)."""

    problems: list[str] = field(default_factory=list)
    begun: int = 0  # attempts started
    tracked: _Tracked = field(default_factory=_Tracked)


def _post(url: str, body: bytes, deadline: float, attempts: _Attempts) -> None:
    """Up to two attempts within the deadline, each problem (or '') into `attempts`. Never raises."""
    for attempt in (1, 2):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        attempts.begun = attempt
        problem = _post_once(url, body, left, attempts.tracked)
        attempts.problems.append(problem)
        if not problem:
            return
        if attempt == 1:
            time.sleep(max(0.0, min(RETRY_PAUSE, deadline - time.monotonic() - 0.1)))


def _why(attempts: _Attempts, waiting: bool, timeout: float, took: float) -> str:
    """What happened, and when: 'Connection refused (2 attempts in 0.6 s)', or 'no answer within 10 s' for
    an attempt still `waiting` when the time was up (read before its socket is closed)."""
    counted = f"{attempts.begun} attempt{'s' if attempts.begun > 1 else ''}"
    if waiting or attempts.problems[-1] == NO_ANSWER:
        first = attempts.problems[0] if attempts.problems else NO_ANSWER
        before = f"; attempt 1: {first}" if attempts.begun > 1 and first != NO_ANSWER else ""
        return f"no answer within {timeout:g} s ({counted}{before})"
    return f"{attempts.problems[-1]} ({counted} in {took:.1f} s)"


def send(url: str, notice: Notice, timeout: float) -> bool:
    """POST the notice, waiting at most `timeout` seconds in all; True when the hook took it. Never raises,
    and its thread never outlives it: a POST still waiting when the time is up has its socket closed."""
    body = json.dumps(notice.to_json(), sort_keys=True).encode()
    attempts = _Attempts()
    started = time.monotonic()
    worker = threading.Thread(
        target=_post, args=(url, body, started + timeout, attempts), name="notify", daemon=True
    )
    worker.start()
    worker.join(timeout)
    waiting = worker.is_alive() or len(attempts.problems) < attempts.begun
    if worker.is_alive():
        attempts.tracked.abort()
        worker.join(ABORT_WAIT)
    name = redact_webhook(url)
    if not waiting and attempts.problems[-1:] == [""]:
        log.info("notify %s: told the hook that night %s %s", name, notice.run_id, notice.state)
        return True
    why = _why(attempts, waiting, timeout, time.monotonic() - started)
    log.error("notify %s: night %s not delivered: %s", name, notice.run_id, redact_text(why))
    return False
