"""Reading ``redisops.yaml``: every problem at once, each with its path and line.

``load()`` parses the YAML keeping node positions, validates with pydantic,
then runs :func:`~redisops.spec.rules.check_rules`.  When some sections are
invalid, the rules still run on the sections that are valid, so one pass lists
both kinds of problem.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from redisops.errors import Problem, SpecError
from redisops.spec.models import ClusterSpec, SentinelGroup, Spec
from redisops.spec.rules import check_rules

__all__ = ["load", "load_text", "validate"]

M = TypeVar("M", bound=BaseModel)


def load(path: str | Path) -> Spec:
    """Load and validate a spec file; raise :class:`SpecError` listing every error."""
    spec, problems = validate(path)
    if spec is None or any(p.severity == "error" for p in problems):
        raise SpecError(str(path), problems)
    return spec


def validate(path: str | Path) -> tuple[Spec | None, list[Problem]]:
    """Return the spec (None when unusable) and every problem, warnings included."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _unreadable(path, "no such file", "create one with `redisops init`, or pass -f PATH") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, f"cannot read it ({exc})") from exc
    return load_text(text)


def _unreadable(path: Path, message: str, hint: str | None = None) -> SpecError:
    """A spec that could not be read at all: one problem, and a hint that fits it.

    A :class:`SpecError` (``except SpecError`` catches every spec problem) but
    without its usual hint, ``run `redisops config validate` to list them
    all``: there is nothing to list, and ``config validate`` would fail the same
    way.
    """
    error = SpecError(str(path), [Problem("", message)])
    error.hint = hint
    return error


def load_text(text: str) -> tuple[Spec | None, list[Problem]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        return None, [Problem("", f"malformed YAML: {reason}", line, column)]
    except yaml.YAMLError as exc:
        return None, [Problem("", f"malformed YAML: {exc}")]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [Problem("", "the spec must be a mapping of keys such as `sentinel:` and `cluster:`", 1, 1)]
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error, root, Spec) for error in exc.errors()]
        partial = _partial_spec(data)
        known = {p.path for p in problems}
        problems += [_locate(p, root) for p in check_rules(partial) if p.path not in known]
        return None, _in_file_order(problems)
    return spec, _in_file_order([_locate(p, root) for p in check_rules(spec)])


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """By line and column, as an editor walks the file; problems without a place (whole-spec rules) last."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def _partial_spec(data: dict[str, Any]) -> Spec:
    """The spec with invalid fields dropped (defaults in their place), so cross-field
    rules still run on everything else."""
    groups = [g for g in (_repair(SentinelGroup, raw) for raw in _as_list(data.get("sentinel"))) if g]
    cluster = _repair(ClusterSpec, data["cluster"]) if isinstance(data.get("cluster"), dict) else None
    return Spec.model_construct(sentinel=groups, cluster=cluster)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _repair(model: type[M], raw: Any) -> M | None:
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
    try:
        return model.model_validate({k: v for k, v in raw.items() if k not in bad})
    except ValidationError:
        return None


def _problem(error: Any, root: yaml.Node | None, model: type[BaseModel]) -> Problem:
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    path = _format_path(loc)
    if error["type"] == "extra_forbidden":
        message = "unknown key" + _suggest(loc, model)
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        given = error.get("input")
        if error["type"] not in {"missing", "model_type"} and isinstance(given, (int, float, str)):
            message = f"{given!r}: {message}" if not message.startswith(repr(given)) else message
    # an unknown key is the key's fault, not its value's: point at the key
    line, column = _position(root, loc, at_key=error["type"] == "extra_forbidden")
    return Problem(path, message, line, column)


def _suggest(loc: tuple[Any, ...], model: type[BaseModel]) -> str:
    fields = _fields_at(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1) if fields else []
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known keys: {', '.join(sorted(fields))})" if fields else ""


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {}) if isinstance(current, type) else {}
        field = fields.get(part)
        if field is None:
            return []
        current = _model_of(field.annotation)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_of(annotation: Any) -> Any:
    """The model inside ``Model``, ``list[Model]`` or ``Model | None``."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(problem: Problem, root: yaml.Node | None) -> Problem:
    loc: list[Any] = []
    for chunk in problem.path.replace("]", "").split("."):
        if not chunk:
            continue
        name, *indexes = chunk.split("[")
        loc.append(name)
        loc.extend(int(i) for i in indexes)
    line, column = _position(root, tuple(loc))
    return Problem(problem.path, problem.message, line, column, problem.severity)


def _position(root: yaml.Node | None, loc: tuple[Any, ...],
              at_key: bool = False) -> tuple[int | None, int | None]:
    """Line and column (1-based) of the deepest YAML node on ``loc``: a scalar value, or with ``at_key``
    (and for a mapping or list value) the key that holds it."""
    node = root
    best = node
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    last = part == loc[-1]
                    child = key if last and (at_key or not isinstance(value, yaml.ScalarNode)) else value
                    best = key
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = best = child
    if best is None:
        return None, None
    return best.start_mark.line + 1, best.start_mark.column + 1
