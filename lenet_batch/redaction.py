"""What may be recorded, logged or printed: credentials masked, at any depth and inside URIs.

Below config and store, so that the settings, the run record, the logs and every error line use the same
rule: values of credential-looking keys, a URI's userinfo (`http://user:PASS@host/…`) and its
credential-like query parameters (`?token=…`, `X-Amz-Signature=…`, Azure's `sig=…`).
"""

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

# A key holding any of these words is a credential: its value is never recorded or logged.
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "session", "credential", "signature", "auth")
# Query parameters that are credentials although no secret word is in their name (Azure SAS, short forms).
SECRET_PARAMS = ("sig", "pwd", "pass", "jwt")
MASK = "***"

# A URI inside any text: scheme://… up to white space or a quote; trailing punctuation is not part of it.
URI_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_TRAILING = ".,;:)]}"
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def is_secret_key(key: str) -> bool:
    """True for keys that look like credentials (aws_secret_access_key, session_token, password, ...)."""
    lowered = str(key).lower()
    return any(word in lowered for word in SECRET_WORDS)


def _is_secret_param(name: str) -> bool:
    decoded = unquote_plus(name).strip().lower()
    return is_secret_key(decoded) or decoded in SECRET_PARAMS


def _masked_query(query: str) -> str:
    """name=value pairs (split on & or ;) with the values of credential-like names masked."""
    parts = re.split(r"([&;])", query)
    for i, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        if sep and _is_secret_param(name):
            parts[i] = f"{name}={MASK}"
    return "".join(parts)


def _redact_one(uri: str) -> str:
    userinfo = _USERINFO.match(uri)
    if userinfo:  # user:password@ or a token as the user name: the whole userinfo goes
        uri = f"{userinfo.group(1)}{MASK}@{uri[userinfo.end() :]}"
    base, question, rest = uri.partition("?")
    if not question:
        return uri
    query, hash_, fragment = rest.partition("#")
    return f"{base}?{_masked_query(query)}{hash_}{fragment}"


def redact_uri(uri: str) -> str:
    """The URI with userinfo and credential-like query values masked; otherwise unchanged, byte for byte.

    Chained URIs (`simplecache::https://…`) are masked part by part.
    """
    return "::".join(_redact_one(part) for part in uri.split("::"))


def redact_webhook(url: str) -> str:
    """A webhook URL as it may be logged or recorded: scheme and host only, for its path is often the
    secret itself (Slack's /services/T…/B…/<token>, Teams', Discord's); userinfo masked as redact_uri does."""
    if not url:
        return url
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)(.*)$", redact_uri(url), re.S)
    if not m:
        return MASK
    return f"{m.group(1)}{m.group(2)}" + ("/…" if m.group(3).strip("/") else "")


def _redact_match(match: re.Match) -> str:
    uri = match.group(0)
    stem = uri.rstrip(_TRAILING)
    return redact_uri(stem) + uri[len(stem) :]


def redact_text(text: str) -> str:
    """Text (a log line, an error message) with every URI in it masked as redact_uri does."""
    if "://" not in text:
        return text
    return URI_PATTERN.sub(_redact_match, text)


def has_secret(uri: str) -> bool:
    """True when redact_uri would mask something in the URI."""
    return redact_uri(uri) != uri


def redact(value: Any) -> Any:
    """A copy safe to record or log: values of secret-looking keys masked at any depth (dicts, lists), and
    the credentials inside any string that holds a URI."""
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_strings(value: Any) -> Any:
    """A copy of a JSON-like value whose strings have their URIs masked (keys are left as they are)."""
    if isinstance(value, Mapping):
        return {k: redact_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
