"""How a command asks a running router's operator API (DESIGN §13): `--url` (default
http://127.0.0.1:8080) and `--token` (default $PINGTREE_ADMIN_TOKEN). One place for the options,
the call and what a refusal prints; exit codes: 1 when the router refused (no such thing, not
now), 2 when it could not be asked (no token, bad token, unreachable)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import aiohttp

from pingtree.core import jsonenc

TOKEN_ENV = "PINGTREE_ADMIN_TOKEN"


def add_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--url", default="http://127.0.0.1:8080", help="the router")
    command.add_argument("--token", help=f"an operator's token; default: ${TOKEN_ENV}")


class Refused(Exception):
    def __init__(self, status: int, answer: Any) -> None:
        super().__init__(status)
        self.status = status
        self.answer = answer


async def _call(method: str, url: str, token: str, body: Any, text: bool) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = jsonenc.dumps(body)
        headers["Content-Type"] = "application/json"
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, url, headers=headers, data=data) as response,
    ):
        if response.status == 200 and text:
            return await response.text()
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            answer = {"error": "http_error", "detail": await response.text()}
        if response.status != 200:
            raise Refused(response.status, answer)
        return answer


def ask(
    args: argparse.Namespace, method: str, path: str, *, body: Any = None, text: bool = False
) -> tuple[int, Any]:
    """(0, the answer: JSON, or the body as text) or (exit code, None) after saying why on
    stderr."""
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"no operator token: give --token or set {TOKEN_ENV}", file=sys.stderr)
        return 2, None
    url = args.url.rstrip("/") + path
    try:
        return 0, asyncio.run(_call(method, url, token, body, text))
    except Refused as exc:
        answer = exc.answer
        detail = answer.get("detail") if isinstance(answer, dict) else answer
        fields = answer.get("fields") if isinstance(answer, dict) else None
        said = f"HTTP {exc.status}: {detail}"
        if fields:
            said += " (" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
        print(said, file=sys.stderr)
        return (2 if exc.status in (401, 403) else 1), None
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"{args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2, None


__all__ = ["TOKEN_ENV", "Refused", "add_options", "ask"]
