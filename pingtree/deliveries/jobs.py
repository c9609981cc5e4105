"""A sale → the deliveries it owes: one `Job` per destination of the winning buyer and one for
the seller's postback. PURE: the sale's time is an argument; nothing is sent or stored here.

A job holds the request exactly as built at the sale (URL, headers, body: the body holds PII),
without its signature: the worker signs each attempt with a fresh timestamp, the same
`webhook-id` (`Job.id`) and the signing secret the running config has then.

`delivery_attempt` (the default body's, or a mapping's `from: delivery_attempt`) is the one
value the sale cannot know. The request is built with the job's `attempt_marker` in its place, an
18-digit number derived from the job's id (which nobody knows before the sale, so no seller can
plant it in a lead), and `for_attempt` writes the attempt's number over it, wherever the format
put it (a JSON number or string, a form or query value, an XML element).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from pingtree.config import BuyerConfig, SellerConfig
from pingtree.config.models import Destination
from pingtree.config.tree import Tree
from pingtree.core import jsonenc
from pingtree.core.codec.request import OutboundRequest, Sources, build_request
from pingtree.core.codec.transforms import MappingError
from pingtree.core.lead import Lead
from pingtree.core.outcome import Outcome, seller_view
from pingtree.core.ranking import Offer
from pingtree.store.queue.base import Job

POSTBACK = "postback"  # a seller's one destination, whatever its `id` in the file
SOLD_EVENT = "lead.sold"


def iso_time(timestamp: float) -> str:
    """Unix seconds → `2024-05-01T12:30:00.123Z` (RFC 3339, UTC, milliseconds)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def buyer_owner(buyer_id: str) -> str:
    return f"buyer:{buyer_id}"


def seller_owner(seller_id: str) -> str:
    return f"seller:{seller_id}"


def job_id(lead_id: str, owner: str, destination: str) -> str:
    """The Standard Webhooks `webhook-id`: one per (sale, destination), whatever the attempts."""
    return f"{lead_id}.{owner}.{destination}"


def attempt_marker(ident: str) -> int:
    """What stands for `delivery_attempt` in the request of job `ident` until an attempt fills it
    in: 18 digits, from a hash of the id (the same at the sale and at every attempt)."""
    digest = hashlib.sha256(b"pingtree delivery_attempt " + ident.encode()).digest()
    return 10**17 + int.from_bytes(digest[:8], "big") % (9 * 10**17)


def attempt_number(job: Job) -> int:
    """Which attempt the next one is: 1, then one more for each settled before it (the history
    has a line each), on the failover and after a replay too. An attempt whose result was lost
    (a router killed mid-call) is made again under the same number."""
    return len(job.history) + 1


def for_attempt(job: Job, url: str, attempt: int) -> tuple[str, tuple[tuple[str, str], ...], bytes]:
    """`url`, the headers and the body of `job` with `attempt` in place of its marker."""
    marker, number = str(attempt_marker(job.id)), str(attempt)
    headers = tuple((name, value.replace(marker, number)) for name, value in job.headers)
    body = job.body.replace(marker.encode(), number.encode())
    return url.replace(marker, number), headers, body


@dataclass(frozen=True, slots=True)
class Unbuildable:
    """A destination whose request could not be built for this lead (its field mapping failed):
    nothing to send, ever. `reason` names the field and transform, never the value."""

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class SalePlan:
    jobs: tuple[Job, ...]
    unbuildable: tuple[Unbuildable, ...] = ()


def plan_sale(
    tree: Tree,
    outcome: Outcome,
    lead: Lead,
    won: Offer,
    *,
    now: float,
    shares: Sequence[Offer] = (),
) -> SalePlan:
    """Every delivery a sold lead owes, on the tree the auction ran on; `won`, the offer that
    bought it (its ping's ids, price and carried values); for a lead sold shared, `shares`, every
    offer that bought a share: each buyer's destinations get its own sale (its price, its ping's
    ids), the seller's postback one event for the lead. Nothing for a lead that was not sold (a
    `pending` one may never have been taken)."""
    if outcome.status != "sold" or outcome.buyer_id is None:
        return SalePlan(())
    today = datetime.fromtimestamp(now, UTC).date()
    jobs: list[Job] = []
    unbuildable: list[Unbuildable] = []
    # The lead's buyer is the outcome's; a shared lead's, each share's own.
    sold = [(o.buyer_id, o) for o in shares] if shares else [(outcome.buyer_id, won)]
    for buyer_id, offer in sold:
        sources = Sources(
            lead=lead,
            today=today,
            lead_id=outcome.id,
            seller=outcome.seller_id,
            ping_id=offer.ping_id,
            bid_id=offer.bid_id,
            price=offer.price,
            carried=dict(offer.carried),
            sold_at=iso_time(now),
        )
        buyer = tree.buyers.get(buyer_id)
        for destination in buyer.deliveries if buyer is not None else ():
            assert buyer is not None
            built = _buyer_job(buyer, destination, outcome, sources, now)
            if isinstance(built, Unbuildable):
                unbuildable.append(built)
            else:
                jobs.append(built)
    seller = tree.sellers.get(outcome.seller_id)
    if seller is not None and seller.postback is not None:
        jobs.append(_postback_job(seller, seller.postback, outcome, lead, today, now))
    return SalePlan(tuple(jobs), tuple(unbuildable))


