"""admission.py, pure: the in-flight cap, the token bucket and the signature check, as tables."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from pingtree.config import SellerConfig
from pingtree.config.dialect import Signing
from pingtree.config.models import RateLimit
from pingtree.core.errors import BadSignature, Overloaded, RateLimited
from pingtree.web.admission import InFlight, RateLimiter, check_signature

SECRET = "whsec_" + base64.b64encode(b"a-seller-signing-secret-32-bytes").decode()
NOW = 1_790_000_000
BODY = b'{"vertical": "mva", "phone": "3055550123"}'


def test_in_flight_refuses_past_its_limit_and_frees_places() -> None:
    in_flight = InFlight()
    in_flight.enter(2)
    in_flight.enter(2)
    with pytest.raises(Overloaded) as refused:
        in_flight.enter(2)
    assert (refused.value.status, refused.value.retry_after_s) == (503, 1)
    in_flight.leave()
    in_flight.enter(2)
    assert in_flight.count == 2


@pytest.mark.parametrize(
    ("per_second", "burst", "takes"),
    [
        # (rate, burst, [(at seconds, taken?)…]): one bucket's story
        pytest.param(1, None, [(0, True), (0.1, False), (1.0, True)], id="burst: a second's worth"),
        pytest.param(
            2, 3, [(0, True), (0, True), (0, True), (0, False), (0.5, True)], id="burst, then 2/s"
        ),
        pytest.param(10, 1, [(0, True), (0.05, False), (0.1, True), (0.2, True)], id="one by one"),
        pytest.param(
            0.5, 2, [(0, True), (0, True), (10, True), (10, True), (10, False)], id="never over"
        ),
        pytest.param(2.5, None, [(0, True), (0, True), (0, True), (0, False)], id="ceil(2.5) = 3"),
    ],
)
def test_the_token_bucket(
    per_second: float, burst: int | None, takes: list[tuple[float, bool]]
) -> None:
    limiter, limit = RateLimiter(), RateLimit(per_second=per_second, burst=burst)
    assert [limiter.take("s", limit, at) is None for at, _ in takes] == [t for _, t in takes]


def test_the_wait_is_the_time_to_the_next_token_and_retry_after_rounds_it_up() -> None:
    limiter, limit = RateLimiter(), RateLimit(per_second=4, burst=1)
    assert limiter.take("s", limit, 100.0) is None
    assert limiter.take("s", limit, 100.1) == pytest.approx(0.15)
    seller = _seller(rate_limit=RateLimit(per_second=0.2, burst=1))
    limiter.admit(seller, 0.0)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(seller, 0.5)
    assert (refused.value.status, refused.value.retry_after_s) == (429, 5)  # 4.5 s, rounded up


def test_each_seller_has_its_own_bucket_and_none_without_a_limit() -> None:
    limiter = RateLimiter()
    limited, free = _seller("a", RateLimit(per_second=1, burst=1)), _seller("b")
    limiter.admit(limited, 0.0)
    for _ in range(100):
        limiter.admit(free, 0.0)
    with pytest.raises(RateLimited):
        limiter.admit(limited, 0.0)
    limiter.admit(_seller("c", RateLimit(per_second=1, burst=1)), 0.0)


def _seller(
    seller_id: str = "acme", rate_limit: RateLimit | None = None, signs: bool = False
) -> SellerConfig:
    return SellerConfig(
        id=seller_id,
        api_key=SecretStr("a-long-enough-key"),
        rate_limit=rate_limit,
        signing=Signing(secret=SecretStr(SECRET)) if signs else None,
    )


def _signed(at: int = NOW, secret: str = SECRET, body: bytes = BODY) -> dict[str, str]:
    when = datetime.fromtimestamp(at, UTC)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(at),
        "webhook-signature": Webhook(secret).sign("msg_1", when, body.decode()),
    }


OTHER = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-byt").decode()


@pytest.mark.parametrize(
    ("headers", "body", "named"),
    [
        pytest.param(_signed(), BODY, None, id="valid"),
        pytest.param(_signed(NOW - 299), BODY, None, id="299-s-old"),
        pytest.param(_signed(NOW + 299), BODY, None, id="299-s-ahead"),
        pytest.param({}, BODY, {"webhook-id", "webhook-timestamp", "webhook-signature"}, id="none"),
        pytest.param(
            {**_signed(), "webhook-signature": ""}, BODY, {"webhook-signature"}, id="empty"
        ),
        pytest.param(_signed(NOW - 301), BODY, {"webhook-timestamp"}, id="301-s-old"),
        pytest.param(
            {**_signed(), "webhook-timestamp": "1.5e9"}, BODY, {"webhook-timestamp"}, id="float"
        ),
        pytest.param(_signed(secret=OTHER), BODY, {"webhook-signature"}, id="other-secret"),
        pytest.param(_signed(), BODY + b" ", {"webhook-signature"}, id="body-changed"),
        pytest.param(
            {**_signed(), "webhook-signature": "v2," + _signed()["webhook-signature"][3:]},
            BODY,
            {"webhook-signature"},
            id="unknown-version",
        ),
    ],
)
def test_the_signature_check(headers: dict[str, str], body: bytes, named: set[str] | None) -> None:
    seller = _seller(signs=True)
    if named is None:
        check_signature(seller, headers, body, NOW)
        return
    with pytest.raises(BadSignature) as refused:
        check_signature(seller, headers, body, NOW)
    assert set(refused.value.fields) == named
    assert (refused.value.status, refused.value.code) == (401, "bad_signature")


def test_a_seller_without_signing_is_not_checked() -> None:
    check_signature(_seller(), {}, BODY, NOW)
