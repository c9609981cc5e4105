"""A buyer's dialect → its request (pingtree/codec/request.py, bodies.py): what each source reads,
the field mapping, then URL, body and headers for json, form, xml and GET buyers."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import pytest
from pydantic import SecretStr

from pingtree.config import Endpoint
from pingtree.core.codec import MappingError, OutboundRequest, Sources, build_body, build_request
from pingtree.core.codec.request import age_band, derived_fields
from pingtree.core.errors import ConfigError
from pingtree.core.lead import PII_FIELDS, Lead, parse_lead
from pingtree.core.signing import verify
from tests.conftest import make_buyer, make_config, sample

TODAY = date(2026, 3, 1)
WHSEC = "whsec_" + base64.b64encode(b"a-buyer-signing-secret-32-bytes!").decode()


def make_lead(**fields: Any) -> Lead:
    raw = {**sample("mva-legal"), "dob": "1985-03-14", "city": "Miami", **fields}
    return parse_lead({k: v for k, v in raw.items() if v is not None})


def ping_sources(lead: Lead | None = None, **values: Any) -> Sources:
    return Sources(
        lead=lead or make_lead(), today=TODAY, lead_id="ld_01", seller="acme-media",
        ping_id="pg_01", **values,
    )  # fmt: skip


def post_sources(lead: Lead | None = None, **values: Any) -> Sources:
    values = {"bid_id": "b_9", "price": Decimal("42.50"), **values}
    return ping_sources(lead, **values)


def endpoint(**keys: Any) -> Endpoint:
    return Endpoint.model_validate({"url": "https://buyer.example/leads", **keys})


def fields(*maps: dict[str, Any], **keys: Any) -> Endpoint:
    return endpoint(fields=list(maps), **keys)


def request(
    point: Endpoint, sources: Sources | None = None, *, test: bool = False, **kw: Any
) -> OutboundRequest:
    return build_request(
        point, sources or post_sources(), test=test, message_id="msg_1", timestamp=1_770_000_000,
        **kw,
    )  # fmt: skip


# what a source reads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        pytest.param("vertical", "mva", id="a lead field"),
        pytest.param("state", "FL", id="state, normalized"),
        pytest.param("lead_id", "cs_lead_8f2a4b91", id="lead_id is the seller's reference"),
        pytest.param("sub_id", None, id="a field the seller did not send"),
        pytest.param("tcpa_consent", True, id="a boolean field"),
        pytest.param("test", False, id="test"),
        pytest.param("phone", "+13055551234", id="PII, in a post"),
        pytest.param("attributes.case_type", "mva", id="an attribute"),
        pytest.param("attributes.injury_reported", True, id="a boolean attribute"),
        pytest.param("attributes.nope", None, id="an attribute the lead lacks"),
        pytest.param("zip3", "331", id="zip3"),
        pytest.param("age_band", "35-44", id="age_band"),
        pytest.param("auction.lead_id", "ld_01", id="our lead id"),
        pytest.param("auction.seller", "acme-media", id="the seller"),
        pytest.param("auction.ping_id", "pg_01", id="the ping"),
        pytest.param("auction.bid_id", "b_9", id="the bid"),
        pytest.param("auction.price", Decimal("42.50"), id="the price"),
        pytest.param("ping.token", "tok-7", id="a value carried from the ping's answer"),
        pytest.param("ping.missing", None, id="a value the ping's answer did not carry"),
    ],
)
def test_a_post_reads(source: str, value: Any) -> None:
    assert post_sources(carried={"token": "tok-7"}).read(source) == value


@pytest.mark.parametrize(("source"), sorted(PII_FIELDS))
def test_a_ping_never_reads_pii_even_if_the_config_check_were_bypassed(source: str) -> None:
    with pytest.raises(MappingError, match="PII"):
        ping_sources().read(source)


def test_a_ping_reads_attributes_as_the_native_ping_sends_them() -> None:
    """A seller who repeats the phone in an attribute must not leak it to a dialect's ping."""
    lead = make_lead(mobile="305-555-1234", backup_email="maria.gonzalez@example.com")
    assert ping_sources(lead).read("attributes.mobile") is None
    assert ping_sources(lead).read("attributes.backup_email") is None
    assert ping_sources(lead).read("attributes.case_type") == "mva"
    assert post_sources(lead).read("attributes.mobile") == "305-555-1234"


