"""buyers.yaml as typed, frozen models, each checking its own values, one module a section:

    router_settings.py  `router:`: an auction's budget and prices, retention, breaker, deliveries
    sellers.py          `sellers:`: keys, payouts, postbacks, rate limits, inbound signatures
    buyers.py           `buyers:`: tiers, filters, schedules, caps, pricing
    endpoints.py        a buyer's ping and post, deliveries and postbacks; TLS
    operators.py        `operators:`: who may use the operator API, by token and role
    suppression.py      `suppression:`: lists of phones or emails never to sell (DESIGN §16)
    root.py             `Config`, the whole file, and the checks across its sections

A buyer's dialect is config/dialect.py's (and dialect_response.py's); vertical schemas are
config/verticals.py's. Request-time code never reads raw YAML: it reads these models. Secrets
(`api_key`, `admin_token`, `dedup_secret`, operators' `token`) are `SecretStr`, so no repr, log
line or error prints them back.
"""

from pingtree.config.models.buyers import (
    WEEKDAYS,
    BuyerConfig,
    Caps,
    Filters,
    Range,
    Schedule,
    StateCodes,
    Weekday,
)
from pingtree.config.models.endpoints import (
    DEFAULT_RETRY_S,
    TLS,
    Destination,
    Endpoint,
    masked_url,
)
from pingtree.config.models.operators import Operator, OperatorConfig, Role
from pingtree.config.models.root import Config
from pingtree.config.models.router_settings import (
    BreakerPolicy,
    DeliverySettings,
    RankingSettings,
    Retention,
    RouterSettings,
)
from pingtree.config.models.sellers import RateLimit, SellerConfig
from pingtree.config.models.suppression import SuppressionList, SuppressionMatch

__all__ = [
    "DEFAULT_RETRY_S",
    "TLS",
    "WEEKDAYS",
    "BreakerPolicy",
    "BuyerConfig",
    "Caps",
    "Config",
    "DeliverySettings",
    "Destination",
    "Endpoint",
    "Filters",
    "Operator",
    "OperatorConfig",
    "Range",
    "RankingSettings",
    "RateLimit",
    "Retention",
    "Role",
    "RouterSettings",
    "Schedule",
    "SellerConfig",
    "StateCodes",
    "SuppressionList",
    "SuppressionMatch",
    "Weekday",
    "masked_url",
]
