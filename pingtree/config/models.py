"""buyers.yaml as typed, frozen models, each checking its own values.

Request-time code never reads raw YAML: it reads these models. Secrets (`api_key`, `admin_token`,
`dedup_secret`) are `SecretStr`, so no repr, log line or error prints them back.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from pingtree.config.checked import ConfigModel, Loc, Problem, across, parsed
from pingtree.config.dialect import (
    Auth,
    FieldMap,
    MappedValue,
    ResponseMap,
    Signing,
    TextOrMapped,
)
from pingtree.config.reads import check_ping_pii_opt_ins, mapping_errors
from pingtree.config.types import FrozenMap
from pingtree.config.urls import masked_url as masked_url  # re-exported (config/__init__.py)
from pingtree.config.verticals import VerticalSchema
from pingtree.core.us_states import state_code

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Scalar = str | int | float | bool
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HOURS = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _lower_all(value: Any) -> Any:
    """Verticals compare as the lead's do: trimmed, lower-case (`MVA` in the file is `mva`)."""
    if isinstance(value, list | tuple | set | frozenset):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


def _state_codes(value: Any) -> Any:
    if not isinstance(value, list | tuple | set | frozenset):
        return value
    codes = {str(given): state_code(str(given)) for given in value}
    unknown = [given for given, code in codes.items() if code is None]
    if unknown:
        raise ValueError(f"unknown state(s): {', '.join(repr(given) for given in unknown)}")
    return frozenset(codes.values())


# States as a lead gives them (lead.py reads both with states.state_code): a code or a name, any
# case, `[fl, Georgia]` is {FL, GA}; anything else is an error naming it.
StateCodes = Annotated[frozenset[str], BeforeValidator(_state_codes)]

_Frozen = ConfigModel


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc
    return name


class Retention(_Frozen):
    """How long the store keeps things. Idempotency records outlive outcomes and traces."""

    outcomes_hours: float = Field(72, gt=0)
    idempotency_days: float = Field(7, gt=0)
    max_leads: int = Field(100_000, ge=100)


class BreakerPolicy(_Frozen):
    """A buyer whose last `window` calls failed at `failure_ratio` or more is skipped."""

    window: int = Field(20, ge=1)
    min_calls: int = Field(10, ge=1)
    failure_ratio: float = Field(0.5, gt=0, le=1)
    cooldown_s: float = Field(30, gt=0)
    # enforce: skip an open breaker's buyer. shadow: call it anyway, and trace and count what
    # would have been skipped (to try a policy before enforcing it). off: no breaker at all.
    mode: Literal["enforce", "shadow", "off"] = "enforce"
    # A timeout while this router's event loop ran later than this is not counted: the answer
    # may have come in time and been read late (breaker.call_evidence).
    max_loop_lag_ms: int = Field(100, ge=1, le=60_000)

    @across("min_calls", "window")
    def _can_open(self) -> Iterator[Problem]:
        if self.min_calls > self.window:
            yield ("min_calls",), "min_calls must not exceed window, or the breaker can never open"


class DeliverySettings(_Frozen):
    """The delivery queue: how many deliveries go out at once per router process, how often due
    ones are looked for, and how long finished ones (and dead letters) are kept."""

    concurrency: int = Field(8, ge=1, le=256)
    poll_ms: int = Field(250, ge=10, le=60_000)
    keep_days: float = Field(7, gt=0)
    # The sales ledger behind GET /admin/exports/leads.csv: every sale's row (the lead's PII
    # included) kept this many days in the store. Off unless set: it costs a write per sale.
    ledger_days: float | None = Field(None, gt=0, le=3650)


