"""The README's examples, run as written. Its curl example against `pingtree serve` on the bundled
buyers.yaml, with `pingtree sim` behind it: a newcomer who follows it gets `sold`, and can send the
samples the README and the demo point at before or after it without a 409. Its "Your first buyer"
walk-through on a tree of one's own: the tree validates, sells, and the operator's view shows what
the README says it shows. docs/getting-started.md repeats both: its blocks are the README's."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_cli import _free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
OPERATING = ROOT / "docs" / "operating.md"
MARKER = "<!-- the curl example below is run by tests/e2e/test_readme.py: keep it working -->"
WALKTHROUGH = "<!-- the walk-through below is run by tests/e2e/test_readme.py: keep it working -->"


def readme_curl(path: Path = README) -> str:
    """The curl command of the README's example block (continuation lines joined)."""
    text = path.read_text()
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    command = block[block.index("curl ") :]
    return "\n".join(line for line in command.splitlines() if not line.startswith("#"))


def test_getting_started_shows_the_readmes_curl_example() -> None:
    assert readme_curl(GETTING_STARTED) == readme_curl(README)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(150):
        assert process.poll() is None, process.stdout.read() if process.stdout else b""
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never came up")


PINGTREE = [sys.executable, "-m", "pingtree"]


@contextmanager
def _running(*argvs: list[str], ports: list[int], env: dict[str, str]) -> Iterator[None]:
    """Each command started from the repository, until each answers /healthz on its port."""
    processes = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for argv in argvs
    ]
    try:
        for process, port in zip(processes, ports, strict=True):
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def running_router(tmp_path: Path) -> Iterator[int]:
    """`pingtree sim` (every buyer of buyers.yaml bidding and accepting, so the story is the
    README's, not the dice's) and `pingtree serve --config buyers.yaml`."""
    names = [b["id"] for b in yaml.safe_load((ROOT / "buyers.yaml").read_text())["buyers"]]
    sim_spec = tmp_path / "sim.yaml"
    sim_spec.write_text(yaml.safe_dump({"buyers": {name: {"bid": 42.5} for name in names}}))
    port, sim_port = _free_port(), _free_port()
    env = {**os.environ, "PINGTREE_SIM_URL": f"http://127.0.0.1:{sim_port}"}
    with _running(
        [*PINGTREE, "sim", "--config", str(sim_spec), "--port", str(sim_port)],
        [*PINGTREE, "serve", "--config", "buyers.yaml", "--port", str(port)],
        ports=[sim_port, port],
        env=env,
    ):
        yield port


def _curl(command: str, port: int) -> dict[str, Any]:
    """A curl command of the docs, run as written against the router on `port`."""
    command = command.replace("localhost:8080", f"127.0.0.1:{port}")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def _run_readme_curl(port: int) -> dict[str, Any]:
    command = readme_curl()
    assert command.startswith("curl -s ") and "demo-acme-key" in command
    return _curl(command, port)


def test_the_readme_curl_example_sells(running_router: int) -> None:
    answer = _run_readme_curl(running_router)
    assert answer["status"] == "sold", answer
    assert answer["lead_id"] == "cs_lead_3b7d0e52" and re.fullmatch(r"ld_\w{26}", answer["id"])
    assert answer["payout"] == 34.0  # 42.50 at revshare 0.80


