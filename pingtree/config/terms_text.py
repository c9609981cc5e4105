"""The newer terms of a buyers.yaml as short text, for `pingtree validate`'s summary
(config/summary.py) and the console's Config page (web/console/config_view.py) alike: how a
seller's or a vertical's leads are sold (shared or exclusive), a seller's exchange settings, a
buyer's share, weight, pull and portal, the ranking, the return rules and the suppression lists.

Never a secret: a portal is said to be there, its key is never read. PURE: models in, text out."""

from __future__ import annotations

from pingtree.config.models import BuyerConfig, SellerConfig
from pingtree.config.models.portal import ReturnRules, ReturnRulesOverride
from pingtree.config.models.router_settings import RouterSettings
from pingtree.config.models.suppression import SuppressionList
from pingtree.config.share_terms import SellMode


def share_text(sell: SellMode | None, max_buyers: int | None) -> str:
    """ "sell shared, max_buyers 3", "sell exclusive", or "" when unset (the default applies)."""
    if sell is None:
        return ""
    return f"sell {sell}, max_buyers {max_buyers}" if sell == "shared" else f"sell {sell}"


def seller_exchange(seller: SellerConfig) -> list[str]:
    """A seller's exchange settings (POST /v1/ping, /v1/post), those its file sets only."""
    given = seller.model_fields_set
    parts = []
    if "ping_budget_ms" in given:
        parts.append(f"ping_budget {seller.ping_budget_ms}ms")
    if "price_step" in given:
        parts.append(f"price_step {seller.price_step}")
    if "ping_ttl_s" in given:
        parts.append(f"ping_ttl {seller.ping_ttl_s}s")
    return parts


def buyer_market(buyer: BuyerConfig) -> list[str]:
    """How a buyer takes part beyond its price: shared leads, its tie-break weight, leads it
    pulls, its portal (said to be there, its key never shown) and its own return rules."""
    parts = []
    if buyer.shared:
        parts.append("shared")
    if buyer.weight != 1 or "weight" in buyer.model_fields_set:
        parts.append(f"weight {buyer.weight}")
    if buyer.pull:
        parts.append("pull")
    if buyer.portal is not None:
        parts.append("portal, self_pause" if buyer.portal.self_pause else "portal")
    if buyer.returns is not None:
        parts.append("returns " + returns_text(buyer.returns))
    return parts


def ranking_text(router: RouterSettings) -> str:
    ranking = router.ranking
    text = f"by {ranking.by}"
    if ranking.by == "expected_value":
        text += f" over {ranking.window_days:g}d, from {ranking.min_sales} sales"
    return f"{text}; tie_break {router.tie_break}"


def returns_text(rules: ReturnRules | ReturnRulesOverride) -> str:
    """The rules a return is judged by; for a buyer's override, only what it changes."""
    parts = []
    if rules.window_days is not None:
        parts.append(f"within {rules.window_days:g}d")
    if rules.max_pct is not None:
        parts.append(f"at most {rules.max_pct:g}%")
    if rules.reasons is not None:
        parts.append("reasons " + ",".join(rules.reasons))
    if rules.auto_approve:
        parts.append("auto_approve " + ",".join(rules.auto_approve))
    return " ".join(parts)


def suppression_text(listed: SuppressionList) -> str:
    scope = "all buyers" if listed.scope == "all" else "buyers " + ",".join(listed.scope)
    source = f"file {listed.file}" if listed.file is not None else "no file"
    return f"{listed.match} · {scope} · {source}"