class RouterSettings(_Frozen):
    budget_ms: int = Field(3000, ge=100, le=60_000)
    post_reserve_ms: int = Field(1000, ge=0)
    min_ping_ms: int = Field(100, ge=1)
    mode: Literal["tiered", "waterfall", "parallel"] = "tiered"
    floor: Money = Decimal("0.01")
    max_bid: Money = Decimal("1000")
    min_margin: Money = Decimal("0")
    require_consent: bool = True
    timezone: str = "UTC"
    admin_token: SecretStr | None = None
    dedup_secret: SecretStr | None = None
    max_body_kb: int = Field(64, ge=1, le=10_240)
    max_response_kb: int = Field(256, ge=1, le=10_240)
    # A seller's body must arrive within this once its head has: a stalled client gets 408.
    client_timeout_ms: int = Field(5000, ge=100, le=60_000)
    # Leads read or auctioned at once by this process; past it a new lead gets 503 at once. 32
    # is what one core keeps up with at three times its max rate (benchmark scenario 9; 48 and
    # more fell behind): raise it for buyers slow to answer (README, "Overload").
    max_in_flight: int = Field(32, ge=1, le=1_000_000)
    retention: Retention = Retention()
    breaker: BreakerPolicy = BreakerPolicy()
    deliveries: DeliverySettings = DeliverySettings()
    # The embedded store's file (SQLite): deliveries, caps, dedup, idempotency and the post
    # journal survive a restart. None: memory only (tests, throwaway runs).
    state_file: str | None = None
    # The CSV mirror: every sale appended to {exports_dir}/{buyer}/{date}.csv. None: off.
    exports_dir: str | None = None

    _tz = field_validator("timezone")(_check_timezone)

    @across("post_reserve_ms", "budget_ms")
    def _reserve_fits(self) -> Iterator[Problem]:
        if self.post_reserve_ms >= self.budget_ms:
            yield ("post_reserve_ms",), "post_reserve_ms must be less than budget_ms"

    @across("floor", "max_bid")
    def _floor_fits(self) -> Iterator[Problem]:
        if self.floor > self.max_bid:
            yield ("floor",), "floor must not exceed max_bid"


class RateLimit(_Frozen):
    """A token bucket per seller and router process: `per_second` leads on average, `burst` at
    once (default: one second's worth). Past it, 429 with Retry-After."""

    per_second: float = Field(gt=0, le=1_000_000)
    burst: int | None = Field(None, ge=1, le=1_000_000)

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))


