"""A dry run: one source record, read live, through a flow's transform and validation, and
what the load would do with it (create, update, unchanged, skip, void, review), writing nothing.

It goes through the very ``FlowRunner`` a run uses (``map_record``, ``check_target``,
``load_action``), so the page shows what a run would do. The reads are real API calls, logged
as ApiCall rows like any other (the source record, the records the mapping looks up, the
target's accounts and tax rates); no RecordLink, SyncException, AuditEvent or remote write is
made. A refused grant still marks the connection for re-authorisation, as any call would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from itertools import islice
from typing import Any

from django.db import models

from connectors.base import ConnectorError, Undecodable
from connectors.http import json_dumps
from integrations.engine.matching import MASTER_DATA
from integrations.engine.pipeline import FlowRunner, Item, LoadAction, load_action, never_sent_reason, twin_problem
from integrations.engine.records import record_id, record_ref, record_updated_at
from integrations.mapping.engine import Verdict
from integrations.models import ConflictPolicy, CredentialsUnreadable, Flow, RecordLink
from integrations.services.audit import operation
from integrations.services.connectors import connector_for

RECENT_READ = 100  # within the first page of both connectors' lists (Xero 100, TIMS 500)
RECENT_SHOWN = 25


class DryRunAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    UNCHANGED = "unchanged", "Unchanged"
    SETTLE = "settle", "Look up, then create"
    SKIP = "skip", "Skip"
    VOID = "void", "Void"
    REVIEW = "review", "Review"
    INVALID = "invalid", "Validation failed"
    NOT_FOUND = "not_found", "Not found"
    ERROR = "error", "Could not finish"


@dataclass
class DryRunResult:
    flow: Flow
    source_id: str
    action: str
    summary: str  # what would happen, in one or two sentences
    problems: list[str] = field(default_factory=list)
    correlation_id: uuid.UUID | None = None  # shared by the API calls the dry run made
    source_ref: str = ""
    verdict: str = ""  # the mapping's: send, skip, void or review
    reason: str = ""  # the rule's, for a skip or a void
    source: Any = None
    payload: Any = None
    encoded: Any = None  # the request body the target connector would send
    encoded_note: str = ""
    link: RecordLink | None = None

    @property
    def action_label(self) -> str:
        return DryRunAction(self.action).label

    @property
    def source_json(self) -> str:
        return pretty_json(self.source)

    @property
    def payload_json(self) -> str:
        return pretty_json(self.payload)

    @property
    def encoded_json(self) -> str:
        return pretty_json(self.encoded)


def flow_dry_run(*, flow: Flow, source_id: str) -> DryRunResult:
    """Read ``source_id`` from the flow's source and say what a run would do with it."""
    source_id = source_id.strip()
    with operation() as correlation_id:
        result = DryRunResult(flow=flow, source_id=source_id, action=DryRunAction.ERROR, summary="",
                              correlation_id=correlation_id)
        try:
            runner = FlowRunner(flow)
            found = runner.source.get_records(flow.source_entity, [source_id]) if source_id else []
            if not found:
                result.action = DryRunAction.NOT_FOUND
                result.summary = (f"{flow.source_connection} has no {_words(flow.source_entity)} with the id "
                                  f"\u201c{source_id}\u201d. Check the id (the source system's own id, not the number "
                                  "people see), or pick one of the recent records.")
                return result
            _decide(runner, Item.of(found[0]), result)
        except ConnectorError as exc:
            result.action, result.summary = DryRunAction.ERROR, f"The dry run stopped: {exc.message}"
        # A flow without a mapping set or with an entity its connector lacks; secrets that no key reads.
        except (ValueError, CredentialsUnreadable) as exc:
            result.action, result.summary = DryRunAction.ERROR, f"The dry run stopped: {exc}"
        return result


