"""Safe expressions for mappings and rules (simpleeval: no attribute tricks, no imports, no
``eval``). Number literals are ``Decimal``, never float, so ``total * 1.2`` stays exact."""

from __future__ import annotations

import ast
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache
from typing import Any

import simpleeval


class ExpressionError(ValueError):
    """An expression that cannot be read or evaluated; the message says why, for people."""


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ExpressionError(f"{value!r} is not a number") from None


def _round_money(value: Any, places: int = 2) -> Decimal:
    return _decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _add_days(value: Any, days: Any) -> date:
    return _to_date(value) + timedelta(days=int(days))


def _concat(*parts: Any, sep: str = "") -> str:
    return sep.join(str(part) for part in parts if part not in (None, ""))


def _coalesce(*values: Any) -> Any:
    return next((value for value in values if value not in (None, "")), None)


def _sum_of(values: Any, key: str | None = None) -> Decimal:
    return sum((_decimal(v[key] if key else v) for v in values or []), Decimal("0"))


FUNCTIONS: dict[str, Any] = {
    "decimal": _decimal,
    "round_money": _round_money,
    "date": _to_date,
    "add_days": _add_days,
    "concat": _concat,
    "coalesce": _coalesce,
    "sum_of": _sum_of,
    "upper": lambda value: str(value or "").upper(),
    "lower": lambda value: str(value or "").lower(),
    "strip": lambda value: str(value or "").strip(),
    "str": str,
    "int": int,
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
}


# Values that can be neither a module nor a function: no need to look inside them.
_PLAIN_LEAVES = frozenset({str, int, bool, type(None), Decimal, date, datetime, float})


def plain_containers(data: Any) -> frozenset[int]:
    """The ids of the dicts and lists in ``data`` that hold only plain values (strings, numbers,
    dates, enum members, and dicts and lists of them), all the way down: what simpleeval would otherwise
    search again, for modules and forbidden functions, each time an expression names them.
    Valid while ``data`` lives and only for it (an id is reused once its object is gone): a
    record's mapping computes it once and passes it to each of the record's evaluations."""
    plain: set[int] = set()
    leaves = _PLAIN_LEAVES

    def walk(value: Any) -> bool:
        kind = type(value)
        if kind is dict:
            children = value.values()
        elif kind is list:
            children = value
        else:
            return kind in leaves or isinstance(value, Enum)  # an enum member: neither module nor function
        ok = True
        for child in children:  # every child is walked, the leaves (most) without a call
            if type(child) not in leaves and not walk(child):
                ok = False
        if ok:
            plain.add(id(value))
        return ok

    walk(data)
    return frozenset(plain)


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    trusted: frozenset[int] = frozenset()

    def _eval(self, node: ast.AST) -> Any:
        # simpleeval's, with its check of every node's result inlined for plain leaves, most
        # results: the check is a call per node otherwise.
        try:
            handler = self.nodes[type(node)]
        except KeyError:
            raise simpleeval.FeatureNotAvailable(f"Sorry, {type(node).__name__} is not available in this evaluator") from None
        result = handler(node)
        if type(result) not in _PLAIN_LEAVES:
            self._check_disallowed_items(result)
        return result

    def _check_disallowed_items(self, item: Any) -> None:
        # An expression naming ``line`` or ``record`` would have the whole record searched each
        # time; containers known plain (from ``plain_containers``, alive for this evaluation)
        # and plain leaves are skipped.
        if type(item) in _PLAIN_LEAVES or id(item) in self.trusted:
            return
        super()._check_disallowed_items(item)

    def _eval_constant(self, node: ast.Constant) -> Any:
        kind = type(node.value)
        if kind is int or kind is bool or node.value is None:  # most literals: nothing to check
            return node.value
        if kind is float:
            # The literal as written, not its binary approximation.
            return Decimal(ast.get_source_segment(self.expr, node) or repr(node.value))
        return super()._eval_constant(node)  # a string: simpleeval refuses one too long


@lru_cache(maxsize=2048)
def _parse(expression: str) -> ast.AST:
    try:
        return _Evaluator().parse(expression)
    except SyntaxError as exc:
        raise ExpressionError(f"cannot read {expression!r}: {exc.msg}") from None


def check(expression: str) -> None:
    """Raise :class:`ExpressionError` if ``expression`` is not valid syntax (admin forms)."""
    _parse(expression)


class Functions(dict):
    """The built-in functions with a caller's own (``with_builtins``), merged once for the many
    evaluations of a record rather than at each."""


def with_builtins(functions: Mapping[str, Any] | None) -> Functions:
    return functions if isinstance(functions, Functions) else Functions({**FUNCTIONS, **(functions or {})})


_idle = threading.local()  # one evaluator per thread, reused: building one costs more than most evaluations


def evaluate(expression: str, names: Mapping[str, Any], functions: Mapping[str, Any] | None = None,
             trusted: frozenset[int] = frozenset()) -> Any:
    """``functions`` adds run-bound helpers (``lookup``, ``linked``) to the built-in ones;
    ``trusted``: ``plain_containers`` of the data ``names`` holds, when the caller has it."""
    evaluator = getattr(_idle, "evaluator", None)
    _idle.evaluator = None  # taken: a helper that evaluates in turn builds its own
    if evaluator is None:
        evaluator = _Evaluator()
    evaluator.names = names
    evaluator.functions = with_builtins(functions) if functions else FUNCTIONS
    evaluator.expr = expression
    evaluator.trusted = trusted
    try:
        return evaluator.eval(expression, previously_parsed=_parse(expression))
    except ExpressionError:
        raise
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(f"{expression!r} uses {exc.name!r}, which this record does not have") from None
    except (simpleeval.InvalidExpression, ArithmeticError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise ExpressionError(f"{expression!r} failed: {exc}") from None
    finally:
        evaluator.names = evaluator.functions = None
        evaluator.trusted = frozenset()
        _idle.evaluator = evaluator
