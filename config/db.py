"""Database helpers the whole project shares (the engine and the sandboxes alike)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from django.db import connections, models

M = TypeVar("M", bound=models.Model)


class GrowthAnalyzer:
    """``ANALYZE`` a table each time a job has doubled the rows it added to it (from
    ``first`` rows on), on PostgreSQL.

    A first backfill fills its tables from empty. Until autovacuum's next look (a minute or
    more) the planner has no statistics for them and takes a few equality tests on the
    connection and type to leave a single row, so a lookup of a batch's 50 source ids became an
    index range over every row of the flow with the ids as a filter: a scan per batch that grew
    with the run. PostgreSQL's advice after a bulk load is to ``ANALYZE``; this does it while
    the load goes on, a handful of times per run (it samples at most 30,000 rows and blocks no
    reader or writer)."""

    def __init__(self, model: type[models.Model], *, first: int = 1000, using: str = "default") -> None:
        self.model = model
        self.using = using
        self.due = first
        self.added = 0
        self._lock = threading.Lock()

    def rows_added(self, count: int) -> None:
        connection = connections[self.using]
        if connection.vendor != "postgresql" or count <= 0:
            return
        with self._lock:
            self.added += count
            if self.added < self.due:
                return
            self.due = 2 * self.added
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(self.model._meta.db_table)}")


# --- Bulk inserts of many plain rows ---------------------------------------------------------

# Python types a field's ``get_db_prep_save`` gives back unchanged on PostgreSQL, by field
# class (checked with ``isinstance`` on the field, exact ``type`` on the value): a value of
# another type (a str for a Decimal column, a naive datetime, a date given a datetime...) still
# goes through the field. None is a NULL for every field.
_AS_THEY_ARE: tuple[tuple[type[models.Field], frozenset[type]], ...] = (
    (models.JSONField, frozenset()),  # always adapted (psycopg's Jsonb, the field's encoder)
    (models.BooleanField, frozenset({bool})),
    (models.IntegerField, frozenset({int})),  # every size, the auto fields included
    (models.DecimalField, frozenset({Decimal})),
    (models.UUIDField, frozenset({uuid.UUID})),
    (models.DateTimeField, frozenset()),  # aware or not: the field decides (below)
    (models.DateField, frozenset({date})),
    (models.CharField, frozenset({str})),
    (models.TextField, frozenset({str})),
)


def _kept_types(field: models.Field) -> frozenset[type]:
    target = field.target_field if field.is_relation else field
    return next((kinds for cls, kinds in _AS_THEY_ARE if isinstance(target, cls)), frozenset())


class _Column:
    __slots__ = ("field", "attname", "kept", "relation", "auto_now")

    def __init__(self, field: models.Field) -> None:
        self.field = field
        self.attname = field.attname
        self.kept = _kept_types(field)
        self.relation = field.is_relation
        self.auto_now = bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))

    def values(self, objs: Sequence[models.Model], connection: Any, *, pre_save: bool = True) -> list[Any]:
        """The column's values for ``objs``, ready to send; ``pre_save``: as an insert takes
        them (``auto_now`` fields set now), else as the objects hold them."""
        field, attname = self.field, self.attname
        if self.auto_now and pre_save:
            raw = [field.pre_save(obj, True) for obj in objs]
        else:
            raw = [getattr(obj, attname) for obj in objs]
        if self.relation and None in raw:  # a related object given before it had its primary key
            raw = [self._related_pk(obj, value) for obj, value in zip(objs, raw)]
        return self.prepare(raw, connection)

    def prepare(self, raw: list[Any], connection: Any) -> list[Any]:
        """``raw`` values of the field (a relation's: its key) ready to send."""
        if self.kept and not (set(map(type, raw)) - self.kept - {type(None)}):
            return raw
        prep = self.field.get_db_prep_save
        return [None if value is None else prep(value, connection) for value in raw]

    def _related_pk(self, obj: models.Model, value: Any) -> Any:
        if value is not None:
            return value
        related = self.field.get_cached_value(obj, default=None)
        if related is None:
            return None
        if related.pk is None:
            raise ValueError(f"bulk_insert() prohibited to prevent data loss due to unsaved related object '{self.field.name}'.")
        setattr(obj, self.attname, related.pk)
        return related.pk


@cache
def _insert_plan(model: type[models.Model], using: str) -> tuple[str, tuple[_Column, ...]] | None:
    """The INSERT and its columns for ``model`` on PostgreSQL, or None when Django's own
    bulk_create should write it (another database; a child model; a field with its own
    placeholder, or of a type UNNEST cannot take, the cases in which Django does not use UNNEST
    either)."""
    connection = connections[using]
    meta = model._meta
    if connection.vendor != "postgresql" or meta.parents or not isinstance(meta.pk, models.AutoField):
        return None
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    if any(hasattr(f, "get_placeholder") or f.generated for f in fields):
        return None
    types = []
    for field in fields:
        if (field.target_field if field.is_relation else field).get_internal_type() not in connection.data_types:
            return None
        types.append(field.db_type(connection).split("(")[0])
    quote = connection.ops.quote_name
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
           f"SELECT * FROM UNNEST({', '.join(f'%s::{t}[]' for t in types)}) RETURNING {quote(meta.pk.column)}")
    return sql, tuple(_Column(f) for f in fields)


