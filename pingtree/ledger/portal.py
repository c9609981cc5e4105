"""`Portal`: the ledger as a buyer's own API and the operator's returns queue use it (DESIGN §15),
each method one transaction on the ledger's threads (database.py). The SQL is buyer_leads.py's
and returns.py's. Built beside the ledger by the wiring (web/app.py), from its database.

`return_rates(since)` is the one to read for expected-value ranking (DESIGN §14): each buyer's
approved returns over its sales since then."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from pingtree.ledger import buyer_leads, returns
from pingtree.ledger.buyer_leads import BuyerLeadQuery
from pingtree.ledger.database import Database
from pingtree.ledger.returns import ReturnClaim


class Portal:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def leads(self, query: BuyerLeadQuery) -> tuple[list[Any], str | None]:
        return await self._database.run(partial(buyer_leads.buyer_leads, query=query))

    async def lead(self, buyer_id: str, lead_id: str) -> Any:
        work = partial(buyer_leads.buyer_lead, buyer_id=buyer_id, lead_id=lead_id)
        return await self._database.run(work)

    async def acknowledge(self, buyer_id: str, lead_ids: Sequence[str], now: datetime) -> list[str]:
        work = partial(buyer_leads.acknowledge, buyer_id=buyer_id, lead_ids=lead_ids, now=now)
        return await self._database.run(work)

    async def feedback(
        self, buyer_id: str, lead_id: str, event: str, value: Decimal | None, now: datetime
    ) -> dict[str, Any]:
        work = partial(
            buyer_leads.record_feedback,
            buyer_id=buyer_id,
            lead_id=lead_id,
            event=event,
            value=value,
            now=now,
        )
        return await self._database.run(work)

    async def stats(self, buyer_id: str, now: datetime, days: int) -> dict[str, Any]:
        work = partial(buyer_leads.buyer_stats, buyer_id=buyer_id, now=now, days=days)
        return await self._database.run(work)

    async def request_return(self, claim: ReturnClaim) -> dict[str, Any]:
        return await self._database.run(partial(returns.request_return, claim=claim))

    async def decide(
        self,
        return_id: str,
        approve: bool,
        decided_by: str,
        chargeback_sellers: frozenset[str],
        now: datetime,
    ) -> dict[str, Any]:
        work = partial(
            returns.decide,
            return_id=return_id,
            approve=approve,
            decided_by=decided_by,
            chargeback_sellers=chargeback_sellers,
            now=now,
        )
        return await self._database.run(work)

    async def returns(
        self, status: str | None, buyer_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        work = partial(
            buyer_leads.returns_page,
            status=status,
            buyer_id=buyer_id,
            cursor=cursor,
            limit=limit,
        )
        return await self._database.run(work)

    async def return_rates(self, since: datetime) -> dict[str, Decimal]:
        """Each buyer's return rate (approved returns / sales, test leads aside) over its sales
        since `since`: expected-value ranking's (1 - return rate), DESIGN §14."""
        return await self._database.run(partial(returns.buyer_return_rates, since=since))