class SellerConfig(_Frozen):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    api_key: SecretStr
    revshare: Decimal | None = Field(None, ge=0, le=1)
    payout: Money | None = None
    verticals: tuple[str, ...] | None = None

    _verticals = field_validator("verticals", mode="before")(lambda v: _lower_all(v))
    reveal: tuple[Literal["buyer", "price"], ...] = ()
    # Told of each sale (DESIGN §5's seller view, signed when `sign` is set); `postback_url: X`
    # is short for `postback: {url: X}`.
    postback: Destination | None = None
    # Off unless set: leads over this rate get 429 (see RateLimit).
    rate_limit: RateLimit | None = None
    # Set: every lead must carry a valid Standard Webhooks signature over its exact body.
    signing: Signing | None = None

    @model_validator(mode="before")
    @classmethod
    def _postback_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and "postback_url" in value:
            value = dict(value)
            url = value.pop("postback_url")
            if "postback" in value:
                raise ValueError("give postback_url or postback, not both")
            if url is not None:
                value["postback"] = {"id": "postback", "url": url}
        return value

    @field_validator("api_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("api_key must be at least 8 characters")
        return value

    @across("revshare", "payout")
    def _one_payout_rule(self) -> Iterator[Problem]:
        if self.revshare is not None and self.payout is not None:
            yield (), "give revshare or payout, not both"

    @property
    def effective_revshare(self) -> Decimal:
        """With neither rule set the seller is paid the full price: the operator keeps nothing
        unless the config says so, rather than silently taking a cut."""
        return Decimal(1) if self.revshare is None else self.revshare


class TLS(_Frozen):
    """How a buyer's https certificate is checked. `ca_file` is a PEM bundle of the CA(s) that
    signed it, trusted for this endpoint *instead of* the system store: a buyer on a private CA is
    trusted with certificates that CA signed and no others (a buyer that also wants the public
    CAs lists them in the same file). The file is read at load, so a reload re-reads it; a file
    that holds no certificate stops the load. Verification itself is never switched off: see
    docs/wiring-a-buyer.md ("Buyers over https")."""

    ca_file: Path
    _ca_pem: str = PrivateAttr("")

    @model_validator(mode="after")
    def _read_bundle(self) -> TLS:
        try:
            pem = self.ca_file.read_text(encoding="ascii")  # PEM is ASCII by definition
        except OSError as exc:
            raise ValueError(f"cannot read {self.ca_file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{self.ca_file} is not a PEM file (not ASCII text)") from None
        # An empty `cadata` would quietly mean "the system store": refuse it by name.
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError(f"{self.ca_file} holds no PEM certificate")
        try:
            ssl.create_default_context(cadata=pem)
        except ssl.SSLError as exc:
            raise ValueError(f"{self.ca_file}: not a valid PEM CA bundle ({exc.reason})") from None
        self._ca_pem = pem
        return self

    @property
    def ca_pem(self) -> str:
        """The bundle's text as read at load (what the transport builds its SSL context from)."""
        return self._ca_pem


class Endpoint(_Frozen):
    """Where and how a buyer is called: the native protocol by default, or the buyer's own
    dialect (config/dialect.py describes every key)."""

    url: str = Field(pattern=r"^https?://")
    timeout_ms: int = Field(1000, ge=10, le=60_000)
    method: Literal["POST", "PUT", "GET"] = "POST"
    format: Literal["json", "form", "xml"] = "json"
    root: str = Field("lead", pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    query: FrozenMap[str, TextOrMapped] = Field(default_factory=dict)
    headers: FrozenMap[str, TextOrMapped] = Field(default_factory=dict)
    auth: Auth | None = None
    sign: Signing | None = None
    sandbox_url: str | None = Field(None, pattern=r"^https?://")
    fields: tuple[FieldMap, ...] | None = Field(None, min_length=1)
    response: ResponseMap | None = None
    tls: TLS | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("query", "headers", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        # `X-Campaign: 12` in YAML is a number; a header or query value is text (or a mapping).
        if isinstance(value, dict):
            return {
                str(k): v if isinstance(v, str | dict) else _as_text(v) for k, v in value.items()
            }
        return value

    @field_validator("headers")
    @classmethod
    def _settable(cls, value: Mapping[str, str | MappedValue]) -> Mapping[str, str | MappedValue]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by pingtree itself")
            if isinstance(text, str) and ("\r" in text or "\n" in text):
                raise ValueError(f"header {name!r}: a value cannot hold a line break")
        return value

    @across("tls", "url", "sandbox_url")
    def _tls_for_https(self) -> Iterator[Problem]:
        urls = [self.url, self.sandbox_url or ""]
        if self.tls is not None and not any(u.startswith("https://") for u in urls):
            yield ("tls",), "tls applies to https URLs: url (or sandbox_url) is not https"

    @across("format", "method", "fields")
    def _body_described(self) -> Iterator[Problem]:
        if self.format != "json" and self.fields is None:
            yield ("fields",), f"format: {self.format} needs `fields` (the native body is JSON)"
        if self.method == "GET" and self.fields is None:
            yield ("fields",), "method: GET sends `fields` as the query string: give `fields`"
        seen: set[str] = set()
        for index, field in enumerate(self.fields or ()):
            where: Loc = ("fields", index, "to")
            if field.to in seen:
                yield where, f"{field.to!r} is given twice"
            seen.add(field.to)
            if self.format == "xml":
                for part in field.to.split("."):
                    if not _XML_NAME.match(part.removeprefix("@")):
                        yield where, f"{part!r} is not an XML name"

    @property
    def native(self) -> bool:
        """Whether this endpoint speaks the native protocol both ways (the fast path)."""
        return (
            self.fields is None
            and self.response is None
            and self.method == "POST"
            and not self.query
            and not self.headers
            and self.auth is None
            and self.sign is None
        )

    def url_for(self, test: bool) -> str:
        """A test lead goes to the sandbox when there is one."""
        return self.sandbox_url if test and self.sandbox_url else self.url

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Buyers often put their API key in the URL (?key=${BUYER_KEY}): never print it back.
        yield "url", masked_url(self.url)
        yield "timeout_ms", self.timeout_ms
        yield "method", self.method
        yield "format", self.format


DEFAULT_RETRY_S: tuple[float, ...] = (0, 30, 120, 600, 3600)  # at once, 30 s, 2 min, 10 min, 1 h


class Destination(Endpoint):
    """Where a sold lead goes besides the buyer's post (a CRM, a webhook, a dialer), or where a
    seller hears of its sale: an Endpoint (every dialect key applies) with a retry schedule.

    A destination answering 2xx has its lead. 410 disables it; 429 and 503 are retried after
    their `Retry-After`; another 4xx is dead-lettered at once; 5xx, timeouts and connection
    errors are retried on `retry_s` (the delay before each attempt, each ± `jitter`), then sent to
    `failover_url` on the same schedule, then dead-lettered."""

    id: str = Field("delivery", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    timeout_ms: int = Field(5000, ge=10, le=60_000)
    retry_s: tuple[float, ...] = Field(DEFAULT_RETRY_S, min_length=1, max_length=50)
    jitter: float = Field(0.1, ge=0, le=1)
    failover_url: str | None = Field(None, pattern=r"^https?://")

    @field_validator("retry_s")
    @classmethod
    def _delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 or delay > 7 * 86400 for delay in value):
            raise ValueError("each delay is 0 to 604800 seconds (7 days)")
        return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_RESERVED_HEADERS = frozenset({"content-length", "host", "transfer-encoding", "connection"})


class Range(_Frozen):
    min: float | None = None
    max: float | None = None

    @across("min", "max")
    def _ordered(self) -> Iterator[Problem]:
        if self.min is None and self.max is None:
            yield (), "give min, max or both"
        if self.min is not None and self.max is not None and self.min > self.max:
            yield (), "min must not exceed max"


class Filters(_Frozen):
    states: StateCodes | None = None
    zip_prefixes: tuple[str, ...] | None = None
    sellers: frozenset[str] | None = None
    require: FrozenMap[str, Scalar | tuple[Scalar, ...]] = Field(default_factory=dict)
    ranges: FrozenMap[str, Range] = Field(default_factory=dict)

    @field_validator("zip_prefixes", mode="before")
    @classmethod
    def _zip_strings(cls, value: Any) -> Any:
        # YAML reads an unquoted 021 as the octal number 17: only quoted prefixes are safe.
        if isinstance(value, list | tuple):
            if any(not isinstance(z, str) for z in value):
                raise ValueError('quote zip prefixes ("021"): unquoted numbers lose leading zeros')
            return tuple(value)
        return value

    @field_validator("zip_prefixes")
    @classmethod
    def _zip_digits(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for prefix in value or ():
            if not (prefix.isdigit() and 1 <= len(prefix) <= 5):
                raise ValueError(f"zip prefix {prefix!r} must be 1 to 5 digits")
        return value


class Schedule(_Frozen):
    days: tuple[Weekday, ...] = WEEKDAYS
    hours: str = "00:00-24:00"

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(d).strip().lower()[:3] for d in value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours_shape(cls, value: str) -> str:
        match = _HOURS.match(value.replace(" ", ""))
        if not match:
            raise ValueError("hours must look like 08:00-20:00")
        start, end = (
            _minutes(match.group(1), match.group(2)),
            _minutes(match.group(3), match.group(4)),
        )
        if start >= 24 * 60 or end > 24 * 60 or start == end:
            raise ValueError("hours must be a non-empty range within 00:00-24:00")
        return value.replace(" ", "")

    @property
    def window_minutes(self) -> tuple[int, int]:
        """(start, end) in minutes after midnight; end < start means the window spans midnight."""
        start, end = self.hours.split("-")
        return _minutes(*start.split(":")), _minutes(*end.split(":"))


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


class Caps(_Frozen):
    hourly: int | None = Field(None, ge=0)
    daily: int | None = Field(None, ge=0)
    daily_budget: Money | None = None

    @property
    def any(self) -> bool:
        return self.hourly is not None or self.daily is not None or self.daily_budget is not None


class BuyerConfig(_Frozen):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    priority: int = Field(1, ge=1)
    verticals: frozenset[str] | None = None
    timezone: str | None = None

    _verticals = field_validator("verticals", mode="before")(lambda v: _lower_all(v))
    filters: Filters = Filters()
    schedule: Schedule | None = None
    caps: Caps = Caps()
    dedup_days: float | None = Field(None, gt=0, le=3650)
    pricing: Literal["bid", "fixed"] = "bid"
    price: Money | None = None
    # A post that may have been taken: no answer (timeout, connection lost) or a 2xx that says
    # neither yes nor no. `stop` leaves the lead pending; `next` lets it go on down the tree.
    on_post_timeout: Literal["stop", "next"] = "stop"
    on_post_unknown: Literal["stop", "next"] = "stop"
    pii_attributes: frozenset[str] = frozenset()
    # PII this buyer's pings carry because its spec demands it (DESIGN §8b): some of
    # config.reads.PING_PII_OPT_INS, never more; `pingtree validate` lists each.
    ping_pii_allowed: frozenset[str] = frozenset()
    ping: Endpoint | None = None
    post: Endpoint | None = None  # none: a delivery buyer (pricing: fixed with deliveries)
    deliveries: tuple[Destination, ...] = ()

    _tz = field_validator("timezone")(lambda v: v if v is None else _check_timezone(v))
    _opt_ins = field_validator("ping_pii_allowed")(check_ping_pii_opt_ins)

    @property
    def limits_sales(self) -> bool:
        """Whether a sale to this buyer must be reserved: it has a cap or dedup to keep."""
        return self.caps.any or self.dedup_days is not None

    @across("pricing", "price")
    def _priced(self) -> Iterator[Problem]:
        if self.pricing == "fixed" and (self.price is None or self.price <= 0):
            yield ("price",), "pricing: fixed needs a positive price"
        if self.pricing == "bid" and self.price is not None:
            yield ("price",), "price is only for pricing: fixed"

    @across("pricing", "ping")
    def _pinged(self) -> Iterator[Problem]:
        if self.pricing == "bid" and self.ping is None:
            yield ("ping",), "pricing: bid needs ping.url (or set pricing: fixed with a price)"

    @across("pricing", "post", "deliveries")
    def _reachable(self) -> Iterator[Problem]:
        if self.post is None and not (self.pricing == "fixed" and self.deliveries):
            yield (
                ("post",),
                "post.url is required, unless the buyer is pricing: fixed with deliveries "
                "(it then buys by assignment and gets its leads by delivery)",
            )

    @across("deliveries")
    def _deliveries_named(self) -> Iterator[Problem]:
        names = [d.id for d in self.deliveries]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            yield ("deliveries",), f"give each its own id ({', '.join(repeated)} repeated)"

    @across("ping")
    def _ping_answer_priced(self) -> Iterator[Problem]:
        answer = self.ping.response if self.ping is not None else None
        if answer is not None and answer.price is None:
            yield (
                ("ping", "response", "price"),
                "ping.response needs `price`: a ping answer without one is no bid",
            )


class Config(_Frozen):
    router: RouterSettings = RouterSettings()
    pii_attributes: frozenset[str] = frozenset()
    verticals: FrozenMap[str, VerticalSchema] = Field(default_factory=dict)
    sellers: tuple[SellerConfig, ...] = Field(min_length=1)
    buyers: tuple[BuyerConfig, ...] = Field(min_length=1)

    @field_validator("router", mode="before")
    @classmethod
    def _empty_router(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("verticals", mode="before")
    @classmethod
    def _vertical_names(cls, value: Any) -> Any:
        if isinstance(value, dict):  # compared as the lead's are: trimmed, lower-case
            return {str(k).strip().lower(): v for k, v in value.items()}
        return value

    @across("buyers", "sellers", "pii_attributes", "verticals")
    def _pings_without_pii(self) -> Iterator[Problem]:
        yield from mapping_errors(self)

    @across("router", "buyers", items_that_failed=True)
    def _fixed_prices_can_win(self) -> Iterator[Problem]:
        # A fixed price is an offer ranked like a bid (DESIGN §3): outside floor..max_bid every
        # auction would decline it, so the buyer would never buy a lead.
        floor, max_bid = self.router.floor, self.router.max_bid
        for index, buyer in enumerate(self.buyers):
            if not parsed(buyer, "pricing", "price"):
                continue
            price = buyer.price if buyer.pricing == "fixed" else None
            if price is not None and price > max_bid:
                yield (
                    ("buyers", index, "price"),
                    f"{price} is above router.max_bid ({max_bid}): every auction would decline "
                    "it (above_max_bid), so this buyer could never buy a lead",
                )
            elif price is not None and 0 < price < floor:
                yield (
                    ("buyers", index, "price"),
                    f"{price} is below router.floor ({floor}): every auction would decline it "
                    "(below_floor), so this buyer could never buy a lead",
                )

    @across("sellers", "buyers")
    def _unique(self) -> Iterator[Problem]:
        # The loader reports these at their paths (with every other error); a Config built in
        # code gets them here, from the same check.
        sellers = [{"id": s.id, "api_key": s.api_key.get_secret_value()} for s in self.sellers]
        buyers = [
            {"id": b.id, "filters": {"sellers": sorted(b.filters.sellers or ())}}
            for b in self.buyers
        ]
        errors = cross_errors({"sellers": sellers, "buyers": buyers})
        if errors:
            yield (), "; ".join(f"{path}: {message}" for path, message in errors)

    def buyer_timezone(self, buyer: BuyerConfig) -> str:
        return buyer.timezone or self.router.timezone

    def pii_for(self, buyer: BuyerConfig, vertical: str | None = None) -> frozenset[str]:
        """Attributes withheld from this buyer's pings: the operator's, the buyer's, and those the
        vertical's schema marks `pii` (every vertical the buyer may buy when none is given)."""
        pii = self.pii_attributes | buyer.pii_attributes
        if vertical is not None:
            schema = self.verticals.get(vertical)
            return pii | schema.pii_attributes if schema else pii
        for name, schema in self.verticals.items():
            if buyer.verticals is None or name in buyer.verticals:
                pii |= schema.pii_attributes
        return pii


def index_label(index: int, item: Any) -> str:
    """`[2:lawfirm-a]` rather than `[2]`: the operator finds the buyer by its id."""
    ident = item.get("id") if isinstance(item, dict) else None
    return f"[{index}]" if ident is None else f"[{index}:{ident}]"


def cross_errors(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks across entries (repeated ids and keys, unknown sellers), each at its own path and
    all at once, even when other fields are invalid too."""
    sellers = [s for s in raw.get("sellers") or () if isinstance(s, dict)]
    buyers = [b for b in raw.get("buyers") or () if isinstance(b, dict)]
    errors: list[tuple[str, str]] = []

    def repeats(section: str, items: list[dict[str, Any]], key: str) -> None:
        first: dict[Any, str] = {}
        for index, item in enumerate(items):
            value, where = item.get(key), f"{section}{index_label(index, item)}"
            if not isinstance(value, str) or not value:
                continue
            if value in first:
                shown = "the same api_key" if key == "api_key" else f"the same {key} {value!r}"
                errors.append((f"{where}.{key}", f"{shown} as {first[value]}"))
            else:
                first[value] = where

    repeats("sellers", sellers, "id")
    repeats("sellers", sellers, "api_key")
    repeats("buyers", buyers, "id")
    known = {s.get("id") for s in sellers}
    for index, buyer in enumerate(buyers):
        filters = buyer.get("filters")
        named = filters.get("sellers") if isinstance(filters, dict) else None
        for seller_id in named if isinstance(named, list) else ():
            if seller_id not in known:
                where = f"buyers{index_label(index, buyer)}.filters.sellers"
                errors.append((where, f"unknown seller {seller_id!r}"))
    return errors
