"""The documentation: the MkDocs site of docs/ builds with --strict (no broken link or anchor, no
page left out of the nav), every section the README and benchmarks/README.md held before their
text moved into it (issue 14) still has its heading, and the short README stays short, names the
system packages `make test` installs and links only to pages and anchors that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))

# The ## and ### headings of README.md and benchmarks/README.md before the docs site: each section
# moved, and keeps its heading (at any level) in the README or a page of docs/.
MOVED_HEADINGS = [
    *("Selling a lead by hand", "The operator", "The trace", "How an auction runs"),
    *("buyers.yaml", "Reloading buyers.yaml", "The native buyer protocol", "Wiring a buyer"),
    *("Four worked examples", "Deliveries", "The simulator and the demo", "Metrics"),
    *("State and memory", "Several routers: Redis", "Deployment", "Scaling", "Redis keys"),
    *("Memory per million retained leads", "Sentinel and Cluster", "Reliability", "Buyers"),
    *("Sellers", "Secrets and PII", "The store, crashes and reloads", "Overload", "Soak"),
    *("What is not covered", "Layout"),
    # benchmarks/README.md, now docs/benchmarks.md
    *("The rig", "What every run checks", "Comparing two versions", "The scenarios"),
    *("This machine", "Results", "Scenario 8: Redis", "Scenario 9: overload", "Optimizations"),
]


def headings(path: Path) -> list[str]:
    """The Markdown headings of a file, any level, outside fenced code."""
    found, fenced = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+)", line)):
            found.append(heading[1].strip())
    return found


def test_the_docs_build_with_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # the offline plugin writes page.html (no directory URLs): the site opens from the disk
    assert sorted(path.stem for path in site.glob("*.html")) == sorted(
        [*(page.stem for page in PAGES), "404"]
    )


def test_every_moved_section_kept_its_heading() -> None:
    found = {heading for path in (README, *PAGES) for heading in headings(path)}
    assert [heading for heading in MOVED_HEADINGS if heading not in found] == []


def test_the_readme_is_short_and_links_to_pages_that_exist() -> None:
    text = README.read_text()
    assert len(text.encode()) < 10_000, "the README is the way in; the reference is in docs/"
    first_screen = "\n".join(text.splitlines()[:15])
    assert "make demo" in first_screen and "make test" in first_screen
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links to the docs"
    for link in local:
        target, _, anchor = link.partition("#")
        assert (ROOT / target).is_file(), link
        if anchor:
            slugs = {slugify(heading, "-") for heading in headings(ROOT / target)}
            assert anchor in slugs, link


def test_the_readme_names_each_system_package_make_test_installs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    tools = makefile.split("\ntools:", 1)[1].split("\n\n", 1)[0]
    packages = {
        package
        for command in re.findall(r"apt-get install ([^;}]+)", tools)
        for package in command.split()
        if not package.startswith("-")
    }
    assert packages >= {"curl", "redis-server"}
    readme = README.read_text()
    assert [package for package in sorted(packages) if f"`{package}`" not in readme] == []
