"""What the Config page shows of a buyers.yaml, as plain data for its template: the tree's summary
(the router settings that shape an auction, the sellers' terms, the buyers tier by tier with what
limits each, the operators by name and role), a reload's diff (config/diff.py's) as sentences,
and an audit entry's detail as one line.

Never a secret: no API key, token, dedup_secret, header or query value, auth or signing key is
read here (a header is named, never shown), and a URL is shown as `masked_url` gives it, without
its query string or credentials, as GET /admin/deliveries shows one. PURE: models in, text out."""

from __future__ import annotations

from typing import Any

from pingtree.config import Config, masked_url
from pingtree.config.models import BuyerConfig, Endpoint, SellerConfig
from pingtree.config.models.compliance import CheckConfig, ConsentEvidence
from pingtree.config.terms_text import (
    buyer_market,
    ranking_text,
    returns_text,
    seller_exchange,
    share_text,
)
from pingtree.core.money import cents


def tree_summary(config: Config) -> dict[str, Any]:
    """{"router": [(label, value)], "sellers": [...], "tiers": [(priority, [buyer])],
    "operators": [(name, role)]}: what the Config page's tables show."""
    r = config.router
    router = [
        ("mode", r.mode),
        ("budget", f"{r.budget_ms} ms (post reserve {r.post_reserve_ms} ms)"),
        ("floor", str(cents(r.floor))),
        ("max bid", str(cents(r.max_bid))),
        ("min margin", str(cents(r.min_margin))),
        ("consent required", "yes" if r.require_consent else "no"),
        ("timezone", r.timezone),
        ("consent evidence", _consent(r.consent)),
        ("checks budget", f"{r.checks_budget_ms} ms"),
        ("ranking", ranking_text(r)),
        ("returns", returns_text(r.returns)),
    ]
    router += [
        (f"vertical {name}", share_text(schema.sell, schema.max_buyers))
        for name, schema in sorted(config.verticals.items())
        if schema.sell is not None
    ]
    tiers = [
        (priority, [_buyer(b, config) for b in config.buyers if b.priority == priority])
        for priority in sorted({b.priority for b in config.buyers})
    ]
    operators = [(o.name, o.role) for o in config.operators]
    if r.admin_token is not None:
        operators.insert(0, ("admin", "admin"))  # router.admin_token (DESIGN §13)
    return {
        "router": router,
        "sellers": [_seller(s) for s in config.sellers],
        "tiers": tiers,
        "operators": operators,
        "checks": [_check(c) for c in config.checks],
    }


def _consent(evidence: ConsentEvidence | None) -> str:
    if evidence is None:
        return "none"
    age = f", at most {evidence.max_age_s} s old" if evidence.max_age_s is not None else ""
    return f"{evidence.require}{age}"


def _check(check: CheckConfig) -> dict[str, Any]:
    """A check as the Config page lists it: how it is called (as a buyer's ping is shown: auth
    said to be there, headers named, the URL masked), what it adds, what an error does."""
    return {
        "id": check.id,
        "call": _endpoint(check),
        "attributes": ", ".join(check.attribute_names()),
        "on_error": check.on_error,
    }


def _seller(seller: SellerConfig) -> dict[str, Any]:
    terms = (
        f"payout {cents(seller.payout)}"
        if seller.payout is not None
        else f"revshare {seller.effective_revshare}"
    )
    return {
        "id": seller.id,
        "terms": terms,
        "verticals": ", ".join(sorted(seller.verticals)) if seller.verticals else "any",
        "rate_limit": f"{seller.rate_limit.per_second:g}/s" if seller.rate_limit else "",
        "postback": masked_url(seller.postback.url) if seller.postback else "",
        "consent": _consent(seller.consent) if seller.consent else "",
        "selling": share_text(seller.sell, seller.max_buyers),
        "exchange": " · ".join(seller_exchange(seller)),
    }