def _send_sample(port: int, name: str) -> tuple[str, dict[str, Any]]:
    """`pingtree send samples/NAME.json --key demo-acme-key`, as the README shows it: the status
    line ("HTTP 200", "(replayed)" on a resend) and the answer."""
    result = subprocess.run(
        [sys.executable, "-m", "pingtree", "send", f"samples/{name}.json", "--key",
         "demo-acme-key", "--url", f"http://127.0.0.1:{port}"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    status, _, body = result.stdout.partition("\n")
    return status, json.loads(body)


# What the README sends (its curl, `pingtree send samples/solar.json`) and what the demo suggests
# when it leaves the router up (samples/mva-legal.json): in the README's order and the reverse.
README_LEADS = ["curl", "solar", "mva-legal"]


@pytest.mark.parametrize("order", [README_LEADS, README_LEADS[::-1]], ids=["readme", "reverse"])
def test_following_the_readme_in_either_order_never_meets_a_409(
    running_router: int, order: list[str]
) -> None:
    first: dict[str, dict[str, Any]] = {}
    for _ in range(2):  # each lead, then each again: the second time a replay of the first
        for lead in order:
            if lead == "curl":
                status, answer = "HTTP 200", _run_readme_curl(running_router)
            else:
                status, answer = _send_sample(running_router, lead)
            assert status.startswith("HTTP 200"), (lead, status, answer)
            assert answer.get("status") in ("sold", "unsold", "rejected"), (lead, answer)
            assert answer == first.setdefault(lead, answer), (lead, first[lead], answer)
    assert len({answer["lead_id"] for answer in first.values()}) == len(order)


def _readme_reload_answer() -> dict[str, Any]:
    """The answer "Reloading buyers.yaml" (docs/operating.md) shows under its curl."""
    section = OPERATING.read_text().split("## Reloading buyers.yaml", 1)[1]
    shown = next(line for line in section.splitlines() if line.startswith('# {"reloaded"'))
    answer: dict[str, Any] = json.loads(shown.removeprefix("# "))
    return answer


def test_the_readme_reload_answer_is_what_the_router_answers(running_router: int) -> None:
    """The counts the docs show are those of the bundled buyers.yaml, as `POST /admin/reload`
    says them on its first reload (generation 2)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{running_router}/admin/reload",
        method="POST",
        headers={"Authorization": "Bearer demo-admin-token"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer == _readme_reload_answer()
    counts = f"{answer['buyers']} buyers, {answer['sellers']} sellers"
    assert f"`config reloaded: {counts} (generation 2)`" in OPERATING.read_text()


@pytest.mark.parametrize(
    "page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda page: page.name
)
def test_the_docs_send_no_reader_to_a_document_outside_the_repository(page: Path) -> None:
    # The design notes live outside the repository: a reader of the README cannot open them.
    text = page.read_text()
    assert "DESIGN" not in text and "§" not in text


# "Your first buyer" -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Walkthrough:
    tree: str  # my-tree.yaml, as shown
    blocks: list[str]  # each shell block: its commands, then what they print as # comments
    commands: list[str]  # the `.venv/bin/pingtree …` commands its text names


def walkthrough(path: Path) -> Walkthrough:
    section = path.read_text().split(WALKTHROUGH, 1)[1].split("\n## ", 1)[0]
    fenced = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)
    return Walkthrough(
        tree=next(body for language, body in fenced if language == "yaml"),
        blocks=[body for language, body in fenced if language == "sh"],
        commands=re.findall(r"`\.venv/bin/(pingtree [^`]+)`", section),
    )


def _split(block: str) -> tuple[str, str]:
    """A shell block's command (continuation lines kept) and the answer it shows."""
    lines = block.splitlines()
    command = "\n".join(line for line in lines if not line.startswith("#"))
    shown = "\n".join(line.removeprefix("#").strip() for line in lines if line.startswith("#"))
    return command, shown


def _shown_fields(shown: str) -> dict[str, Any]:
    """The "name":value pairs an abbreviated answer shows (its … stand for what it leaves out)."""
    pairs = re.findall(r'"(\w+)":("[^"]*"|null|true|false|[\d.]+)', shown)
    return {name: json.loads(value) for name, value in pairs}


def test_getting_started_repeats_the_readmes_walkthrough() -> None:
    assert walkthrough(GETTING_STARTED) == walkthrough(README)


def test_the_readme_walkthrough_sells_to_your_first_buyer(tmp_path: Path) -> None:
    shown = walkthrough(README)
    port, sim_port = _free_port(), _free_port()
    assert "http://127.0.0.1:8081/" in shown.tree
    tree = tmp_path / "my-tree.yaml"
    tree.write_text(shown.tree.replace("127.0.0.1:8081", f"127.0.0.1:{sim_port}"))

    def pingtree(command: str) -> list[str]:  # `pingtree …` as written, on the tree saved above
        argv = shlex.split(command.split("#", 1)[0].removeprefix(".venv/bin/"))
        assert argv[0] == "pingtree", command
        return [*PINGTREE, *(str(tree) if arg == "my-tree.yaml" else arg for arg in argv[1:])]

    validate, try_it = (
        subprocess.run(pingtree(command), cwd=ROOT, capture_output=True, text=True, timeout=30)
        for command in shown.commands
    )
    assert validate.returncode == 0 and "my-buyer: bid · any vertical" in validate.stdout, validate
    assert try_it.returncode == 0 and "--- ping to my-buyer" in try_it.stdout, try_it

    run, sell, view = shown.blocks
    sim, serve = (pingtree(line) for line in run.splitlines())
    sell_command, sold_shown = _split(sell)
    view_command, view_shown = _split(view)
    assert view_command.count("ld_06H4…") == 1
    with _running(
        [*sim, "--port", str(sim_port)],
        [*serve, "--port", str(port)],
        ports=[sim_port, port],
        env=dict(os.environ),
    ):
        sold = _curl(sell_command, port)
        assert _curl(sell_command, port) == sold  # the same lead again: the same answer
        operator_view = _curl(view_command.replace("ld_06H4…", sold["id"]), port)

    expected = json.loads(sold_shown)
    assert re.fullmatch(r"ld_\w{26}", sold["id"])
    assert {**sold, "id": expected["id"], "auction_ms": expected["auction_ms"]} == expected
    fields = _shown_fields(view_shown)
    for name in ("status", "buyer_id", "price", "payout", "margin"):
        assert operator_view[name] == fields[name], name
    trace = [(event["step"], event["result"]) for event in operator_view["trace"]]
    assert trace == re.findall(r'"step":"(\w+)","result":"(\w+)"', view_shown)
    assert trace == [("ping", "bid"), ("post", "accepted")]
