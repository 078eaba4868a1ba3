"""What may be recorded or logged: values of credential-looking keys masked, at any depth.

Below config and store, so that both the settings and the run record use the same rule.
"""

from collections.abc import Mapping
from typing import Any

# A key holding any of these words is a credential: its value is never recorded or logged.
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "session", "credential", "signature", "auth")
MASK = "***"


def is_secret_key(key: str) -> bool:
    """True for keys that look like credentials (aws_secret_access_key, session_token, password, ...)."""
    lowered = str(key).lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact(value: Any) -> Any:
    """A copy safe to record or log: values of secret-looking keys masked at any depth (dicts, lists)."""
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
