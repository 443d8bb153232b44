"""Dotted paths into nested data: ``customer.email``, ``lines[0].sku``, ``lines[].sku``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_PART = re.compile(r"^(?P<name>[^\[\]]*)(?:\[(?P<index>\d*)\])?$")
MISSING = object()


@lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[tuple[str, int | None], ...]:
    parts = []
    for raw in path.split("."):
        match = _PART.match(raw)
        if not match:
            raise ValueError(f"bad path segment {raw!r} in {path!r}")
        index = match["index"]
        parts.append((match["name"], int(index) if index else None))
    return tuple(parts)


def get_path(data: Any, path: str, default: Any = None) -> Any:
    """The value at ``path``, or ``default`` when any step is missing."""
    current = data
    for name, index in _parts(path):
        if name:
            if isinstance(current, Mapping):
                current = current.get(name, MISSING)
            else:
                current = getattr(current, name, MISSING)
            if current is MISSING or current is None:
                return default
        if index is not None:
            if not isinstance(current, (list, tuple)) or index >= len(current):
                return default
            current = current[index]
    return current


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``data``, creating dicts (and list slots) on the way."""
    parts = _parts(path)
    current: Any = data
    for position, (name, index) in enumerate(parts):
        last = position == len(parts) - 1
        if index is None:
            if last:
                current[name] = value
                return
            current = current.setdefault(name, {})
            continue
        items = current.setdefault(name, [])
        while len(items) <= index:
            items.append({})
        if last:
            items[index] = value
            return
        current = items[index]