@pytest.mark.parametrize(
    ("dob", "band"),
    [
        pytest.param(None, None, id="no dob"),
        pytest.param("2026-03-02", None, id="born tomorrow"),
        pytest.param("2008-03-02", "under_18", id="18 tomorrow"),
        pytest.param("2008-03-01", "18-24", id="18 today"),
        pytest.param("2001-03-02", "18-24", id="25 tomorrow"),
        pytest.param("2001-03-01", "25-34", id="25 today"),
        pytest.param("1991-03-01", "35-44", id="35 today"),
        pytest.param("1981-03-02", "35-44", id="45 tomorrow"),
        pytest.param("1981-03-01", "45-54", id="45 today"),
        pytest.param("1971-03-01", "55-64", id="55 today"),
        pytest.param("1961-03-01", "65-74", id="65 today"),
        pytest.param("1951-03-02", "65-74", id="75 tomorrow"),
        pytest.param("1951-03-01", "75+", id="75 today"),
        pytest.param("1920-01-01", "75+", id="106"),
    ],
)
def test_age_band(dob: str | None, band: str | None) -> None:
    assert age_band(dob, TODAY) == band


def test_age_band_on_a_leap_day_birthday() -> None:
    assert age_band("2000-02-29", date(2025, 2, 28)) == "18-24"  # 24 until March 1st
    assert age_band("2000-02-29", date(2025, 3, 1)) == "25-34"


@pytest.mark.parametrize(
    ("lead_fields", "derived"),
    [
        pytest.param({}, {"zip3": "331", "age_band": "35-44"}, id="zip and dob"),
        pytest.param({"dob": None}, {"zip3": "331", "age_band": None}, id="no dob"),
        pytest.param({"zip": None}, {"zip3": None, "age_band": "35-44"}, id="no zip"),
        pytest.param({"zip": "02101-1234"}, {"zip3": "021", "age_band": "35-44"}, id="ZIP+4"),
    ],
)
def test_derived_fields(lead_fields: dict[str, Any], derived: dict[str, Any]) -> None:
    assert derived_fields(make_lead(**lead_fields), TODAY) == derived


# the field mapping --------------------------------------------------------------------------------

F = dict  # one FieldMap as buyers.yaml writes it

MAPPED = [
    pytest.param(F(to="Vertical", **{"from": "vertical"}), "mva", id="a lead field as it is"),
    pytest.param(F(to="Source", value="pingtree"), "pingtree", id="a fixed value"),
    pytest.param(F(to="Campaign", value=12), 12, id="a fixed number stays a number"),
    pytest.param(F(to="Sub", **{"from": "sub_id"}), None, id="missing -> left out"),
    pytest.param(F(to="Sub", default="organic", **{"from": "sub_id"}), "organic", id="default"),
    pytest.param(
        F(to="Case", default="x", **{"from": "attributes.case_type"}), "mva", id="default unused"
    ),
    pytest.param(
        F(to="Note", default="none", **{"from": "attributes.note"}),
        "none",
        id="default for an empty text",
    ),
    pytest.param(
        F(to="State", map={"FL": "Florida", "CA": "California"}, **{"from": "state"}),
        "Florida",
        id="map CA -> California style",
    ),
    pytest.param(
        F(to="State", map={"fl": "Sunshine"}, **{"from": "state"}),
        "Sunshine",
        id="map keys in any case",
    ),
    pytest.param(
        F(to="State", map={"GA": "Georgia"}, **{"from": "state"}),
        "FL",
        id="a value the map lacks goes through",
    ),
    pytest.param(
        F(to="Injured", map={True: "Y", False: "N"}, **{"from": "attributes.injury_reported"}),
        "Y",
        id="map a boolean by YAML boolean keys",
    ),
    pytest.param(
        F(to="Injured", map={"true": "Y"}, **{"from": "attributes.injury_reported"}),
        "Y",
        id="map a boolean by its text",
    ),
    pytest.param(
        F(to="Bill", map={"240": "200-250"}, **{"from": "attributes.bill"}),
        "200-250",
        id="map a number by its text",
    ),
    pytest.param(
        F(
            to="Treatment",
            map={"er_visit": "ER"},
            transform=["upper"],
            **{"from": "attributes.medical_treatment"},
        ),
        "ER",
        id="map first, then transforms",
    ),
    pytest.param(
        F(to="Name", transform=["state:name", "upper", "truncate:4"], **{"from": "state"}),
        "FLOR",
        id="transforms in order",
    ),
    pytest.param(
        F(to="Price", transform="string", **{"from": "auction.price"}), "42.50", id="price text"
    ),
    pytest.param(
        F(to="Flag", transform=["bool:1/0", "number"], **{"from": "tcpa_consent"}),
        Decimal(1),
        id="bool:1/0 then number -> a JSON 1",
    ),
    pytest.param(
        F(to="Date", default="2026-01-01", transform="date:%m/%d/%Y", **{"from": "attributes.x"}),
        "01/01/2026",
        id="the default is transformed too",
    ),
]


