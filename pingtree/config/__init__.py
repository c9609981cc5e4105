"""buyers.yaml: frozen models (`models/`) and loading with `${ENV}` and every error at once
(`loading.py`). Request-time code never reads raw YAML: it reads these models. Secrets
(`api_key`, `admin_token`, `dedup_secret`) are `SecretStr`, and buyer URLs print without
credentials, so no repr, log line or error prints them back."""

from pingtree.config.loading import (
    env_values,
    interpolate_env,
    load_config,
    parse_config,
    read_yaml,
)
from pingtree.config.models import (
    WEEKDAYS,
    BreakerPolicy,
    BuyerConfig,
    Caps,
    Config,
    Endpoint,
    Filters,
    Operator,
    OperatorConfig,
    Range,
    Retention,
    RouterSettings,
    Schedule,
    SellerConfig,
    Weekday,
    masked_url,
)

__all__ = [
    "WEEKDAYS",
    "BreakerPolicy",
    "BuyerConfig",
    "Caps",
    "Config",
    "Endpoint",
    "Filters",
    "Operator",
    "OperatorConfig",
    "Range",
    "Retention",
    "RouterSettings",
    "Schedule",
    "SellerConfig",
    "Weekday",
    "env_values",
    "interpolate_env",
    "load_config",
    "masked_url",
    "parse_config",
    "read_yaml",
]
