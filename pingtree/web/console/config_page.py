"""Config (`/console/config`): the running tree's summary (config_view.py: never a secret), the
file it was read from, checked and reloaded as `pingtree validate` and POST /admin/reload do
them, the suppression lists and their sizes (read-only), and the audit log, newest first
(ledger_admin.find_audit: GET /admin/audit's entries).

    GET  /console/config?cursor=     the summary and the audit log
    GET  /console/config/check       the file read again and validated: every error with its
                                     path, or what a reload would change (config/diff.py's diff)
    POST /console/config/reload      admins only: operators.reload_config, as POST /admin/reload
                                     (audited with the diff), then back to the summary

The reload form carries the SHA-256 of the file whose diff the admin saw: if the file changed
on disk since, nothing is reloaded and the new diff is shown instead, so what is confirmed is
what is reloaded. Viewers check the file too (reading it changes nothing), and see no Reload."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from aiohttp import web

from pingtree.config import Operator, load_config
from pingtree.config.diff import config_diff, is_empty
from pingtree.core.errors import ConfigError, PingtreeError, StoreUnavailable
from pingtree.web.console.config_view import audit_detail, diff_lines, tree_summary
from pingtree.web.console.guards import action, page
from pingtree.web.console.render import render, see_other
from pingtree.web.console.session import posted_form
from pingtree.web.keys import RELOADER, ROUTER
from pingtree.web.ledger_admin import LedgerOff, find_audit
from pingtree.web.operators import refused_detail, reload_config

PATH = "/console/config"
AUDIT_PAGE = 50


class NoConfigFile(PingtreeError):
    status = 409
    code = "no_config_file"


@page
async def config_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    query = {"limit": str(AUDIT_PAGE), "cursor": request.query.get("cursor", "")}
    entries: list[dict[str, Any]] = []
    next_cursor, ledger = None, True
    try:
        entries, next_cursor = await find_audit(request, query)
    except LedgerOff:
        ledger = False
    for entry in entries:
        entry["detail_text"] = audit_detail(entry["action"], entry["detail"])
    reloaded = request.query.get("reloaded", "")
    return render(
        request,
        "config.html",
        page="config",
        path=request.app[RELOADER].path,
        summary=tree_summary(request.app[ROUTER].tree.config),
        suppression=await _suppression_lists(request),
        entries=entries,
        next_cursor=next_cursor,
        ledger=ledger,
        reloaded=reloaded if reloaded.isdigit() else None,
    )


async def _suppression_lists(request: web.Request) -> list[dict[str, Any]] | None:
    """The suppression lists and their sizes (GET /admin/suppression's); None if the store
    cannot say how many entries were added (the rest of the page still shows)."""
    try:
        return await request.app[ROUTER].suppression.listing()
    except StoreUnavailable:
        return None


def _config_file(request: web.Request) -> Path:
    path = request.app[RELOADER].path
    if path is None:
        raise NoConfigFile("this router was not started from a file: there is nothing to re-read")
    return path


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""  # load_config says why it cannot be read


async def _checked(
    request: web.Request, *, message: str | None = None, status: int = 200
) -> web.Response:
    """The file read again: its errors, or the diff from the running config, and the form
    that reloads it (the template shows that to admins only)."""
    path = _config_file(request)
    digest = await asyncio.to_thread(_digest, path)
    errors: list[tuple[str, str]] = []
    changes: list[str] = []
    refused = None
    try:
        config = await asyncio.to_thread(load_config, path)
    except ConfigError as exc:
        errors, refused = exc.errors, refused_detail(exc, path)
    else:
        diff = config_diff(request.app[ROUTER].tree.config, config)
        changes = [] if is_empty(diff) else diff_lines(diff)
    return render(
        request,
        "config_check.html",
        status=status,
        page="config",
        path=path,
        digest=digest,
        errors=errors,
        refused=refused,
        changes=changes,
        message=message,
    )


@page
async def check_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    return await _checked(request)


@action
async def reload(request: web.Request, operator: Operator) -> web.StreamResponse:
    path = _config_file(request)
    seen = (await posted_form(request)).get("digest")
    if seen != await asyncio.to_thread(_digest, path):
        message = (
            "The file changed since you saw its diff: nothing was reloaded. This is what a"
            " reload would change now."
        )
        return await _checked(request, message=message, status=409)
    try:
        answer = await reload_config(request, operator)
    except ConfigError:
        message = "The file no longer validates: nothing was reloaded."
        return await _checked(request, message=message, status=422)
    return see_other(f"{PATH}?reloaded={answer['generation']}")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, config_page)
    app.router.add_get(PATH + "/check", check_page)
    app.router.add_post(PATH + "/reload", reload)


__all__ = ["add_routes", "check_page", "config_page", "reload"]