def _decide(runner: FlowRunner, item: Item, result: DryRunResult) -> None:
    flow = runner.flow
    target = _words(flow.target_entity)
    result.source_id, result.source_ref, result.source = item.source_id, item.source_ref, item.data
    result.link = _link(flow, item.source_id)
    # As the batch does before its transform: our own write coming back is not sent back.
    runner._load_echoes([item])
    if runner._is_echo(item):
        result.action = DryRunAction.SKIP
        result.reason = (f"Ledgerbridge wrote it from {flow.target_connection.get_system_display()} (the reverse "
                         "flow) and it has not changed since")
        result.summary = "A run would skip it: our own change is not sent back."
        return
    failure = runner.map_record(item)
    outcome = item.outcome
    result.verdict, result.payload = outcome.verdict, outcome.payload
    if failure is not None:
        result.action, result.problems = DryRunAction.REVIEW, list(failure.problems)
        result.summary = "A run would not send it: it would wait in the review queue until a person sees to this:"
        return
    if outcome.verdict == Verdict.SKIP:
        result.action, result.reason = DryRunAction.SKIP, outcome.reason
        result.summary = "A run would skip it: nothing is sent."
        return
    if outcome.verdict == Verdict.SEND:
        failure = runner.check_target(item)
        if failure is not None:
            result.action, result.problems = DryRunAction.INVALID, list(failure.problems)
            result.summary = ("A run would not send it: the target would refuse it, so it would wait in the review "
                              "queue until a person sees to this:")
            return
    item.link = result.link
    action = load_action(outcome.verdict, item.hash, item.link)
    where = str(flow.target_connection)
    if action == LoadAction.NEVER_SENT:
        result.action, result.reason = DryRunAction.SKIP, never_sent_reason(outcome.reason)
        result.summary = f"A run would skip it: it would void the {target}, but none was ever sent, so nothing is sent."
    elif action == LoadAction.VOID:
        result.action, result.reason = DryRunAction.VOID, outcome.reason
        result.summary = f"A run would void the {target} {item.link.target_id} in {where}."
    elif action == LoadAction.UNCHANGED:
        result.action = DryRunAction.UNCHANGED
        result.summary = (f"Nothing would be sent: the {target} {item.link.target_id} in {where} already has this "
                          "payload (same hash as the last one sent).")
    elif action == LoadAction.UPDATE:
        item.target.remote_id = item.link.target_id  # as the load does
        result.action = DryRunAction.UPDATE
        result.summary = f"A run would update the {target} {item.link.target_id} in {where}."
    elif action == LoadAction.SETTLE:
        result.action = DryRunAction.SETTLE
        result.summary = (f"An earlier create may have reached {where}: a run would look the {target} up by its "
                          "reference first, and create it only if it is not there.")
    elif not (flow.target_entity in MASTER_DATA and _master_data_twin(runner, item, result)):
        result.action = DryRunAction.CREATE
        result.summary = f"A run would create a new {target} in {where}."
    if result.action == DryRunAction.UPDATE and flow.conflict_policy != ConflictPolicy.SOURCE_WINS:
        _apply_conflict_policy(runner, item, result)
    if item.target is not None and result.action not in (DryRunAction.REVIEW, DryRunAction.SKIP):
        _encode(runner, item, result, update=result.action == DryRunAction.UPDATE)


def _apply_conflict_policy(runner: FlowRunner, item: Item, result: DryRunResult) -> None:
    """As the load does for updates of a bidirectional flow: the target's current record decides
    (last writer wins), and the fields the target owns keep its values in the body shown."""
    found = runner.target.get_records(runner.flow.target_entity, [item.target.remote_id])
    skipped = runner.apply_conflict_policy(item, found[0]) if found else ""
    if skipped:
        result.action, result.reason = DryRunAction.SKIP, skipped
        result.summary = "A run would skip it: by the flow's conflict policy the target's later change stands."


