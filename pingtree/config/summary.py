"""`pingtree validate`'s one-screen summary: the router settings that shape an auction, the
sellers and their terms, the buyers tier by tier with what limits each, and every buyer's
opt-in to PII in its pings."""

from __future__ import annotations

from pingtree.config.models import BuyerConfig, Config, masked_url
from pingtree.config.models.compliance import ConsentEvidence
from pingtree.config.reads import ping_pii
from pingtree.config.terms_text import (
    buyer_market,
    ranking_text,
    returns_text,
    seller_exchange,
    share_text,
    suppression_text,
)
from pingtree.core.money import cents


def describe_tree(config: Config) -> str:
    """One screen: the router settings that shape an auction, the sellers, and the tree by tier."""
    r = config.router
    lines = [
        f"router: mode={r.mode} budget={r.budget_ms}ms post_reserve={r.post_reserve_ms}ms "
        f"floor={cents(r.floor)} max_bid={cents(r.max_bid)} min_margin={cents(r.min_margin)} "
        f"require_consent={'yes' if r.require_consent else 'no'} timezone={r.timezone}",
        f"ranking: {ranking_text(r)}",
        f"returns: {returns_text(r.returns)}",
    ]
    lines += _vertical_share_lines(config)
    lines.append(f"sellers ({len(config.sellers)}):")
    for seller in config.sellers:
        terms = (
            f"payout {cents(seller.payout)}"
            if seller.payout is not None
            else f"revshare {seller.effective_revshare}"
        )
        verticals = ",".join(sorted(seller.verticals)) if seller.verticals else "any vertical"
        shared = share_text(seller.sell, seller.max_buyers)
        extra = [shared] if shared else []
        lines.append(
            f"  {seller.id}: " + ", ".join([terms, verticals, *extra, *seller_exchange(seller)])
        )
    lines.append(f"buyers ({len(config.buyers)}):")
    for priority in sorted({b.priority for b in config.buyers}):
        lines.append(f"  tier {priority}:")
        for buyer in (b for b in config.buyers if b.priority == priority):
            lines.append(f"    {buyer.id}: {_buyer_terms(buyer, config)}")
    lines += _ping_pii_lines(config)
    lines += _gate_lines(config)
    lines += _suppression_lines(config)
    return "\n".join(lines)


def _vertical_share_lines(config: Config) -> list[str]:
    """The verticals that say how their leads are sold (DESIGN §14); a seller's own wins."""
    return [
        f"vertical {name}: {share_text(schema.sell, schema.max_buyers)}"
        for name, schema in sorted(config.verticals.items())
        if schema.sell is not None
    ]


def _suppression_lines(config: Config) -> list[str]:
    lines = [f"  {listed.id}: {suppression_text(listed)}" for listed in config.suppression]
    return [f"suppression lists ({len(lines)}):", *lines] if lines else []


def _gate_lines(config: Config) -> list[str]:
    """The compliance gates (DESIGN §16): the consent evidence asked for, by whom, and each check
    as it is called (its URL masked, its auth said to be there, never shown)."""
    lines = []
    if config.router.consent is not None:
        lines.append(f"consent evidence: router {_evidence(config.router.consent)}")
    for seller in config.sellers:
        if seller.consent is not None:
            lines.append(f"consent evidence: seller {seller.id} {_evidence(seller.consent)}")
    if config.checks:
        lines.append(f"checks ({len(config.checks)}, within {config.router.checks_budget_ms}ms):")
    for check in config.checks:
        parts = [f"{check.method} {masked_url(check.url)}", f"timeout {check.timeout_ms}ms"]
        parts.append(f"on_error {check.on_error}")
        if check.auth is not None:
            parts.append(f"auth {check.auth.type} ***")
        if check.attribute_names():
            parts.append("adds " + ",".join(check.attribute_names()))
        lines.append(f"  {check.id}: " + " · ".join(parts))
    return lines


def _evidence(evidence: ConsentEvidence) -> str:
    age = f" within {evidence.max_age_s}s" if evidence.max_age_s is not None else ""
    return f"{evidence.require}{age}"


def _ping_pii_lines(config: Config) -> list[str]:
    """Every opt-in to PII in a ping (DESIGN §8b), one line per buyer and field, so that a
    review of the file sees each exception to "no PII in a ping" by name."""
    lines = []
    for buyer in config.buyers:
        read = ping_pii(buyer)
        for name in sorted(buyer.ping_pii_allowed):
            unused = "" if name in read else " (allowed, but its ping mapping does not read it)"
            lines.append(f"  {buyer.id}: its ping carries {name}{unused}")
    return ["ping PII opt-ins (ping_pii_allowed):", *lines] if lines else []


def _buyer_terms(buyer: BuyerConfig, config: Config) -> str:
    parts = [f"fixed {cents(buyer.price)}" if buyer.price is not None else "bid"]
    parts.append(",".join(sorted(buyer.verticals)) if buyer.verticals else "any vertical")
    if buyer.filters.states:
        parts.append("states " + ",".join(sorted(buyer.filters.states)))
    caps = buyer.caps
    cap_text = [
        f"{name} {value}"
        for name, value in (
            ("hourly", caps.hourly),
            ("daily", caps.daily),
            ("budget", cents(caps.daily_budget) if caps.daily_budget is not None else None),
        )
        if value is not None
    ]
    if cap_text:
        parts.append("caps " + " ".join(cap_text))
    if buyer.schedule:
        parts.append(
            f"{'/'.join(buyer.schedule.days)} {buyer.schedule.hours} {config.buyer_timezone(buyer)}"
        )
    if buyer.dedup_days:
        parts.append(f"dedup {buyer.dedup_days:g}d")
    return " · ".join(parts + buyer_market(buyer))