@pytest.mark.parametrize(("mapping", "value"), MAPPED)
def test_build_body(mapping: dict[str, Any], value: Any) -> None:
    lead = make_lead(note="", bill=240)
    body = build_body(fields(mapping), post_sources(lead))
    assert body == ({} if value is None else {mapping["to"]: value})


def test_build_body_keeps_the_mappings_order() -> None:
    order = ["z", "a", "m.x", "b", "m.a"]
    body = build_body(fields(*(F(to=to, value=1) for to in order)), post_sources())
    assert list(body) == order


def test_a_value_a_transform_cannot_read_fails_the_mapping_naming_the_field() -> None:
    point = fields(F(to="AccidentDate", transform="date:%m/%d/%Y", **{"from": "attributes.when"}))
    with pytest.raises(MappingError) as raised:
        build_body(point, post_sources(make_lead(when="last tuesday")))
    assert raised.value.field_to == "AccidentDate"
    assert "last tuesday" not in str(raised.value)


def test_a_native_endpoint_has_no_mapping() -> None:
    with pytest.raises(ValueError, match="native"):
        build_body(endpoint(), post_sources())


# bodies -------------------------------------------------------------------------------------------

POST_FIELDS = (
    F(to="contact.first", **{"from": "first_name"}),
    F(to="state", **{"from": "state"}),
    F(to="contact.phone", transform="phone:10", **{"from": "phone"}),
    F(to="price", **{"from": "auction.price"}),
    F(to="consent", **{"from": "tcpa_consent"}),
    F(to="case.injured", **{"from": "attributes.injury_reported"}),
    F(to="bill", value=240),
)


def test_json_nests_dotted_names_and_writes_prices_exactly() -> None:
    sent = request(fields(*POST_FIELDS))
    assert sent.body.startswith(b'{"contact":{"first":"Maria","phone":"3055551234"}')
    assert b'"price":42.50' in sent.body
    assert json.loads(sent.body) == {
        "contact": {"first": "Maria", "phone": "3055551234"},
        "state": "FL",
        "price": 42.5,
        "consent": True,
        "case": {"injured": True},
        "bill": 240,
    }
    assert sent.headers[0] == ("Content-Type", "application/json")
    assert (sent.method, sent.url) == ("POST", "https://buyer.example/leads")


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(["a", "a.b"], id="a value, then an object of the same name"),
        pytest.param(["a.b", "a"], id="an object, then a value of the same name"),
        pytest.param(["a.b", "a.b.c"], id="a nested value, then an object of its name"),
    ],
)
def test_json_refuses_a_name_that_is_a_value_and_an_object(order: list[str]) -> None:
    with pytest.raises(MappingError, match="value and an object"):
        request(fields(*(F(to=to, value=1) for to in order)))


def test_form_writes_names_literally_and_values_as_text() -> None:
    sent = request(fields(*POST_FIELDS, F(to="note", value="50% off & more"), format="form"))
    assert dict(sent.headers)["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(sent.body.decode("ascii")) == [
        ("contact.first", "Maria"),
        ("state", "FL"),
        ("contact.phone", "3055551234"),
        ("price", "42.50"),
        ("consent", "true"),
        ("case.injured", "true"),
        ("bill", "240"),
        ("note", "50% off & more"),
    ]
    assert b"note=50%25+off+%26+more" in sent.body


