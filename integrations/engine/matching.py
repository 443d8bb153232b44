"""Master data: before creating a contact or an item, look for it in the target.

By our reference first (ContactNumber, item code), then by email, then by normalised name.
One candidate → link to it instead of creating a twin; several → a person decides (a
``duplicate`` exception), never a guess. The target's records are read once per run (one
listing, paged), so matching costs no call per record.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

MASTER_DATA = frozenset({"contact", "item", "customer", "vendor", "product"})

# Legal-form words that do not tell two companies apart.
_SUFFIXES = re.compile(r"\b(ltd|limited|plc|llc|inc|incorporated|gmbh|bv|co|company|corp|corporation|the)\b")


def normalise_name(name: str) -> str:
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    text = _SUFFIXES.sub(" ", re.sub(r"[^a-z0-9& ]+", " ", text))
    return " ".join(text.split())


def _ref(record: Any) -> str:
    return str(getattr(record, "number", "") or getattr(record, "code", "") or getattr(record, "sku", "") or "")


@dataclass(frozen=True)
class Match:
    remote_id: str = ""
    candidates: tuple[str, ...] = ()
    by: str = ""

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


class MasterDataIndex:
    def __init__(self, records: list[Any]) -> None:
        self.by_ref: dict[str, set[str]] = defaultdict(set)
        self.by_email: dict[str, set[str]] = defaultdict(set)
        self.by_name: dict[str, set[str]] = defaultdict(set)
        for record in records:
            remote_id = str(getattr(record, "remote_id", "") or "")
            if remote_id and str(getattr(record, "status", "")).upper() != "ARCHIVED":
                self.add(record, remote_id)

    def match(self, record: Any) -> Match | None:
        keys = (
            ("reference", self.by_ref, _ref(record).lower()),
            ("email", self.by_email, str(getattr(record, "email", "") or "").strip().lower()),
            ("name", self.by_name, normalise_name(str(getattr(record, "name", "") or ""))),
        )
        for by, index, key in keys:
            found = index.get(key) if key else None
            if found:
                ids = tuple(sorted(found))
                return Match(remote_id=ids[0] if len(ids) == 1 else "", candidates=ids, by=by)
        return None

    def add(self, record: Any, remote_id: str) -> None:
        """A record this run created: later records of the run match it too."""
        if ref := _ref(record):
            self.by_ref[ref.lower()].add(remote_id)
        if email := str(getattr(record, "email", "") or "").strip().lower():
            self.by_email[email].add(remote_id)
        if name := normalise_name(str(getattr(record, "name", "") or "")):
            self.by_name[name].add(remote_id)
