"""The suppression gate (DESIGN §16): before any ping, is the lead's consumer on a list?

A list's entries are in two places, asked together for each lead:
- its **file**, loaded by each router into its own memory when it starts or reloads
  (suppression_file.py: a sorted array of digests, looked up in microseconds);
- the **entries added while it runs** (`POST /admin/suppression/{id}`, `pingtree suppress add`),
  kept by the store (store/suppression/): in memory, on the state file, or in Redis, where every
  router sees what one was given. Every list is asked in one call: one round trip on Redis.

A match on a list of `scope: all` rejects the lead (`rejected`, reason `suppressed`; the trace
names the list); a match on a list scoped to buyers skips them (`suppressed`, the list in the
trace's detail). If the store cannot answer, the lead is refused with a 503 like any store
failure before a ping (StoreUnavailable): never sold unchecked.

The digests are made with the tree's consumer key (its dedup secret): routers sharing lists in
Redis must share `router.dedup_secret`, as they must for dedup. The key a set of lists was loaded
with is the one its leads and additions are hashed with, so a reload that changes the secret
swaps both at once (entries added under the old key no longer match: as dedup, they are lost).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pingtree.config import Config
from pingtree.config.models.suppression import SuppressionList
from pingtree.config.tree import Tree
from pingtree.core.errors import ConfigError
from pingtree.core.lead import Lead
from pingtree.gates.suppression_file import LoadedFile, load_list_file
from pingtree.gates.suppression_values import Digester
from pingtree.store.state.guard import GuardedStore

log = logging.getLogger(__name__)

REASON = "suppressed"


@dataclass(frozen=True, slots=True)
class LoadedList:
    config: SuppressionList
    file: LoadedFile | None
    stamp: tuple[str, int, int] | None  # (path, mtime_ns, size) of the file as it was loaded


@dataclass(frozen=True, slots=True)
class SuppressionLists:
    """One config's lists, loaded with one key; a reload makes new ones (`load`)."""

    key: bytes
    lists: tuple[LoadedList, ...] = ()
    digester: Digester = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digester", Digester(self.key))

    @classmethod
    def load(
        cls, config: Config, key: bytes, previous: SuppressionLists | None = None
    ) -> SuppressionLists:
        """Every list of `config`, its file read (blocking: run it in a thread). A file the
        previous lists loaded with the same key, match and stamp is kept, not read again."""
        kept = {}
        if previous is not None and previous.key == key:
            kept = {(ll.config.file, ll.config.match, ll.stamp): ll.file for ll in previous.lists}
        loaded = []
        for listed in config.suppression:
            stamp = _stamp(listed.file)
            file = kept.get((listed.file, listed.match, stamp))
            if file is None and listed.file is not None:
                try:
                    file = load_list_file(listed.file, listed.match, key)
                except OSError as exc:  # gone or unreadable since the config was validated
                    where = f"suppression[{listed.id}].file"
                    raise ConfigError([(where, f"cannot read: {exc.strerror}")]) from exc
                log.info(
                    "suppression list %s: %d entries from its file%s in %.1f s, %d bad line(s)%s",
                    listed.id,
                    len(file.digests),
                    " (its digests kept from an earlier load)" if file.from_cache else "",
                    file.seconds,
                    file.bad_lines,
                    f" (lines {list(file.first_bad_lines)}…)" if file.bad_lines else "",
                )
            loaded.append(LoadedList(listed, file, stamp))
        return cls(key, tuple(loaded))

    def get(self, list_id: str) -> LoadedList | None:
        return next((ll for ll in self.lists if ll.config.id == list_id), None)


@dataclass(frozen=True, slots=True)
class Screening:
    """What the lists say of one lead: the list that rejects it, or the buyers it must skip."""

    rejected_by: str | None = None
    skipped: Mapping[str, str] = field(default_factory=dict)  # buyer id → the list

    def skip_reason(self, buyer_id: str) -> str | None:
        return REASON if buyer_id in self.skipped else None

    def detail(self, buyer_id: str) -> str | None:
        list_id = self.skipped.get(buyer_id)
        return None if list_id is None else f"on suppression list {list_id}"