def test_xml_nests_elements_in_order_with_attributes_and_escaping() -> None:
    sent = request(
        fields(
            F(to="@version", value="2"),
            *POST_FIELDS,
            F(to="contact.@type", value='home "main"'),
            F(to="note", value="<b>Tom & Jerry</b>\x00\x0b"),
            format="xml",
            root="Lead",
        )
    )
    assert dict(sent.headers)["Content-Type"] == "application/xml; charset=utf-8"
    assert sent.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Lead version="2">')
    assert b"&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in sent.body
    document = ElementTree.fromstring(sent.body)
    assert [child.tag for child in document] == [
        "contact", "state", "price", "consent", "case", "bill", "note",
    ]  # fmt: skip
    contact = document.find("contact")
    assert contact is not None
    assert [(c.tag, c.text) for c in contact] == [("first", "Maria"), ("phone", "3055551234")]
    assert contact.get("type") == 'home "main"'
    assert document.findtext("price") == "42.50"
    assert document.findtext("consent") == "true"
    assert document.findtext("case/injured") == "true"
    # control characters XML cannot hold are dropped, the rest kept
    assert document.findtext("note") == "<b>Tom & Jerry</b>"


def test_xml_keeps_non_ascii_text_as_utf8() -> None:
    sent = request(fields(F(to="name", value="José Müller"), format="xml"))
    assert "<name>José Müller</name>".encode() in sent.body


def test_xml_refuses_an_attribute_in_the_middle_of_a_path() -> None:
    with pytest.raises(MappingError, match="last segment"):
        request(fields(F(to="a.@b.c", value=1), format="xml"))


# URL, method, query -------------------------------------------------------------------------------

PING_FIELDS = (
    F(to="state", **{"from": "state"}),
    F(to="zip3", **{"from": "zip3"}),
    F(to="type", **{"from": "attributes.case_type"}),
)


FIELD_PAIRS = (("state", "FL"), ("zip3", "331"), ("type", "mva"))


