"""Line dimensions as tracking: the expression function ``tracking(tags, *dimension_codes)``.

ERP lines carry their analytical dimensions by codes (``{dimension_code: BRANCH, value_code:
LEEDS}``); Xero takes tracking by names (``{Name: Branch, Option: Leeds depot}``, api-notes/
xero.md §6.6), the names the dimensions flow gave the categories and options. The function
resolves codes to names from the source's own dimensions, read once per run (there are few):

    lines[].tracking  ←  tracking(line['dimensions'])

sends the tags of the dimensions that are tracking categories in the target, the ones the
dimensions flow linked (its rule chooses them: Xero takes two active categories per organisation
and two tracking elements per line), so the choice is made once, there. Before that flow has
linked a dimension its tags are left out; once it has, a value missing from the target is a
validation exception (run the values flow first), not a silent gap. Naming dimensions,
``tracking(line['dimensions'], 'BRANCH')``, sends exactly those, linked or not. A code the source
does not know is a mapping problem.

``dimension_values(dimension_id)`` lists a dimension's values, for a new category's options.

Registered with a run's other helpers (``lookup``, ``linked``...) by ``tracking_functions``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from integrations.mapping.expressions import ExpressionError
from integrations.models import LinkState, RecordLink

DIMENSION, CATEGORY = "dimension", "tracking_category"


def _field(tag: Any, name: str) -> str:
    value = tag.get(name) if isinstance(tag, Mapping) else getattr(tag, name, "")
    return str(value or "")


class DimensionDirectory:
    """The source's dimensions and their values: names by code, read at first use; and which
    dimensions the target tracks (linked to its tracking categories between ``flow``'s two
    connections)."""

    def __init__(self, source: Any, flow: Any = None) -> None:
        self._source = source
        self._flow = flow
        self._names: dict[str, tuple[str, dict[str, str]]] | None = None
        self._values: dict[str, list[dict[str, str]]] = {}  # dimension id → its values
        self._tracked: set[str] | None = None
        # A run maps several batches at once (lanes): the first to ask reads, the others wait.
        self._lock = threading.Lock()

    def tracked(self) -> set[str]:
        """Codes of the dimensions linked to a tracking category of the target."""
        if self._tracked is None:
            self._load()
        return self._tracked or set()

    def _load(self) -> dict[str, tuple[str, dict[str, str]]]:
        if self._names is not None:
            return self._names
        with self._lock:
            if self._names is None:
                self._read()
        return self._names

    def _read(self) -> None:
        dimensions = list(self._source.list_records(DIMENSION))
        codes_by_id = {d.remote_id: d.code for d in dimensions}
        linked = set() if self._flow is None else set(RecordLink.objects.filter(
            source_connection=self._flow.source_connection, source_type=DIMENSION,
            target_connection=self._flow.target_connection, target_type=CATEGORY, state=LinkState.LINKED,
            source_id__in=list(codes_by_id)).values_list("source_id", flat=True))
        names: dict[str, tuple[str, dict[str, str]]] = {d.code: (d.name or d.code, {}) for d in dimensions}
        values: dict[str, list[dict[str, str]]] = {}
        for value in self._source.list_records("dimension_value"):
            code = value.dimension_code or codes_by_id.get(value.dimension_id, "")
            if code in names:
                names[code][1][value.code] = value.name or value.code
            values.setdefault(value.dimension_id, []).append(
                {"code": value.code, "name": value.name or value.code, "status": value.status})
        self._values, self._tracked = values, {codes_by_id[i] for i in linked}
        self._names = names  # last: readers that see it see the rest

    def dimension_values(self, dimension_id: Any) -> list[dict[str, str]]:
        """The values of one dimension (``code``, ``name``, ``status``): what a new tracking
        category is created with, so that it never exists in the target without its options."""
        self._load()
        return list(self._values.get(str(dimension_id or ""), []))

    def tracking(self, tags: Any, *dimension_codes: str) -> list[dict[str, str]]:
        """``[{category, option}]`` for the tags of the tracked (or named) dimensions, in the
        tags' order."""
        tags = list(tags or [])
        if not tags:
            return []
        names = self._load()
        wanted = set(dimension_codes) or self.tracked()
        refs = []
        for tag in tags:
            code, value_code = _field(tag, "dimension_code"), _field(tag, "value_code")
            if code not in wanted:
                continue
            if code not in names:
                raise ExpressionError(f"the source has no dimension {code!r}")
            category, values = names[code]
            if value_code not in values:
                raise ExpressionError(f"the dimension {code} ({category}) has no value {value_code!r} in the source")
            refs.append({"category": category, "option": values[value_code]})
        return refs


def tracking_functions(runner: Any) -> dict[str, Any]:
    """The expression helpers of this module, bound to a run's source connector."""
    directory = DimensionDirectory(runner.source, runner.flow)
    return {"tracking": directory.tracking, "dimension_values": directory.dimension_values}
