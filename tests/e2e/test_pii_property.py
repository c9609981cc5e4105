"""DESIGN §8, as a property of the whole stack: whatever consumer a seller sends, no bidder ever
sees a byte of its PII in a ping, and the winner gets all of it in the post.

One real pingtree and one real buyer server per test; hypothesis sends every generated lead
through them. pytest-asyncio runs each example of an async @given test on the test's event loop,
so the function-scoped fixtures (router, buyers) are shared by the examples, by design.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.buyers import BuyerServer
from tests.conftest import RouterClient, make_buyer, make_config

BIDS = {"firm-a": 20.0, "firm-b": 35.5, "firm-c": 12.0}
DECLINER = "firm-d"
WINNER = "firm-b"
OPERATOR_PII_ATTRIBUTE = "consumer_notes"  # marked `pii` in the config: dropped by name

FIRST_NAMES = ["Maria", "Dorothy", "Jonathan", "Gabriel", "Priya", "Keisha", "Hiroshi", "Mateo"]
LAST_NAMES = ["Gonzalez", "Okafor", "Nakamura", "Schmidt", "Fitzgerald", "Kowalski", "Brennan"]
STREETS = ["Sunset", "Peachtree", "Magnolia", "Juniper", "Chestnut", "Riverside"]
STREET_KINDS = ["Blvd", "Street", "Avenue", "Lane", "Court"]
CITIES = ["Phoenix", "Atlanta", "Tallahassee", "Scottsdale", "Savannah", "Jacksonville"]
DOMAINS = ["example.com", "example.net", "mail.example.org"]
# Area codes in service, each known to phonenumbers; the exchange's first digit is 2-9.
AREA_CODES = ["201", "212", "305", "312", "404", "415", "602", "617", "713", "786", "818", "917"]
VERTICALS = ["mva", "solar", "final_expense"]
STATES = ["FL", "GA", "AZ", "Florida", "georgia", "NY", "tx"]


@dataclass(frozen=True)
class Consumer:
    """One consumer's PII as the seller sends it, and as pingtree normalizes it."""

    first_name: str
    last_name: str
    phone_sent: str | int
    e164: str
    email_sent: str
    address: str
    city: str
    dob_sent: str
    dob_iso: str
    ip_address: str
    trustedform_url: str
    jornaya_leadid: str

    @property
    def ten_digits(self) -> str:
        return self.e164.removeprefix("+1")

    def forms(self) -> set[str]:
        """Every spelling of every PII value that must never reach a bidder."""
        values = {
            self.first_name,
            self.last_name,
            f"{self.first_name} {self.last_name}",
            str(self.phone_sent),
            self.e164,
            self.ten_digits,
            self.email_sent,
            self.email_sent.lower(),
            self.address,
            self.city,
            self.dob_sent,
            self.dob_iso,
            self.ip_address,
            self.trustedform_url,
            self.jornaya_leadid,
        }
        return {value.lower() for value in values}


PHONE_SHAPES = [
    "({a}) {e}-{l}",
    "{a}-{e}-{l}",
    "{a}.{e}.{l}",
    "{a} {e} {l}",
    "{a}{e}{l}",
    "+1{a}{e}{l}",
    "+1 {a} {e} {l}",
    "1-{a}-{e}-{l}",
    "int",
]


@st.composite
def phones(draw: st.DrawFn) -> tuple[str | int, str]:
    area = draw(st.sampled_from(AREA_CODES))
    exchange = draw(st.integers(200, 999).filter(lambda n: n % 100 != 11))  # no N11 codes
    line = draw(st.integers(0, 9999))
    a, e, l = area, f"{exchange:03d}", f"{line:04d}"  # noqa: E741
    number = phonenumbers.parse(f"+1{a}{e}{l}")
    assert phonenumbers.is_valid_number(number), (a, e, l)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    shape = draw(st.sampled_from(PHONE_SHAPES))
    sent: str | int = int(f"{a}{e}{l}") if shape == "int" else shape.format(a=a, e=e, l=l)
    return sent, e164


def cased(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.lower(), text.upper()])