def bulk_insert(model: type[M], objs: Sequence[M], *, using: str = "default") -> Sequence[M]:
    """``model.objects.bulk_create(objs)`` for the rows a job writes by the hundred (a batch's
    audit events and record links, the sandbox's documents and their lines): the same single
    ``INSERT ... SELECT * FROM UNNEST(...)`` Django 5.2 writes on PostgreSQL, the primary keys
    set on ``objs`` in order, without Django's three calls per field of every row. A column's
    values pass as they are when each is of a type its field would pass unchanged (text to a
    CharField, a Decimal to a DecimalField...), and through the field's ``get_db_prep_save``
    otherwise. Measured on an audit event (17 columns, 50 rows an insert): about 45 µs of
    client CPU a row against 70 for bulk_create.

    Like bulk_create, it sends no signals and calls no ``save()``. Objects must be new (no
    primary key yet). Anywhere but PostgreSQL, and for a model it cannot write this way, it
    is bulk_create."""
    connection = connections[using]
    plan = _insert_plan(model, using) if objs else None
    if plan is None or any(obj.pk is not None for obj in objs):
        return model._base_manager.using(using).bulk_create(objs)
    sql, columns = plan
    arrays = [column.values(objs, connection) for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        keys = [row[0] for row in cursor.fetchall()]
    attname = model._meta.pk.attname
    for obj, key in zip(objs, keys, strict=True):
        setattr(obj, attname, key)
        obj._state.adding = False
        obj._state.db = using
    return objs


@cache
def _update_plan(model: type[models.Model], names: tuple[str, ...], using: str) -> tuple[str, tuple[_Column, ...]]:
    connection = connections[using]
    meta = model._meta
    columns = tuple(_Column(meta.get_field(name)) for name in names)
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if connection.vendor != "postgresql":
        return (f"UPDATE {table} SET {', '.join(f'{quote(c.field.column)} = %s' for c in columns)} WHERE {pk} = %s"), columns
    names_sql = [quote(c.field.column) for c in columns]
    types = [c.field.cast_db_type(connection) for c in columns] + [meta.pk.rel_db_type(connection)]
    return (f"UPDATE {table} AS old SET {', '.join(f'{n} = new.{n}' for n in names_sql)} "
            f"FROM UNNEST({', '.join(f'%s::{t}[]' for t in types)}) AS new({', '.join(names_sql)}, {pk}) "
            f"WHERE old.{pk} = new.{pk}"), columns


def bulk_update_fields(model: type[M], objs: Sequence[M], fields: Sequence[str], *, using: str = "default") -> None:
    """Write ``fields`` of many saved rows as the objects hold them (``auto_now`` fields too:
    no ``pre_save``), much cheaper than ``bulk_update``'s CASE expressions: on PostgreSQL one
    UPDATE joined to the new values as arrays, their values prepared as ``bulk_insert``
    prepares them; elsewhere one prepared UPDATE per row."""
    if not objs:
        return
    connection = connections[using]
    sql, columns = _update_plan(model, tuple(fields), using)
    keys = [obj.pk for obj in objs]
    values = [column.values(objs, connection, pre_save=False) for column in columns]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql, [*values, keys])
        else:
            cursor.executemany(sql, [[*row, key] for *row, key in zip(*values, keys)])


