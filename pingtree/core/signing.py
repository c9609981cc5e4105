"""Standard Webhooks signatures (https://www.standardwebhooks.com), both ways. PURE: the message
id, the timestamp and "now" are arguments.

A signature is `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), the key being the
base64 after a secret's `whsec_`. The headers are `webhook-id`, `webhook-timestamp` (Unix
seconds) and `webhook-signature`, which may hold several signatures separated by spaces (a
sender rotating its secret signs with both).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from pingtree.config import dialect

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE_S = 300  # the specification's five minutes, against replays


def _digest(key: bytes, message_id: str, timestamp: int, body: bytes) -> bytes:
    # Over the exact body bytes: re-encoding the body would sign something else.
    signed = f"{message_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret_key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256>`."""
    digest = _digest(secret_key, message_id, timestamp, body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secret: SecretStr, message_id: str, timestamp: int, body: bytes
) -> tuple[tuple[str, str], ...]:
    """The three headers of a signed request, with a `whsec_…` secret."""
    return (
        (ID_HEADER, message_id),
        (TIMESTAMP_HEADER, str(timestamp)),
        (SIGNATURE_HEADER, sign(dialect.secret_key(secret), message_id, timestamp, body)),
    )


def verify(
    secret: SecretStr,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether `body` was signed with `secret` within `tolerance_s` of `now` (either side).
    Header names in any case; any one of several v1 signatures will do; compared in constant
    time. A missing or malformed header is False, never an exception."""
    named = {name.lower(): value for name, value in headers.items()}
    message_id = named.get(ID_HEADER)
    timestamp_text = named.get(TIMESTAMP_HEADER, "").strip()
    signatures = named.get(SIGNATURE_HEADER)
    digits = timestamp_text.isascii() and timestamp_text.isdigit()
    if not message_id or not signatures or not digits:
        return False
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = _digest(dialect.secret_key(secret), message_id, timestamp, body)
    for versioned in signatures.split():
        version, _, encoded = versioned.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, given):
            return True
    return False


__all__ = [
    "DEFAULT_TOLERANCE_S",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signature_headers",
    "verify",
]
