"""Rows a batch has just inserted, in the form reading them back would give.

A batch that only creates (a PUT) answers with its new records as stored. Reading them back
costs about as much as writing them, yet the objects in memory hold the same values, only not
always in the same form: an amount given with more decimal places than its column keeps, an
integer where the column gives a Decimal, a negative zero (neither database keeps its sign),
the key order of a JSON column (PostgreSQL's jsonb sorts keys). :func:`as_read_back` brings an
object to the stored form where that form is certain, and says so; where it is not (a value
the database would round, a number past what SQLite's REAL keeps, a type the column converts),
the caller reads the row back as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import connection, models

# SQLite keeps DecimalField values as REAL and reads them back through 15 significant digits.
SQLITE_DIGITS = 15

_UNSURE = object()  # no certain stored form: read the row back


def as_read_back(obj: models.Model) -> bool:
    """Give ``obj``'s field values the form reading its row back gives them; False (``obj``
    maybe half converted, to be read back) when some value's stored form is not certain."""
    typed, converted = _fields(type(obj))
    for attname, kind in typed:
        value = getattr(obj, attname)
        if value is not None and type(value) is not kind:
            return False
    for attname, stored_form in converted:
        value = getattr(obj, attname)
        if value is None:
            continue
        stored = stored_form(value)
        if stored is _UNSURE:
            return False
        if stored is not value:
            setattr(obj, attname, stored)
    return True


# Per model: the fields whose values the database gives back as they are, when of the right
# type (text, booleans, integers, UUIDs), and the others, each with its conversion.
_FIELDS: dict[type, tuple[list[tuple[str, type]], list[tuple[str, Callable]]]] = {}
_AS_THEY_ARE = (
    ((models.CharField, models.TextField), str),
    ((models.BooleanField,), bool),
    ((models.AutoField, models.IntegerField), int),
    ((models.UUIDField,), uuid.UUID),
)


def _fields(model: type[models.Model]) -> tuple[list[tuple[str, type]], list[tuple[str, Callable]]]:
    found = _FIELDS.get(model)
    if found is None:
        typed, converted = [], []
        for field in model._meta.concrete_fields:
            if field.is_relation:
                continue
            kind = next((kind for classes, kind in _AS_THEY_ARE if isinstance(field, classes)), None)
            if kind is not None:
                typed.append((field.attname, kind))
            else:
                converted.append((field.attname, _converter(field)))
        found = _FIELDS[model] = (typed, converted)
    return found


def _converter(field: models.Field) -> Callable:
    if isinstance(field, models.DecimalField):
        return _decimal_converter(field)
    if isinstance(field, models.DateTimeField):
        return _aware_datetime
    if isinstance(field, models.DateField):
        return _date
    if isinstance(field, models.JSONField):
        return _json
    return lambda value: _UNSURE


def _decimal_converter(field: models.DecimalField) -> Callable:
    exponent = Decimal(1).scaleb(-field.decimal_places)
    digits = min(field.max_digits, SQLITE_DIGITS)

    def stored_form(value):
        if type(value) is not Decimal:
            if type(value) is not int:
                return _UNSURE
            value = Decimal(value)
        try:
            stored = value.quantize(exponent)
        except InvalidOperation:
            return _UNSURE
        if stored != value or len(stored.as_tuple().digits) > digits:
            return _UNSURE  # the database would round it, or (SQLite) lose digits
        return stored.copy_abs() if not stored else stored

    return stored_form


def _aware_datetime(value):
    return value if isinstance(value, datetime) and value.utcoffset() is not None else _UNSURE


def _date(value):
    return value if type(value) is date else _UNSURE


def _json(value):
    """Strings, integers, booleans and null in lists and objects keep their form; jsonb (on
    PostgreSQL) orders an object's keys by length in bytes, then bytewise. Floats do not
    always come back as they went (jsonb turns 1e+16 into an integer)."""
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is list:
        items = [_json(item) for item in value]
        return _UNSURE if any(item is _UNSURE for item in items) else items
    if type(value) is dict:
        if not all(type(key) is str for key in value):
            return _UNSURE
        pairs = [(key, _json(item)) for key, item in value.items()]
        if any(item is _UNSURE for _, item in pairs):
            return _UNSURE
        if len(pairs) > 1 and connection.vendor == "postgresql":
            pairs.sort(key=lambda pair: (len(pair[0].encode()), pair[0].encode()))
        return dict(pairs)
    return _UNSURE
