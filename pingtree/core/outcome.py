"""What happened to a lead, once its auction is over: the finished record (`Outcome`, its trace of
`TraceEvent`s), its two views (DESIGN §2, §7) and its stored form. Plain, frozen data: store/,
deliveries/ and the web read it without knowing the auction in progress (auction/live.py), which
writes it once, when the auction ends."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pingtree.core import jsonenc

if TYPE_CHECKING:  # the ledger's filing process reads outcomes without loading the config models
    from pingtree.config import SellerConfig

Status = Literal["sold", "unsold", "rejected", "pending"]
Step = Literal["skip", "offer", "ping", "post", "check"]  # check: a compliance gate (gates/)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    at_ms: int
    buyer_id: str
    step: Step
    result: str
    reason: str | None = None
    http_status: int | None = None
    duration_ms: int | None = None
    bid: Decimal | None = None
    detail: str | None = None
    # A ping carrying PII its buyer opted in to (`ping_pii_allowed`): the fields' names.
    pii: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "at_ms": self.at_ms,
            "buyer_id": self.buyer_id,
            "step": self.step,
            "result": self.result,
        }
        for name in ("reason", "http_status", "duration_ms", "bid", "detail"):
            value = getattr(self, name)
            if value is not None:
                event[name] = value
        if self.pii:
            event["pii"] = list(self.pii)
        return event


@dataclass(frozen=True, slots=True)
class SaleLine:
    """One sale of a lead sold shared (DESIGN §14): its buyer, the price it pays, the seller's
    payout for it, and what the buyer answered."""

    buyer_id: str
    price: Decimal
    payout: Decimal
    buyer_lead_id: str | None = None
    redirect_url: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "buyer_id": self.buyer_id,
            "price": self.price,
            "payout": self.payout,
            "margin": self.price - self.payout,
            "buyer_lead_id": self.buyer_lead_id,
            "redirect_url": self.redirect_url,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str
    seller_id: str
    status: Status
    received_at: str
    auction_ms: int
    lead_id: str | None = None
    reason: str | None = None
    buyer_id: str | None = None
    price: Decimal | None = None
    payout: Decimal | None = None
    redirect_url: str | None = None
    buyer_lead_id: str | None = None
    vertical: str | None = None
    test: bool = False
    excluded: tuple[tuple[str, int], ...] = ()
    trace: tuple[TraceEvent, ...] = field(default=())
    # A lead sold shared: every sale, best first. Then buyer_id, buyer_lead_id and redirect_url
    # are the first sale's, price and payout the sums. Empty for a lead sold exclusive.
    sales: tuple[SaleLine, ...] = ()
    # A lead posted in exchange mode (POST /v1/post): the quote its ping was given. Told to the
    # live events as the auction finishes; not stored (the ledger's quotes table keeps it).
    quote: Decimal | None = None

    @property
    def shared(self) -> bool:
        return bool(self.sales)

    def sale_lines(self) -> tuple[SaleLine, ...]:
        """Every sale of a sold lead: its shares, or its one exclusive sale; none unless sold."""
        if self.sales or self.status != "sold" or self.buyer_id is None:
            return self.sales
        price, payout = self.price or Decimal(0), self.payout or Decimal(0)
        return (SaleLine(self.buyer_id, price, payout, self.buyer_lead_id, self.redirect_url),)

    @property
    def margin(self) -> Decimal | None:
        if self.price is None or self.payout is None:
            return None
        return self.price - self.payout

    def summary(self) -> Outcome:
        """The outcome without its trace: what an idempotency record keeps for a replay."""
        return replace(self, trace=())


def seller_view(outcome: Outcome, seller: SellerConfig | None) -> dict[str, Any]:
    """What the seller may see: its own answer; buyer and price only if its config reveals them."""
    view: dict[str, Any] = {
        "id": outcome.id,
        "lead_id": outcome.lead_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "payout": outcome.payout,
        "auction_ms": outcome.auction_ms,
    }
    if outcome.redirect_url is not None:
        view["redirect_url"] = outcome.redirect_url
    reveal = seller.reveal if seller is not None else ()
    if "buyer" in reveal:
        view["buyer_id"] = outcome.buyer_id
    if "price" in reveal:
        view["price"] = outcome.price
    if outcome.sales:  # shared: how many bought it, and each sale as far as reveal allows
        view["shared"] = True
        view["sales"] = [_seller_sale(line, reveal) for line in outcome.sales]
    if outcome.test:
        view["test"] = True
    return view


def _seller_sale(line: SaleLine, reveal: tuple[str, ...]) -> dict[str, Any]:
    sale: dict[str, Any] = {"payout": line.payout}
    if line.redirect_url is not None:
        sale["redirect_url"] = line.redirect_url
    if "buyer" in reveal:
        sale["buyer_id"] = line.buyer_id
    if "price" in reveal:
        sale["price"] = line.price
    return sale


def operator_view(outcome: Outcome) -> dict[str, Any]:
    """Everything: buyer, price, the seller's payout, our margin, every bid and the trace."""
    bids = [
        {"buyer_id": e.buyer_id, "bid": e.bid, "result": e.result, "reason": e.reason}
        for e in outcome.trace
        if e.step in ("ping", "offer") and e.bid is not None
    ]
    return {
        "id": outcome.id,
        "lead_id": outcome.lead_id,
        "seller_id": outcome.seller_id,
        "vertical": outcome.vertical,
        "status": outcome.status,
        "reason": outcome.reason,
        "buyer_id": outcome.buyer_id,
        "price": outcome.price,
        "payout": outcome.payout,
        "margin": outcome.margin,
        "redirect_url": outcome.redirect_url,
        "buyer_lead_id": outcome.buyer_lead_id,
        "test": outcome.test,
        "received_at": outcome.received_at,
        "auction_ms": outcome.auction_ms,
        "bids": bids,
        "not_candidates": dict(outcome.excluded),
        "trace": [event.as_json() for event in outcome.trace],
        "shared": outcome.shared,
        "sales": [line.as_json() for line in outcome.sale_lines()],
    }


