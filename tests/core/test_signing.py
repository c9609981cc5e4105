"""Standard Webhooks signatures (pingtree/core/signing.py), checked against a verifier we did not
write: the `standardwebhooks` package from PyPI verifies ours, ours verifies its signatures.

Its verifier reads the clock, so the interop rows sign with the current time; ours takes `now`.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from pingtree.core.signing import sign, signature_headers, verify

KEY = b"pingtree-signing-key-32-bytes!!!"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER = "whsec_" + base64.b64encode(b"someone-else-entirely-1234567890").decode()
BODY = '{"first_name":"José","price":42.50}'.encode()


def test_the_specifications_example_signature() -> None:
    """The example of the Standard Webhooks specification, byte for byte."""
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert (
        sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def headers_dict(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


@pytest.mark.parametrize(
    ("story", "body"),
    [
        pytest.param("json", BODY, id="a JSON body with non-ASCII text"),
        pytest.param("form", b"State=Florida&Zip3=331&Homeowner=1", id="a form body"),
        pytest.param("xml", b'<?xml version="1.0"?><lead><a>&amp;</a></lead>', id="an XML body"),
        pytest.param("empty", b"", id="an empty body (a signed GET)"),
    ],
)
def test_their_verifier_accepts_our_signature(story: str, body: bytes) -> None:
    now = int(time.time())
    headers = headers_dict(signature_headers(SecretStr(SECRET), "msg_1", now, body))
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    Webhook(SECRET).verify(body, headers, json_parse=False)


@pytest.mark.parametrize(
    ("story", "tamper", "age_s"),
    [
        pytest.param("body changed", lambda b: b.replace(b"42.50", b"99.50"), 0, id="tampered"),
        pytest.param("ten minutes old", lambda b: b, 600, id="too old"),
        pytest.param("ten minutes ahead", lambda b: b, -600, id="too new"),
    ],
)
def test_their_verifier_refuses_what_ours_must_refuse(story: str, tamper: Any, age_s: int) -> None:
    sent_at = int(time.time()) - age_s
    headers = headers_dict(signature_headers(SecretStr(SECRET), "msg_1", sent_at, BODY))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tamper(BODY), headers, json_parse=False)
    assert not verify(SecretStr(SECRET), headers, tamper(BODY), now=int(time.time()))


def their_headers(
    secret: str, body: bytes, sent_at: int, message_id: str = "msg_2"
) -> dict[str, str]:
    stamp = datetime.fromtimestamp(sent_at, tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": Webhook(secret).sign(message_id, stamp, body.decode()),
    }


NOW = 1_770_000_000


def sig(story: str, headers: dict[str, str], body: bytes, now: int, valid: bool) -> Any:
    return pytest.param(headers, body, now, valid, id=story)


@pytest.mark.parametrize(
    ("headers", "body", "now", "valid"),
    [
        sig("theirs, as sent", their_headers(SECRET, BODY, NOW), BODY, NOW, True),
        sig(
            "header names in any case",
            {k.title(): v for k, v in their_headers(SECRET, BODY, NOW).items()},
            BODY,
            NOW,
            True,
        ),
        sig("299 s later", their_headers(SECRET, BODY, NOW), BODY, NOW + 299, True),
        sig("300 s later", their_headers(SECRET, BODY, NOW), BODY, NOW + 300, True),
        sig("301 s later", their_headers(SECRET, BODY, NOW), BODY, NOW + 301, False),
        sig("301 s early", their_headers(SECRET, BODY, NOW), BODY, NOW - 301, False),
        sig("tampered body", their_headers(SECRET, BODY, NOW), BODY + b" ", NOW, False),
        sig("another secret", their_headers(OTHER, BODY, NOW), BODY, NOW, False),
        sig(
            "a rotated secret: the second of two signatures matches",
            {
                **their_headers(SECRET, BODY, NOW),
                "webhook-signature": their_headers(OTHER, BODY, NOW)["webhook-signature"]
                + " "
                + their_headers(SECRET, BODY, NOW)["webhook-signature"],
            },
            BODY,
            NOW,
            True,
        ),
        sig(
            "a v2 signature is not read as v1",
            {
                **their_headers(SECRET, BODY, NOW),
                "webhook-signature": their_headers(SECRET, BODY, NOW)["webhook-signature"].replace(
                    "v1,", "v2,"
                ),
            },
            BODY,
            NOW,
            False,
        ),
        sig(
            "another message id",
            {**their_headers(SECRET, BODY, NOW), "webhook-id": "msg_other"},
            BODY,
            NOW,
            False,
        ),
        sig(
            "no signature header",
            {k: v for k, v in their_headers(SECRET, BODY, NOW).items() if k != "webhook-signature"},
            BODY,
            NOW,
            False,
        ),
        sig(
            "no id header",
            {k: v for k, v in their_headers(SECRET, BODY, NOW).items() if k != "webhook-id"},
            BODY,
            NOW,
            False,
        ),
        sig(
            "a timestamp that is not a number",
            {**their_headers(SECRET, BODY, NOW), "webhook-timestamp": "yesterday"},
            BODY,
            NOW,
            False,
        ),
        sig(
            "signature not base64",
            {**their_headers(SECRET, BODY, NOW), "webhook-signature": "v1,%%%not-base64%%%"},
            BODY,
            NOW,
            False,
        ),
        sig(
            "signature without a version",
            {**their_headers(SECRET, BODY, NOW), "webhook-signature": "garbage"},
            BODY,
            NOW,
            False,
        ),
        sig("no headers at all", {}, BODY, NOW, False),
    ],
)
def test_our_verifier_on_their_signatures(
    headers: dict[str, str], body: bytes, now: int, valid: bool
) -> None:
    assert verify(SecretStr(SECRET), headers, body, now=now) is valid


def test_a_tolerance_can_be_narrowed() -> None:
    headers = their_headers(SECRET, BODY, NOW)
    assert verify(SecretStr(SECRET), headers, BODY, now=NOW + 10, tolerance_s=10)
    assert not verify(SecretStr(SECRET), headers, BODY, now=NOW + 11, tolerance_s=10)


def test_the_headers_do_not_depend_on_the_clock() -> None:
    """PURE: the same inputs give the same headers, whenever they are computed."""
    first = signature_headers(SecretStr(SECRET), "msg_1", NOW, BODY)
    assert first == signature_headers(SecretStr(SECRET), "msg_1", NOW, BODY)
    assert first[1] == ("webhook-timestamp", str(NOW))
