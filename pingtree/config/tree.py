"""The config compiled for request time: lookups built once at load, never per lead.

Buyers are indexed by vertical and state, so a lead only meets the buyers that may buy it, however
large the tree; sellers and operators are found by a digest of their key or token, so looking one
up takes the same time whatever is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass

from pingtree.config import BuyerConfig, Config, Operator, SellerConfig
from pingtree.config.models.operators import ADMIN_TOKEN_NAME
from pingtree.core.lead import phone_e164
from pingtree.core.us_states import STATE_CODES

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    order: int  # position in buyers.yaml: the tie-breaker of last resort
    buyer: BuyerConfig


@dataclass(frozen=True, slots=True)
class Candidates:
    buyers: tuple[Candidate, ...]
    # Buyers the index left out, counted by reason: (("filter:vertical", 740), ("filter:state", 3)).
    # They are not traced one by one: a tree of a thousand buyers would bury the ten that matter.
    excluded: tuple[tuple[str, int], ...]


class Tree:
    def __init__(self, config: Config, *, fallback_secret: bytes | None = None) -> None:
        self.config = config
        self.settings = config.router
        self.max_response = config.router.max_response_kb * 1024  # bytes of a buyer's answer
        self.buyers: dict[str, BuyerConfig] = {b.id: b for b in config.buyers}
        self.sellers: dict[str, SellerConfig] = {s.id: s for s in config.sellers}
        # The lead attributes only checks set (gates/checks.py), kept out of native pings.
        self.check_attributes = frozenset(n for c in config.checks for n in c.attribute_names())
        self._sellers_by_key = {_digest(s.api_key.get_secret_value()): s for s in config.sellers}
        self._operators_by_token = _operators_by_token(config)
        self._buyers_by_key = {
            _digest(b.portal.api_key.get_secret_value()): b for b in config.buyers if b.portal
        }
        every = [Candidate(i, b) for i, b in enumerate(config.buyers)]
        self._any_vertical = tuple(c for c in every if c.buyer.verticals is None)
        verticals = {v for b in config.buyers for v in b.verticals or ()}
        self._by_vertical = {
            v: tuple(c for c in every if c.buyer.verticals is None or v in c.buyer.verticals)
            for v in verticals
        }
        self._by_key: dict[tuple[str | None, str | None], Candidates] = {}
        self._ledger_pii: dict[str | None, frozenset[str]] = {}  # ledger_pii()
        secret = config.router.dedup_secret
        if secret is not None:
            self._dedup_secret = secret.get_secret_value().encode()
        elif fallback_secret is not None:
            self._dedup_secret = fallback_secret
        else:
            # Fine for one embedded process; several routers sharing dedup need one secret.
            log.warning("router.dedup_secret is not set: using a random key for this process")
            self._dedup_secret = os.urandom(32)

    def rebuilt(self, config: Config) -> Tree:
        """The tree of a reloaded config, keeping what must not change while the process runs:
        without a dedup_secret in the new file, the running key. A fresh random key would change
        every dedup hash, and a consumer already sold would be sold again."""
        tree = Tree(config, fallback_secret=self._dedup_secret)
        if not hmac.compare_digest(tree._dedup_secret, self._dedup_secret):
            log.warning(
                "router.dedup_secret changed: consumers sold before this reload are not recognized"
                " by dedup"
            )
        return tree

    def buys(self, vertical: str) -> bool:
        """Whether any buyer takes this vertical at all (if none, the lead is rejected)."""
        return vertical in self._by_vertical or bool(self._any_vertical)

    def candidates(self, vertical: str, state: str | None) -> Candidates:
        """Buyers that may buy a lead of this vertical and state, in file order, found without
        looking at the others; and how many the index left out, by reason."""
        key = (vertical if vertical in self._by_vertical else None, state)
        found = self._by_key.get(key)
        if found is None:
            of_vertical = self._by_vertical.get(vertical, self._any_vertical)
            buyers = tuple(
                c
                for c in of_vertical
                if c.buyer.filters.states is None or state in c.buyer.filters.states
            )
            excluded = (
                ("filter:vertical", len(self.buyers) - len(of_vertical)),
                ("filter:state", len(of_vertical) - len(buyers)),
            )
            found = Candidates(buyers, tuple((reason, n) for reason, n in excluded if n))
            if state is None or state in STATE_CODES:  # bounded: known verticals by states
                self._by_key[key] = found
        return found

    def seller_for_key(self, api_key: str) -> SellerConfig | None:
        # Looked up by digest: the time taken says nothing about how much of a guess was right.
        return self._sellers_by_key.get(_digest(api_key))

    def buyer_for_key(self, api_key: str) -> BuyerConfig | None:
        """The buyer whose `portal.api_key` this is (its own API, DESIGN §15); by digest too."""
        return self._buyers_by_key.get(_digest(api_key))

    @property
    def operator_api_on(self) -> bool:
        """Whether anyone may use the operator API: router.admin_token or `operators:` is set."""
        return bool(self._operators_by_token)

    def operator_for_token(self, token: str) -> Operator | None:
        # By digest, as sellers' keys are.
        return self._operators_by_token.get(_digest(token))

    def dedup_keys(self, phone: str, email: str | None) -> tuple[str, ...]:
        """Keyed hashes of the consumer's phone and email: dedup never stores either in clear.
        The ledger keeps the same ones, to find a consumer's leads (`consumer_hashes`)."""
        values = [f"phone:{phone}"] + ([f"email:{email}"] if email else [])
        return tuple(self._keyed(value) for value in values)

    @property
    def consumer_key(self) -> bytes:
        """The key of the consumer hashes (dedup's, the ledger's, the suppression lists'), for
        what hashes millions of values at once (gates/suppression_file.py)."""
        return self._dedup_secret

    def ledger_pii(self, vertical: str) -> frozenset[str]:
        """The attributes the ledger keeps apart as PII for a lead of `vertical` (erased with
        the PII fields): every one the operator, any buyer or the vertical's schema marks pii.
        Worked out once per vertical for this tree (a reload builds a new tree)."""
        # Keyed by the schema it reads, so a seller's made-up verticals add no entries.
        key = vertical if vertical in self.config.verticals else None
        marked = self._ledger_pii.get(key)
        if marked is None:
            config = self.config
            schema = config.verticals.get(vertical)
            marked = config.pii_attributes.union(
                *(buyer.pii_attributes for buyer in config.buyers),
                schema.pii_attributes if schema is not None else (),
            )
            self._ledger_pii[key] = marked
        return marked

    def consumer_hashes(self, text: str) -> tuple[str, ...]:
        """What an operator typed, read as a phone (any format) and as an email: the keyed
        hashes a lead of that consumer carries; () when it is neither."""
        hashes = []
        with contextlib.suppress(ValueError):
            hashes.append(self._keyed(f"phone:{phone_e164(text)}"))
        if "@" in text:
            hashes.append(self._keyed(f"email:{text.strip().lower()}"))
        return tuple(hashes)

    def _keyed(self, value: str) -> str:
        return hmac.new(self._dedup_secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def _operators_by_token(config: Config) -> dict[bytes, Operator]:
    """Every operator by the digest of its token; `router.admin_token` is the admin `admin`."""
    found = {_digest(o.token.get_secret_value()): o.operator for o in config.operators}
    token = config.router.admin_token
    if token is not None and token.get_secret_value():
        found[_digest(token.get_secret_value())] = Operator(ADMIN_TOKEN_NAME, "admin")
    return found


def _digest(value: str) -> bytes:
    # Header bytes that are not UTF-8 arrive surrogate-escaped: hash them as they came.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()
