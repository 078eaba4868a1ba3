"""Headless Chromium for tests, driven over the DevTools protocol on a pipe (no driver, no websocket library).

`--remote-debugging-pipe` makes Chromium read protocol messages from fd 3 and write them to fd 4, each a JSON
object ended by a NUL byte. The page loads with networking off: a report that needs the network fails.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in CI containers; the page is our own file
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
WIDTH = 1280  # a laptop; the pages are also checked on a phone:
PHONE = (390, 844)  # a phone's viewport (CSS pixels): its first screen is 844 px tall
IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  src: i.currentSrc.slice(0, 40), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})))"""


def _runs(binary: str) -> bool:
    """Whether the binary starts at all (Ubuntu's chromium-browser is a stub for a snap, for one)."""
    try:
        return subprocess.run([binary, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def find_chromium() -> str | None:
    """A Chromium that runs: $LENET_BATCH_CHROMIUM, else the first of the usual names on PATH."""
    explicit = os.environ.get("LENET_BATCH_CHROMIUM")
    found = [explicit] if explicit else [p for name in CANDIDATES if (p := shutil.which(name))]
    return next((path for path in found if Path(path).exists() and _runs(path)), None)


# What a person would see as broken layout, measured in the page: the page scrolls sideways, an element
# reaches past the viewport, text spills out of its box (clipped, or over its neighbour), an in-page link
# points at no element. A box made to scroll sideways (overflow-x auto or scroll: a wide table's) is not
# broken: what is inside it may reach past the viewport, and the boxes that do scroll are listed apart.
# Relative links come back to be checked against the files beside the page.
LAYOUT_JS = """(() => {
  const width = document.documentElement.clientWidth;
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '');
  const scroller = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const inScroller = e => {
    for (let p = e.parentElement; p; p = p.parentElement) if (scroller(p)) return true;
    return false; };
  const wide = [], clipped = [], scrolls = [], text = ['TD', 'TH', 'FIGCAPTION', 'P', 'LI', 'H1', 'H2'];
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect(), over = e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0;
    if (scroller(e)) { if (over) scrolls.push(name(e) + ': ' + e.textContent.slice(0, 60)); continue; }
    if (r.width && (r.right > width + 0.5 || r.left < -0.5) && !inScroller(e))
      wide.push(name(e) + ' ' + Math.round(r.right));
    const boxed = getComputedStyle(e).overflowX !== 'visible' || text.includes(e.tagName);
    if (boxed && e.tagName !== 'DETAILS' && over) clipped.push(name(e) + ': ' + e.textContent.slice(0, 60));
  }
  const anchors = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));
  const missing = anchors.filter(h => h.startsWith('#') && !document.getElementById(h.slice(1)));
  return JSON.stringify({
    overflow: document.documentElement.scrollWidth - width, wide, clipped, missing, scrolls,
    links: anchors.filter(h => !h.startsWith('#'))});
})()"""


@dataclass
class Layout:
    """The page's layout problems (all empty on a good page) and its links to other files."""

    overflow: int  # pixels the page is wider than the window
    wide: list[str]
    clipped: list[str]
    missing: list[str]  # in-page links to no element
    scrolls: list[
        str
    ]  # boxes that scroll sideways (on purpose: overflow-x auto) because their content is wider
    links: list[str]

    def unresolved(self, page: Path) -> list[str]:
        """Links to files that do not exist beside the page, or to anything that would be fetched."""
        bad = [h for h in self.links if "://" in h or h.startswith("//")]
        local = [h for h in self.links if h not in bad and not h.startswith("data:")]
        return bad + [h for h in local if not (page.parent / h.split("#")[0]).resolve().is_file()]


@dataclass
class PageCheck:
    """What a page did in the browser: its images, console errors, height, and a full-page screenshot."""

    images: list[dict[str, Any]]
    errors: list[str]
    height: int
    screenshot: bytes = field(repr=False)
    layout: Layout | None = None


class Chromium:
    """One headless Chromium process with one page, spoken to over the protocol pipe."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.timeout, self._next_id, self.events = timeout, 0, []
        self._profile = tempfile.mkdtemp(prefix="lenet-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=lambda: (os.dup2(to_browser_r, 3), os.dup2(from_browser_w, 4)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self.session = self._attach()

    def close(self) -> None:
        """Stop this browser (only the process this object started) and remove its profile."""
        try:
            self.call("Browser.close", session=False)
        except Exception:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the protocol pipe (did it crash?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = True) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept in .events."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _attach(self) -> str:
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        return self.call("Target.attachToTarget", {"targetId": page, "flatten": True}, session=False)[
            "sessionId"
        ]

    def wait_for(self, method: str) -> dict[str, Any]:
        """Block until an event of this kind arrives (or has arrived since the last wait)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for k, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(k)
            self.events.append(self._read_message(deadline))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get(
            "value"
        )

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads the page reported so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
            ):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif event.get("method") == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif event.get("method") == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", "error"))
        return found

    def check_page(self, path: Path, width: int = WIDTH) -> PageCheck:
        """Load a local HTML file in a window this wide (a phone's, with its viewport, at PHONE's width); its
        images, console errors, page height and a full-page screenshot."""
        self.events.clear()  # what an earlier page reported is not this page's
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        phone = width <= PHONE[0]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": PHONE[1] if phone else 900, "deviceScaleFactor": 1, "mobile": phone},
        )
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")
        images = json.loads(self.evaluate(IMAGES_JS))
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        layout = Layout(**json.loads(self.evaluate(LAYOUT_JS)))
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        return PageCheck(images, self.errors(), height, base64.b64decode(shot["data"]), layout)
