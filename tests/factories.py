"""Small builders for test data (plain functions; no factory library needed at this size)."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

from integrations.models import AuthKind, Connection, Flow, SyncException, System
from reconciliation.models import Direction, DocumentKind, LedgerDocument, Match, MatchBand

_seq = itertools.count(1)


def make_connection(**kwargs: Any) -> Connection:
    n = next(_seq)
    defaults = {
        "name": f"Connection {n}",
        "system": System.XERO,
        "auth_kind": AuthKind.OAUTH2_AUTHORIZATION_CODE,
        "tenant_id": f"tenant-{n}",
    }
    return Connection.objects.create(**{**defaults, **kwargs})


def make_flow(**kwargs: Any) -> Flow:
    n = next(_seq)
    if "source_connection" not in kwargs:
        kwargs["source_connection"] = make_connection(system=System.TIMS, auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS)
    if "target_connection" not in kwargs:
        kwargs["target_connection"] = make_connection()
    defaults = {"slug": f"flow-{n}", "name": f"Flow {n}", "source_entity": "salesorder", "target_entity": "invoice"}
    return Flow.objects.create(**{**defaults, **kwargs})


def make_exception(flow: Flow, **kwargs: Any) -> SyncException:
    n = next(_seq)
    defaults = {
        "record_type": "salesorder",
        "record_id": f"so-{n}",
        "record_ref": f"SO-{n}",
        "stage": "validate",
        "error_class": "validation",
        "code": "xero.validation.account_code",
        "message": "The account code 999 does not exist in Xero.",
    }
    return SyncException.objects.create(flow=flow, **{**defaults, **kwargs})


def make_document(connection: Connection, kind: str = DocumentKind.INVOICE, amount: str = "100.00", **kwargs: Any) -> LedgerDocument:
    n = next(_seq)
    defaults = {
        "direction": Direction.RECEIVABLE,
        "external_id": f"doc-{n}",
        "number": f"INV-{n}",
        "currency": "GBP",
        "issue_date": date(2026, 11, 1),
    }
    return LedgerDocument.objects.create(connection=connection, kind=kind, amount=Decimal(amount), **{**defaults, **kwargs})


def make_match(payment: LedgerDocument, **kwargs: Any) -> Match:
    return Match.objects.create(payment=payment, **{"band": MatchBand.MANUAL, **kwargs})
