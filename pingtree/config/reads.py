"""What a buyer's mappings may read, checked at load with the whole config in view, each error at
its own path (`buyers[0:lp-solar].post.query.lp_ping_id.from`):

- a ping reads no PII of DESIGN §8 (nor `email_domain`, nor an attribute marked pii) except what
  its buyer names in `ping_pii_allowed` (DESIGN §8b), and nothing only known once it is answered;
- a post reads `ping.NAME` only when the buyer's ping answer carries NAME (`response.carry`);
- a buyer's ping or post reads nothing only a delivery knows (`delivery_attempt`, `sold_at`);
- a seller's postback reads nothing per lead: its body is the seller's own view of the sale
  (its `fields` are ignored), and a `{from: …}` in its query or headers could hand the seller
  what `reveal` hides, or the consumer's PII.

Fields, `query:` and `headers:` values are one vocabulary (`endpoint_reads`), checked alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pingtree.config.checked import Loc, Problem
from pingtree.config.dialect import DELIVERY_SOURCES, PII_DERIVED_SOURCES, MappedValue
from pingtree.core.lead import PII_FIELDS

if TYPE_CHECKING:  # models/ calls this module from its checks (Config, BuyerConfig)
    from pingtree.config.models import BuyerConfig, Config, Endpoint

# The PII a buyer may name in `ping_pii_allowed` to get it in its pings (DESIGN §8b): what real
# specs ask for to price a lead. Never the name, phone, email, street address, dob, or the
# TrustedForm and Jornaya ids (a certificate replays the consumer's whole form).
PING_PII_OPT_INS: frozenset[str] = frozenset({"city", "ip_address", "email_domain"})
# What a ping never reads unless the buyer opts in (and only PING_PII_OPT_INS can be).
PING_PII_SOURCES = PII_FIELDS | PII_DERIVED_SOURCES
# Sources that only exist once the ping has been answered.
_POST_ONLY_SOURCES = frozenset({"auction.bid_id", "auction.price"})


def check_ping_pii_opt_ins(value: frozenset[str]) -> frozenset[str]:
    refused = sorted(value - PING_PII_OPT_INS)
    if refused:
        allowed = ", ".join(sorted(PING_PII_OPT_INS))
        raise ValueError(
            f"{', '.join(map(repr, refused))} can never go in a ping; "
            f"ping_pii_allowed takes {allowed}"
        )
    return value


def endpoint_reads(endpoint: Endpoint) -> Iterator[tuple[Loc, str]]:
    """(path under the endpoint, source) of every `from` it has: fields, query and headers."""
    for number, field in enumerate(endpoint.fields or ()):
        if field.source is not None:
            yield ("fields", number, "from"), field.source
    for section, given in (("query", endpoint.query), ("headers", endpoint.headers)):
        for name, value in given.items():
            if isinstance(value, MappedValue) and value.source is not None:
                yield (section, name, "from"), value.source


def ping_pii(buyer: BuyerConfig) -> frozenset[str]:
    """The opted-in PII this buyer's pings carry when a lead has it: all of `ping_pii_allowed`
    when the ping's body is the native one, else the part its ping mapping reads."""
    ping = buyer.ping
    if ping is None or not buyer.ping_pii_allowed:
        return frozenset()
    if ping.fields is None:
        return buyer.ping_pii_allowed
    return buyer.ping_pii_allowed & {source for _, source in endpoint_reads(ping)}


def mapping_errors(config: Config) -> list[Problem]:
    errors: list[Problem] = []
    for index, buyer in enumerate(config.buyers):
        where: Loc = ("buyers", index)
        errors += _ping_errors(config, buyer, where)
        if buyer.post is not None:
            errors += _carried_errors(buyer, buyer.post, (*where, "post"))
        errors += _delivery_source_errors(buyer, where)
    for index, seller in enumerate(config.sellers):
        if seller.postback is None:
            continue
        for path, source in endpoint_reads(seller.postback):
            if path[0] == "fields":
                continue  # a postback's fields are never used: its body is the event
            errors.append(
                (
                    ("sellers", index, "postback", *path),
                    f"a postback reads nothing per lead ({source!r}): give fixed values",
                )
            )
    return errors


def _delivery_source_errors(buyer: BuyerConfig, where: Loc) -> list[Problem]:
    """What only a delivery knows (its attempt, the sale's time) is never read by a ping or post."""
    return [
        ((*where, step, *path), f"{source!r} is known only to deliveries")
        for step, endpoint in (("ping", buyer.ping), ("post", buyer.post))
        if endpoint is not None
        for path, source in endpoint_reads(endpoint)
        if source in DELIVERY_SOURCES
    ]


def _ping_errors(config: Config, buyer: BuyerConfig, where: Loc) -> list[Problem]:
    if buyer.ping is None:
        if buyer.ping_pii_allowed:
            return [((*where, "ping_pii_allowed"), "this buyer is never pinged (no ping.url)")]
        return []
    errors: list[Problem] = []
    attributes = config.pii_for(buyer)
    for path, source in endpoint_reads(buyer.ping):
        head, _, name = source.partition(".")
        at: Loc = (*where, "ping", *path)
        if source in PING_PII_SOURCES and source not in buyer.ping_pii_allowed:
            unless = " unless the buyer names it in ping_pii_allowed"
            hint = unless if source in PING_PII_OPT_INS else ""
            errors.append((at, f"{source!r} is PII: it can go in a post, never in a ping{hint}"))
        elif head == "attributes" and name in attributes:
            errors.append((at, f"{source!r} is PII: it can go in a post, never in a ping"))
        elif head == "ping" or source in _POST_ONLY_SOURCES:
            errors.append((at, f"{source!r} is only known after the ping: use it in posts"))
    return errors


def _carried_errors(buyer: BuyerConfig, endpoint: Endpoint, where: Loc) -> list[Problem]:
    """`ping.NAME` must name a value the buyer's ping answer carries: a typo would otherwise send
    every post without it."""
    answer = buyer.ping.response if buyer.ping is not None else None
    carried = answer.carry if answer is not None else {}
    errors: list[Problem] = []
    for path, source in endpoint_reads(endpoint):
        head, _, name = source.partition(".")
        if head != "ping" or name in carried:
            continue
        if buyer.ping is None:
            message = f"{source!r} reads the ping's answer, and this buyer is never pinged"
        else:
            known = ", ".join(sorted(carried)) or "nothing"
            message = f"{source!r}: the ping's answer carries no {name!r} (its carry: {known})"
        errors.append(((*where, *path), message))
    return errors


__all__ = [
    "PING_PII_OPT_INS",
    "PING_PII_SOURCES",
    "check_ping_pii_opt_ins",
    "endpoint_reads",
    "mapping_errors",
    "ping_pii",
]
