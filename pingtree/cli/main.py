"""The command line: serve · validate · sim · demo · send."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from pingtree.cli.deliveries import add_commands as add_delivery_commands
from pingtree.cli.workers import REDIS_URL_VARIABLE, supervise
from pingtree.config import Config, load_config
from pingtree.config.summary import describe_tree
from pingtree.core import jsonenc
from pingtree.core.errors import ConfigError, PingtreeError, StoreUnavailable


def _print_errors(path: str, exc: ConfigError) -> None:
    print(f"{path}: {len(exc.errors)} error(s)", file=sys.stderr)
    for where, message in exc.errors:
        print(f"  {where}: {message}", file=sys.stderr)


def _load_or_report(path: str) -> Config | None:
    """The config, or None after printing every error with its path to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        _print_errors(path, exc)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load_or_report(args.file)
    if config is None:
        return 1
    print(f"{args.file}: OK")
    print(describe_tree(config))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    worker = args.worker_ready_fd is not None  # started by a supervising `serve --workers N`
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
        if worker or args.workers > 1
        else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = _load_or_report(args.config)
    if config is None:
        return 1
    if args.state is not None:
        if args.redis_url is not None:
            print(
                "--state is the embedded store's file: with --redis-url, state is in Redis",
                file=sys.stderr,
            )
            return 2
        router = config.router.model_copy(update={"state_file": args.state})
        config = config.model_copy(update={"router": router})
    if args.workers < 1:
        print("--workers: at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and args.redis_url is None:
        print(
            f"--workers {args.workers} needs --redis-url: with the embedded store each process "
            "would keep its own caps, dedup claims and idempotency records, so together they "
            "would sell past a buyer's cap, sell a consumer twice and run a resent lead again",
            file=sys.stderr,
        )
        return 2
    dedup = any(buyer.dedup_days is not None for buyer in config.buyers)
    if args.redis_url is not None and dedup and config.router.dedup_secret is None:
        print(
            "--redis-url: set router.dedup_secret: without it each router hashes phones and "
            "emails with its own random key, and dedup_days does not hold across routers",
            file=sys.stderr,
        )
        return 2
    on_disk = args.redis_url is None and config.router.state_file is not None
    if on_disk and dedup and config.router.dedup_secret is None:
        print(
            "--state (router.state_file): set router.dedup_secret: without it each start hashes "
            "phones and emails with a new random key, and dedup_days does not hold across a "
            "restart",
            file=sys.stderr,
        )
        return 2
    if args.redis_url is not None and not worker:
        # Checked once, here: a bad URL or a dead Redis fails at start-up. A worker the
        # supervisor restarts later starts even while Redis is down, and serves 503s until it
        # is back (store/guard.py), rather than fail to boot and stop the others.
        problem = asyncio.run(_redis_problem(args.redis_url, args.redis_prefix))
        if problem is not None:
            print(f"cannot use Redis at {masked_url(args.redis_url)}: {problem}", file=sys.stderr)
            return 1
    if args.workers > 1:
        return supervise(args)
    return _serve(args, config, ready_fd=args.worker_ready_fd)


async def _redis_problem(url: str, prefix: str) -> str | None:
    from pingtree.store.state.redis import RedisStore

    try:
        store = await RedisStore.connect(url, prefix=prefix)
    except (StoreUnavailable, ValueError) as exc:
        cause = exc.__cause__ or exc
        said = f"{type(cause).__name__}: {cause}"
        password = urlsplit(url).password
        return said.replace(password, "***") if password else said
    await store.close()
    return None


def masked_url(url: str) -> str:
    """The URL with its password (in the userinfo or a `password=` query) shown as ***."""
    head, mark, query = url.partition("?")
    parts = urlsplit(head)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        head = head.replace(parts.netloc, f"{parts.username or ''}:***@{host}", 1)
    query = "&".join(
        f"{pair.partition('=')[0]}=***" if pair.partition("=")[0].lower() == "password" else pair
        for pair in query.split("&")
    )
    return head + mark + query


def _serve(args: argparse.Namespace, config: Config, *, ready_fd: int | None) -> int:
    """One router process: its own event loop, its own store client."""
    from pingtree.store.queue.redis import RedisQueue
    from pingtree.store.state.redis import RedisStore
    from pingtree.web.sellers import RELOADER, create_app
    from pingtree.web.serving import run as run_server

    log = logging.getLogger("pingtree")
    store, queue = None, None
    if args.redis_url is not None:
        store = RedisStore(args.redis_url, config.router.retention, prefix=args.redis_prefix)
        queue = RedisQueue(args.redis_url, prefix=args.redis_prefix)
        log.info("store: Redis at %s, key prefix %r", masked_url(args.redis_url), store.keys.prefix)
    elif config.router.state_file is not None:
        log.info("store: embedded, state file %s", config.router.state_file)
    try:
        app = create_app(config, config_path=args.config, store=store, queue=queue)
    except StoreUnavailable as exc:  # the state file: unopenable, or another process's
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1

    async def reload_on_sighup(app: web.Application) -> None:
        # `kill -HUP` does what POST /admin/reload does: re-read, validate, swap or refuse.
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, app[RELOADER].reload_soon)

    app.on_startup.append(reload_on_sighup)
    if ready_fd is not None:  # a worker of `serve --workers N`
        app[RELOADER].tell_others = _supervisor_relay(os.getppid())

    def serving(text: str) -> None:
        # aiohttp prints this once its sockets listen: a supervisor waits for it.
        print(text, flush=True)
        if ready_fd is not None:
            os.write(ready_fd, b"r")
            os.close(ready_fd)

    # Everything built so far lives as long as the process: keep it out of every GC pass.
    gc.collect()
    gc.freeze()
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
    except OSError as exc:  # the port is taken, the host is not ours...
        print(f"cannot listen on {args.host}:{args.port}: {_bind_error(exc)}", file=sys.stderr)
        return 1
    return 0


