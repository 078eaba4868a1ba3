"""How a command was stopped, as the CLI's signal handler saw it: SIGTERM (exit 143) or Ctrl-C (130).

The CLI turns SIGTERM into KeyboardInterrupt("SIGTERM") (cli/signals.py), but a blocking Ray call it
interrupts (ray.wait, ray.get) raises a KeyboardInterrupt of its own instead, without those words; so the
handler also sets SIGTERM_SEEN, which the night's owner and its watch read through `by_sigterm`.
"""

import threading

__all__ = ["SIGTERM_SEEN", "by_sigterm"]

SIGTERM_SEEN = threading.Event()  # set by the CLI's SIGTERM handler; cleared as each command starts and ends


def by_sigterm(stop: BaseException) -> bool:
    """True when this KeyboardInterrupt came from SIGTERM, not from Ctrl-C."""
    return str(stop) == "SIGTERM" or SIGTERM_SEEN.is_set()
