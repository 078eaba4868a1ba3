"""Checks of single setting values, each naming its flag: numbers, run ids, addresses, storage options."""

import math
import re
from typing import Any

from lenet_batch.errors import ConfigError

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
INT_MAX = 2**31 - 1  # counts handed to C code (MXNet, Arrow, Ray) stay within a C int


def check_run_id(run_id: str, flag: str = "--run-id") -> str:
    """A run id is one path segment: an ASCII letter or digit, then letters, digits, '.', '_' or '-'."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ConfigError(
            f"{flag} {run_id!r}: use letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(at most 64)"
        )
    return run_id


# (setting, flag, lowest, highest, lowest excluded): every number a run uses, checked before any work.
NUMBER_RANGES = (
    ("epochs", "--epochs", 1, INT_MAX, False),
    ("batch_size", "--batch-size", 1, INT_MAX, False),
    ("lr", "--lr", 0.0, math.inf, True),
    ("cpus_per_seed", "--cpus-per-seed", 0.0001, 1024.0, False),  # Ray counts resources in 0.0001 steps
    ("gpus_per_seed", "--gpus-per-seed", 0.0, 64.0, False),
    ("max_retries", "--max-retries", 0, 1000, False),
    ("infer_batch_size", "--infer-batch-size", 1, INT_MAX, False),
    ("max_drop", "--max-drop", 0.0, 1.0, False),
    ("stale_lock_seconds", "stale_lock_seconds", 1, INT_MAX, False),
    ("storage_timeout", "storage_timeout", 0.0, 3600.0, True),
    ("storage_retries", "storage_retries", 0, 100, False),
    ("ray_connect_timeout", "--ray-connect-timeout", 0.0, 3600.0, True),
    ("query_timeout", "--timeout", 0.0, 7 * 86400.0, True),
)


def _shown(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def check_number(flag: str, value: float, low: float, high: float, low_excluded: bool = False) -> None:
    """A finite value in [low, high] ((low, high] when low_excluded); else a ConfigError naming the flag."""
    if not math.isfinite(value):
        raise ConfigError(f"{flag} must be a finite number, got {value}")
    if value < low or (low_excluded and value == low):
        bound = "positive" if low_excluded and low == 0 else f"at least {_shown(low)}"
        raise ConfigError(f"{flag} must be {bound}, got {_shown(value)}")
    if value > high:
        raise ConfigError(f"{flag} must be at most {_shown(high)}, got {_shown(value)}")


# host:port of a GCS (or ray://host:port of a Ray Client server): a DNS name, IPv4 or [IPv6], and a port.
ADDRESS_PATTERN = re.compile(
    r"(?:ray://)?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})"
)
USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<userinfo>[^/@]*)@")
SHOWN_CHARACTERS = 120  # of an address in a message: a 3,000-character host is not printed whole
MAX_HOST = 253  # DNS: a name of at most 253 characters, each dot-separated label 1-63
MAX_LABEL = 63


def shown_address(address: str) -> str:
    """An address as messages show it: any user:password@ masked, cut to SHOWN_CHARACTERS, quoted only
    when it holds characters that would break the line."""
    shown = USERINFO.sub(lambda m: f"{m['scheme'] or ''}***@", address, count=1)
    cut = shown[:SHOWN_CHARACTERS]
    cut = cut if cut.isprintable() and " " not in cut else repr(cut)
    return cut if len(shown) <= SHOWN_CHARACTERS else f"{cut}… ({len(address)} characters)"


def check_address(address: str, flag: str = "--address") -> str:
    """'auto', HOST:PORT or ray://HOST:PORT; a URL, credentials or anything else is a ConfigError."""
    shown = shown_address(address)
    if address.startswith(("http://", "https://")):
        raise ConfigError(
            f"{flag} {shown}: that is a dashboard/Jobs API URL; submit with `ray job submit` "
            "(see deploy/nightly.sh) or pass the GCS address (host:6379), 'auto' or ray://…"
        )
    if address == "auto":
        return address
    if USERINFO.match(address):
        raise ConfigError(
            f"{flag} {shown}: a Ray address takes no user or password (Ray's token auth reads "
            "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH); give HOST:PORT"
        )
    match = ADDRESS_PATTERN.fullmatch(address)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ConfigError(
            f"{flag} {shown}: not a Ray address; use HOST:PORT of the head's GCS (e.g. "
            "10.0.0.5:6379), ray://HOST:10001, or 'auto' (leave it out to start a local Ray)"
        )
    host = match["host"]
    if not host.startswith("[") and (
        len(host) > MAX_HOST or any(not 1 <= len(label) <= MAX_LABEL for label in host.split("."))
    ):
        raise ConfigError(
            f"{flag} {shown}: not a host name (at most {MAX_HOST} characters, each part between dots "
            f"1-{MAX_LABEL}); use HOST:PORT of the head's GCS"
        )
    return address


def address_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a checked HOST:PORT or ray:// address; None for 'auto'."""
    match = ADDRESS_PATTERN.fullmatch(address)
    return (match["host"].strip("[]"), int(match["port"])) if match else None


def check_storage_options(options: dict[str, Any]) -> None:
    """Option names are strings; the *_kwargs options (client_kwargs, config_kwargs) are tables."""
    for key, value in options.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"storage option {key!r}: option names are non-empty strings")
        if key.endswith("_kwargs") and not isinstance(value, dict):
            raise ConfigError(
                f"storage option {key}: must be a table of options (TOML [storage_options.{key}] or "
                f'--storage-option \'{key}={{"name": "value"}}\')'
            )


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str) -> float:
    """Seconds in '26h', '90m', '2d', '3600s' or '3600' (seconds); ConfigError naming the flag."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{flag} {text!r}: give a positive duration such as 26h, 90m, 2d or 3600s")
    return float(m.group(1)) * DURATION_UNITS[m.group(2) or "s"]