def _bind_error(exc: OSError) -> str:
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


def cmd_sim(args: argparse.Namespace) -> int:
    from pingtree.sim import DEFAULT_SPEC, create_sim_app, load_sim

    try:
        spec = DEFAULT_SPEC if args.config is None else load_sim(args.config)
    except ConfigError as exc:
        _print_errors(args.config, exc)
        return 1
    base = f"http://{args.host}:{args.port}"
    print(f"simulated buyers at {base}/{{name}}/ping and /{{name}}/post, counters at {base}/stats")
    for name, buyer in spec.buyers.items():
        print(f"  {name}: {buyer.describe()}")
    try:
        web.run_app(
            create_sim_app(spec, seed=args.seed),
            host=args.host,
            port=args.port,
            access_log=None,
            handler_cancellation=True,  # a ping the router gave up on stops being held at once
            print=lambda text: print(text, flush=True),
        )
    except OSError as exc:  # the port is taken, the host is not ours...
        print(f"cannot listen on {args.host}:{args.port}: {_bind_error(exc)}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pingtree.demo.run import CannotListen, DemoOptions, run_demo

    options = DemoOptions(
        config=Path(args.config),
        sim=Path(args.sim),
        samples=Path(args.samples),
        leads=args.leads,
        port=args.port,
        sim_port=args.sim_port,
        seed=args.seed,
        once=args.once,
    )
    try:
        # Piped output (CI, a file) gets a width that fits the tables instead of rich's 80.
        console = Console(width=None if sys.stdout.isatty() else 132)
        return asyncio.run(run_demo(options, console, _forever))
    except ConfigError as exc:
        _print_errors(args.config, exc)
        return 1
    except CannotListen as exc:
        print(f"{exc}: {_bind_error(exc.error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _forever() -> None:
    await asyncio.Event().wait()


def cmd_send(args: argparse.Namespace) -> int:
    """Post a lead file as a seller would and print the answer; exit 0 only for HTTP 200."""
    try:
        lead = jsonenc.loads(Path(args.file).read_bytes())
    except (OSError, jsonenc.JSONDecodeError) as exc:
        print(f"{args.file}: cannot read a JSON lead: {exc}", file=sys.stderr)
        return 2
    url = (
        args.url if urlsplit(args.url).path not in ("", "/") else args.url.rstrip("/") + "/v1/leads"
    )
    headers = {"X-API-Key": args.key}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    try:
        status, replayed, answer = asyncio.run(_post_lead(url, lead, headers, form=args.form))
    except aiohttp.ClientError as exc:
        print(f"{url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"HTTP {status}" + (" (replayed)" if replayed else ""))
    print(json.dumps(answer, indent=2))
    return 0 if status == 200 else 1


async def _post_lead(
    url: str, lead: Any, headers: dict[str, str], *, form: bool
) -> tuple[int, bool, Any]:
    if form:  # booleans as the words a form sends
        fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in lead.items()}
        body: dict[str, Any] = {"data": fields}
    else:
        body = {"json": lead}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, headers=headers, **body) as response,
    ):
        text = await response.text()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = text
        return response.status, response.headers.get("Idempotent-Replayed") == "true", answer


