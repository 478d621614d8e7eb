"""Plain conversion of plain options, so that a command starts without loading pydantic.

Typer converts every non-flag value through a pydantic TypeAdapter; importing pydantic and building
the adapter costs over 100 ms, more than the rest of a typical read command together. For options
typed exactly ``str``, ``int``, ``float``, ``bool`` or ``Path`` (or a list of ``str``, ``int`` or ``Path``) with no
extra constraint, conversion is trivial, so those get a small converter here. Anything else (lists, choices, ranges, paths that
must exist, custom parsers) keeps Typer's own conversion. If Typer's internals ever change shape,
:func:`install` quietly does nothing and Typer behaves as it always did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

_SIMPLE = (str, int, float, Path, bool)
# What SQLite stores in an INTEGER: ids, limits and pages beyond it are a usage error, not a crash.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_PATH_DEFAULTS = {
    "exists": False,
    "file_okay": True,
    "dir_okay": True,
    "writable": False,
    "readable": True,
    "resolve_path": False,
    "allow_dash": False,
    "path_type": None,
}


def _element(annotation: Any) -> Any:
    """``str`` for ``list[str]`` (a repeatable option, or an argument taking several values), ``int`` for
    ``list[int]``...; None for anything else."""
    if get_origin(annotation) is list:
        (element,) = get_args(annotation) or (None,)
        return element if element in (str, int, Path) else None
    return None


def _is_plain(descriptor: Any) -> bool:
    info = descriptor.parameter_info
    annotation = _element(descriptor.annotation) or descriptor.annotation
    if annotation not in _SIMPLE or getattr(descriptor, "file_annotation", None) is not None:
        return False
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
        return False
    if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return False
    if descriptor.is_choice:
        return False
    if annotation is Path:
        return all(getattr(info, k, v) == v for k, v in _PATH_DEFAULTS.items())
    return True


def install() -> bool:
    """Give plain options the plain converter; return whether it could be installed."""
    try:
        from typer import core
        from typer._click.exceptions import BadParameter
        from typer._coercion import RuntimeParam
    except ImportError:
        return False
    base = getattr(core, "_TyperParameter", None)
    original = getattr(base, "get_runtime_param", None)
    if base is None or original is None or getattr(original, "_pdmail_plain", False):
        return False

    class PlainRuntimeParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            element = _element(self.annotation)
            if element is not None:  # list[int], list[str], list[Path]: each value as one of them
                return [self._one(element, v, param, ctx) for v in value]
            return self._one(self.annotation, value, param, ctx)

        def _one(self, kind: Any, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                return value
            text = str(value)
            if kind is bool:
                word = text.strip().lower()
                if word in _TRUE or word in _FALSE:
                    return word in _TRUE
                raise BadParameter(f"{text!r} is not a yes/no value", ctx=ctx, param=param)
            try:
                if kind is int:
                    number = int(text.strip())
                    if not INT64_MIN <= number <= INT64_MAX:
                        raise BadParameter(f"{text!r} is too large: numbers here fit in 64 bits", ctx=ctx, param=param)
                    return number
                if kind is float:
                    return float(text.strip())
                if kind is Path:
                    return Path(text)
                return text
            except ValueError:
                name = "an integer" if kind is int else "a number"
                raise BadParameter(f"{text!r} is not {name}", ctx=ctx, param=param) from None

    def get_runtime_param(self):
        if getattr(self, "_runtime_param", None) is None:
            try:
                plain = _is_plain(self.type_descriptor)
            except AttributeError:
                plain = False
            if plain:
                self._runtime_param = PlainRuntimeParam(
                    parameter_info=self.type_descriptor.parameter_info, annotation=self.type_descriptor.annotation
                )
        return original(self)

    get_runtime_param._pdmail_plain = True  # type: ignore[attr-defined]  # the mark that it is installed
    base.get_runtime_param = get_runtime_param
    return True