def _master_data_twin(runner: FlowRunner, item: Item, result: DryRunResult) -> bool:
    """Before creating a contact or an item, a run looks for it in the target (by reference,
    then email, then name): one free match is linked and updated; several, or one linked to
    another record, wait for a person. False: no twin, it would be created."""
    flow, target = runner.flow, _words(runner.flow.target_entity)
    match = runner.master_data_index().match(item.target)
    if match is None:
        return False
    taken = set(RecordLink.objects.filter(
        target_connection=flow.target_connection, target_type=flow.target_entity, source_connection=flow.source_connection,
        source_type=flow.source_entity, target_id__in=match.candidates).values_list("target_id", flat=True))
    problem = twin_problem(match, taken)
    if problem:
        result.action, result.problems = DryRunAction.REVIEW, [problem]
        result.summary = "A run would not create it: it would wait in the review queue until a person sees to this:"
        return True
    item.target.remote_id = match.remote_id
    result.action = DryRunAction.UPDATE
    result.summary = (f"{flow.target_connection} already has this {target} ({match.remote_id}, same {match.by}): a run "
                      "would link to it and update it instead of creating a twin.")
    return True


def _encode(runner: FlowRunner, item: Item, result: DryRunResult, *, update: bool) -> None:
    encode = getattr(runner.target, "encode_record", None)
    if encode is None:
        result.encoded_note = f"The {runner.flow.target_connection.system} connector cannot show its request body."
        return
    try:
        result.encoded = encode(runner.flow.target_entity, item.target, update=update)
    except ValueError as exc:  # the target takes no such write
        result.encoded_note = str(exc)


def _link(flow: Flow, source_id: str) -> RecordLink | None:
    return (RecordLink.objects.filter(
        source_connection=flow.source_connection, source_type=flow.source_entity, source_id=source_id,
        target_connection=flow.target_connection, target_type=flow.target_entity,
    ).first())


def _words(name: str) -> str:
    return str(name).replace("_", " ")


# --- Recent source records, to pick from -----------------------------------------------------


@dataclass(frozen=True)
class SourceChoice:
    source_id: str
    ref: str
    status: str
    updated_at: datetime | None


@dataclass
class RecentRecords:
    choices: list[SourceChoice]
    error: str = ""


def flow_source_records_recent(*, flow: Flow, limit: int = RECENT_SHOWN) -> RecentRecords:
    """Records from the first page of the source's list (one call), latest change first."""
    with operation():
        try:
            records = list(islice(connector_for(flow.source_connection).list_records(flow.source_entity), RECENT_READ))
        except (ConnectorError, ValueError, CredentialsUnreadable) as exc:
            return RecentRecords([], f"The recent records could not be read: {getattr(exc, 'message', exc)}")
    choices = [
        SourceChoice(record_id(r), record_ref(r), _status(r), record_updated_at(r)) for r in records if record_id(r)
    ]
    choices.sort(key=lambda c: c.updated_at.timestamp() if c.updated_at else 0.0, reverse=True)
    return RecentRecords(choices[:limit])


def _status(record: Any) -> str:
    if isinstance(record, Undecodable):
        return f"cannot be read: {record.message}"
    return str(getattr(record, "status", "") or "")


# --- Display ---------------------------------------------------------------------------------


def pretty_json(value: Any, depth: int = 0) -> str:
    """Indented JSON with money as exact numbers (``json_dumps`` writes a Decimal digit for
    digit; the standard encoder would go through float). Dates as ISO strings."""
    pad = "  " * (depth + 1)
    if isinstance(value, Mapping) and value:
        inner = ",\n".join(f"{pad}{json.dumps(str(k))}: {pretty_json(v, depth + 1)}" for k, v in value.items())
        return "{\n" + inner + "\n" + "  " * depth + "}"
    if isinstance(value, (list, tuple)) and value:
        return "[\n" + ",\n".join(pad + pretty_json(v, depth + 1) for v in value) + "\n" + "  " * depth + "]"
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (date, datetime)):
        return json.dumps(value.isoformat())
    if isinstance(value, float) or isinstance(value, Decimal) and not value.is_finite():
        return json.dumps(str(value))
    if value is None or isinstance(value, (bool, str, int, Decimal)):
        return json_dumps(value)
    return json.dumps(str(value))
