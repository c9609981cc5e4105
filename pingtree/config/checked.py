"""The base of every buyers.yaml model: frozen, an unknown key refused with a "did you mean", and
checks across fields that run on whatever parsed, so that one load reports every error at once.

pydantic runs a model's `model_validator(mode="after")` only once every field of it has parsed:
an operator whose buyer had a typo in one key and no `post.url` was told of the typo, fixed it,
and only then heard of the `post.url`. A check across fields is declared here instead, with
`@across("field", ...)` on a method that yields `(location, message)` problems, the location
inside the model (`("post",)`, `("buyers", 2, "price")`, `()` for the model itself). It runs
whenever the fields it names parsed, even when other fields of its model did not: then on a copy
of the model built from what parsed, in which a list or a map keeps the items that parsed (a
problem still names an item by its index in the file). Name every field a check reads: one it
does not name may hold a default in place of a value that failed.
"""

from __future__ import annotations

import difflib
import functools
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, Union, get_args, get_origin

from annotated_types import MinLen
from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
Check = TypeVar("Check", bound=Callable[..., Iterable[Problem]])

_READS = "__across_fields__"
_KNOWN_ERRORS = frozenset(get_args(ErrorType))


def across(*fields: str) -> Callable[[Check], Check]:
    """Declares a check across `fields` (their names in the model): it runs whenever they all
    parsed, whatever else of the model did not."""

    def mark(check: Check) -> Check:
        setattr(check, _READS, frozenset(fields))
        return check

    return mark


class ConfigModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # (method name, fields it reads) of every @across method, inherited ones included.
    __checks__: ClassVar[tuple[tuple[str, frozenset[str]], ...]] = ()
    # True for the copy of a model that _so_far builds from what parsed: it checks nothing.
    __so_far__: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        checks: dict[str, frozenset[str]] = {}
        for klass in reversed(cls.__mro__):
            for name, member in list(vars(klass).items()):
                fields = getattr(member, _READS, None)
                if fields is not None:
                    checks[name] = fields
        for name, fields in checks.items():
            unknown = fields - set(cls.model_fields)
            if unknown:  # a misspelt name would let the check run on a failed field's default
                raise TypeError(f"{cls.__name__}.{name} reads unknown field(s) {sorted(unknown)}")
        cls.__checks__ = tuple(checks.items())

    @model_validator(mode="wrap")
    @classmethod
    def _every_error(cls, value: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if cls.__so_far__:
            return handler(value)
        try:
            model = handler(value)
        except ValidationError as exc:
            raise _every_error_of(cls, value, exc) from None
        problems = [problem for name, _ in cls.__checks__ for problem in getattr(model, name)()]
        if problems:
            lines = [_problem_line(problem, value) for problem in problems]
            raise ValidationError.from_exception_data(cls.__name__, lines)
        return model


def _every_error_of(cls: type[ConfigModel], value: Any, exc: ValidationError) -> ValidationError:
    """pydantic's errors (this model's unknown keys with a suggestion) and the problems its
    checks find in what parsed, in one error."""
    errors = exc.errors(include_url=False)
    lines = [_suggest(cls, e) if _unknown_key(e) else _as_line(e) for e in errors]
    lines += [_problem_line(p, value) for p in _checks_on_what_parsed(cls, value, errors)]
    return ValidationError.from_exception_data(exc.title, lines)


def _unknown_key(error: Any) -> bool:
    """A key this model does not know (a nested model's arrive already rewritten)."""
    return bool(error["type"] == "extra_forbidden" and len(error["loc"]) == 1)


def _input_keys(cls: type[BaseModel]) -> dict[str, str]:
    """The keys a file may use at this level (names and aliases), each with its field's name."""
    keys = {name: name for name in cls.model_fields}
    keys |= {info.alias: name for name, info in cls.model_fields.items() if info.alias}
    return keys


def _suggest(cls: type[BaseModel], error: Any) -> InitErrorDetails:
    allowed = sorted(_input_keys(cls))
    close = difflib.get_close_matches(str(error["loc"][0]), allowed, n=3)
    if close:
        hint = "did you mean " + " or ".join(repr(key) for key in close) + "?"
    else:
        hint = "the keys here are " + ", ".join(allowed)
    return {
        "type": PydanticCustomError("unknown_key", f"unknown key; {hint}"),
        "loc": error["loc"],
        "input": error["input"],
    }


def _as_line(error: Any) -> InitErrorDetails:
    """An error as pydantic reported it, to raise again beside others."""
    kind = error["type"]
    if kind not in _KNOWN_ERRORS:  # ours, or a validator's PydanticCustomError: keep its text
        return {
            "type": PydanticCustomError(kind, error["msg"]),
            "loc": error["loc"],
            "input": error["input"],
        }
    line: InitErrorDetails = {"type": kind, "loc": error["loc"], "input": error["input"]}
    if "ctx" in error:
        line["ctx"] = error["ctx"]
    return line


def _problem_line(problem: Problem, value: Any) -> InitErrorDetails:
    loc, message = problem
    return {"type": PydanticCustomError("check", message), "loc": loc, "input": value}


def _checks_on_what_parsed(cls: type[ConfigModel], value: Any, errors: list[Any]) -> list[Problem]:
    if not cls.__checks__ or not isinstance(value, Mapping):
        return []
    if any(not error["loc"] for error in errors):
        return []  # the model as a whole was refused (not a mapping, a before-validator's error)
    keys = _input_keys(cls)
    unknown: set[str] = set()  # keys of the input that are not this model's
    failed: set[str] = set()  # field names that failed as a whole
    failed_items: dict[str, set[int | str]] = {}  # input key → its items that failed
    for error in errors:
        key, inside = error["loc"][0], error["loc"][1:]
        if key not in keys:
            unknown.add(str(key))
            continue
        kind = _collection(cls.model_fields[keys[key]])
        if inside and (kind, type(inside[0])) in (("list", int), ("map", str)):
            failed_items.setdefault(key, set()).add(inside[0])
        else:
            failed.add(keys[key])
    parsed, kept = _what_parsed(value, cls.model_fields, keys, unknown, failed, failed_items)
    try:
        so_far = _so_far(cls).model_validate(parsed)
    except Exception:
        # What parsed does not stand alone: a before-validator rewrites the input, or a plain
        # model_validator (which the copy keeps) reads a required field that failed. The errors
        # found so far are reported all the same.
        return []
    problems: list[Problem] = []
    for name, fields in cls.__checks__:
        if fields & failed:
            continue
        for loc, message in getattr(so_far, name)():
            indices = kept.get(str(loc[0])) if len(loc) > 1 else None
            if indices is not None and isinstance(loc[1], int):
                loc = (loc[0], indices[loc[1]], *loc[2:])
            problems.append((loc, message))
    return problems


def _what_parsed(
    value: Mapping[str, Any],
    fields: Mapping[str, FieldInfo],
    keys: dict[str, str],
    unknown: set[str],
    failed: set[str],
    failed_items: dict[str, set[int | str]],
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The input less unknown keys and what failed (fields, items of lists and maps); and
    for each list cut short, the index in the file of each item kept. A list that may not be
    empty and none of whose items parsed joins `failed`."""
    parsed: dict[str, Any] = {}
    kept: dict[str, list[int]] = {}
    for key, node in value.items():
        name = keys.get(key)
        if key in unknown or name in failed:
            continue
        bad = failed_items.get(key, set())
        if bad and isinstance(node, list):
            kept[key] = [index for index in range(len(node)) if index not in bad]
            node = [node[index] for index in kept[key]]
        elif bad and isinstance(node, Mapping):
            node = {item: inner for item, inner in node.items() if item not in bad}
        if bad and name is not None and not node and _at_least_one(fields[name]):
            failed.add(name)  # nothing of it parsed, and it may not be empty
            continue
        parsed[key] = node
    return parsed, kept


def _collection(info: FieldInfo) -> Literal["list", "map"] | None:
    """Whether a field holds a list (tuple, set) or a map, whose items parse one by one."""
    annotation = info.annotation
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return None
            annotation = options[0]
        else:
            break
    if origin in (tuple, list, set, frozenset):
        return "list"
    if origin in (dict, Mapping):
        return "map"
    return None


def _at_least_one(info: FieldInfo) -> bool:
    return any(isinstance(rule, MinLen) and rule.min_length > 0 for rule in info.metadata)


@functools.cache
def _so_far(cls: type[ConfigModel]) -> type[ConfigModel]:
    """The model with its required fields optional: what parsed of it can be built even when a
    required field failed (no check reads a failed field). It checks nothing itself."""
    optional: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if info.is_required():
            annotation: Any = info.annotation
            optional[name] = (annotation | None, FieldInfo.merge_field_infos(info, default=None))
    copy = create_model(f"{cls.__name__}SoFar", __base__=cls, __module__=cls.__module__, **optional)
    copy.__so_far__ = True
    return copy
