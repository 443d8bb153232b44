"""PostgreSQL specifics: a faster text dumper for Python lists, and SQL that only PostgreSQL
migrations run (``postgres_sql``).

Django 5.2 bulk-inserts on PostgreSQL through ``UNNEST`` of one array per column (and so does
``config.db.bulk_insert``), so every batch's inserts hand psycopg lists to dump as array
literals. psycopg's text dumper works element by element in Python, and backslash-escapes each
quoted element with ``re.sub`` and a group-reference template, which on Python 3.11 runs a
Python function per escaped character: a JSON payload has dozens. Here a flat list without
nulls is written in a few calls for the whole list, and other lists escape with
``bytes.replace``: the same array, read back, for a fraction of the cost.
"""

from __future__ import annotations

from types import NoneType
from typing import Any

from django.db import migrations
from psycopg.abc import Buffer
from psycopg.types.array import ListDumper


class _ElementEscape:
    """Stands in for ListDumper's ``_re_esc`` regular expression, whose only use is a ``sub``
    that puts a backslash before each double quote and each backslash of an element."""

    @staticmethod
    def sub(_template: bytes, element: Any) -> bytes:
        return bytes(element).replace(b"\\", b"\\\\").replace(b'"', b'\\"')


class FastListDumper(ListDumper):
    _re_esc = _ElementEscape()

    def dump(self, obj: list[Any]) -> Buffer | None:
        """A flat list with no nulls, the usual column of a bulk insert, in a few calls for the
        whole list instead of several for each element: every element quoted, which PostgreSQL
        reads as it reads psycopg's literal (quotes are optional wherever they are not needed).
        Anything else (nulls, nested lists, a list of unknown type) is dumped as psycopg does."""
        element = self.sub_dumper
        if element is None or not obj:
            return super().dump(obj)
        kinds = set(map(type, obj))
        if NoneType in kinds or any(issubclass(kind, list) for kind in kinds):
            return super().dump(obj)
        try:
            joined = b"\x00".join(map(element.dump, obj))
        except TypeError:  # an element dumped as None (a null)
            return super().dump(obj)
        if joined.count(b"\x00") != len(obj) - 1:  # NUL inside an element: PostgreSQL would refuse it
            return super().dump(obj)
        quoted = joined.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\x00", b'"' + self.delimiter + b'"')
        return b'{"' + quoted + b'"}'


def postgres_connection_setup(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` handler: register the list dumper on a new PostgreSQL connection."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_dumper(list, FastListDumper)


def postgres_sql(create: str, drop: str) -> migrations.RunPython:
    """A migration operation running ``create`` forwards and ``drop`` backwards on PostgreSQL
    only (triggers and functions SQLite has no use for)."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(create, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop, params=None)

    return migrations.RunPython(forwards, backwards)