@pytest.mark.parametrize(
    ("url", "query", "expected"),
    [
        pytest.param(
            "https://buyer.example/ping",
            {},
            list(FIELD_PAIRS),
            id="fields only",
        ),
        pytest.param(
            "https://buyer.example/ping?key=K%2F1&v=2",
            {"src": "pingtree"},
            [("key", "K/1"), ("v", "2"), ("src", "pingtree"), *FIELD_PAIRS],
            id="merged into an existing query",
        ),
        pytest.param(
            "https://buyer.example/ping?state=XX&key=abc",
            {},
            [("key", "abc"), ("state", "FL"), ("zip3", "331"), ("type", "mva")],
            id="a field replaces the URL's value of its name",
        ),
    ],
)
def test_get_sends_the_fields_in_the_query_string_and_no_body(
    url: str, query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    sent = request(
        endpoint(url=url, method="get", query=query, fields=list(PING_FIELDS)), ping_sources()
    )
    assert sent.method == "GET"
    assert sent.body == b""
    assert "content-type" not in {name.lower() for name, _ in sent.headers}
    assert parse_qsl(urlsplit(sent.url).query) == expected


def test_the_urls_own_query_is_kept_byte_for_byte() -> None:
    sent = request(
        fields(*PING_FIELDS, url="https://b.example/p?key=a%20b+c&x", query={"src": "pt"}),
        ping_sources(),
    )
    assert sent.url == "https://b.example/p?key=a%20b+c&x&src=pt"


@pytest.mark.parametrize(
    ("test", "url"),
    [
        pytest.param(False, "https://buyer.example/leads?src=pt", id="a real lead"),
        pytest.param(True, "https://sandbox.buyer.example/leads?src=pt", id="a test lead"),
    ],
)
def test_test_leads_go_to_the_sandbox(test: bool, url: str) -> None:
    point = fields(
        *PING_FIELDS, sandbox_url="https://sandbox.buyer.example/leads", query={"src": "pt"}
    )
    assert request(point, test=test).url == url


def test_put() -> None:
    sent = request(fields(*PING_FIELDS, method="PUT"))
    assert sent.method == "PUT"
    assert json.loads(sent.body) == {"state": "FL", "zip3": "331", "type": "mva"}


# headers, auth, signing ---------------------------------------------------------------------------

BASIC = "Basic " + base64.b64encode(b"pingtree:p@ss:word").decode()

HEADER_CASES = [
    pytest.param({}, [("Content-Type", "application/json")], id="json, no headers"),
    pytest.param(
        {"format": "form"},
        [("Content-Type", "application/x-www-form-urlencoded")],
        id="form",
    ),
    pytest.param(
        {"headers": {"X-Api-Key": "k1", "X-Campaign": 12}},
        [("Content-Type", "application/json"), ("X-Api-Key", "k1"), ("X-Campaign", "12")],
        id="the endpoint's headers, numbers as text",
    ),
    pytest.param(
        {"format": "xml", "headers": {"content-type": "text/xml"}},
        [("content-type", "text/xml")],
        id="the endpoint's Content-Type wins (any case)",
    ),
    pytest.param(
        {"auth": {"type": "basic", "username": "pingtree", "password": "p@ss:word"}},
        [("Content-Type", "application/json"), ("Authorization", BASIC)],
        id="Basic auth",
    ),
    pytest.param(
        {"auth": {"type": "bearer", "token": "t0k3n"}},
        [("Content-Type", "application/json"), ("Authorization", "Bearer t0k3n")],
        id="Bearer auth",
    ),
    pytest.param(
        {"headers": {"Authorization": "Token old"}, "auth": {"type": "bearer", "token": "t0k3n"}},
        [("Content-Type", "application/json"), ("Authorization", "Bearer t0k3n")],
        id="auth replaces an Authorization header",
    ),
    pytest.param(
        {"method": "GET", "auth": {"type": "bearer", "token": "t0k3n"}},
        [("Authorization", "Bearer t0k3n")],
        id="GET: auth, no Content-Type",
    ),
]


@pytest.mark.parametrize(("keys", "headers"), HEADER_CASES)
def test_headers(keys: dict[str, Any], headers: list[tuple[str, str]]) -> None:
    assert list(request(fields(*PING_FIELDS, **keys)).headers) == headers


def test_query_and_header_values_are_read_per_lead_like_fields() -> None:
    point = fields(
        *POST_FIELDS,
        url="https://buyer.example/post.do?campaign=7",
        query={
            "lp_ping_id": {"from": "ping.ping_id"},
            "src": "pt",
            "absent": {"from": "ping.missing"},
            "st": {"from": "state", "transform": "state:name"},
        },
        headers={"X-Ping-Token": {"from": "ping.ping_id"}, "X-Absent": {"from": "ping.missing"}},
    )
    sent = request(point, post_sources(carried={"ping_id": "LP 77&x=1"}))
    assert parse_qsl(urlsplit(sent.url).query) == [
        ("campaign", "7"),
        ("lp_ping_id", "LP 77&x=1"),  # encoded, so it stays one parameter
        ("src", "pt"),
        ("st", "Florida"),
    ]
    assert list(sent.headers) == [
        ("Content-Type", "application/json"),
        ("X-Ping-Token", "LP 77&x=1"),
    ]


def test_a_header_read_per_lead_is_never_split_by_a_line_break_it_holds() -> None:
    point = fields(*POST_FIELDS, headers={"X-Ping-Token": {"from": "ping.token"}})
    with pytest.raises(MappingError, match=r"^headers\.X-Ping-Token: .*control character"):
        request(point, post_sources(carried={"token": "t-1\r\nX-Admin: yes"}))


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param({}, id="json"),
        pytest.param({"format": "xml"}, id="xml"),
        pytest.param({"method": "GET"}, id="GET (an empty body)"),
    ],
)
def test_a_signed_request_verifies_over_its_exact_body(keys: dict[str, Any]) -> None:
    sent = request(fields(*POST_FIELDS, sign={"secret": WHSEC}, **keys))
    headers = dict(sent.headers)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1770000000"
    assert verify(SecretStr(WHSEC), headers, sent.body, now=1_770_000_000)
    assert not verify(SecretStr(WHSEC), headers, sent.body + b" ", now=1_770_000_000)


