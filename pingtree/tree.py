"""The config compiled for request time: lookups built once at load, never per lead.

Buyers are indexed by vertical, so a lead only meets the buyers that buy its vertical; sellers are
found by a digest of their key, so looking one up takes the same time whatever key is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass

from pingtree.config import BuyerConfig, Config, SellerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    order: int  # position in buyers.yaml: the tie-breaker of last resort
    buyer: BuyerConfig


class Tree:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.buyers: dict[str, BuyerConfig] = {b.id: b for b in config.buyers}
        self.sellers: dict[str, SellerConfig] = {s.id: s for s in config.sellers}
        self._sellers_by_key = {_digest(s.api_key.get_secret_value()): s for s in config.sellers}
        every = [Candidate(i, b) for i, b in enumerate(config.buyers)]
        self._any_vertical = tuple(c for c in every if c.buyer.verticals is None)
        verticals = {v for b in config.buyers for v in b.verticals or ()}
        self._by_vertical = {
            v: tuple(c for c in every if c.buyer.verticals is None or v in c.buyer.verticals)
            for v in verticals
        }
        secret = config.router.dedup_secret
        if secret is None:
            # Fine for one embedded process; several routers sharing dedup need one secret.
            log.warning("router.dedup_secret is not set: using a random key for this process")
            self._dedup_secret = os.urandom(32)
        else:
            self._dedup_secret = secret.get_secret_value().encode()

    def candidates(self, vertical: str) -> tuple[Candidate, ...]:
        """Buyers that may buy this vertical, in file order."""
        return self._by_vertical.get(vertical, self._any_vertical)

    def seller_for_key(self, api_key: str) -> SellerConfig | None:
        # Looked up by digest: the time taken says nothing about how much of a guess was right.
        return self._sellers_by_key.get(_digest(api_key))

    def dedup_keys(self, phone: str, email: str | None) -> tuple[str, ...]:
        """Keyed hashes of the consumer's phone and email: dedup never stores either in clear."""
        values = [f"phone:{phone}"] + ([f"email:{email}"] if email else [])
        return tuple(
            hmac.new(self._dedup_secret, value.encode(), hashlib.sha256).hexdigest()[:32]
            for value in values
        )


def _digest(value: str) -> bytes:
    # Header bytes that are not UTF-8 arrive surrogate-escaped: hash them as they came.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()