@st.composite
def consumers(draw: st.DrawFn) -> Consumer:
    first = draw(st.sampled_from(FIRST_NAMES))
    last = draw(st.sampled_from(LAST_NAMES))
    phone_sent, e164 = draw(phones())
    local = draw(st.sampled_from([f"{first}.{last}", f"{first[0]}{last}", f"{last}{first}"]))
    local += draw(st.sampled_from(["", str(draw(st.integers(1, 99)))]))
    email = draw(cased(f"{local}@{draw(st.sampled_from(DOMAINS))}"))
    address = (
        f"{draw(st.integers(1, 9999))} {draw(st.sampled_from(STREETS))} "
        f"{draw(st.sampled_from(STREET_KINDS))}"
    )
    born = draw(st.dates(min_value=date(1930, 1, 1), max_value=date(2004, 12, 31)))
    dob_sent = draw(st.sampled_from([born.isoformat(), born.strftime("%m/%d/%Y")]))
    ip = str(draw((st.ip_addresses(v=4) | st.ip_addresses(v=6)).filter(lambda a: a.is_global)))
    certificate = draw(st.binary(min_size=20, max_size=20)).hex()
    jornaya = draw(st.uuids()).hex.upper()
    jornaya = "-".join([jornaya[:8], jornaya[8:12], jornaya[12:16], jornaya[16:20], jornaya[20:]])
    return Consumer(
        first_name=first,
        last_name=last,
        phone_sent=phone_sent,
        e164=e164,
        email_sent=email,
        address=address,
        city=draw(st.sampled_from(CITIES)),
        dob_sent=dob_sent,
        dob_iso=born.isoformat(),
        ip_address=ip,
        trustedform_url=f"https://cert.trustedform.com/{certificate}",
        jornaya_leadid=draw(cased(jornaya)),
    )


def pii_copies(consumer: Consumer) -> st.SearchStrategy[str | int | float]:
    """A PII value as a seller might repeat it in a vertical attribute."""
    c = consumer
    digits = c.ten_digits
    return st.sampled_from(
        [
            c.phone_sent,
            c.e164,
            digits,
            int(digits),
            int("1" + digits),
            f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
            f"call {digits[:3]}.{digits[3:6]}.{digits[6:]} after 5pm",
            c.email_sent,
            c.email_sent.upper(),
            c.first_name,
            c.last_name.upper(),
            f"{c.first_name} {c.last_name}",
            c.address,
            c.city,
            c.dob_iso,
            c.dob_sent,
            float(digits),
            c.ip_address,
            c.trustedform_url,
            c.jornaya_leadid.lower(),
        ]
    )


# Vertical attributes that are not PII: values from a vocabulary that cannot collide with any
# PII spelling (no names, no 10-digit numbers, dates after every dob).
PLAIN_ATTRIBUTES: dict[str, st.SearchStrategy[Any]] = {
    "case_type": st.sampled_from(["mva", "slip_fall", "workers_comp"]),
    "injury_reported": st.booleans(),
    "at_fault": st.sampled_from([True, False, "no", "yes"]),
    "accident_date": st.dates(date(2025, 1, 1), date(2026, 12, 31)).map(date.isoformat),
    "monthly_electric_bill": st.integers(0, 99_999),
    "roof_shade": st.sampled_from(["none", "partial", "full"]),
    "coverage_interest": st.sampled_from(["5000", "15000", 25000]),
    "credit_score_band": st.sampled_from(["good", "fair", None]),
    "household_size": st.integers(1, 12),
    "ratio": st.floats(0, 1, allow_nan=False),
}
COPY_NAMES = ["mobile", "alt_contact", "contact_name", "home_address", "birth_date", "lead_token"]


