"""``Record`` behaves as ``typing.NamedTuple`` does, without compiling its annotations at import."""

from __future__ import annotations

import pickle
from typing import NamedTuple

import pytest

from pdmail.core.models import Address, ParsedEmail
from pdmail.core.records import Record


class Point(Record):
    """A point, with a default and a method."""

    x: int
    y: int | None = None
    label: str = "p"

    def moved(self, dx: int) -> Point:
        return self._replace(x=self.x + dx)

    @classmethod
    def origin(cls) -> Point:
        return cls(0, 0)

    @property
    def both(self) -> tuple[int, int | None]:
        return self.x, self.y


class SamePoint(NamedTuple):
    x: int
    y: int | None = None
    label: str = "p"


def test_a_record_is_the_named_tuple_typing_would_make():
    p = Point(1)
    assert p == (1, None, "p") == SamePoint(1)
    assert repr(p) == "Point(x=1, y=None, label='p')"
    assert Point._fields == SamePoint._fields == ("x", "y", "label")
    assert Point._field_defaults == SamePoint._field_defaults == {"y": None, "label": "p"}
    assert p._asdict() == {"x": 1, "y": None, "label": "p"}
    assert Point._make([2, 3, "q"]) == Point(x=2, y=3, label="q")
    assert hash(p) == hash(SamePoint(1))
    x, y, label = p
    assert (x, y, label) == (1, None, "p")


def test_its_methods_docstring_and_name_are_kept():
    assert Point(1).moved(2) == Point(3)
    assert Point.origin() == Point(0, 0)
    assert Point(4, 5).both == (4, 5)
    assert Point.__doc__ == "A point, with a default and a method."
    assert Point.__qualname__ == "Point" and Point.__module__ == __name__


def test_its_annotations_stay_the_strings_written():
    assert Point.__annotations__ == {"x": "int", "y": "int | None", "label": "str"}
    assert type(SamePoint.__annotations__["x"]).__name__ == "ForwardRef"  # what Record saves making


def test_it_pickles_as_the_parser_processes_send_it():
    parsed = ParsedEmail.__new__(ParsedEmail, *range(len(ParsedEmail._fields)))
    assert pickle.loads(pickle.dumps(parsed)) == parsed
    address = Address("Ada", "ada@acme.example")
    assert pickle.loads(pickle.dumps(address)) == address
    assert type(pickle.loads(pickle.dumps(address))) is Address


def test_a_field_without_a_default_cannot_follow_one_with_a_default():
    with pytest.raises(TypeError, match="without a default"):

        class Broken(Record):
            x: int = 0
            y: int


def test_what_a_named_tuple_may_not_redefine_is_refused():
    with pytest.raises(AttributeError, match="_replace"):

        class Broken(Record):
            x: int

            def _replace(self, **changes):  # type: ignore[override]
                return self


def test_an_outcome_compares_and_prints_as_the_dataclass_it_was():
    from pdmail.capture.save import Outcome

    stored = Outcome("-", "stored", 3, None, quarantine_id=4)
    assert repr(stored) == "Outcome(source='-', status='stored', id=3, reason=None, warnings=[], quarantine_id=4)"
    assert stored == Outcome("-", "stored", 3, None, [], 4)
    assert stored != Outcome("-", "stored", 3)
    stored.warnings.append("one")  # capture adds its warnings in place
    assert Outcome("-", "stored").warnings == []  # each outcome has its own list