NOTHING = Screening()


@dataclass(frozen=True, slots=True)
class Added:
    """What an addition did: values received, entries new to the list, values refused (never
    shown: counted)."""

    received: int
    added: int
    invalid: int


class SuppressionGate:
    """The lists in force and the store's added entries; one per router."""

    def __init__(self, store: GuardedStore, lists: SuppressionLists | None = None) -> None:
        self._store = store
        self.lists = lists or SuppressionLists(os.urandom(32))

    async def load(self, config: Config, running: Tree) -> None:
        """Load the lists of `config` off the event loop, then put them in force at once; with
        the key the tree of `config` will have once it replaces `running` (Tree.rebuilt's: the
        config's dedup_secret, or the running one's). ConfigError if a file cannot be read."""
        secret = config.router.dedup_secret
        key = secret.get_secret_value().encode() if secret is not None else running.consumer_key
        lists = await asyncio.to_thread(SuppressionLists.load, config, key, self.lists)
        if lists.lists:
            self._store.suppression()  # an embedded store's table made and read now, at start
        self.lists = lists

    async def screen(self, lead: Lead) -> Screening:
        """The lists' verdict on `lead` (StoreUnavailable when the added entries cannot be read)."""
        lists = self.lists
        if not lists.lists:
            return NOTHING
        digest = lists.digester.digest
        of_lead = {"phone": digest("phone", lead.phone)}
        if lead.email:
            of_lead["email"] = digest("email", lead.email)
        hits: set[str] = set()
        wanted: dict[str, list[int]] = {}
        for listed in lists.lists:
            value = of_lead.get(listed.config.match)
            if value is None:
                continue
            if listed.file is not None and value in listed.file:
                hits.add(listed.config.id)
            else:
                wanted[listed.config.id] = [value]
        if wanted:  # through the guard: refused at once while the store is down
            hits |= await self._store.suppression().matching(wanted)
        return _verdict(lists, hits) if hits else NOTHING

    async def add(self, list_id: str, values: Sequence[str]) -> Added:
        """Add values (as an operator gave them) to a list in force; KeyError if none has that
        id. A value that is not a valid phone or email (as a lead's would be) is counted."""
        listed = self.lists.get(list_id)
        if listed is None:
            raise KeyError(list_id)
        digests, digester = [], self.lists.digester
        match = listed.config.match
        for text in values:
            found = digester.digest_of(match, text) if isinstance(text, str) else None
            if found is not None:
                digests.append(found)
        added = await self._store.suppression().add(list_id, digests) if digests else 0
        return Added(received=len(values), added=added, invalid=len(values) - len(digests))

    async def listing(self) -> list[dict[str, Any]]:
        """Every list in force and its sizes: its file's entries and bad lines, those added."""
        lists = self.lists.lists
        added = await self._store.suppression().sizes([ll.config.id for ll in lists])
        return [_described(listed, added.get(listed.config.id, 0)) for listed in lists]


def _verdict(lists: SuppressionLists, hits: set[str]) -> Screening:
    skipped: dict[str, str] = {}
    for listed in lists.lists:  # in the file's order: the first list found names the reason
        config = listed.config
        if config.id not in hits:
            continue
        if config.scope == "all":
            return Screening(rejected_by=config.id)
        for buyer_id in config.scope:
            skipped.setdefault(buyer_id, config.id)
    return Screening(skipped=skipped)


def _described(listed: LoadedList, added: int) -> dict[str, Any]:
    config, file = listed.config, listed.file
    return {
        "id": config.id,
        "match": config.match,
        "scope": config.scope if config.scope == "all" else list(config.scope),
        "file": config.file,
        "file_entries": len(file.digests) if file is not None else 0,
        "file_lines": file.lines if file is not None else 0,
        "file_bad_lines": file.bad_lines if file is not None else 0,
        "file_first_bad_lines": list(file.first_bad_lines) if file is not None else [],
        "added_entries": added,
    }


def _stamp(path: str | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (path, stat.st_mtime_ns, stat.st_size)
