"""Turning one source record into one target payload with a mapping set.

A mapping set is compiled once per run (its field mappings, value maps and rules read in a
few queries) and applied to each record. Target fields ending in ``[]`` iterate a source list
(1:n, e.g. order lines → invoice lines): ``lines[]`` ← ``lines`` names the list, and every
``lines[].field`` is then evaluated per element, with ``line`` (the element) and ``record``
(the whole source) as names. Elsewhere expressions see the source record's top-level keys
and ``record``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from integrations.mapping import expressions
from integrations.mapping.paths import get_path, set_path
from integrations.models import Conversion, FieldMapping, MappingSet, MissingValue, Rule, RuleAction


class Verdict:
    SEND = "send"  # create or update the target record
    SKIP = "skip"  # nothing to do, with a reason
    VOID = "void"  # void or delete the target record
    REVIEW = "review"  # a person must look first


@dataclass(frozen=True)
class MappingProblem:
    """Why a record could not be mapped; ``code`` is stable, ``message`` is for people."""

    code: str
    message: str
    field: str = ""


@dataclass
class Outcome:
    verdict: str
    payload: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    problems: list[MappingProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Failed(Exception):
    def __init__(self, problem: MappingProblem) -> None:
        self.problem = problem


@dataclass(frozen=True)
class _ValueMap:
    name: str
    entries: Mapping[str, str]
    on_missing: str
    default: str

    def lookup(self, value: Any, target: str) -> Any:
        key = "" if value is None else str(value)
        if key in self.entries:
            return self.entries[key]
        if self.on_missing == MissingValue.DEFAULT:
            return self.default
        if self.on_missing == MissingValue.PASSTHROUGH:
            return value
        raise _Failed(MappingProblem(
            code="mapping.value_map.missing",
            message=f"\u201c{key}\u201d has no entry in the value map \u201c{self.name}\u201d (for {target}). "
                    "Add it under Value maps, then retry.",
            field=target,
        ))


def convert(value: Any, conversion: str, target: str) -> Any:
    """Apply a FieldMapping conversion; a value that cannot convert is a mapping problem."""
    if value is None or conversion == Conversion.NONE:
        return value
    try:
        if conversion == Conversion.STRING:
            return str(value)
        if conversion == Conversion.DECIMAL:
            return expressions._decimal(value)
        if conversion == Conversion.MONEY:
            return expressions._decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if conversion == Conversion.INTEGER:
            number = expressions._decimal(value)
            if number != number.to_integral_value():
                raise ValueError("has a fraction")
            return int(number)
        if conversion == Conversion.BOOLEAN:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "yes", "1", "y"):
                    return True
                if lowered in ("false", "no", "0", "n", ""):
                    return False
                raise ValueError("is not yes or no")
            return bool(value)
        if conversion == Conversion.DATE:
            return expressions._to_date(value)
        if conversion == Conversion.DATETIME:
            parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError("has no time zone")
            return parsed.astimezone(timezone.utc)
    except (ValueError, TypeError, InvalidOperation, expressions.ExpressionError) as exc:
        raise _Failed(MappingProblem(
            code="mapping.conversion",
            message=f"{target}: {value!r} cannot be read as {Conversion(conversion).label.lower()} ({exc}).",
            field=target,
        )) from None
    raise ValueError(f"unknown conversion {conversion!r}")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


@dataclass(frozen=True)
class _Field:
    target: str
    source_path: str
    expression: str
    value_map: _ValueMap | None
    conversion: str
    default: str
    required: bool

    def value(self, names: Mapping[str, Any], scope: Any, functions: Mapping[str, Any] | None = None,
              trusted: frozenset[int] = frozenset()) -> Any:
        try:
            if self.expression:
                value = expressions.evaluate(self.expression, names, functions, trusted)
            elif self.source_path:
                value = get_path(scope, self.source_path)
            else:
                value = None
        except expressions.ExpressionError as exc:
            raise _Failed(MappingProblem(code="mapping.expression", message=f"{self.target}: {exc}", field=self.target)) from None
        empty = _empty(value)
        if empty and self.default:
            value, empty = self.default, False
        if self.value_map is not None and not empty:
            value = self.value_map.lookup(value, self.target)
            empty = _empty(value)
        if empty:
            if self.required:
                source = self.expression or self.source_path or "its default"
                raise _Failed(MappingProblem(
                    code="mapping.required",
                    message=f"{self.target} is required, but {source} is empty for this record.",
                    field=self.target,
                ))
            return None
        return convert(value, self.conversion, self.target)


@dataclass(frozen=True)
class _Rule:
    name: str
    condition: str
    action: str
    target: str
    value_expression: str
    reason: str


class CompiledMapping:
    """A mapping set ready to apply to many records."""

    def __init__(self, fields: list[_Field], rules: list[_Rule]) -> None:
        self.top = [f for f in fields if "[]" not in f.target]
        self.lists: dict[str, tuple[_Field | None, list[_Field]]] = {}
        for f in fields:
            if f.target.endswith("[]"):
                prefix = f.target[:-2]
                self.lists[prefix] = (f, self.lists.get(prefix, (None, []))[1])
            elif "[]" in f.target:
                prefix, _, rest = f.target.partition("[].")
                head, children = self.lists.get(prefix, (None, []))
                children.append(_Field(rest, f.source_path.partition("[].")[2] if "[]." in f.source_path else f.source_path,
                                       f.expression, f.value_map, f.conversion, f.default, f.required))
                self.lists[prefix] = (head, children)
        self.rules = rules

    @classmethod
    def from_mapping_set(cls, mapping_set: MappingSet) -> CompiledMapping:
        maps: dict[int, _ValueMap] = {}
        field_rows = list(FieldMapping.objects.filter(mapping_set=mapping_set).select_related("value_map")
                          .prefetch_related("value_map__entries").order_by("position", "id"))
        for row in field_rows:
            if row.value_map_id and row.value_map_id not in maps:
                vm = row.value_map
                maps[vm.pk] = _ValueMap(vm.name, {e.source_value: e.target_value for e in vm.entries.all()},
                                        vm.on_missing, vm.default_value)
        fields = [
            _Field(row.target_field, row.source_path, row.expression, maps.get(row.value_map_id),
                   row.conversion, row.default, row.required)
            for row in field_rows
        ]
        rules = [
            _Rule(r.name, r.condition, r.action, r.target_field, r.value_expression, r.reason)
            for r in Rule.objects.filter(mapping_set=mapping_set, enabled=True).order_by("position", "id")
        ]
        return cls(fields, rules)

    def apply(self, record: Mapping[str, Any], functions: Mapping[str, Any] | None = None) -> Outcome:
        """``functions``: helpers bound to the run, e.g. ``lookup(entity, id)`` (a record of the
        source system) and ``linked(type, id)`` (the target id a record link gives).

        Skip, void and review rules look at the source and are decided first (an order not yet
        shipped is skipped, whatever its lines hold); set-field rules run on the mapped payload."""
        functions = expressions.with_builtins(functions)
        trusted = expressions.plain_containers(record)  # the record's data, searched once
        decided = self._apply_rules(record, {}, functions, trusted, actions=(RuleAction.SKIP, RuleAction.VOID, RuleAction.REVIEW))
        if decided is not None:
            return decided
        payload: dict[str, Any] = {}
        problems: list[MappingProblem] = []
        names = {**record, "record": record}
        for f in self.top:
            try:
                value = f.value(names, record, functions, trusted)
            except _Failed as failed:
                problems.append(failed.problem)
                continue
            if value is not None:
                set_path(payload, f.target, value)
        for prefix, (head, children) in self.lists.items():
            source_list = get_path(record, head.source_path) if head and head.source_path else None
            if head and head.expression:
                try:
                    source_list = expressions.evaluate(head.expression, names, functions, trusted)
                except expressions.ExpressionError as exc:
                    problems.append(MappingProblem("mapping.expression", f"{prefix}: {exc}", prefix))
                    continue
            items = []
            for position, element in enumerate(source_list or []):
                line_names = {**names, "line": element, "position": position}
                item: dict[str, Any] = {}
                for child in children:
                    try:
                        value = child.value(line_names, element, functions, trusted)
                    except _Failed as failed:
                        problems.append(MappingProblem(failed.problem.code, f"Line {position + 1}: {failed.problem.message}",
                                                       f"{prefix}[{position}].{child.target}"))
                        continue
                    if value is not None:
                        set_path(item, child.target, value)
                items.append(item)
            set_path(payload, prefix, items)
        if problems:
            return Outcome(Verdict.REVIEW, payload, problems[0].message, problems)
        return (self._apply_rules(record, payload, functions, trusted, actions=(RuleAction.SET_FIELD,))
                or Outcome(Verdict.SEND, payload))

    def _apply_rules(self, record: Mapping[str, Any], payload: dict[str, Any], functions: Mapping[str, Any],
                     trusted: frozenset[int], *, actions: tuple[str, ...]) -> Outcome | None:
        names = {**record, "record": record, "target": payload}
        for rule in self.rules:
            if rule.action not in actions:
                continue
            try:
                fired = bool(expressions.evaluate(rule.condition, names, functions, trusted))
            except expressions.ExpressionError as exc:
                problem = MappingProblem("mapping.rule", f"Rule \u201c{rule.name}\u201d: {exc}")
                return Outcome(Verdict.REVIEW, payload, problem.message, [problem])
            if not fired:
                continue
            reason = rule.reason or f"Rule \u201c{rule.name}\u201d"
            if rule.action == RuleAction.SKIP:
                return Outcome(Verdict.SKIP, payload, reason)
            if rule.action == RuleAction.VOID:
                return Outcome(Verdict.VOID, payload, reason)
            if rule.action == RuleAction.REVIEW:
                return Outcome(Verdict.REVIEW, payload, reason,
                               [MappingProblem("mapping.rule.review", reason)])
            if rule.action == RuleAction.SET_FIELD:
                try:
                    set_path(payload, rule.target, expressions.evaluate(rule.value_expression, names, functions, trusted))
                except expressions.ExpressionError as exc:
                    problem = MappingProblem("mapping.rule", f"Rule \u201c{rule.name}\u201d: {exc}", rule.target)
                    return Outcome(Verdict.REVIEW, payload, problem.message, [problem])
        return None


def to_jsonable(value: Any) -> Any:
    """Payloads as stored in exceptions and shown in dry runs: Decimal as exact strings."""
    if isinstance(value, Mapping):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
