"""The exception tree. Every error that can reach a client carries its HTTP status.

    PingtreeError                 500 internal
    ├── ConfigError               (not HTTP: refused at load, with every error and its path)
    ├── BadRequest                400 malformed body
    │   └── ClientClosed          400 the client hung up before its body was read (never seen)
    ├── Unauthorized              401 unknown key or admin token
    │   └── BadSignature          401 a seller configured to sign sent no valid signature
    ├── Forbidden                 403 a viewer asked for something that changes state
    ├── NotFound                  404
    │   └── PingNotFound          404 a seller's post of an unknown ping (exchange mode)
    ├── PingExpired               410 a seller's post after its ping's bids lapsed
    ├── PingMismatch              409 a seller's post whose non-PII fields are not its ping's
    ├── RequestTimeout            408 the body did not arrive within router.client_timeout_ms
    ├── IdempotencyConflict       409 same key, different lead
    │   └── TakenOver             409 another router took the key over (this one outlived its lease)
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415
    │   └── UnsupportedEncoding   415 a Content-Encoding other than gzip or deflate
    ├── LeadInvalid               422 naming every bad field
    ├── RateLimited               429 with Retry-After: the seller is over its rate_limit
    ├── Overloaded                503 with Retry-After: router.max_in_flight auctions under way
    ├── StoreUnavailable          503 with Retry-After
    ├── LedgerUnavailable         503 with Retry-After: the ledger's database did not answer (an
    │                             operator's query; an auction never waits for the ledger)
    └── BuyerCallFailed           (never reaches a client: it becomes a trace reason)
        ├── BuyerTimeout          timeout
        ├── BuyerHTTPError        http_error (connection refused, reset, non-2xx)
        │   └── BuyerAnswerLost   the connection ended after the request went out, before a
        │                         whole answer: a post is then as ambiguous as a timeout
        └── BadBuyerResponse      bad_response (unparsable, too large, wrong shape)
            └── BuyerAnswerUnreadable  the request went out and the answer, a 2xx or one
                                  without a status line, broke HTTP, its encoding or the size
                                  limit: a post is then ambiguous too

`ambiguous`: the buyer may have acted on the request (a post's outcome is unknown, DESIGN §8).

Messages never carry PII or secrets: they name fields, not values.
"""

from __future__ import annotations


class PingtreeError(Exception):
    status = 500
    code = "internal"
    # Seconds a client should wait before trying again, sent as Retry-After (429s and 503s).
    retry_after_s: int | None = None

    def __init__(self, detail: str = "", *, fields: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}


class ConfigError(PingtreeError):
    code = "config_invalid"

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {path}: {message}" for path, message in errors)
        super().__init__(f"{len(errors)} error(s) in config:\n{lines}")


class BadRequest(PingtreeError):
    status = 400
    code = "bad_request"


class ClientClosed(BadRequest):
    """The client hung up mid-body: nobody reads this answer, but it is a client's doing (a 4xx
    in the metrics, logged at DEBUG), never a server error."""

    code = "client_closed"


class Unauthorized(PingtreeError):
    status = 401
    code = "unauthorized"


class BadSignature(Unauthorized):
    code = "bad_signature"


class RequestTimeout(PingtreeError):
    status = 408
    code = "request_timeout"


class Forbidden(PingtreeError):
    status = 403
    code = "forbidden"


class NotFound(PingtreeError):
    status = 404
    code = "not_found"


class PingNotFound(NotFound):
    """A seller's post names a ping it never made, or one long gone (DESIGN §14)."""

    code = "ping_not_found"


class PingExpired(PingtreeError):
    """A seller's post came after its ping's bids lapsed."""

    status = 410
    code = "ping_expired"


class PingMismatch(PingtreeError):
    """A seller's post differs from its ping in a non-PII field (`fields` names them)."""

    status = 409
    code = "ping_mismatch"


class IdempotencyConflict(PingtreeError):
    """The key is another lead's, or (with `retry_after_s`) the first request with it is still
    running: a resend after that many seconds gets its answer."""

    status = 409
    code = "idempotency_conflict"

    def __init__(
        self,
        detail: str = "",
        *,
        fields: dict[str, str] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(detail, fields=fields)
        self.retry_after_s = retry_after_s


class TakenOver(IdempotencyConflict):
    """This router outlived its claim's lease (stalled, not dead) and another router took the
    lead's key over and sealed its journal: this auction stops before its next post."""


class PayloadTooLarge(PingtreeError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(PingtreeError):
    status = 415
    code = "unsupported_media_type"


class UnsupportedEncoding(UnsupportedMediaType):
    """The body's Content-Encoding is not one pingtree inflates: the answer names the ones it
    does (`Accept-Encoding`, RFC 9110 §15.5.16)."""

    code = "unsupported_encoding"


class LeadInvalid(PingtreeError):
    status = 422
    code = "lead_invalid"


class RateLimited(PingtreeError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Overloaded(PingtreeError):
    status = 503
    code = "overloaded"
    retry_after_s = 1


class StoreUnavailable(PingtreeError):
    """The store did not answer. `slow`: it timed out (or every connection was busy) rather than
    being refused or cut off: maybe only slow, under load, rather than gone."""

    status = 503
    code = "unavailable"
    retry_after_s = 1

    def __init__(self, detail: str = "", *, slow: bool = False) -> None:
        super().__init__(detail)
        self.slow = slow


class LedgerUnavailable(PingtreeError):
    """The ledger's database did not answer (or refused the statement): a query fails with a
    503; the writer keeps its batch in the outbox and tries again."""

    status = 503
    code = "ledger_unavailable"
    retry_after_s = 1


class BuyerCallFailed(PingtreeError):
    """A call to a buyer failed; `reason` is the trace reason code."""

    reason = "http_error"
    ambiguous = False

    def __init__(self, detail: str = "", *, http_status: int | None = None) -> None:
        super().__init__(detail)
        self.http_status = http_status


class BuyerTimeout(BuyerCallFailed):
    reason = "timeout"
    ambiguous = True


class BuyerHTTPError(BuyerCallFailed):
    reason = "http_error"


class BuyerAnswerLost(BuyerHTTPError):
    """The buyer reset or closed the connection after the request was written and before a
    whole answer came back: it may have acted on the request. A ping is a plain failure; a post
    is `unknown` (`post_unknown`), as ambiguous as a post that timed out. `http_status`: a 2xx
    when its head had come back (a lost non-2xx answer is a plain BuyerHTTPError)."""

    ambiguous = True


class BadBuyerResponse(BuyerCallFailed):
    reason = "bad_response"


class BuyerAnswerUnreadable(BadBuyerResponse):
    """The request went out and the answer broke HTTP, its encoding or the size limit, having
    begun as a 2xx (`http_status`) or before any status line: it may hide a yes. A ping is a
    plain `bad_response`; a post is `unknown` (`post_unknown`)."""

    ambiguous = True