def test_a_repr_never_shows_credentials() -> None:
    point = fields(
        *PING_FIELDS,
        url="https://buyer.example/leads?key=url-secret",
        headers={"X-Api-Key": "header-secret"},
        auth={"type": "bearer", "token": "bearer-secret"},
        sign={"secret": WHSEC},
    )
    shown = repr(request(point))
    assert "secret" not in shown.replace("webhook", "")
    assert "buyer.example" in shown


# the native body, with a dialect's trimmings ------------------------------------------------------


def test_a_native_body_goes_out_as_given_with_the_endpoints_headers() -> None:
    point = endpoint(auth={"type": "bearer", "token": "t"}, query={"src": "pt"})
    sent = request(point, ping_sources(), native_body=b'{"ping_id":"pg_01"}')
    assert sent.body == b'{"ping_id":"pg_01"}'
    assert sent.url == "https://buyer.example/leads?src=pt"
    assert list(sent.headers) == [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer t"),
    ]


def test_a_native_post_without_a_body_given_is_the_native_post_body() -> None:
    sent = request(endpoint(headers={"X-Key": "k"}), post_sources())
    body = json.loads(sent.body)
    assert (body["id"], body["ping_id"], body["bid_id"]) == ("ld_01", "pg_01", "b_9")
    assert body["phone"] == "+13055551234"
    assert b'"price":42.50' in sent.body


def test_a_native_ping_body_must_come_from_the_router() -> None:
    with pytest.raises(ValueError, match="native_body"):
        request(endpoint(headers={"X-Key": "k"}), ping_sources())


# PII ----------------------------------------------------------------------------------------------


def test_a_ping_mapping_sends_no_pii() -> None:
    lead = make_lead(
        last_name="Gonzalez", address="1200 Brickell Ave", ip_address="198.51.100.42",
        jornaya_leadid="J-77", mobile="(305) 555-1234",
    )  # fmt: skip
    readable = [
        "vertical", "sub_id", "state", "zip", "tcpa_consent", "consent_timestamp", "source_url",
        "test", "zip3", "age_band", "auction.lead_id", "auction.seller", "auction.ping_id",
        *(f"attributes.{name}" for name in lead.attributes),
    ]  # fmt: skip
    for kind in ("json", "form", "xml"):
        point = fields(*(F(to=f"f{i}", **{"from": s}) for i, s in enumerate(readable)), format=kind)
        sent = request(point, ping_sources(lead))
        wire = (sent.url + repr(sent.headers)).encode() + sent.body
        for name in PII_FIELDS:
            value = getattr(lead, name)
            if value:
                assert str(value).encode() not in wire, (kind, name)
        assert b"305" not in wire and b"555" not in wire, kind


def test_a_ping_reads_the_pii_its_buyer_opted_in_to_and_no_other() -> None:
    lead = make_lead(email="Maria.Gonzalez@Example.COM", ip_address="198.51.100.42")
    point = fields(
        F(to="town", **{"from": "city"}),
        F(to="domain", **{"from": "email_domain"}),
        query={"ip": {"from": "ip_address"}},
    )
    allowed = frozenset({"city", "email_domain", "ip_address"})
    sent = request(point, ping_sources(lead, pii_allowed=allowed))
    assert json.loads(sent.body) == {"town": "Miami", "domain": "example.com"}
    assert sent.url == "https://buyer.example/leads?ip=198.51.100.42"
    for opted_in in sorted(allowed):  # the second lock, should the config check be bypassed
        others = ping_sources(lead, pii_allowed=allowed - {opted_in})
        with pytest.raises(MappingError, match="PII"):
            others.read(opted_in)
    with pytest.raises(MappingError, match="PII"):
        ping_sources(lead, pii_allowed=allowed).read("email")


def test_the_config_refuses_a_ping_mapping_that_reads_pii() -> None:
    buyer = make_buyer("dialect-a", ping={"fields": [{"to": "Phone", "from": "phone"}]})
    with pytest.raises(ConfigError, match="PII"):
        make_config([buyer])
