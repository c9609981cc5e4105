"""The Go yardstick (yardstick_go/): built from source by the rig into its temp folder, offline.

`go build` with Go's standard library only: the module has no requirement, the build cache and
GOPATH are folders of their own under the output folder, and GOPROXY=off / GOTOOLCHAIN=local keep
`go` from reaching the network (for a module or a newer toolchain). Debian's `golang-go` (1.19)
ships its standard library compiled, so a build from a cold cache takes about a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "yardstick_go"
BUILD_LIMIT_S = 180
NOT_INSTALLED = "Go not installed (`make bench-tools` installs golang-go)"


class GoBuildError(RuntimeError):
    """`go build` failed: its output says why."""


def go_missing() -> str | None:
    """Why the Go yardstick cannot be built here, or None when it can."""
    return None if shutil.which("go") else NOT_INSTALLED


def build_env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GOCACHE": str(folder / "go-cache"),
        "GOPATH": str(folder / "go-path"),
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "",
        "GOWORK": "off",
    }


def build(folder: Path) -> Path:
    """The yardstick's binary, built into `folder`."""
    binary = folder / "yardstick-go"
    argv = ["go", "build", "-o", str(binary), "."]
    try:
        done = subprocess.run(
            argv,
            cwd=SOURCE,
            env=build_env(folder),
            capture_output=True,
            text=True,
            timeout=BUILD_LIMIT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise GoBuildError(f"go build took over {BUILD_LIMIT_S} s") from exc
    if done.returncode != 0:
        raise GoBuildError(f"go build failed ({done.returncode}): {done.stderr[-2000:]}")
    return binary
