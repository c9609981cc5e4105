"""URLs that may carry secrets, as logs, errors, the admin API and `pingtree try` show them. Two
kinds, masked differently on purpose:

- an endpoint's URL (a buyer's ping or post, a CRM, a postback): buyers put API keys anywhere
  in a query string, and some in the user name, so the userinfo and the whole query are hidden;
- the shared store's and the ledger's connection URLs (`--redis-url`, `--database-url`): only
  their password is a secret, and the user, the host, the database and the other query options
  are what an operator checks them by.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def masked_url(url: str) -> str:
    """The URL without credentials: user:password and the query string become ***."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"***@{host}" if parts.username or parts.password else host
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def masked_redis_url(url: str) -> str:
    """The URL with its password (in the userinfo or a `password=` query) shown as ***."""
    head, mark, query = url.partition("?")
    parts = urlsplit(head)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        head = head.replace(parts.netloc, f"{parts.username or ''}:***@{host}", 1)
    query = "&".join(
        f"{pair.partition('=')[0]}=***" if pair.partition("=")[0].lower() == "password" else pair
        for pair in query.split("&")
    )
    return head + mark + query


def masked_database_url(url: str) -> str:
    """The ledger's URL with its password shown as ***: in the userinfo, or in libpq's
    `?password=` (postgresql://app@db/ledger?password=…); a SQLite path is shown as it is."""
    return masked_redis_url(url)


__all__ = ["masked_database_url", "masked_redis_url", "masked_url"]
