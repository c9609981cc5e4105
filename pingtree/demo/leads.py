"""Demo traffic: realistic leads built from the sample files, varied the way real lead flow varies.

States and zips that agree, fictional phone numbers (555-01xx, valid in format), a few leads
without consent, a few test leads, and a few resends of a lead already sent (the seller's retry),
so the demo shows every outcome. Seeded, so a run can be repeated exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# state → (area codes, zip prefixes)
_GEOGRAPHY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "FL": (("305", "407", "813", "904"), ("331", "328", "336", "322")),
    "GA": (("404", "678", "912"), ("303", "300", "314")),
    "TX": (("713", "214", "512", "210"), ("770", "752", "787", "782")),
    "AZ": (("602", "480", "520"), ("850", "852", "857")),
    "CA": (("213", "415", "619", "916"), ("900", "941", "921", "958")),
    "NV": (("702", "775"), ("891", "895")),
    "NC": (("704", "919"), ("282", "276")),
    "AL": (("205", "334"), ("352", "361")),
    "OH": (("614", "216"), ("432", "441")),
    "NY": (("212", "718"), ("100", "112")),
}
_STATES_BY_VERTICAL = {
    "mva": (("FL", 4), ("GA", 3), ("TX", 3), ("CA", 1), ("NY", 1), ("OH", 1)),
    "solar": (("AZ", 4), ("CA", 3), ("NV", 2), ("TX", 2), ("FL", 2), ("OH", 1)),
    "final_expense": (("GA", 3), ("FL", 3), ("TX", 2), ("AL", 2), ("NC", 2), ("OH", 1)),
}
_SAMPLES = (("mva-legal", 45), ("solar", 35), ("final-expense", 20))
_FIRST = ("Maria", "James", "Linda", "Robert", "Patricia", "Michael", "Barbara", "David", "Aisha")
_LAST = ("Gonzalez", "Smith", "Johnson", "Nguyen", "Williams", "Brown", "Hill", "Okafor", "Reyes")
_DOMAINS = ("example.com", "example.net", "example.org")


@dataclass(frozen=True, slots=True)
class DemoLead:
    """One request of the demo: which seller sends which body."""

    seller_key: str
    body: dict[str, Any]
    resend: bool = False


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _consumer(rng: random.Random, state: str) -> dict[str, Any]:
    area_codes, zips = _GEOGRAPHY[state]
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    number = f"{rng.choice(area_codes)}5550{rng.randrange(100, 200):03d}"
    phone = rng.choice(
        [
            f"+1{number}",
            f"({number[:3]}) {number[3:6]}-{number[6:]}",
            f"{number[:3]}-{number[3:6]}-{number[6:]}",
        ]
    )
    return {
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "email": f"{first}.{last}{rng.randrange(10, 99)}@{rng.choice(_DOMAINS)}".lower(),
        "state": state,
        "zip": f"{rng.choice(zips)}{rng.randrange(0, 100):02d}",
    }


def _vertical_attributes(rng: random.Random, vertical: str, today: date) -> dict[str, Any]:
    if vertical == "mva":
        accident = today - timedelta(days=rng.randrange(1, 90))
        return {
            "accident_date": accident.isoformat(),
            "injury_reported": rng.random() < 0.8,
            "has_attorney": rng.random() < 0.12,
            "at_fault": rng.random() < 0.2,
        }
    if vertical == "solar":
        return {
            "homeowner": rng.random() < 0.85,
            "monthly_electric_bill": rng.randrange(60, 420),
            "roof_shade": rng.choice(["none", "partial", "heavy"]),
        }
    born = date(rng.randrange(1938, 1966), rng.randrange(1, 13), rng.randrange(1, 29))
    return {
        "dob": born.isoformat(),
        "coverage_interest": str(rng.choice([5000, 10000, 15000, 25000])),
    }


def demo_leads(samples: Path, count: int, keys: dict[str, str], seed: int = 7) -> list[DemoLead]:
    """`count` requests; `keys` maps seller id → API key (acme-media sends every vertical,
    bluesky-leads solar and final expense)."""
    rng = random.Random(seed)
    bodies = {name: json.loads((samples / f"{name}.json").read_text()) for name, _ in _SAMPLES}
    today = date.today()
    sent: list[DemoLead] = []
    for index in range(count):
        if sent and rng.random() < 0.04:  # a seller retrying a lead it already sent
            earlier = rng.choice(sent)
            sent.append(DemoLead(earlier.seller_key, earlier.body, resend=True))
            continue
        sample = _weighted(rng, _SAMPLES)
        body = dict(bodies[sample])
        vertical = body["vertical"]
        body.update(_consumer(rng, _weighted(rng, _STATES_BY_VERTICAL[vertical])))
        body.update(_vertical_attributes(rng, vertical, today))
        body["lead_id"] = f"demo-{seed}-{index:05d}"
        body["sub_id"] = rng.choice(["fb-12", "google-3", "tiktok-7", "native-2"])
        body["tcpa_consent"] = rng.random() > 0.03
        if rng.random() < 0.02:
            body["test"] = True
        seller = "acme-media" if vertical == "mva" or rng.random() < 0.6 else "bluesky-leads"
        sent.append(DemoLead(keys[seller], body))
    return sent
