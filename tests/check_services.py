"""Real local check services for end-to-end tests of `checks:` (DESIGN §16), one aiohttp server
on a loopback port, every request recorded:

- POST /claim: a consent-certificate claim, answering in the shape of TrustedForm's claiming
  API (`outcome` success | failure | error, `reason`, `age` in seconds, `warnings`, `cert`),
  behind HTTP Basic auth with the user `API`;
- GET /lookup: a phone-type lookup, answering in the shape of Twilio Lookup v2 with
  line_type_intelligence (`valid`, `phone_number`, `line_type_intelligence.type`,
  `carrier_name`), behind HTTP Basic auth;
- POST /hang: never answers in time;
- POST /garbage: a 200 with an HTML page, quoting the Authorization header it was sent (as a
  careless service's error page would).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

CLAIM_KEY = "tf-api-key-0123456789"
LOOKUP_SID = "AC0123456789abcdef"
LOOKUP_TOKEN = "lookup-token-0123456789"


@dataclass
class Seen:
    """What the services were sent: (path, body or query, Authorization header)."""

    requests: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)

    def of(self, path: str) -> list[dict[str, Any]]:
        return [body for where, body, _ in self.requests if where == path]


class CheckServices:
    def __init__(self) -> None:
        self.seen = Seen()
        self.claim_outcome = "success"
        self.claim_age = 42
        self.line_type = "mobile"
        self.valid_phone = True
        self.hang_s = 5.0
        app = web.Application()
        app.router.add_post("/claim", self._claim)
        app.router.add_get("/lookup", self._lookup)
        app.router.add_post("/hang", self._hang)
        app.router.add_post("/garbage", self._garbage)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    def url(self, path: str) -> str:
        return str(self._server.make_url(path))

    async def _claim(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        auth = request.headers.get("Authorization")
        self.seen.requests.append(("/claim", body, auth))
        if auth != _basic("API", CLAIM_KEY):
            return web.json_response({"outcome": "error", "reason": "unauthorized"}, status=401)
        answer: dict[str, Any] = {
            "outcome": self.claim_outcome,
            "reason": None if self.claim_outcome == "success" else "no fingerprints matched",
            "age": self.claim_age,
            "warnings": []
            if self.claim_outcome == "success"
            else ["none of the provided fingerprints match"],
            "masked": False,
            "cert": {"created_at": "2026-03-01T11:59:18Z", "page_url": "https://example.com/"},
        }
        return web.json_response(answer)

    async def _lookup(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        auth = request.headers.get("Authorization")
        self.seen.requests.append(("/lookup", query, auth))
        if auth != _basic(LOOKUP_SID, LOOKUP_TOKEN):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        answer = {
            "calling_country_code": "1",
            "country_code": "US",
            "phone_number": query.get("PhoneNumber"),
            "valid": self.valid_phone,
            "validation_errors": [] if self.valid_phone else ["NOT_A_NUMBER"],
            "line_type_intelligence": {
                "carrier_name": "T-Mobile USA, Inc.",
                "error_code": None,
                "mobile_country_code": "310",
                "mobile_network_code": "160",
                "type": self.line_type,
            },
        }
        return web.json_response(answer)

    async def _hang(self, request: web.Request) -> web.Response:
        self.seen.requests.append(("/hang", orjson.loads(await request.read()), None))
        await asyncio.sleep(self.hang_s)
        return web.json_response({"ok": True})

    async def _garbage(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        self.seen.requests.append(("/garbage", orjson.loads(await request.read()), auth))
        page = f"<html><body>Service unavailable (you sent {auth})</body></html>"
        return web.Response(text=page, content_type="text/html")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