@st.composite
def leads(draw: st.DrawFn) -> tuple[dict[str, Any], Consumer, dict[str, Any], set[str]]:
    """(the body a seller sends, its consumer, its plain attributes, the names of the attributes
    that carry PII)."""
    consumer = draw(consumers())
    plain = draw(st.dictionaries(st.sampled_from(sorted(PLAIN_ATTRIBUTES)), st.none(), max_size=5))
    attributes = {name: draw(PLAIN_ATTRIBUTES[name]) for name in plain}
    plain_attributes = dict(attributes)
    copies = draw(st.lists(st.sampled_from(COPY_NAMES), max_size=3, unique=True))
    for name in copies:
        attributes[name] = draw(pii_copies(consumer))
    marked = set(copies)
    if draw(st.booleans()):
        notes = draw(st.sampled_from([consumer.dob_sent, consumer.email_sent, consumer.address]))
        attributes[OPERATOR_PII_ATTRIBUTE] = f"spoke with {consumer.first_name}: {notes}"
        marked.add(OPERATOR_PII_ATTRIBUTE)
    body: dict[str, Any] = {
        "vertical": draw(st.sampled_from(VERTICALS)),
        "sub_id": draw(st.sampled_from(["fb-12", "google-7", "tiktok-3"])),
        "first_name": consumer.first_name,
        "last_name": consumer.last_name,
        "phone": consumer.phone_sent,
        "email": consumer.email_sent,
        "address": consumer.address,
        "city": consumer.city,
        "state": draw(st.sampled_from(STATES)),
        "zip": f"{draw(st.integers(10_000, 99_999))}",
        "dob": consumer.dob_sent,
        "ip_address": consumer.ip_address,
        "tcpa_consent": draw(st.sampled_from([True, "yes", "true", "1"])),
        "consent_timestamp": "2026-02-26T14:04:12Z",
        "trustedform_url": consumer.trustedform_url,
        "jornaya_leadid": consumer.jornaya_leadid,
        **attributes,
    }
    return body, consumer, plain_attributes, marked


@dataclass
class Stack:
    router: RouterClient
    buyers: BuyerServer


@pytest.fixture
async def stack(buyers: BuyerServer, start_router: Any) -> Stack:
    """Started once per test: function-scoped fixtures are shared by all hypothesis examples."""
    for name, bid in BIDS.items():
        buyers.set(name, bid=bid)
    buyers.set(DECLINER, bid=None)
    config = make_config(
        [make_buyer(name, buyers) for name in [*BIDS, DECLINER]],
        pii_attributes=[OPERATOR_PII_ATTRIBUTE],
    )
    return Stack(await start_router(config), buyers)


def _without_ping_id(raw: bytes) -> str:
    """The raw ping, lower-cased, less its random ping_id (base32 could spell a short name)."""
    ping_id = orjson.loads(raw)["ping_id"]
    return raw.decode().replace(ping_id, "").lower()


def _post_attributes(post: dict[str, Any]) -> dict[str, Any]:
    """The post is the full lead; its vertical attributes may be nested or flat."""
    nested = post.get("attributes")
    return dict(nested) if isinstance(nested, dict) else post


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=leads())
async def test_no_pii_reaches_a_bidder_and_all_of_it_reaches_the_winner(
    case: tuple[dict[str, Any], Consumer, dict[str, Any], set[str]], stack: Stack
) -> None:
    body, consumer, plain, marked = case
    buyers = stack.buyers
    pings_before = {name: len(buyers.recorded(name).raw_pings) for name in [*BIDS, DECLINER]}
    posts_before = {name: len(buyers.recorded(name).posts) for name in BIDS}

    status, answer, _ = await stack.router.send(body)

    assert status == 200, answer
    assert answer["status"] == "sold", answer
    forms = consumer.forms()
    for name, before in pings_before.items():
        new_pings = buyers.recorded(name).raw_pings[before:]
        assert len(new_pings) == 1, (name, len(new_pings))
        raw = _without_ping_id(new_pings[0])
        leaked = sorted(form for form in forms if form in raw)
        assert not leaked, f"{name} was pinged PII {leaked}: {raw}"
        # Nothing else is lost: every attribute that carries no PII still reaches the bidders.
        assert orjson.loads(new_pings[0])["attributes"] == plain

    for name, before in posts_before.items():
        assert len(buyers.recorded(name).posts) - before == (1 if name == WINNER else 0), name
    post = buyers.recorded(WINNER).posts[-1]
    assert post["first_name"] == consumer.first_name
    assert post["last_name"] == consumer.last_name
    assert post["phone"] == consumer.e164
    assert post["email"] == consumer.email_sent.lower()
    assert post["address"] == consumer.address
    assert post["city"] == consumer.city
    assert post["dob"] == consumer.dob_iso
    assert post["ip_address"] == consumer.ip_address
    assert post["trustedform_url"] == consumer.trustedform_url
    assert post["jornaya_leadid"] == consumer.jornaya_leadid
    attributes = _post_attributes(post)
    for name in marked | set(plain):  # the whole lead, PII-carrying attributes included
        assert attributes[name] == body[name], name
