"""A webhook receiver on 127.0.0.1 for tests: it records every POST and answers as told (ok, 500, slow)."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hook:
    """The receiver's address, how it answers, and what it received."""

    url: str
    mode: str = "ok"  # ok (200), error (500) or slow (answers after `delay` seconds)
    delay: float = 5.0
    received: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)


def _handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.received.append(json.loads(body))
            hook.headers.append(dict(self.headers))
            hook.paths.append(self.path)
            if hook.mode == "slow":
                hook.stopped.wait(hook.delay)  # ends at once when the receiver stops: no thread left
            try:
                self.send_response(500 if hook.mode == "error" else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the caller gave up waiting (a slow hook): nothing to answer
                pass

        def log_message(self, *args: object) -> None:  # quiet
            pass

    return Handler


@contextmanager
def hook_server(mode: str = "ok", path: str = "/services/T0/B0/secret-token") -> Iterator[Hook]:
    """A receiver on a free port of 127.0.0.1, stopped (only it) at the end."""
    hook = Hook(url="", mode=mode)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