def _buyer(buyer: BuyerConfig, config: Config) -> dict[str, Any]:
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
    schedule = ""
    if buyer.schedule:
        days = "/".join(buyer.schedule.days)
        schedule = f"{days} {buyer.schedule.hours} {config.buyer_timezone(buyer)}"
    return {
        "id": buyer.id,
        "pricing": f"fixed {cents(buyer.price)}" if buyer.price is not None else "bid",
        "verticals": ", ".join(sorted(buyer.verticals)) if buyer.verticals else "any",
        "filters": _filters(buyer),
        "caps": " · ".join(cap_text),
        "schedule": schedule,
        "dedup": f"{buyer.dedup_days:g} days" if buyer.dedup_days else "",
        "ping": _endpoint(buyer.ping),
        "post": _endpoint(buyer.post),
        "deliveries": ", ".join(d.id for d in buyer.deliveries),
        "market": " · ".join(buyer_market(buyer)),
    }


def _filters(buyer: BuyerConfig) -> list[str]:
    found = buyer.filters
    lines = []
    if found.states:
        lines.append("states " + ", ".join(sorted(found.states)))
    if found.zip_prefixes:
        lines.append("zip " + ", ".join(found.zip_prefixes))
    if found.sellers:
        lines.append("sellers " + ", ".join(sorted(found.sellers)))
    for name, wanted in found.require.items():
        shown = " or ".join(map(str, wanted)) if isinstance(wanted, tuple) else str(wanted)
        lines.append(f"{name} = {shown}")
    for name, span in found.ranges.items():
        low = "" if span.min is None else f"{span.min:g} ≤ "
        high = "" if span.max is None else f" ≤ {span.max:g}"
        lines.append(f"{low}{name}{high}")
    return lines


def _endpoint(endpoint: Endpoint | None) -> str:
    """How a buyer is called: the dialect at a glance, the timeout, the URL masked. Headers are
    named (their values may be keys), auth and signing said to be there, nothing of them shown."""
    if endpoint is None:
        return ""
    dialect = "native" if endpoint.native else f"{endpoint.format} {endpoint.method}"
    parts = [dialect, f"{endpoint.timeout_ms} ms", masked_url(endpoint.url)]
    if endpoint.headers:
        parts.append("headers " + ", ".join(sorted(endpoint.headers)))
    if endpoint.auth is not None:
        parts.append("auth")
    if endpoint.sign is not None:
        parts.append("signed")
    return " · ".join(parts)


_SECTIONS = (("buyers", "buyer"), ("sellers", "seller"), ("operators", "operator"))


def diff_lines(diff: dict[str, Any]) -> list[str]:
    """config_diff's dict as sentences, one per change: "buyer firm changed: caps", "buyer
    newco added", "router settings changed: floor". Names only, as the diff keeps them."""
    lines = []
    for section, one in _SECTIONS:
        part = diff.get(section) or {}
        lines += [f"{one} {ident} added" for ident in part.get("added", [])]
        lines += [f"{one} {ident} removed" for ident in part.get("removed", [])]
        for ident, keys in (part.get("changed") or {}).items():
            lines.append(f"{one} {ident} changed: {', '.join(keys)}")
    if diff.get("router"):
        lines.append("router settings changed: " + ", ".join(diff["router"]))
    if diff.get("other"):
        lines.append("other sections changed: " + ", ".join(diff["other"]))
    return lines


def audit_detail(action: str, detail: dict[str, Any]) -> str:
    """An audit entry's detail on one line: a reload's diff as diff_lines says it, anything
    else as key=value pairs (the audit keeps no PII or secret in a detail)."""
    if action == "reload":
        changes = diff_lines(detail)
        head = f"generation {detail['generation']}" if "generation" in detail else "reload"
        return "; ".join([head, *(changes or ["nothing changed"])])
    return ", ".join(f"{key}={value}" for key, value in detail.items())


__all__ = ["audit_detail", "diff_lines", "tree_summary"]