# Stored form -------------------------------------------------------------------------------------
# A store keeps outcomes as bytes: compact, the same for every store (memory or Redis), and, kept by
# the hundred thousand in memory, invisible to the garbage collector (bytes hold no references).

_MONEY = ("price", "payout")
_EVENT_FIELDS = (
    "at_ms",
    "buyer_id",
    "step",
    "result",
    "reason",
    "http_status",
    "duration_ms",
    "bid",
    "detail",
)  # then, only on a ping that carried opted-in PII, its `pii` (older records never have it)


def encode_outcome(outcome: Outcome) -> bytes:
    """The stored form: its fields by name, money as text, each trace event a list of
    _EVENT_FIELDS' values (then its opted-in PII's names). Twice a lead (the store's copy, the
    ledger's record): the values are read by attrgetter, in C, rather than field by field."""
    fields = dict(zip(_OUTCOME_FIELDS, _outcome_values(outcome), strict=True))
    for name in _MONEY:
        fields[name] = None if fields[name] is None else str(fields[name])
    fields["excluded"] = [list(pair) for pair in outcome.excluded]
    fields["trace"] = [_event_row(event) for event in outcome.trace]
    if outcome.sales:  # only a shared lead's record has them (and those stored before, none)
        fields["sales"] = [
            [
                line.buyer_id,
                str(line.price),
                str(line.payout),
                line.buyer_lead_id,
                line.redirect_url,
            ]
            for line in outcome.sales
        ]
    # A copy of exactly its size: orjson's own result keeps its whole working buffer (about 8 KB),
    # which a store holding a hundred thousand outcomes would keep too.
    return bytes(memoryview(jsonenc.dumps(fields)))


def _sale_row(line: SaleLine) -> list[Any]:
    return [line.buyer_id, str(line.price), str(line.payout), line.buyer_lead_id, line.redirect_url]


def _event_row(event: TraceEvent) -> list[Any]:
    row = list(_event_values(event))
    if row[_BID] is not None:  # the one Decimal of an event
        row[_BID] = str(row[_BID])
    if event.pii:
        row.append(list(event.pii))
    return row


_OUTCOME_FIELDS = tuple(
    name for name in Outcome.__dataclass_fields__ if name not in ("trace", "sales", "quote")
)
_outcome_values = operator.attrgetter(*_OUTCOME_FIELDS)
_event_values = operator.attrgetter(*_EVENT_FIELDS)
_BID = _EVENT_FIELDS.index("bid")


def decode_outcome(data: bytes) -> Outcome:
    fields = jsonenc.loads(data)
    for name in _MONEY:
        fields[name] = None if fields[name] is None else Decimal(fields[name])
    fields["excluded"] = tuple((reason, count) for reason, count in fields["excluded"])
    trace = []
    for values in fields.pop("trace"):
        known, more = values[: len(_EVENT_FIELDS)], values[len(_EVENT_FIELDS) :]
        event = dict(zip(_EVENT_FIELDS, known, strict=True))
        if event["bid"] is not None:
            event["bid"] = Decimal(event["bid"])
        if more:
            event["pii"] = tuple(more[0])
        trace.append(TraceEvent(**event))
    sales = tuple(
        SaleLine(buyer, Decimal(price), Decimal(payout), buyer_lead_id, redirect_url)
        for buyer, price, payout, buyer_lead_id, redirect_url in fields.pop("sales", ())
    )
    return Outcome(**fields, trace=tuple(trace), sales=sales)
