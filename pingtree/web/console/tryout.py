""" "Try this buyer" (`/console/buyers/{id}/try`): `pingtree try`'s preview on a page. An
operator edits a sample lead (a built-in one, made for the buyer's first vertical and state)
and sees the ping and the post this buyer would be sent for it, byte for byte, as the running
tree builds them: cli/try_buyer.py's `try_buyer`, without `--send`. The ping carries no PII (the
wire builds it from the anonymized lead, unless the buyer is opted in field by field); the post
does, being the lead sold.

    GET  /console/buyers/{id}/try   the form, with the sample lead
    POST /console/buyers/{id}/try   the same form and what the buyer would be sent (@form: CSRF,
                                    any operator; nothing is sent and nothing changes)

Nothing is sent from the console: a lead typed here reaches no buyer (`NoCalls` refuses to).
Secrets are masked as `pingtree try` masks them (the values of the file's `${NAME}` references,
credentials in URLs and headers), and so is every secret of the running tree's models."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel, SecretStr

from pingtree.cli.try_buyer import Masker, lead_from_json, try_buyer
from pingtree.config import BuyerConfig, Config, Operator, env_values, read_yaml
from pingtree.config.models import TLS
from pingtree.core import jsonenc
from pingtree.core.errors import NotFound, PingtreeError
from pingtree.transport.client import Request, Response
from pingtree.web.console.guards import form, page
from pingtree.web.console.render import render
from pingtree.web.console.session import posted_form
from pingtree.web.keys import RELOADER, ROUTER

MAX_LEAD_BYTES = 64 * 1024


class NoCalls:
    """The transport of a preview: `try_buyer` without `send` calls no buyer, and if it ever
    did, this refuses rather than reach one."""

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        raise RuntimeError("the console's preview sends nothing")

    async def send(
        self,
        request: Request,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        raise RuntimeError("the console's preview sends nothing")

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def sample_lead(buyer: BuyerConfig) -> dict[str, Any]:
    """A made-up consumer (reserved phone and documentation addresses) this buyer could take:
    its first vertical and state, marked as a test."""
    vertical = min(buyer.verticals) if buyer.verticals else "mva"
    states = buyer.filters.states
    return {
        "lead_id": "console-try-1",
        "vertical": vertical,
        "first_name": "Sample",
        "last_name": "Person",
        "phone": "+13055550100",
        "email": "sample.person@example.com",
        "state": min(states) if states else "FL",
        "zip": "33101",
        "tcpa_consent": True,
        "consent_timestamp": "2026-01-01T12:00:00Z",
        "trustedform_url": "https://cert.trustedform.com/0000000000000000",
        "ip_address": "198.51.100.7",
        "test": True,
    }


@page
async def try_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    buyer = _buyer(request)
    text = json.dumps(sample_lead(buyer), indent=2)  # shown to be edited: one field a line
    return render(request, "try.html", page="buyers", buyer=buyer, lead_text=text, shown=None)


@form
async def try_lead(request: web.Request, operator: Operator) -> web.StreamResponse:
    buyer = _buyer(request)
    posted = await posted_form(request)
    field = posted.get("lead")
    text = field if isinstance(field, str) else ""
    config = request.app[ROUTER].tree.config
    out = io.StringIO()
    try:
        if len(text.encode()) > MAX_LEAD_BYTES:
            raise PingtreeError(f"a sample lead is at most {MAX_LEAD_BYTES // 1024} KiB")
        lead = lead_from_json(text.encode(), config, "the lead")
        code = await try_buyer(
            config,
            buyer,
            lead,
            send=False,
            mask=_masker(request, config),
            out=out,
            transport=NoCalls(),
        )
    except (PingtreeError, jsonenc.JSONDecodeError) as exc:
        return render(
            request,
            "try.html",
            status=400,
            page="buyers",
            buyer=buyer,
            lead_text=text,
            shown=None,
            problem=_problem(exc),
        )
    shown = {"text": out.getvalue(), "would_buy": code == 0}
    return render(request, "try.html", page="buyers", buyer=buyer, lead_text=text, shown=shown)


def _buyer(request: web.Request) -> BuyerConfig:
    buyer = request.app[ROUTER].tree.buyers.get(request.match_info["id"])
    if buyer is None:
        raise NotFound("no such buyer in the running config")
    return buyer


def _problem(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, PingtreeError):
        return {"detail": exc.detail, "fields": exc.fields}
    return {"detail": f"the lead is not JSON: {exc}", "fields": {}}


def _masker(request: web.Request, config: Config) -> Masker:
    """`pingtree try`'s: the values the file's `${NAME}` references took; and every secret of
    the running tree (an api_key, a password written into the file)."""
    secrets = set(_secret_values(config))
    reloader = request.app.get(RELOADER)
    if reloader is not None and reloader.path is not None:
        # The file may have changed or gone since the start: the tree's own secrets remain.
        with contextlib.suppress(OSError, PingtreeError):
            secrets |= env_values(read_yaml(reloader.path), os.environ)
    return Masker(secrets)


def _secret_values(node: object) -> Iterator[str]:
    if isinstance(node, SecretStr):
        yield node.get_secret_value()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _secret_values(getattr(node, name))
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _secret_values(value)
    elif isinstance(node, list | tuple | frozenset | set):
        for value in node:
            yield from _secret_values(value)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/buyers/{id}/try", try_page)
    app.router.add_post("/console/buyers/{id}/try", try_lead)


__all__ = ["NoCalls", "add_routes", "sample_lead", "try_lead", "try_page"]
