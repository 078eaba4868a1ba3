"""Frozen dataclasses that write themselves as JSON objects and read themselves back, checking types.

The one place where a typed value becomes a dict and back: `to_json()` gives what json.dumps writes,
`from_json(doc)` rebuilds the value from a parsed document, field by field, and raises RecordError (a
DataError naming where) when a field has the wrong shape, so a damaged file is reported, never half-read.
Keys the type does not know are ignored; fields the document lacks take their defaults.
"""

import dataclasses
import math
import types
import typing
from typing import Any, ClassVar, Self, Union

from lenet_batch.errors import DataError

JSON_SCALARS = (str, int, float, bool)
INT64_LIMIT = 2**63


class RecordError(DataError):
    """A JSON document does not have the shape of the record it should hold."""


def _shape_error(where: str, expected: str, value: Any) -> RecordError:
    if isinstance(value, int) and value.bit_length() > 200:  # repr of a huge int is slow, or refused
        shown = f"an integer of {value.bit_length()} bits"
    else:
        shown = type(value).__name__ if isinstance(value, dict | list) else repr(value)[:60]
    return RecordError(f"{where}: expected {expected}, found {shown}")


def _scalar(kind: type, value: Any, where: str) -> Any:
    """A JSON scalar of the given type: ints are floats too, bools are never numbers, floats are finite,
    ints fit in 64 bits (json reads 1e400 as inf and 10**400 as an int no float or Parquet column holds)."""
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _shape_error(where, "a finite number", value)
        return number
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        if not -INT64_LIMIT <= value < INT64_LIMIT:
            raise _shape_error(where, "an integer of at most 64 bits", value)
        return value
    if kind in (str, bool) and type(value) is kind:
        return value
    raise _shape_error(where, kind.__name__, value)


def decode(kind: Any, value: Any, where: str) -> Any:
    """A JSON value as the given type (records, tuples, dicts, unions with None, scalars, Any)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            try:
                return decode(option, value, where)
            except RecordError:
                continue
        return decode(options[-1], value, where)
    if isinstance(kind, type) and issubclass(kind, JsonRecord):
        return kind.from_json(value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise _shape_error(where, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _shape_error(where, f"a list of {len(args)}", value)
        return tuple(decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise _shape_error(where, "an object", value)
        return {str(k): decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    return _scalar(kind, value, where)


def encode(value: Any) -> Any:
    """A typed value as JSON-ready Python (records as objects, tuples as lists, NaN as None)."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonRecord:
    """Mixin for frozen dataclasses: `to_json()` and `from_json()` by field name.

    JSON_NAMES renames fields in the document; JSON_OMIT_NONE leaves out fields whose value is None; a
    field named `extra` (a dict) keeps the keys the type does not know, so that a record read and written
    back by this code loses nothing a newer writer added.
    """

    JSON_NAMES: ClassVar[dict[str, str]] = {}  # field name -> key in the document, where they differ
    JSON_OMIT_NONE: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (a dict of JSON-ready values)."""
        doc = dict(encode(getattr(self, "extra", None) or {}))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name != "extra" and not (value is None and self.JSON_OMIT_NONE):
                doc[self.JSON_NAMES.get(f.name, f.name)] = encode(value)
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str = "") -> Self:
        """The record a parsed JSON object holds; RecordError naming the first field of the wrong shape."""
        where = where or cls.__name__
        if not isinstance(doc, dict):
            raise _shape_error(where, "an object", doc)
        hints = typing.get_type_hints(cls)
        values, known = {}, set()
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            key = cls.JSON_NAMES.get(f.name, f.name)
            known.add(key)
            if key in doc and f.name != "extra":
                values[f.name] = decode(hints[f.name], doc[key], f"{where}.{key}")
        if "extra" in hints:
            values["extra"] = {k: v for k, v in doc.items() if k not in known}
        try:
            return cls(**values)
        except TypeError as exc:  # a field without a default is missing
            raise RecordError(f"{where}: {exc}") from None
