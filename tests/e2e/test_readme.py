"""The README's curl example, run as written against `pingtree serve` on the bundled buyers.yaml,
with `pingtree sim` behind it: a newcomer who follows it gets `sold`, and can send the samples
the README and the demo point at before or after it without a 409."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_cli import _free_port

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- the curl example below is run by tests/e2e/test_readme.py: keep it working -->"


def readme_curl() -> str:
    """The curl command of the README's example block (continuation lines joined)."""
    text = (ROOT / "README.md").read_text()
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    command = block[block.index("curl ") :]
    return "\n".join(line for line in command.splitlines() if not line.startswith("#"))


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


@pytest.fixture
def running_router(tmp_path: Path) -> Iterator[int]:
    """`pingtree sim` (every buyer of buyers.yaml bidding and accepting, so the story is the
    README's, not the dice's) and `pingtree serve --config buyers.yaml`."""
    names = [b["id"] for b in yaml.safe_load((ROOT / "buyers.yaml").read_text())["buyers"]]
    sim_spec = tmp_path / "sim.yaml"
    sim_spec.write_text(yaml.safe_dump({"buyers": {name: {"bid": 42.5} for name in names}}))
    port, sim_port = _free_port(), _free_port()
    env = {**os.environ, "PINGTREE_SIM_URL": f"http://127.0.0.1:{sim_port}"}
    pingtree = [sys.executable, "-m", "pingtree"]
    processes = [
        subprocess.Popen(
            [*pingtree, "sim", "--config", str(sim_spec), "--port", str(sim_port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [*pingtree, "serve", "--config", "buyers.yaml", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{sim_port}/healthz", processes[0])
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", processes[1])
        yield port
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def _run_readme_curl(port: int) -> dict[str, Any]:
    command = readme_curl().replace("localhost:8080", f"127.0.0.1:{port}")
    assert command.startswith("curl -s ") and "demo-acme-key" in command
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


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
    """The answer the README's "Reloading buyers.yaml" shows under its curl."""
    section = (ROOT / "README.md").read_text().split("## Reloading buyers.yaml", 1)[1]
    shown = next(line for line in section.splitlines() if line.startswith('# {"reloaded"'))
    answer: dict[str, Any] = json.loads(shown.removeprefix("# "))
    return answer


def test_the_readme_reload_answer_is_what_the_router_answers(running_router: int) -> None:
    """The README's counts are those of the bundled buyers.yaml, as `POST /admin/reload` says
    them on its first reload (generation 2)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{running_router}/admin/reload",
        method="POST",
        headers={"Authorization": "Bearer demo-admin-token"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer == _readme_reload_answer()
    readme = (ROOT / "README.md").read_text()
    counts = f"{answer['buyers']} buyers, {answer['sellers']} sellers"
    assert f"`config reloaded: {counts} (generation 2)`" in readme


def test_the_readme_sends_no_reader_to_a_document_outside_the_repository() -> None:
    # The design notes live outside the repository: a reader of the README cannot open them.
    readme = (ROOT / "README.md").read_text()
    assert "DESIGN" not in readme and "§" not in readme
