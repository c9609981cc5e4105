"""Reading the buyers.yaml a command was given: the config, or every error with its path."""

from __future__ import annotations

import sys

from pingtree.config import Config, load_config
from pingtree.core.errors import ConfigError


def print_config_errors(path: str, exc: ConfigError) -> None:
    print(f"{path}: {len(exc.errors)} error(s)", file=sys.stderr)
    for where, message in exc.errors:
        print(f"  {where}: {message}", file=sys.stderr)


def load_or_report(path: str) -> Config | None:
    """The config, or None after printing every error with its path to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print_config_errors(path, exc)
        return None


__all__ = ["load_or_report", "print_config_errors"]
