"""Xero's ``where`` and ``order`` query parameters, parsed with a small lark grammar and
compiled to Django ``Q`` objects over a per-resource field map (api-notes §5.3).

Supported: ``==`` (or ``=``), ``!=`` (or ``<>``), ``>=``, ``<=``, ``>``, ``<``, ``AND``, ``OR``,
``NOT``, parentheses;
string, ``Guid("…")``, ``DateTime(y, m, d[, h, m, s])``, number, ``true``/``false``/``null``
literals; ``Field.Contains("…")``, ``.StartsWith("…")``, ``.EndsWith("…")``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache

from django.db.models import Q
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, VisitError

from sandbox.xero.errors import QueryParseError

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*      -> any_of
?and_expr: not_expr (_AND not_expr)*    -> all_of
?not_expr: _NOT not_expr                -> negate
         | atom
?atom: comparison
     | method_call
     | "(" or_expr ")"
comparison: field OP value
method_call: field "(" value ")"
field: NAME ("." NAME)*
?value: STRING                          -> string
      | "Guid" "(" STRING ")"           -> guid
      | "DateTime" "(" INT ("," INT)* ")" -> datetime
      | SIGNED_NUMBER                   -> number
      | "true"i                         -> true
      | "false"i                        -> false
      | "null"i                         -> null
OP: "==" | "!=" | "<>" | ">=" | "<=" | ">" | "<" | "="
_OR: /OR/i | "||"
_AND: /AND/i | "&&"
_NOT: /NOT/i | "!"
STRING: /"(\\.|[^"\\])*"/
NAME: /(?!(AND|OR|NOT)\b)[A-Za-z_][A-Za-z0-9_]*/i
%import common.INT
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""


METHODS = {"Contains": "__icontains", "StartsWith": "__istartswith", "EndsWith": "__iendswith"}


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


class Kind:
    STRING = "string"
    GUID = "guid"
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    BOOL = "bool"


@dataclass(frozen=True)
class FieldRef:
    """Where a Xero field lives in the ORM, and its type."""

    lookup: str
    kind: str


@dataclass(frozen=True)
class Literal:
    kind: str  # string, guid, datetime, number, bool, null
    value: object


@v_args(inline=True)
class _ToTree(Transformer):
    def string(self, token: Token) -> Literal:
        return Literal("string", token[1:-1].replace('\\"', '"').replace("\\\\", "\\"))

    def guid(self, token: Token) -> Literal:
        try:
            return Literal("guid", uuid.UUID(token[1:-1]))
        except ValueError as exc:
            raise QueryParseError(f"Guid should contain 32 digits with 4 dashes: {token}") from exc

    def datetime(self, *parts: Token) -> Literal:
        numbers = [int(p) for p in parts]
        if len(numbers) < 3:
            raise QueryParseError("DateTime needs at least a year, a month and a day")
        try:
            return Literal("datetime", datetime(*numbers[:6], tzinfo=UTC))
        except ValueError as exc:
            raise QueryParseError(str(exc)) from exc

    def number(self, token: Token) -> Literal:
        return Literal("number", Decimal(str(token)))

    def true(self) -> Literal:
        return Literal("bool", True)

    def false(self) -> Literal:
        return Literal("bool", False)

    def null(self) -> Literal:
        return Literal("null", None)

    def field(self, *names: Token) -> str:
        return ".".join(str(n) for n in names)

    def comparison(self, field: str, op: Token, literal: Literal) -> tuple:
        # The expression language (Dynamic LINQ) also takes "=" and "<>" for == and !=.
        return ("cmp", field, {"=": "==", "<>": "!="}.get(str(op), str(op)), literal)

    def method_call(self, path: str, literal: Literal) -> tuple:
        # The lexer cannot tell a method from a field, so the last segment is checked here.
        field, _, method = path.rpartition(".")
        if not field or method not in METHODS:
            raise QueryParseError(f"No applicable method '{method}' exists (use Contains, StartsWith or EndsWith)")
        return ("method", field, method, literal)

    def any_of(self, *parts) -> tuple:
        return ("or", parts)

    def all_of(self, *parts) -> tuple:
        return ("and", parts)

    def negate(self, part) -> tuple:
        return ("not", part)


def parse_where(text: str) -> tuple:
    try:
        return _ToTree().transform(_parser().parse(text))
    except VisitError as exc:
        if isinstance(exc.orig_exc, QueryParseError):
            raise exc.orig_exc from None
        raise QueryParseError(str(exc.orig_exc)) from exc
    except LarkError as exc:
        raise QueryParseError(f"Syntax error in where clause: {str(exc).splitlines()[0]}") from exc


def _resolve(fields: dict[str, FieldRef], name: str, type_name: str) -> FieldRef:
    for key, ref in fields.items():
        if key.lower() == name.lower():
            return ref
    raise QueryParseError(f"No property or field '{name.split('.')[-1]}' exists in type '{type_name}'")


def _coerce(ref: FieldRef, literal: Literal, field_name: str) -> object:
    if literal.kind == "null":
        return None
    try:
        if ref.kind == Kind.STRING:
            if literal.kind != "string":
                raise TypeError
            return literal.value
        if ref.kind == Kind.GUID:
            if literal.kind == "guid":
                return literal.value
            if literal.kind == "string":
                return uuid.UUID(literal.value)
            raise TypeError
        if ref.kind == Kind.DATE:
            if literal.kind == "datetime":
                return literal.value.date()
            if literal.kind == "string":
                return date.fromisoformat(literal.value[:10])
            raise TypeError
        if ref.kind == Kind.DATETIME:
            if literal.kind == "datetime":
                return literal.value
            raise TypeError
        if ref.kind == Kind.NUMBER:
            if literal.kind == "number":
                return literal.value
            if literal.kind == "string":
                return Decimal(literal.value)
            raise TypeError
        if ref.kind == Kind.BOOL:
            if literal.kind == "bool":
                return literal.value
            raise TypeError
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise QueryParseError(
            f"Operator '==' incompatible with operand types for '{field_name}' and '{literal.kind}'"
        ) from exc
    raise QueryParseError(f"Unsupported field type for '{field_name}'")


_OPS = {"==": "", ">=": "__gte", "<=": "__lte", ">": "__gt", "<": "__lt"}


def _compile(node: tuple, fields: dict[str, FieldRef], type_name: str) -> Q:
    tag = node[0]
    if tag == "or":
        result = Q()
        for index, part in enumerate(node[1]):
            compiled = _compile(part, fields, type_name)
            result = compiled if index == 0 else result | compiled
        return result
    if tag == "and":
        result = Q()
        for part in node[1]:
            result &= _compile(part, fields, type_name)
        return result
    if tag == "not":
        return ~_compile(node[1], fields, type_name)
    if tag == "method":
        _, name, method, literal = node
        ref = _resolve(fields, name, type_name)
        if ref.kind != Kind.STRING or literal.kind != "string":
            raise QueryParseError(f"{method} applies to text fields with a text argument")
        return Q(**{ref.lookup + METHODS[method]: literal.value})
    _, name, op, literal = node
    ref = _resolve(fields, name, type_name)
    value = _coerce(ref, literal, name)
    if value is None:
        q = Q(**{ref.lookup + "__isnull": True}) | (
            Q(**{ref.lookup: ""}) if ref.kind == Kind.STRING else Q(pk__in=[])
        )
        return ~q if op == "!=" else q
    if op in ("==", "!=") and ref.kind == Kind.STRING:
        # Xero's queries run on a case-insensitive collation.
        q = Q(**{ref.lookup + "__iexact": value})
    elif op == "!=":
        q = Q(**{ref.lookup: value})
    else:
        q = Q(**{ref.lookup + _OPS[op]: value})
    return ~q if op == "!=" else q


def where_to_q(text: str, fields: dict[str, FieldRef], type_name: str) -> Q:
    return _compile(parse_where(text), fields, type_name)


def order_to_fields(text: str, fields: dict[str, FieldRef], type_name: str) -> list[str]:
    """``order=Name ASC, Date DESC`` → ORM ordering."""
    ordering: list[str] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise QueryParseError(f"Invalid order clause: {part.strip()}")
        ref = _resolve(fields, words[0], type_name)
        descending = len(words) == 2 and words[1].upper() == "DESC"
        ordering.append(("-" if descending else "") + ref.lookup)
    return ordering
