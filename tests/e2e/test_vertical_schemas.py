"""Vertical schemas through the seller API (issue 5): a lead that breaks its vertical's schema is
refused naming the field; attributes arrive at the buyer typed; a schema's pii attributes never
reach a ping; its derived fields (age band, zip3) do."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import make_buyer, make_config, sample

SCHEMA = {
    "final_expense": {
        "required": ["dob"],
        "attributes": {
            "coverage_interest": {"type": "integer", "required": True},
            "tobacco_use": {"type": "boolean"},
            "beneficiary_name": {"type": "string", "pii": True},
        },
        "derived": ["age_band", "zip3"],
    }
}


def lead(**changes: Any) -> dict[str, Any]:
    body = sample("final-expense")
    body["lead_id"] = f"fe-{uuid.uuid4().hex[:12]}"
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def test_a_lead_breaking_its_schema_gets_a_422_naming_each_field(buyers, start_router):
    buyers.set("fe", bid=30)
    router = await start_router(make_config([make_buyer("fe", buyers)], verticals=SCHEMA))
    status, answer, _ = await router.send(lead(dob=None, coverage_interest="lots"))
    assert status == 422
    assert answer["fields"] == {
        "dob": "is required for vertical final_expense",
        "coverage_interest": "must be a whole number",
    }
    assert buyers.recorded("fe").pings == []  # refused at the door: no buyer was asked


async def test_attributes_arrive_typed_pii_stays_out_of_pings_derived_fields_go_in(
    buyers, start_router
):
    buyers.set("fe", bid=30)
    router = await start_router(make_config([make_buyer("fe", buyers)], verticals=SCHEMA))
    status, answer, _ = await router.send(
        lead(tobacco_use="no", beneficiary_name="Robert Hill", coverage_interest="15,000")
    )
    assert (status, answer["status"]) == (200, "sold")
    (ping,) = buyers.recorded("fe").pings
    assert ping["attributes"] == {"coverage_interest": 15000, "tobacco_use": False}
    assert (ping["age_band"], ping["zip3"]) == ("75+", "303")  # born 1951-06-14, zip 30303
    assert b"Robert" not in buyers.recorded("fe").raw_pings[0]
    (post,) = buyers.recorded("fe").posts
    assert post["attributes"]["beneficiary_name"] == "Robert Hill"  # PII goes in the post
    assert post["attributes"]["coverage_interest"] == 15000


async def test_a_vertical_without_a_schema_takes_its_leads_as_they_come(buyers, start_router):
    buyers.set("fe", bid=30)
    router = await start_router(make_config([make_buyer("fe", buyers)], verticals={}))
    status, answer, _ = await router.send(lead(dob=None, coverage_interest="lots"))
    assert (status, answer["status"]) == (200, "sold")
    (ping,) = buyers.recorded("fe").pings
    assert "age_band" not in ping and ping["attributes"]["coverage_interest"] == "lots"
