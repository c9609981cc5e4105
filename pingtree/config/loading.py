"""Loading buyers.yaml: YAML read safely, `${ENV}` interpolated, validated once into the models,
with every error reported at once under a path an operator can follow (`buyers[2:firm-b].ping.url`).
Checks across entries (repeated ids and keys, unknown sellers) are made here, at their own paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pingtree.config.dialect import VALUE_TAGS
from pingtree.config.models.root import Config, cross_errors, index_label
from pingtree.core.errors import ConfigError

# ${NAME}, or ${NAME:-default} as in a shell: the default is used when NAME is unset or empty.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate_env(
    node: Any, env: Mapping[str, str], path: str, errors: list[tuple[str, str]]
) -> Any:
    """Replace `${NAME}` in every string with the environment's value; a missing one is an error
    unless the reference gives a default (`${NAME:-default}`)."""
    if isinstance(node, dict):
        return {
            k: interpolate_env(v, env, f"{path}.{k}" if path else str(k), errors)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            interpolate_env(v, env, path + index_label(i, v), errors) for i, v in enumerate(node)
        ]
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if env.get(name):
                return env[name]
            if default is not None:
                return default
            if name in env:
                return ""  # set but empty: the model says whether empty is acceptable
            errors.append((path, f"environment variable {name} is not set"))
            return ""

        return _ENV_REF.sub(substitute, node)
    return node


def env_values(node: Any, env: Mapping[str, str]) -> frozenset[str]:
    """The values a document's `${NAME}` references take from the environment: what must never
    be printed back (`pingtree try` masks them in what it shows)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)
        elif isinstance(item, str):
            for match in _ENV_REF.finditer(item):
                value = env.get(match.group(1))
                if value:
                    found.add(value)

    walk(node)
    return frozenset(found)


def _error_path(loc: tuple[int | str, ...], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            inside = isinstance(node, list) and item < len(node)
            parts.append(index_label(item, node[item] if inside else None))
            node = node[item] if inside else None
        else:
            if item in ("function-after", "function-before", "function-wrap") or "[" in str(item):
                continue
            if item in VALUE_TAGS:  # which kind of query or header value it was read as
                continue
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(root)"


def _validation_errors(
    exc: ValidationError, raw: Any, env_paths: set[str]
) -> list[tuple[str, str]]:
    """pydantic's errors with readable paths, less the echoes: a value whose ${ENV} was missing,
    and a list "too short" only because its items were invalid."""
    found: list[tuple[str, str, str]] = []
    for item in exc.errors(include_url=False, include_input=False):
        path = _error_path(tuple(item["loc"]), raw)
        found.append((path, str(item["msg"]).removeprefix("Value error, "), item["type"]))
    kept = []
    for path, message, kind in found:
        if path in env_paths:
            continue
        if kind == "too_short" and any(other.startswith(path + "[") for other, _, _ in found):
            continue
        kept.append((path, message))
    return kept


def parse_config(raw: Any, env: Mapping[str, str] | None = None) -> Config:
    """Validate a decoded YAML document; raise ConfigError with every error and its path."""
    if not isinstance(raw, dict):
        raise ConfigError(
            [("(root)", "the file must be a mapping with router, sellers and buyers")]
        )
    errors: list[tuple[str, str]] = []
    resolved = interpolate_env(raw, os.environ if env is None else env, "", errors)
    cross = cross_errors(resolved)
    try:
        config = Config.model_validate(resolved)
    except ValidationError as exc:
        found = _validation_errors(exc, resolved, {path for path, _ in errors})
        # Config._unique says at the root what cross_errors already said with paths.
        errors.extend(e for e in found if not (cross and e[0] == "(root)"))
    else:
        if not errors:
            return config
    raise ConfigError(errors + cross)


def read_yaml(path: str | Path) -> Any:
    """A YAML file, read safely; unreadable or malformed is a ConfigError saying where."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read: {exc.strerror}")]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    return parse_config(read_yaml(path), env)
