"""``Record``: a ``typing.NamedTuple`` made without checking its annotations at import.

``typing.NamedTuple`` checks each field's annotation when the class is made. Under ``from __future__
import annotations`` every annotation is a string, which it compiles into a ``ForwardRef`` for that
check: per field, several times what the record itself costs. A piped message's process starts for
that one message and loads some forty records with over three hundred fields, so those compilations
were about a fifth of everything it did. A ``Record`` is the same class, built by the same
``collections.namedtuple``, with the same methods, defaults and docstring; only its annotations stay
the strings they were written as. Type checkers read it as ``typing.NamedTuple`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Record"]

if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    from collections import namedtuple

    _NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})
    _PROHIBITED = frozenset(
        {
            "__new__",
            "__init__",
            "__slots__",
            "__getnewargs__",
            "_fields",
            "_field_defaults",
            "_make",
            "_replace",
            "_asdict",
        }
    )

    class _RecordType(type):
        """Makes each subclass of ``Record`` a named tuple, as ``typing.NamedTuple`` does."""

        def __new__(mcls, name, bases, namespace):
            if not bases:  # Record itself
                return super().__new__(mcls, name, bases, namespace)
            if len(bases) > 1:
                raise TypeError(f"{name}: a Record has no other base")
            annotations = namespace.get("__annotations__", {})
            defaults = []
            for field in annotations:
                if field in namespace:
                    defaults.append(namespace[field])
                elif defaults:
                    raise TypeError(f"{name}: field {field} without a default follows fields with one")
            record = namedtuple(name, annotations, defaults=defaults, module=namespace["__module__"])
            record.__annotations__ = dict(annotations)
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: a Record cannot overwrite {key}")
                if key not in _NOT_COPIED and key not in annotations:
                    setattr(record, key, value)
            return record

    class Record(metaclass=_RecordType):
        """Subclass it as ``typing.NamedTuple``: fields are the annotated names, in order."""
