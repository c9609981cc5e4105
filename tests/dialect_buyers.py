"""Four real local buyers that do not speak pingtree's protocol, one per worked example of
"Wiring a buyer" (docs/wiring-a-buyer.md, examples/dialects/*.yaml). Each checks what it receives
as strictly as the real thing would (credentials, encoding, field names, the signature, the ping's
id) and answers in its own dialect; every request is recorded as it arrived."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer
from defusedxml import ElementTree
from standardwebhooks import Webhook

XML_LEGAL_KEY = "xl-api-key-20931"
GHL_FIRM_TOKEN = "ghl-bearer-token-5521"
GHL_FIRM_WHSEC = "whsec_" + base64.b64encode(b"ghl-firm-signing-secret-32bytes!").decode()
SOLAR_CRM_PASSWORD = "crm-password-7781"
LP_SOLAR_CAMPAIGN = "4711"
LP_SOLAR_KEY = "lp-campaign-key-83c2"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]


@dataclass
class DialectBuyers:
    """What each buyer will answer next, and everything each was sent."""

    xml_ping: str = "matched"  # matched · unmatched · html (an error page with status 200)
    xml_price: str = "$22.50"
    xml_post: str = "accepted"  # accepted · duplicate · rejected · gibberish
    xml_doctype: str = ""  # a <!DOCTYPE …> line after the XML declaration of every answer
    crm_ping: str = "BID 14.50"
    crm_post: str = "OK 48213"
    ghl_status: str = "success"
    lp_price: str = "18.25"
    lp_ping_ids: list[str] = field(default_factory=list)  # every ping id the LP buyer gave
    seen: dict[str, list[Seen]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        app = web.Application()
        app.router.add_route("*", "/xml-legal/{step}", self._xml_legal)
        app.router.add_route("*", "/ghl/hook", self._ghl)
        app.router.add_route("*", "/crm/{step}", self._crm)
        app.router.add_route("*", "/lp/{step}.do", self._leadspedia)
        app.router.add_route("*", "/sandbox/{name}/{step}", self._sandbox)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    def base(self, path: str = "") -> str:
        return str(self._server.make_url(path)).rstrip("/")

    def env(self) -> dict[str, str]:
        """The environment the example files expect."""
        return {
            "XML_LEGAL_URL": self.base("/xml-legal"),
            "XML_LEGAL_KEY": XML_LEGAL_KEY,
            "GHL_FIRM_URL": self.base("/ghl/hook"),
            "GHL_FIRM_TOKEN": GHL_FIRM_TOKEN,
            "GHL_FIRM_WHSEC": GHL_FIRM_WHSEC,
            "SOLAR_CRM_URL": self.base("/crm"),
            "SOLAR_CRM_PASSWORD": SOLAR_CRM_PASSWORD,
            "LP_SOLAR_URL": self.base("/lp"),
            "LP_SOLAR_CAMPAIGN": LP_SOLAR_CAMPAIGN,
            "LP_SOLAR_KEY": LP_SOLAR_KEY,
        }

    def calls(self, name: str) -> list[Seen]:
        return self.seen.get(name, [])

    async def _record(self, name: str, request: web.Request) -> Seen:
        seen = Seen(
            request.method,
            request.path,
            dict(request.headers),
            await request.read(),
            dict(request.query),
        )
        self.seen.setdefault(name, []).append(seen)
        return seen

    # a boberdoo-style XML buyer ----------------------------------------------------------------

    async def _xml_legal(self, request: web.Request) -> web.Response:
        step = request.match_info["step"]
        seen = await self._record(f"xml-legal/{step}", request)
        document = ElementTree.fromstring(seen.body)
        if document.tag != "lead" or document.findtext("key") != XML_LEGAL_KEY:
            return self._xml(
                "<response><status>Error</status><message>bad key</message></response>"
            )
        if step == "ping":
            if self.xml_ping == "html":
                return web.Response(text="<html><body>Service Unavailable</body></html>")
            if self.xml_ping == "unmatched":
                return self._xml("<response><status>Unmatched</status><message>no demand</message>"
                                 "</response>")  # fmt: skip
            token = f"tok-{next(self._ids)}"
            self.tokens.append(token)
            return self._xml(
                f"<response><status>Matched</status><price>{self.xml_price}</price>"
                f"<ping_token>{token}</ping_token></response>"
            )
        if document.findtext("ping_token") not in self.tokens:
            return self._xml("<response><status>Rejected</status><message>unknown ping</message>"
                             "</response>")  # fmt: skip
        answers = {
            "accepted": "<status>Accepted</status><lead_id>XL-991</lead_id>",
            "duplicate": "<status>Duplicate</status><message>seen in the last 30 days</message>",
            "rejected": "<status>Rejected</status><message>outside service area</message>",
            "gibberish": "<status>Pending review</status>",
        }
        return self._xml(f"<response>{answers[self.xml_post]}</response>")

    def _xml(self, text: str) -> web.Response:
        return _xml(self.xml_doctype + text)

    # a GoHighLevel-style webhook ---------------------------------------------------------------

    async def _ghl(self, request: web.Request) -> web.Response:
        seen = await self._record("ghl", request)
        if seen.headers.get("Authorization") != f"Bearer {GHL_FIRM_TOKEN}":
            return web.json_response({"status": "error", "message": "unauthorized"}, status=401)
        try:
            Webhook(GHL_FIRM_WHSEC).verify(seen.body, seen.headers)
        except Exception:  # the verifier's own error type: any failure is a bad signature
            self.signatures_ok.append(False)
            return web.json_response({"status": "error", "message": "bad signature"}, status=401)
        self.signatures_ok.append(True)
        if self.ghl_status != "success":
            return web.json_response({"status": self.ghl_status, "message": "contact exists"})
        contact = orjson.loads(seen.body)
        return web.json_response(
            {"status": "success", "contact": {"id": f"c_{next(self._ids)}", **contact}}
        )

    # a form-encoded CRM answering in plain text ------------------------------------------------

    async def _crm(self, request: web.Request) -> web.Response:
        step = request.match_info["step"]
        seen = await self._record(f"crm/{step}", request)
        expected = "Basic " + base64.b64encode(f"pingtree:{SOLAR_CRM_PASSWORD}".encode()).decode()
        if seen.headers.get("Authorization") != expected:
            return web.Response(text="ERROR auth", status=401)
        if seen.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return web.Response(text="ERROR form expected")
        form = dict(parse_qsl(seen.body.decode()))
        if step == "ping":
            return web.Response(text=self.crm_ping if form.get("State") else "NO BID")
        return web.Response(text=self.crm_post)

    # a LeadsPedia-style buyer: campaign and key in the query, the ping's id back in the post's --

    async def _leadspedia(self, request: web.Request) -> web.Response:
        """Modelled on the public ping/post specs of LeadsPedia-hosted campaigns (ping.do and
        post.do, lp_campaign_id and lp_campaign_key on both, the ping requiring ip_address, the
        post requiring lp_ping_id, the ping id returned by the ping), answering in JSON."""
        step = request.match_info["step"]
        seen = await self._record(f"lp/{step}", request)
        query = seen.query
        if (query.get("lp_campaign_id"), query.get("lp_campaign_key")) != (
            LP_SOLAR_CAMPAIGN,
            LP_SOLAR_KEY,
        ):
            return web.json_response({"result": "failed", "msg": "Invalid campaign key"})
        form = form_of(seen)
        if step == "ping":
            missing = [n for n in ("state", "zip_code", "ip_address") if not form.get(n)]
            if missing:
                return web.json_response({"result": "failed", "msg": f"Missing {missing[0]}"})
            ping_id = f"lp-ping-{next(self._ids)}"
            self.lp_ping_ids.append(ping_id)
            return web.json_response(
                {"result": "success", "msg": "", "ping_id": ping_id, "price": self.lp_price}
            )
        if query.get("lp_ping_id") not in self.lp_ping_ids:
            return web.json_response({"result": "failed", "msg": "Invalid lp_ping_id"})
        if not form.get("phone_home"):
            return web.json_response({"result": "failed", "msg": "Missing phone_home"})
        return web.json_response({"result": "success", "msg": "", "lead_id": "LP-5150"})

    async def _sandbox(self, request: web.Request) -> web.Response:
        name, step = request.match_info["name"], request.match_info["step"]
        await self._record(
            f"sandbox/{name}/{step}", request
        )  # a buyer's sandbox speaks its dialect
        return web.Response(text="BID 1.00" if step == "ping" else "OK sandbox-1")


def _xml(text: str) -> web.Response:
    return web.Response(
        body=b'<?xml version="1.0" encoding="UTF-8"?>' + text.encode(),
        content_type="text/xml",
    )


def form_of(seen: Seen) -> dict[str, str]:
    return dict(parse_qsl(seen.body.decode(), keep_blank_values=True))


def xml_of(seen: Seen) -> Any:
    return ElementTree.fromstring(seen.body)
