"""deploy/entrypoint.sh, the image's entrypoint, does what "Deployment" (docs/scaling.md) says:
run with a stand-in `pingtree` that reports the command line and environment it was given."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/bin/sh
printf '%s\\n' "$@"
echo "--"
echo "PINGTREE_REDIS_URL=${PINGTREE_REDIS_URL-}"
"""

ENV = {
    "PINGTREE_CONFIG": "/etc/pingtree/buyers.yaml",
    "PINGTREE_REDIS_URL": "redis://:s3cret@redis:6379/0",
    "PINGTREE_REDIS_PREFIX": "pt-blue",
    "PINGTREE_WORKERS": "4",
}


def _entrypoint(tmp_path: Path, *args: str) -> tuple[list[str], str]:
    stand_in = tmp_path / "pingtree"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    env = {**os.environ, **ENV, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", str(ROOT / "deploy" / "entrypoint.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    argv, _, environment = result.stdout.partition("--\n")
    return argv.splitlines(), environment.strip()


def _documented_options() -> dict[str, str]:
    """The options the docs say the entrypoint passes from a variable: `--name $VARIABLE`."""
    page = (ROOT / "docs" / "scaling.md").read_text()
    bullet = page.split("- **The image** (`Dockerfile`)", 1)[1].split("\n- **", 1)[0]
    spans = re.findall(r"`([^`]+)`", bullet)
    pairs = (re.findall(r"(--[a-z-]+)\s+\$([A-Z_]+)", span) for span in spans)
    return {option: variable for found in pairs for option, variable in found}


def test_the_entrypoint_passes_what_the_docs_say(tmp_path: Path) -> None:
    argv, environment = _entrypoint(tmp_path, "--log-level", "debug")
    claimed = _documented_options()
    assert claimed, "the Deployment section of docs/scaling.md names the entrypoint's options"
    assert argv[0] == "serve"
    for option, variable in claimed.items():
        assert option in argv, (option, argv)
        assert argv[argv.index(option) + 1] == ENV[variable], (option, argv)
    given = {word for word in argv if word.startswith("--")} - {"--log-level"}
    assert given == {"--host", "--port", *claimed}, (given, claimed)
    assert argv[-2:] == ["--log-level", "debug"]  # arguments after the image name come last
    # The Redis URL (and its password) reaches serve by its environment, never its command line.
    assert not any(ENV["PINGTREE_REDIS_URL"] in word for word in argv)
    assert environment == f"PINGTREE_REDIS_URL={ENV['PINGTREE_REDIS_URL']}"
