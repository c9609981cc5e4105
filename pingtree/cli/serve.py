"""`pingtree serve`: its options, the checks that refuse a setup which would misbehave, and one
router process built by the wiring (web/app.py) and served; `--workers N` is workers.py's."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pingtree.cli.config_file import load_or_report
from pingtree.cli.workers import DATABASE_URL_VARIABLE, REDIS_URL_VARIABLE, supervise
from pingtree.config import Config
from pingtree.config.urls import masked_database_url, masked_redis_url
from pingtree.core.errors import LedgerUnavailable, StoreUnavailable


def add_command(subparsers: Any) -> None:
    """Add `serve` to pingtree's subparsers (`build_parser`)."""
    serve = subparsers.add_parser("serve", help="run the router")
    serve.add_argument("--config", required=True, help="buyers.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    serve.add_argument(
        "--redis-url",
        # From the environment by default: a command line is shown to every user of the host.
        default=os.environ.get(REDIS_URL_VARIABLE) or None,
        help="share state with every router on this Redis (redis://, rediss://, unix://); "
        f"default: ${REDIS_URL_VARIABLE} (kept out of `ps`), else the embedded store, this "
        "process only",
    )
    serve.add_argument("--redis-prefix", default="pingtree", help="prefix of every Redis key")
    serve.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_VARIABLE) or None,
        help="the ledger's database: postgresql://… (shared by several routers) or "
        f"sqlite:///PATH; default: ${DATABASE_URL_VARIABLE}, else a SQLite file beside the "
        "state file (without one, a temporary file removed when the router stops); with "
        "--redis-url and neither, no ledger",
    )
    serve.add_argument(
        "--no-ledger",
        action="store_true",
        help="keep no record of leads (no lead list, reports or audit): a throwaway router, or "
        "the other side of the ledger's benchmark",
    )
    serve.add_argument(
        "--state",
        metavar="FILE",
        help="the embedded store's SQLite file (router.state_file): caps, dedup, idempotency, "
        "the post journal, outcomes and deliveries survive a restart; default: the config's",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="router processes sharing the port (SO_REUSEPORT); more than 1 needs --redis-url",
    )
    serve.add_argument("--worker-ready-fd", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(run=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    worker = args.worker_ready_fd is not None  # started by a supervising `serve --workers N`
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
        if worker or args.workers > 1
        else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = load_or_report(args.config)
    if config is None:
        return 1
    misuse = _misuse(args, config)
    if misuse is not None:
        print(misuse, file=sys.stderr)
        return 2
    if args.redis_url is not None and not worker:
        # Checked once, here: a bad URL or a dead Redis fails at start-up. A worker the
        # supervisor restarts later starts even while Redis is down, and serves 503s until it
        # is back (store/state/guard.py), rather than fail to boot and stop the others.
        from pingtree.web.app import redis_problem

        problem = asyncio.run(redis_problem(args.redis_url, args.redis_prefix))
        if problem is not None:
            where = masked_redis_url(args.redis_url)
            print(f"cannot use Redis at {where}: {problem}", file=sys.stderr)
            return 1
    if args.workers > 1:
        return supervise(args)
    return _serve(args, config, ready_fd=args.worker_ready_fd)


def _state_file(args: argparse.Namespace, config: Config) -> str | None:
    return args.state if args.state is not None else config.router.state_file


def _misuse(args: argparse.Namespace, config: Config) -> str | None:
    """Why these options would make a router that misbehaves (exit 2), or None."""
    if args.state is not None and args.redis_url is not None:
        return "--state is the embedded store's file: with --redis-url, state is in Redis"
    if args.workers < 1:
        return "--workers: at least 1"
    if args.workers > 1 and args.redis_url is None:
        return (
            f"--workers {args.workers} needs --redis-url: with the embedded store each process "
            "would keep its own caps, dedup claims and idempotency records, so together they "
            "would sell past a buyer's cap, sell a consumer twice and run a resent lead again"
        )
    if args.database_url is not None:
        from pingtree.ledger.database import url_problem

        problem = url_problem(args.database_url)  # a scheme not a ledger's, or no driver
        if problem is not None:
            return f"--database-url {masked_database_url(args.database_url)}: {problem}"
    dedup = any(buyer.dedup_days is not None for buyer in config.buyers)
    if args.redis_url is not None and dedup and config.router.dedup_secret is None:
        return (
            "--redis-url: set router.dedup_secret: without it each router hashes phones and "
            "emails with its own random key, and dedup_days does not hold across routers"
        )
    on_disk = args.redis_url is None and _state_file(args, config) is not None
    if on_disk and dedup and config.router.dedup_secret is None:
        return (
            "--state (router.state_file): set router.dedup_secret: without it each start hashes "
            "phones and emails with a new random key, and dedup_days does not hold across a "
            "restart"
        )
    return None


def _serve(args: argparse.Namespace, config: Config, *, ready_fd: int | None) -> int:
    """One router process: its own event loop, its own store client."""
    from pingtree.web.app import ServeOptions, create_app
    from pingtree.web.serving import run as run_server

    log = logging.getLogger("pingtree")
    if args.redis_url is not None:
        where = masked_redis_url(args.redis_url)
        log.info("store: Redis at %s, key prefix %r", where, args.redis_prefix)
    elif _state_file(args, config) is not None:
        log.info("store: embedded, state file %s", _state_file(args, config))
    if args.database_url is not None:
        log.info("ledger: %s", masked_database_url(args.database_url))
    options = ServeOptions(
        config_path=Path(args.config),
        state_file=args.state,
        redis_url=args.redis_url,
        redis_prefix=args.redis_prefix,
        database_url=args.database_url,
        ledger=not args.no_ledger,
        ledger_filer=True,
        # A worker of `serve --workers N`: a reload over HTTP reaches the others too.
        tell_other_workers=None if ready_fd is None else _supervisor_relay(os.getppid()),
    )
    app = create_app(config, options)
    # After the app's parts have started (the on_startup hooks run after its cleanup contexts).
    app.on_startup.append(_reload_on_sighup)
    app.on_startup.append(_freeze_what_lasts)

    def serving(text: str) -> None:
        # aiohttp prints this once its sockets listen: a supervisor waits for it.
        print(text, flush=True)
        if ready_fd is not None:
            os.write(ready_fd, b"r")
            os.close(ready_fd)

    loop = new_event_loop(args.loop)
    log.info("event loop: %s", type(loop).__module__.split(".")[0])
    try:
        # aiohttp's run_app, but answering malformed requests with pingtree's JSON (serving.py).
        run_server(
            app,
            host=args.host,
            port=args.port,
            loop=loop,
            reuse_port=ready_fd is not None,
            print=serving,
        )
    except StoreUnavailable as exc:  # the state file: unopenable, or another process's
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except LedgerUnavailable as exc:  # a ledger file whose folder cannot be made (a database
        print(f"cannot start: {exc}", file=sys.stderr)  # that is down does not stop serve)
        return 1
    except OSError as exc:  # the port is taken, the host is not ours...
        print(f"cannot listen on {args.host}:{args.port}: {bind_error(exc)}", file=sys.stderr)
        return 1
    return 0


async def _reload_on_sighup(app: web.Application) -> None:
    from pingtree.web.keys import RELOADER

    # `kill -HUP` does what POST /admin/reload does: re-read, validate, swap or refuse.
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, app[RELOADER].reload_soon)


async def _freeze_what_lasts(_app: web.Application) -> None:
    # Everything built so far lives as long as the process: keep it out of every GC pass.
    gc.collect()
    gc.freeze()


def bind_error(exc: OSError) -> str:
    """Why a port could not be bound, in the system's words ("Address already in use")."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _supervisor_relay(supervisor: int) -> Callable[[], None]:
    """SIGUSR1 to the supervisor that started this worker: it sends SIGHUP to the other workers
    (workers.py). Nothing once the supervisor is gone (this process is about to be stopped)."""

    def relay() -> None:
        if os.getppid() == supervisor:
            os.kill(supervisor, signal.SIGUSR1)

    return relay


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """uvloop when asked, or when `auto` finds it installed (`pip install pingtree[fast]`): the
    same router for about 10-15% less CPU per lead (docs/benchmarks.md)."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                message = "--loop uvloop: uvloop is not installed (pip install pingtree[fast])"
                raise SystemExit(message) from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


__all__ = ["add_command", "bind_error", "cmd_serve", "new_event_loop"]
