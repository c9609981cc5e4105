"""`pingtree try BUYER --config FILE --lead FILE [--send]`: what this buyer would be sent, byte
for byte, before it goes live; with `--send`, its raw answers and what pingtree made of them.
Built, sent and read as in an auction: by the wire (auction/wire.py) and the bidder's
`send_ping`, `send_post` and `offer_for` (auction/bidder.py), without its breaker or trace.

Secrets are masked in everything shown: every value that came from a `${NAME}` reference, the
credentials of `auth` and URLs, signatures, and headers whose names say they hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

from pingtree.auction.bidder import offer_for, send_ping, send_post
from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.wire import Target, Wire
from pingtree.config import BuyerConfig, Config, env_values, masked_url, read_yaml
from pingtree.config.dialect import secret_header
from pingtree.config.tree import Tree
from pingtree.core import ids, jsonenc
from pingtree.core.codec import Accepted, Bid, Decline, Failure, Unknown
from pingtree.core.codec.request import Placeholder
from pingtree.core.codec.transforms import MappingError
from pingtree.core.errors import PingtreeError
from pingtree.core.lead import Lead, apply_schema, parse_lead
from pingtree.core.ranking import Offer
from pingtree.transport.client import Call, Request, Transport

_SHOWN_BODY = 4000
_MASKED_HEADERS = ("authorization", "webhook-signature")


class Masker:
    """Replaces every known secret in text with ***. A plain URL given whole by the environment
    (`url: ${ACME_URL}`) is shown: where a call goes is not a secret, and `masked_url` already
    hides a URL's credentials and query string."""

    def __init__(self, secrets: Iterable[str]) -> None:
        kept = sorted(
            {s for s in secrets if len(s) >= 3 and not _plain_url(s)}, key=len, reverse=True
        )
        self._pattern = re.compile("|".join(map(re.escape, kept))) if kept else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub("***", text) if self._pattern else text


def _plain_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and not (
        parts.username or parts.password or parts.query
    )


def masker_for(config_path: str | Path, env: dict[str, str]) -> Masker:
    return Masker(env_values(read_yaml(config_path), env))


def read_lead(path: str | Path, config: Config) -> Lead:
    return lead_from_json(Path(path).read_bytes(), config, str(path))


def lead_from_json(raw: bytes, config: Config, where: str) -> Lead:
    """A lead as JSON (a file's, the console's form's) as the router would read it: parsed,
    then checked against its vertical's schema. `where` names it in an error."""
    body = jsonenc.loads(raw)
    if not isinstance(body, dict):
        raise PingtreeError(f"{where}: a lead is a JSON object")
    lead = parse_lead(body)
    return apply_schema(lead, config.verticals.get(lead.vertical))


def show_request(
    out: TextIO, title: str, target: Target, body: bytes, mask: Callable[[str], str]
) -> None:
    if isinstance(target, Request):
        method, url, headers, body = target.method, target.url, target.headers, target.body
    else:
        method, url = "POST", target
        headers = (("Content-Type", "application/json"),)
    print(f"--- {title}: {method} {mask(_shown_url(url))}", file=out)
    for name, value in headers:
        hidden = name.lower() in _MASKED_HEADERS or secret_header(name)
        shown = _scheme_only(value) if hidden and not _PLACEHOLDER.fullmatch(value) else mask(value)
        print(f"{name}: {shown}", file=out)
    print(file=out)
    text = _readable_placeholders(body.decode("utf-8", "replace"))
    print(mask(text[:_SHOWN_BODY]) + (" …" if len(text) > _SHOWN_BODY else ""), file=out)
    print(file=out)


def carried_placeholders(buyer: BuyerConfig) -> tuple[tuple[str, str], ...]:
    """What the ping's answer will carry, unknown until it is sent: `<carried:NAME>` each."""
    answer = buyer.ping.response if buyer.ping is not None else None
    names = answer.carry if answer is not None else {}
    return tuple((name, Placeholder(f"<carried:{name}>")) for name in names)


_PLACEHOLDER = re.compile(r"<carried:\w+>")
# A placeholder as a form body, a query string or an XML text spells it.
_ENCODED_PLACEHOLDER = re.compile(r"%3Ccarried%3A(\w+)%3E|&lt;carried:(\w+)&gt;")


def _readable_placeholders(text: str) -> str:
    return _ENCODED_PLACEHOLDER.sub(lambda m: f"<carried:{m.group(1) or m.group(2)}>", text)


def _shown_url(url: str) -> str:
    """The URL as `masked_url` shows it, except that a query's names are shown and its
    placeholders: `?key=***&lp_ping_id=<carried:ping_id>`."""
    parts = urlsplit(url)
    shown = masked_url(url)
    if not _ENCODED_PLACEHOLDER.search(parts.query):
        return shown
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{n}={v if _PLACEHOLDER.fullmatch(v) else '***'}" for n, v in pairs)
    return shown.removesuffix("?***") + "?" + query


