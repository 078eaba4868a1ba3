"""Checks of single setting values, each naming its flag: numbers, run ids, addresses, storage options."""

import ipaddress
import math
import re
import urllib.parse
from typing import Any

from lenet_batch.errors import ConfigError
from lenet_batch.redaction import redact_webhook
from lenet_batch.units import parse_duration

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
INT_MAX = 2**31 - 1  # counts handed to C code (MXNet, Arrow, Ray) stay within a C int
GATE_RULES = ("welch", "threshold")  # the regression gate: seed-noise test, or a fixed drop
FAIL_ON = ("inconclusive", "regressed")  # --fail-on: the mildest gate verdict that exits non-zero
NOTIFY_ON = ("problems", "always")  # when the nightly's webhook is called


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
    ("reference_window", "--reference-window", 1, 3660, False),  # nights: ten years at most
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


def check_gate(s: Any) -> None:
    """The gate's settings (config.Settings): rule, alpha, min effect, confidence, floor, --fail-on."""
    if s.gate not in GATE_RULES:
        raise ConfigError(f"--gate {s.gate!r}: use one of {', '.join(GATE_RULES)}")
    check_number("--alpha", s.alpha, 0.0, 1.0, low_excluded=True)
    if s.alpha >= 1:
        raise ConfigError(f"--alpha must be below 1, got {s.alpha:g}")
    check_number("--min-effect", s.min_effect, 0.0, 1.0)
    # Below 0.5 the drop's "upper bound" would lie below the measured drop: no evidence at all.
    check_number("--confidence", s.confidence, 0.5, 1.0)
    if s.confidence >= 1:
        raise ConfigError(f"--confidence must be below 1, got {s.confidence:g}")
    if s.min_accuracy is not None:
        check_number("--min-accuracy", s.min_accuracy, 0.0, 1.0)
    if s.fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on {s.fail_on!r}: use one of {', '.join(FAIL_ON)}")


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


HOST_LIMIT = 253  # characters of a DNS name (RFC 1035), IDNA-encoded
SHOWN_LIMIT = 80  # characters of a bad URL shown in the error line
HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def _shown_url(url: str) -> str:
    """The URL as an error line may show it: scheme and host only, escaped, cut short."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in redact_webhook(url))
    return text if len(text) <= SHOWN_LIMIT else text[: SHOWN_LIMIT - 1] + "…"


def _webhook_host(host: str) -> str:
    """'' for a valid host (a DNS name, IDNA, at most 253 characters; an IPv4; [IPv6]); else what is wrong."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "-")
        except ValueError:
            return f"{host[:60]!r} is not an IPv6 address in brackets"
        return ""
    if not host:
        return "it names no host"
    if len(host) > HOST_LIMIT:
        return f"the host is {len(host)} characters long; at most {HOST_LIMIT}"
    try:
        ascii_host = host.encode("idna").decode("ascii")  # IDNA: each label 1-63 characters
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > HOST_LIMIT or not all(HOST_LABEL.fullmatch(label) for label in labels):
        return "the host is not a valid name (labels of 1-63 letters, digits or '-' between dots)"
    return ""


def _split_host_port(hostport: str) -> tuple[str, str | None]:
    """(host, port text or None) of 'host', 'host:port', '[v6]' or '[v6]:port'."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return hostport, None
        rest = hostport[end + 1 :]
        return hostport[: end + 1], (rest[1:] if rest.startswith(":") else rest or None)
    host, sep, port = hostport.partition(":")
    return host, port if sep else None


def _webhook_problem(url: str) -> str:
    """'' for a URL a webhook can be POSTed to; else what is wrong with it, in a few words."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "it holds whitespace or control characters (a space, a line break, a tab)"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": a bracket left open
        return f"not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "give an http:// or https:// URL"
    host, port = _split_host_port(parts.netloc.rpartition("@")[2])
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"port {port[:20]!r} is not a port (1-65535)"
    return _webhook_host(host)


def check_webhook_url(url: str, flag: str = "--notify") -> str:
    """A webhook URL checked whole before any work: http(s), a valid host ([IPv6] in brackets, at most 253
    characters once IDNA-encoded), a port of 1-65535, no whitespace or control characters; else a
    ConfigError naming the flag (the URL shown as redact_webhook shows it: its path may be the secret)."""
    problem = _webhook_problem(url)
    if problem:
        raise ConfigError(f"{flag} {_shown_url(url)}: {problem}")
    return url


def check_base_url(url: str, flag: str = "--report-base-url") -> str:
    """The URL that serves the output's root, checked whole as a webhook's is (check_webhook_url), with
    neither a query nor a fragment: the files' paths are appended to it."""
    check_webhook_url(url, flag)
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ConfigError(
            f"{flag} {_shown_url(url)}: give the URL that serves the output's root, without a ?query or "
            "#fragment"
        )
    return url


def check_monitoring(s: Any) -> None:
    """The smoke limits, the webhook, its timeout, the report links, the metrics file and --max-age (of
    config.Settings)."""
    for flag, limit in (("--train-limit", s.train_limit), ("--test-limit", s.test_limit)):
        if limit is not None:
            check_number(flag, limit, 1, INT_MAX)
    if s.notify_on not in NOTIFY_ON:
        raise ConfigError(f"--notify-on {s.notify_on!r}: use one of {', '.join(NOTIFY_ON)}")
    check_number("--notify-timeout", s.notify_timeout, 0.0, 600.0, low_excluded=True)
    if s.notify:
        check_webhook_url(s.notify)
    if s.report_base_url:
        check_base_url(s.report_base_url)
    if s.metrics_file and "://" in s.metrics_file.removeprefix("file://"):
        raise ConfigError(f"--metrics-file {s.metrics_file}: give a local path (the textfile folder)")
    parse_duration(s.max_age, "--max-age")
