"""Records as the engine handles them: canonical objects from connectors, turned into plain
data for mapping, and mapped payloads turned back into canonical objects for the target."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn

from connectors import canonical

# (target system, entity) → canonical type: the names connectors use in create/update_records.
TARGET_TYPES: dict[tuple[str, str], type] = {
    ("xero", "contact"): canonical.Contact,
    ("xero", "item"): canonical.Item,
    ("xero", "invoice"): canonical.Invoice,
    ("xero", "credit_note"): canonical.CreditNote,
    ("xero", "payment"): canonical.Payment,
    ("xero", "manual_journal"): canonical.ManualJournal,
    ("xero", "bank_transaction"): canonical.BankTransaction,
    ("xero", "tracking_category"): canonical.TrackingCategory,
    ("xero", "tracking_option"): canonical.TrackingOption,
    ("tims", "customer"): canonical.Customer,
    ("tims", "vendor"): canonical.Vendor,
    ("tims", "product"): canonical.Product,
    ("tims", "payment"): canonical.ReceivablePayment,
}

_REF_FIELDS = ("number", "order_number", "invoice_number", "code", "sku", "reference", "name")


def record_data(record: Any) -> dict[str, Any]:
    """A canonical record as plain data (Decimals and dates kept) for the mapping."""
    if dataclasses.is_dataclass(record):
        return _plain(record)
    return dict(record)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
# Immutable leaves, most of a record: returned as they are before any other test.
_LEAVES = frozenset({str, int, float, bool, type(None), Decimal, date, datetime})


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` gives, without its deep copy of every leaf: dataclasses,
    lists, tuples and dicts are rebuilt (so the mapping may change them freely), while the
    immutable leaves canonical records hold (str, Decimal, date, enums...) are shared."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if kind is list or kind is tuple:
        return kind(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (set, bytearray)) or hasattr(value, "__dict__") and not isinstance(value, Enum):
        return copy.deepcopy(value)
    return value


def record_id(record: Any) -> str:
    value = getattr(record, "remote_id", None) if not isinstance(record, dict) else record.get("remote_id")
    return str(value or "")


def record_ref(record: Any) -> str:
    data = record if isinstance(record, dict) else vars(record) if hasattr(record, "__dict__") else {}
    for name in _REF_FIELDS:
        value = data.get(name)
        if value:
            return str(value)
    return record_id(record)


def record_updated_at(record: Any) -> datetime | None:
    return getattr(record, "updated_at", None) if not isinstance(record, dict) else record.get("updated_at")


def payload_hash(data: Any) -> str:
    """Of a payload made JSON data (``to_jsonable``, as its audit event holds it); stable
    across runs: unchanged records cost no API call."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _as_is(value: Any, _type: Any) -> Any:
    return value


def _number(value: Any, _type: Any) -> Decimal:
    try:
        return _decimal(value)
    except ArithmeticError:  # decimal.InvalidOperation: "abc", "1,000"
        raise ValueError(f"{value!r} is not a number") from None


def _record_hook(cls: type) -> Any:
    """A nested record from a mapping only: cattrs would read a string's substrings as keys."""
    structure = make_dict_structure_fn(cls, _CONVERTER)

    def hook(value: Any, _type: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return structure(value, cls)

    return hook


# Mapped payloads to canonical records. cattrs builds (and caches) one structuring function per
# record type, about ten times quicker than walking the type hints for every record. Only what
# the mapping gives as text or number is converted (Decimal, dates, enums, nested records and
# lists); scalars are kept as the mapping made them (exact types: a str enum is still cast), and
# keys the type does not know are ignored.
_CONVERTER = cattrs.Converter()
_CONVERTER.register_structure_hook_func(lambda kind: kind in (str, bool, int, float), _as_is)
_CONVERTER.register_structure_hook(Decimal, _number)
_CONVERTER.register_structure_hook(date, lambda value, _type: _date(value))
_CONVERTER.register_structure_hook(datetime, lambda value, _type: _datetime(value))
_CONVERTER.register_structure_hook_factory(dataclasses.is_dataclass, _record_hook)


class TargetBuildError(ValueError):
    """A mapped payload does not fit the target's record (a missing or wrong field)."""


def build_target(system: str, entity: str, payload: dict[str, Any]) -> Any:
    try:
        cls = TARGET_TYPES[(system, entity)]
    except KeyError:
        raise TargetBuildError(f"no canonical type for {system} {entity!r}") from None
    try:
        return _CONVERTER.structure(payload, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path=entity))
        raise TargetBuildError(f"the mapped {entity} does not fit: {problems}") from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # not a mapping: the payload itself
        raise TargetBuildError(f"the mapped {entity} does not fit: {exc}") from None