def _scheme_only(value: str) -> str:
    scheme, _, rest = value.partition(" ")
    return f"{scheme} ***" if rest and scheme.lower() in ("basic", "bearer") else "***"


def show_answer(out: TextIO, answered: Call, meaning: object, mask: Callable[[str], str]) -> None:
    outcome = answered.outcome
    if isinstance(outcome, PingtreeError):
        print(f"answer: none ({type(outcome).__name__}: {mask(outcome.detail)})", file=out)
    else:
        text = outcome.body.decode("utf-8", "replace")
        print(f"answer: HTTP {outcome.status} in {outcome.duration_ms:.0f} ms", file=out)
        print(mask(text[:_SHOWN_BODY]), file=out)
    print(f"read as: {mask(_meaning(meaning))}", file=out)
    print(file=out)


def _meaning(answer: object) -> str:
    if isinstance(answer, Bid):
        carried = f", carried {dict(answer.carried)}" if answer.carried else ""
        bid_id = f", bid_id {answer.bid_id}" if answer.bid_id else ""
        return f"bid {answer.price}{bid_id}{carried}"
    if isinstance(answer, Accepted):
        return f"accepted (buyer lead id {answer.buyer_lead_id}, redirect {answer.redirect_url})"
    if isinstance(answer, Decline):
        return f"declined ({answer.code}): {answer.reason}"
    if isinstance(answer, Failure):
        return f"failure ({answer.reason}): {answer.detail}"
    if isinstance(answer, Unknown):
        return f"unknown (post_unknown: the buyer may have taken it): {answer.detail}"
    return repr(answer)


async def try_buyer(
    config: Config,
    buyer: BuyerConfig,
    lead: Lead,
    *,
    send: bool,
    mask: Callable[[str], str],
    out: TextIO,
    transport: Transport,
) -> int:
    """Show (and with `send`, make through `transport`, closed when done) the ping and the post;
    0 when the buyer would buy."""
    tree = Tree(config)
    auction = LiveAuction.open(tree, config.sellers[0], lead, loop_time())
    tryout = Tryout(Wire(auction), transport, tree.max_response, buyer, send, mask, out)
    try:
        offer: Offer | None = Offer(
            buyer_id=buyer.id,
            price=buyer.price or config.router.floor,
            priority=buyer.priority,
            answered_ms=0,
            order=0,
        )
        if buyer.ping is not None:
            offer = await tryout.ping()
        if offer is None:
            return 1
        if buyer.post is None:
            names = ", ".join(d.id for d in buyer.deliveries)
            print(f"no post: {buyer.id} buys by assignment; the lead goes to: {names}", file=out)
            return 0
        return await tryout.post(offer)
    finally:
        await transport.close()


@dataclass(frozen=True, slots=True)
class Tryout:
    """One buyer's ping and post, shown, and with `send` sent and their answers shown."""

    wire: Wire
    transport: Transport
    max_bytes: int
    buyer: BuyerConfig
    send: bool
    mask: Callable[[str], str]
    out: TextIO

    async def ping(self) -> Offer | None:
        """The offer the post will carry: the bid read from the answer with `send`, else an
        example price and the carried values as placeholders. None when there is none."""
        buyer, out, mask = self.buyer, self.out, self.mask
        assert buyer.ping is not None
        ping_id = ids.ping_id()
        built = self.wire.ping(buyer, ping_id)
        if isinstance(built, MappingError):
            print(f"ping: cannot be built: {built}", file=out)
            return None
        show_request(out, f"ping to {buyer.id}", *built, mask)
        if not self.send:
            return Offer(
                buyer_id=buyer.id,
                price=Decimal("1.00"),
                priority=buyer.priority,
                answered_ms=0,
                order=0,
                ping_id=ping_id,
                carried=carried_placeholders(buyer),
            )
        timeout = buyer.ping.timeout_ms / 1000
        answered, answer = await send_ping(self.transport, buyer, built, timeout, self.max_bytes)
        show_answer(out, answered, answer, mask)
        if not isinstance(answer, Bid):
            return None
        return offer_for(buyer, answer, ping_id=ping_id, answered_ms=0, order=0)

    async def post(self, offer: Offer) -> int:
        """0 when the post can be built and (with `send`) was accepted."""
        buyer, out, mask = self.buyer, self.out, self.mask
        assert buyer.post is not None
        built = self.wire.post(buyer, offer)
        if isinstance(built, MappingError):
            print(f"post: cannot be built: {built}", file=out)
            return 1
        title = f"post to {buyer.id} at {offer.price}" + (
            "" if self.send or buyer.ping is None else " (an example price: --send asks the ping)"
        )
        show_request(out, title, *built, mask)
        if not self.send:
            return 0
        timeout = buyer.post.timeout_ms / 1000
        answered, verdict = await send_post(self.transport, buyer, built, timeout, self.max_bytes)
        show_answer(out, answered, verdict, mask)
        return 0 if isinstance(verdict, Accepted) else 1