def cmd_try(args: argparse.Namespace) -> int:
    """The exact ping and post one buyer would get for a lead (secrets masked); with --send, the
    buyer's raw answers and how pingtree read them. Exit 0 when the buyer would buy."""
    from pingtree.cli.try_buyer import masker_for, read_lead, try_buyer

    logging.getLogger("pingtree.config.tree").setLevel(logging.ERROR)  # no dedup-key warning here
    config = _load_or_report(args.config)
    if config is None:
        return 2
    buyer = next((b for b in config.buyers if b.id == args.buyer), None)
    if buyer is None:
        known = ", ".join(b.id for b in config.buyers)
        print(f"{args.config}: no buyer {args.buyer!r} (buyers: {known})", file=sys.stderr)
        return 2
    try:
        lead = read_lead(args.lead, config)
    except (OSError, jsonenc.JSONDecodeError) as exc:
        print(f"{args.lead}: cannot read a JSON lead: {exc}", file=sys.stderr)
        return 2
    except PingtreeError as exc:
        fields = "".join(f"\n  {name}: {message}" for name, message in exc.fields.items())
        print(f"{args.lead}: {exc.detail}{fields}", file=sys.stderr)
        return 2
    if args.send:
        sandbox = buyer.post is not None and buyer.post.sandbox_url
        where = "its sandbox" if lead.test and sandbox else "the buyer"
        print(f"sending this lead to {where} (test: {str(lead.test).lower()})\n")
    mask = masker_for(args.config, dict(os.environ))
    return asyncio.run(try_buyer(config, buyer, lead, send=args.send, mask=mask, out=sys.stdout))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pingtree", description="Ping-post lead router")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the router")
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
    validate = commands.add_parser("validate", help="check a buyers.yaml and summarize its tree")
    validate.add_argument("file")
    validate.set_defaults(run=cmd_validate)
    sim = commands.add_parser("sim", help="run simulated buyers (for the demo, tests, benchmarks)")
    sim.add_argument("--config", help="sim.yaml: {buyers: {name: behaviour}}; default: built-in")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.add_argument("--seed", type=int, help="make every random answer reproducible")
    sim.set_defaults(run=cmd_sim)
    demo = commands.add_parser("demo", help="the router and simulated buyers, with sample traffic")
    demo.add_argument("--config", default="buyers.yaml")
    demo.add_argument("--sim", default="sim.yaml", help="the simulated buyers' behaviours")
    demo.add_argument("--samples", default="samples", help="folder of sample leads")
    demo.add_argument("--leads", type=int, default=300, help="how many leads to send")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--sim-port", type=int, default=8081)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--once", action="store_true", help="exit after the summary")
    demo.set_defaults(run=cmd_demo)
    send = commands.add_parser("send", help="post a lead file as a seller would")
    send.add_argument("file", help="a JSON lead")
    send.add_argument(
        "--url", default="http://127.0.0.1:8080", help="the router (or its /v1/leads)"
    )
    send.add_argument("--key", required=True, help="the seller's API key")
    send.add_argument("--idempotency-key")
    send.add_argument("--form", action="store_true", help="send form-encoded instead of JSON")
    send.set_defaults(run=cmd_send)
    try_ = commands.add_parser("try", help="show (and --send) what one buyer would be sent")
    try_.add_argument("buyer", help="the buyer's id in the config")
    try_.add_argument("--config", default="buyers.yaml")
    try_.add_argument("--lead", required=True, help="a JSON lead (samples/*.json)")
    try_.add_argument(
        "--send", action="store_true", help="really call the buyer and show how it answered"
    )
    try_.set_defaults(run=cmd_try)
    add_delivery_commands(commands)  # pingtree deliveries list|show|retry|replay
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