# --- Reads of a batch's rows -----------------------------------------------------------------


@dataclass(frozen=True)
class _Select:
    sql: str
    conditions: tuple[_Column, ...]
    names: tuple[str, ...]  # the attnames read, in order
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]  # (position, converters, column)


@cache
def _select_plan(model: type[models.Model], fields: tuple[str, ...] | None, where: tuple[tuple[str, bool], ...],
                 for_update: bool, using: str) -> _Select:
    connection = connections[using]
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    chosen = [meta.get_field(name) for name in fields] if fields is not None else list(meta.concrete_fields)
    conditions = tuple(_Column(meta.get_field(name)) for name, _ in where)
    tests = [f"{table}.{quote(c.field.column)} = " + (f"ANY(%s::{c.field.cast_db_type(connection)}[])" if one_of else "%s")
             for c, (_, one_of) in zip(conditions, where)]
    sql = (f"SELECT {', '.join(f'{table}.{quote(f.column)}' for f in chosen)} FROM {table}"
           f"{' WHERE ' + ' AND '.join(tests) if tests else ''}{' FOR UPDATE' if for_update else ''}")
    converters = []
    for position, field in enumerate(chosen):  # as the ORM's compiler converts what it reads
        column = field.get_col(meta.db_table)
        found = (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
        if found:
            converters.append((position, found, column))
    return _Select(sql, conditions, tuple(f.attname for f in chosen), tuple(converters))


def select_rows(model: type[M], fields: Sequence[str] | None, *, for_update: bool = False, using: str = "default",
                **where: Any) -> list[Any]:
    """The rows whose fields equal ``where``'s values, or hold one of them where the value is a
    list or tuple (no None; a relation by its key: ``flow_id=``): ``values_list(*fields)``
    tuples, or the model's objects when ``fields`` is None; ``for_update`` locks them.

    For the lookups a job makes once a batch (its 50 ids): on PostgreSQL a statement made once,
    each list one array parameter, where a queryset costs a millisecond or so to build and
    compile each time (more than the database's work); what it reads is converted as the ORM
    converts it. Elsewhere that queryset."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        queryset = model._base_manager.using(using).filter(**{
            f"{name}__in" if isinstance(value, (list, tuple)) else name: value for name, value in where.items()})
        if for_update:
            queryset = queryset.select_for_update()
        return list(queryset) if fields is None else list(queryset.values_list(*fields))
    shape = tuple((name, isinstance(value, (list, tuple))) for name, value in where.items())
    plan = _select_plan(model, tuple(fields) if fields is not None else None, shape, for_update, using)
    params = [column.prepare(list(value), connection) if one_of else column.prepare([value], connection)[0]
              for column, value, (_, one_of) in zip(plan.conditions, where.values(), shape)]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        rows = cursor.fetchall()
    if plan.converters and rows:
        rows = [_converted(row, plan.converters, connection) for row in rows]
    if fields is None:
        return [model.from_db(using, plan.names, row) for row in rows]
    return rows


def _converted(row: tuple, converters: tuple, connection: Any) -> tuple:
    values = list(row)
    for position, functions, column in converters:
        for function in functions:
            values[position] = function(values[position], column, connection)
    return tuple(values)