def jobs_for_sale(tree: Tree, outcome: Outcome, lead: Lead, won: Offer, *, now: float) -> list[Job]:
    """The jobs of `plan_sale`, without the destinations that could not be built."""
    return list(plan_sale(tree, outcome, lead, won, now=now).jobs)


def _buyer_job(
    buyer: BuyerConfig, destination: Destination, outcome: Outcome, sources: Sources, now: float
) -> Job | Unbuildable:
    owner = buyer_owner(buyer.id)
    ident = job_id(outcome.id, owner, destination.id)
    # The default body (the native post's) and any mapping read it: see the module's docstring.
    sources = replace(sources, delivery_attempt=attempt_marker(ident))
    # Built unsigned: a signature is made per attempt (fresh timestamp, the current secret).
    unsigned = destination.model_copy(update={"sign": None})
    try:
        request = build_request(
            unsigned, sources, test=outcome.test, message_id=ident, timestamp=int(now)
        )
        failover = _failover(unsigned, request, sources, outcome, ident, now)
    except MappingError as exc:
        return Unbuildable(f"{owner}/{destination.id}", f"mapping: {exc}")
    return _job(ident, outcome, owner, destination.id, request, failover, now, destination.retry_s)


def _failover(
    endpoint: Destination,
    request: OutboundRequest,
    sources: Sources,
    outcome: Outcome,
    ident: str,
    now: float,
    native_body: bytes | None = None,
) -> str | None:
    """The failover's URL with the query the primary's request has: its `query:` values and, for
    a GET, the fields (the bare failover_url would send the lead without them). A test lead sent
    to a sandbox never falls over to the real failover."""
    if endpoint.failover_url is None or (outcome.test and endpoint.sandbox_url is not None):
        return None
    twin = endpoint.model_copy(update={"url": endpoint.failover_url, "sandbox_url": None})
    built = build_request(
        twin,
        sources,
        test=outcome.test,
        message_id=ident,
        timestamp=int(now),
        native_body=native_body,
    )
    # Only its address is kept: the body, built from the same sources, is the primary's.
    return built.url


def postback_event(outcome: Outcome, seller: SellerConfig, now: float) -> bytes:
    """The seller's postback body, a Standard Webhooks event: the seller's own view of its lead
    (DESIGN §2: no PII, buyer and price only when its `reveal` says so)."""
    event = {"type": SOLD_EVENT, "timestamp": iso_time(now), "data": seller_view(outcome, seller)}
    return jsonenc.dumps(event)


def _postback_job(
    seller: SellerConfig,
    postback: Destination,
    outcome: Outcome,
    lead: Lead,
    today: date,
    now: float,
) -> Job:
    owner = seller_owner(seller.id)
    ident = job_id(outcome.id, owner, POSTBACK)
    # The body is always the event: a field mapping could read what `reveal` hides (the price).
    endpoint = postback.model_copy(update={"sign": None, "fields": None, "format": "json"})
    sources = Sources(lead=lead, today=today, lead_id=outcome.id, seller=seller.id)
    event = postback_event(outcome, seller, now)
    request = build_request(
        endpoint,
        sources,
        test=outcome.test,
        message_id=ident,
        timestamp=int(now),
        native_body=event,
    )
    failover = _failover(endpoint, request, sources, outcome, ident, now, native_body=event)
    return _job(ident, outcome, owner, POSTBACK, request, failover, now, postback.retry_s)


def _job(
    ident: str,
    outcome: Outcome,
    owner: str,
    name: str,
    request: OutboundRequest,
    failover_url: str | None,
    now: float,
    retry_s: tuple[float, ...],
) -> Job:
    return Job(
        id=ident,
        lead_id=outcome.id,
        owner=owner,
        destination=name,
        created_at=now,
        method=request.method,
        url=request.url,
        failover_url=failover_url,
        headers=request.headers,
        body=request.body,
        due_at=now + retry_s[0],
    )


__all__ = [
    "POSTBACK",
    "SOLD_EVENT",
    "SalePlan",
    "Unbuildable",
    "attempt_marker",
    "attempt_number",
    "buyer_owner",
    "for_attempt",
    "iso_time",
    "job_id",
    "jobs_for_sale",
    "plan_sale",
    "postback_event",
    "seller_owner",
]
