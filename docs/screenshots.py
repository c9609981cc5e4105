"""`make screenshots`: a PNG of each console page, for docs/console.md, from a live demo.

Starts `pingtree demo` (the router and the simulated buyers of buyers.yaml and sim.yaml, on free
loopback ports, a few hundred leads sent through them), reads the console's address and token
from what it prints, logs in with Playwright driving Debian's Chromium, and saves each page of the
console's navigation (render.py's NAV: a page another branch adds is taken too; one this build
does not have, a 404, is skipped) and one lead's trace into docs/console/, 1280 x 800 each. The demo
is stopped by its PID when done, however it ends, and the whole run is bounded (TIMEOUT_S).

    .venv/bin/python docs/screenshots.py [--leads 300] [--out docs/console]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

from pingtree.web.console.render import NAV

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
TIMEOUT_S = 180  # the whole run: the demo is killed past it
PAGE_TIMEOUT_MS = 15_000
CONSOLE_LINE = re.compile(
    r"The console: (http://\S+/console) \(log in with the operator token (\S+)\)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_demo(leads: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pingtree", "demo", "--config", "buyers.yaml"]
    command += ["--sim", "sim.yaml", "--samples", "samples", "--leads", str(leads)]
    command += ["--port", str(free_port()), "--sim-port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if k != "PINGTREE_ADMIN_TOKEN"}  # the demo's own
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def console_of(demo: subprocess.Popen[str]) -> tuple[str, str]:
    """(the console's URL, the token) as the demo prints them once its leads are sent."""
    assert demo.stdout is not None
    for line in demo.stdout:
        if found := CONSOLE_LINE.search(line):
            return found[1], found[2]
    raise SystemExit(f"the demo ended (exit {demo.wait()}) without printing its console")


def stop(demo: subprocess.Popen[str]) -> None:
    if demo.poll() is None:
        demo.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops its servers
        try:
            demo.wait(15)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()


def shoot(page: Page, url: str, out: Path, name: str) -> bool:
    """A PNG of `url` as `name`.png; False (nothing saved) when this build has no such page."""
    answer = page.goto(url, wait_until="networkidle")
    if answer is None or answer.status == 404:
        print(f"  {name}: no such page here, skipped")
        return False
    page.wait_for_timeout(500)  # Live's charts draw after the page has loaded
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"  {name}: {out / f'{name}.png'}")
    return True


def screenshots(base: str, token: str, out: Path) -> None:
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(f"{base}/login")
            page.get_by_label("Operator token").fill(token)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(base)
            origin = base.removesuffix("/console")
            for key, _label, path in NAV:
                shoot(page, origin + path, out, key)
            page.goto(base, wait_until="networkidle")
            first = page.locator('a[href^="/console/leads/ld_"]').first
            if first.count():
                shoot(page, origin + str(first.get_attribute("href")), out, "lead")
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    options = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is not installed: `make tools` installs it (Debian's)")
    options.out.mkdir(parents=True, exist_ok=True)
    demo = start_demo(options.leads)
    bound = threading.Timer(TIMEOUT_S, demo.kill)  # a hung demo ends the reads below
    bound.start()
    try:
        base, token = console_of(demo)
        print(f"console at {base}")
        screenshots(base, token, options.out)
    finally:
        bound.cancel()
        stop(demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
