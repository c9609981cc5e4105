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

A check across a list of models (the buyers of the file) may also look into its items that failed:
`@across(..., items_that_failed=True)` gives it what parsed of them, and `parsed(item, "price")`
says whether an item's field is there to read (a buyer with a misspelt key still has its price
checked against the router's max_bid).
"""

from __future__ import annotations

import difflib
import functools
import types
from collections.abc import Callable, Iterable, Mapping
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    NamedTuple,
    Self,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from annotated_types import MinLen
from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
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
_LOOKS_INTO_FAILED = "__across_items_that_failed__"
_KNOWN_ERRORS = frozenset(get_args(ErrorType))


def across(*fields: str, items_that_failed: bool = False) -> Callable[[Check], Check]:
    """Declares a check across `fields` (their names in the model): it runs whenever they all
    parsed, whatever else of the model did not. With `items_that_failed`, the items of its lists
    that failed are there too, as what parsed of them (read them through `parsed`)."""

    def mark(check: Check) -> Check:
        setattr(check, _READS, frozenset(fields))
        setattr(check, _LOOKS_INTO_FAILED, items_that_failed)
        return check

    return mark


def parsed(model: ConfigModel, *fields: str) -> bool:
    """Whether these fields of a model parsed: they did, unless the model is what parsed of an
    item that failed (as an `@across(..., items_that_failed=True)` check sees one)."""
    return not model._failed_fields.intersection(fields)


class _Check(NamedTuple):
    method: str
    fields: frozenset[str]
    items_that_failed: bool


class ConfigModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Every @across method, inherited ones included.
    __checks__: ClassVar[tuple[_Check, ...]] = ()
    # True for the copy of a model that _so_far builds from what parsed: it checks nothing.
    __so_far__: ClassVar[bool] = False
    # Set on what parsed of an item that failed (see `parsed`); empty on every model that loads.
    _failed_fields: frozenset[str] = PrivateAttr(frozenset())

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        checks: dict[str, _Check] = {}
        for klass in reversed(cls.__mro__):
            for name, member in list(vars(klass).items()):
                fields = getattr(member, _READS, None)
                if fields is not None:
                    checks[name] = _Check(name, fields, getattr(member, _LOOKS_INTO_FAILED))
        for check in checks.values():
            unknown = check.fields - set(cls.model_fields)
            if unknown:  # a misspelt name would let the check run on a failed field's default
                raise TypeError(
                    f"{cls.__name__}.{check.method} reads unknown field(s) {sorted(unknown)}"
                )
        cls.__checks__ = tuple(checks.values())

    @model_validator(mode="wrap")
    @classmethod
    def _every_error(cls, value: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if cls.__so_far__ or (isinstance(value, ConfigModel) and value.__so_far__):
            return handler(value)  # a copy of what parsed, or what parsed of an item in one
        try:
            model = handler(value)
        except ValidationError as exc:
            raise _every_error_of(cls, value, exc) from None
        problems = [problem for check in cls.__checks__ for problem in _run(model, check)]
        if problems:
            lines = [_problem_line(problem, value) for problem in problems]
            raise ValidationError.from_exception_data(cls.__name__, lines)
        return model


def _run(model: ConfigModel, check: _Check) -> Iterable[Problem]:
    """What one check finds in a model (looked up by name: the method may be a subclass's)."""
    found: Iterable[Problem] = getattr(model, check.method)()
    return found


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
    problems: list[Problem] = []
    for items_that_failed in sorted({check.items_that_failed for check in cls.__checks__}):
        so_far = _what_parsed(cls, value, errors, items_that_failed=items_that_failed)
        if so_far is None:
            continue
        for check in cls.__checks__:
            if check.items_that_failed != items_that_failed or check.fields & so_far.failed:
                continue
            for loc, message in _run(so_far.model, check):
                places = so_far.kept.get(str(loc[0])) if len(loc) > 1 else None
                if places is not None and isinstance(loc[1], int):
                    loc = (loc[0], places[loc[1]], *loc[2:])
                problems.append((loc, message))
    return problems


class _SoFar(NamedTuple):
    model: ConfigModel  # built from what parsed
    failed: frozenset[str]  # the fields that did not parse at all
    kept: dict[str, list[int]]  # for each list cut short, the index in the file of each item kept


def _what_parsed(
    cls: type[ConfigModel], value: Mapping[str, Any], errors: list[Any], *, items_that_failed: bool
) -> _SoFar | None:
    """The model built from its input less unknown keys and what failed: fields, and items of
    lists and maps (with `items_that_failed`, an item of a list of models that failed is kept as
    what parsed of it). None when what parsed does not stand alone."""
    keys = _input_keys(cls)
    unknown, failed, bad_items = _what_failed(cls, keys, errors)
    parsed_input: dict[str, Any] = {}
    kept: dict[str, list[int]] = {}
    for key, node in value.items():
        name = keys.get(key)
        if key in unknown or name in failed:
            continue
        bad = bad_items.get(key, {})
        if bad and name is not None and isinstance(node, list):
            item_model = _item_model(cls.model_fields[name]) if items_that_failed else None
            node, kept[key] = _items_so_far(node, bad, item_model)
        elif bad and isinstance(node, Mapping):
            node = {item: inner for item, inner in node.items() if item not in bad}
        if bad and name is not None and not node and _at_least_one(cls.model_fields[name]):
            failed.add(name)  # nothing of it parsed, and it may not be empty
            continue
        parsed_input[key] = node
    try:
        model = _so_far(cls).model_validate(parsed_input)
    except Exception:
        # What parsed does not stand alone: a before-validator rewrites the input, or a plain
        # model_validator (which the copy keeps) reads a required field that failed. The errors
        # found so far are reported all the same.
        return None
    return _SoFar(model, frozenset(failed), kept)


def _what_failed(
    cls: type[ConfigModel], keys: dict[str, str], errors: list[Any]
) -> tuple[set[str], set[str], dict[str, dict[Any, list[Any]]]]:
    """From a model's errors: the keys of its input that are not its own; the fields (by name)
    that failed as a whole; and of each list or map, the items that failed, with their errors
    (located inside the item)."""
    unknown: set[str] = set()
    failed: set[str] = set()
    bad_items: dict[str, dict[Any, list[Any]]] = {}
    too_short: set[str] = set()
    for error in errors:
        key, inside = error["loc"][0], error["loc"][1:]
        if key not in keys:
            unknown.add(str(key))
            continue
        kind = _collection(cls.model_fields[keys[key]])
        if inside and (kind, type(inside[0])) in (("list", int), ("map", str)):
            item_errors = bad_items.setdefault(key, {}).setdefault(inside[0], [])
            item_errors.append({**error, "loc": inside[1:]})
        elif error["type"] == "too_short" and not inside:
            too_short.add(key)
        else:
            failed.add(keys[key])
    # A list may be too short only because items of it failed: what parsed of it is kept.
    failed |= {keys[key] for key in too_short if key not in bad_items}
    return unknown, failed, bad_items


def _items_so_far(
    items: list[Any], bad: dict[Any, list[Any]], model: type[ConfigModel] | None
) -> tuple[list[Any], list[int]]:
    """The items of a list that parsed, and (of a list of `model`s) what parsed of the others,
    marked with their failed fields; and the index in the file of each item kept."""
    kept_items: list[Any] = []
    places: list[int] = []
    for index, item in enumerate(items):
        if index in bad:
            whole = model is not None and isinstance(item, Mapping)
            if not whole or any(not error["loc"] for error in bad[index]):
                continue
            assert model is not None
            so_far = _what_parsed(model, item, bad[index], items_that_failed=True)
            if so_far is None:
                continue
            so_far.model._failed_fields = so_far.failed
            item = so_far.model
        kept_items.append(item)
        places.append(index)
    return kept_items, places


def _item_model(info: FieldInfo) -> type[ConfigModel] | None:
    """The model of a list's items (`tuple[BuyerConfig, ...]`: BuyerConfig), if they are one."""
    args = [arg for arg in get_args(_unwrapped(info.annotation)) if arg is not Ellipsis]
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], ConfigModel):
        return args[0]
    return None


def _unwrapped(annotation: Any) -> Any:
    """`tuple[X, ...] | None` and `Annotated[tuple[X, ...], …]` as `tuple[X, ...]`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _collection(info: FieldInfo) -> Literal["list", "map"] | None:
    """Whether a field holds a list (tuple, set) or a map, whose items parse one by one."""
    origin = get_origin(_unwrapped(info.annotation))
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
