"""One run of one flow: extract → transform → validate → load, a batch at a time.

Exactly once (DESIGN §4):
- a pending RecordLink is committed *before* the remote create, the remote id right after;
- creates carry an Idempotency-Key derived from the batch (a redelivered task sends the same
  key, so the remote replays its answer instead of creating twice) and our reference
  (InvoiceNumber, ContactNumber...) so that an unknown outcome is settled by looking the
  record up before anything is sent again;
- only one run per flow is active (database constraint), and the links of a batch are row
  locked while their fate is decided; the unique constraints refuse a second link;
- the cursor overlaps (lookback) and unchanged records (same payload hash) cost no call.

Each record that fails becomes one open exception with its stage and class; the batch goes on.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from itertools import islice
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection as db_connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from config.db import GrowthAnalyzer, bulk_insert, bulk_update_fields, select_rows
from connectors.base import (
    ConnectorError, ElementResult, ErrorClass, RawRecord, ReauthorizationRequired, Undecodable, UnknownOutcome,
)
from integrations.engine.matching import MASTER_DATA, Match, MasterDataIndex
from integrations.engine.processes import LaneProcesses, fork_server_warm, lane_processes_wanted
from integrations.engine.records import (
    TargetBuildError, build_target, payload_hash, record_data, record_id, record_ref, record_updated_at,
)
from integrations.engine.tracking import tracking_functions
from integrations.engine.validation import TargetCatalogue, validate
from integrations.mapping.engine import CompiledMapping, Outcome, Verdict, to_jsonable
from integrations.models import (
    ACTIVE_RUN_STATUSES, OPEN_EXCEPTION_STATUSES, AuditEvent, AuditSource, ConflictPolicy, ExceptionStage, Flow, LinkState, RecordLink, RunStatus, RunTrigger,
    SyncException, SyncRun,
)
from integrations.services.audit import audit_event_build, audit_event_record, current_correlation_id, operation
from integrations.services.connectors import connector_for
from integrations.services.exceptions import exception_auto_resolve, exception_record
from integrations.services.runs import run_counts_add, run_finish, run_heartbeat

logger = logging.getLogger(__name__)

class RunSuperseded(Exception):
    """The run was marked crashed (or cancelled) while it worked: another run owns its records."""


# Our write's link is committed a moment after the remote stamped its updated time.
ECHO_SKEW = timedelta(seconds=2)


@dataclass
class Item:
    """One source record on its way through a batch."""

    source: Any
    source_id: str
    source_ref: str
    data: dict[str, Any]
    outcome: Outcome | None = None
    target: Any = None
    hash: str = ""
    link: RecordLink | None = None
    done: bool = False
    # What the mapping made, when a person's edit (edit and retry) is sent instead of it.
    mapped_payload: dict[str, Any] | None = None
    # The payload as JSON data (Decimals as strings), made once for its hash and its audit event.
    payload_json: Any = None

    @classmethod
    def of(cls, record: Any) -> Item:
        return cls(source=record, source_id=record_id(record), source_ref=record_ref(record), data=record_data(record))


@dataclass(frozen=True)
class Failure:
    """Why a record stops before the load: what its exception says (``problems``, one by one,
    for a dry run to list)."""

    stage: str
    error_class: str
    code: str
    message: str
    problems: tuple[str, ...] = ()


class LoadAction:
    """What the load does with a record that reached it, decided from its link."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"  # same payload hash as last sent: no call
    SETTLE = "settle"  # a create may have landed: look the record up before creating it
    VOID = "void"
    NEVER_SENT = "never_sent"  # to void, but it never reached the target: skipped


def load_action(verdict: str, digest: str, link: RecordLink | None, *, born: bool = False) -> str:
    """``link`` is None for a record never seen (a dry run does not make the pending link);
    ``born``: the batch at hand just made the link, so its ``last_run`` is this run's claim, not
    a create a dead worker left in flight."""
    if verdict == Verdict.VOID:
        return LoadAction.VOID if link is not None and link.target_id else LoadAction.NEVER_SENT
    if link is None:
        return LoadAction.CREATE
    if link.state == LinkState.LINKED and link.payload_hash == digest:
        return LoadAction.UNCHANGED
    if link.target_id:
        return LoadAction.UPDATE
    if link.state == LinkState.UNKNOWN_OUTCOME:
        return LoadAction.SETTLE
    if link.state == LinkState.PENDING and link.last_run_id is not None and not born:
        return LoadAction.SETTLE  # a create was in flight when a worker died
    return LoadAction.CREATE


def never_sent_reason(reason: str) -> str:
    return f"{reason}; it was never sent"


def twin_problem(match: Match, taken: set[str]) -> str:
    """Why a record the target seems to have already cannot be linked to it (a person decides),
    or "" when it can: several candidates, or the one there is linked to another record."""
    if match.ambiguous:
        why = f"{len(match.candidates)} records in the target match its {match.by}"
    elif all(candidate in taken for candidate in match.candidates):
        why = f"the target record with the same {match.by} is already linked to another record"
    else:
        return ""
    return f"Possible duplicate: {why}. Link the right one by hand or change one of them."


@dataclass
class BatchReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    items: list[Item] = field(default_factory=list)


def _chunks(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _jsonable(value: Any) -> Any:
    return to_jsonable(value) if value is not None else None


LINKED_FIELDS = ["target_id", "state", "payload_hash", "last_run", "last_synced_at", "source_updated_at",
                 "target_updated_at", "updated_at"]


def _links_save(links: list[RecordLink]) -> None:
    """Write the linked fields of a batch's links: one statement on PostgreSQL."""
    bulk_update_fields(RecordLink, links, LINKED_FIELDS)


class PerBatch:
    """An attribute of a runner holding one batch's state: a thread working a batch has its own
    (records with an open exception, edited payloads, echoes, audit events not yet written)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, runner: Any, owner: type | None = None) -> Any:
        if runner is None:
            return self
        state = runner._batch_state
        if not hasattr(state, self.name):
            setattr(state, self.name, self.factory())
        return getattr(state, self.name)

    def __set__(self, runner: Any, value: Any) -> None:
        setattr(runner._batch_state, self.name, value)


class FlowRunner:
    """Runs one flow's records through the pipeline; used by runs, retries and dry runs."""

    # State of the batch at hand; batches may be worked in parallel threads (run_execute), each
    # with its own.
    _open_exceptions = PerBatch(lambda: None)
    _edits = PerBatch(dict)
    _audit = PerBatch(list)
    _echoes = PerBatch(dict)
    _born = PerBatch(set)  # primary keys of the links this batch made, claimed by the run at birth

    def __init__(self, flow: Flow, run: SyncRun | None = None) -> None:
        self._batch_state = threading.local()
        self.flow = flow
        self.run = run
        self.source = connector_for(flow.source_connection, run=run)
        self.target = connector_for(flow.target_connection, run=run)
        if flow.mapping_set_id is None:
            raise ValueError(f"Flow {flow.name} has no mapping set.")
        self.mapping = CompiledMapping.from_mapping_set(flow.mapping_set)
        self.catalogue = TargetCatalogue(self.target)
        self._lookups: dict[tuple[str, str], Any] = {}
        self._master_data: MasterDataIndex | None = None
        self._linked: dict[tuple[str, str], str] = {}
        # Records of the batch at hand with an open exception: only those need auto-resolving
        # on success (one query per batch instead of one per record). None: not known, ask.
        # A person's edited payload per record of the batch at hand (edit and retry).
        # The batch's audit events, appended in one statement when its results are committed.
        self.functions = {"lookup": self.lookup, "linked": self.linked, "origin": self.origin,
                          "target_lookup": self.target_lookup}
        self.functions.update(tracking_functions(self))

    def lookup(self, entity: str, remote_id: str) -> dict[str, Any] | None:
        """A record of the source system (a line's product, say), read once per run."""
        if not remote_id:
            return None
        key = (entity, str(remote_id))
        if key not in self._lookups:
            found = self.source.get_records(entity, [str(remote_id)])
            self._lookups[key] = record_data(found[0]) if found else None
        return self._lookups[key]

    def linked(self, source_type: str, source_id: str) -> str | None:
        """The target id linked to a source record by another flow (an order's customer →
        the Xero ContactID the customers flow created): cross-system contact resolution."""
        if not source_id:
            return None
        key = (source_type, str(source_id))
        if key in self._linked:  # a link's target never changes once linked: read once per run
            return self._linked[key]
        target_id = (RecordLink.objects.filter(
            source_connection=self.flow.source_connection, source_type=source_type, source_id=str(source_id),
            target_connection=self.flow.target_connection, state=LinkState.LINKED,
        ).values_list("target_id", flat=True).first())
        if target_id:
            self._linked[key] = target_id
        return target_id

    def origin(self, target_type: str, target_id: str, source_type: str) -> str | None:
        """The other way round: the record of this flow's *target* system that a record of the
        source came from (the Xero invoice → the TIMS sales order the orders flow made it from)."""
        if not target_id:
            return None
        key = (f"origin:{target_type}:{source_type}", str(target_id))
        if key in self._linked:  # a template may ask several times per record: one query per run
            return self._linked[key]
        source_id = (RecordLink.objects.filter(
            source_connection=self.flow.target_connection, source_type=source_type,
            target_connection=self.flow.source_connection, target_type=target_type, target_id=str(target_id),
            state=LinkState.LINKED,
        ).values_list("source_id", flat=True).first())
        if source_id:
            self._linked[key] = source_id
        return source_id

    def target_lookup(self, entity: str, field: str, value: Any) -> dict[str, Any] | None:
        """A record of the target system found by one of its list filters, read once per run
        (the TIMS AR invoice of a sales order, say)."""
        if value in (None, ""):
            return None
        key = (f"target:{entity}:{field}", str(value))
        if key not in self._lookups:
            found = next(iter(self.target.list_records(entity, filters={field: value})), None)
            self._lookups[key] = record_data(found) if found is not None else None
        return self._lookups[key]

    def _load_echoes(self, items: list[Item]) -> None:
        """Records of this batch that the reverse flow wrote into the source (one query)."""
        flow = self.flow
        self._echoes = {
            target_id: (stamped, synced) for target_id, stamped, synced in select_rows(
                RecordLink, ["target_id", "target_updated_at", "last_synced_at"],
                source_connection_id=flow.target_connection_id, target_connection_id=flow.source_connection_id,
                target_type=flow.source_entity, target_id=[i.source_id for i in items], state=LinkState.LINKED,
            )
        }

    def _is_echo(self, item: Item) -> bool:
        """A change we wrote never comes back as a new change: the record was written by the
        reverse flow and has not changed since. "Since" is judged by the remote's own clock (the
        updated time its answer to our write carried), else by ours with a little skew."""
        if item.source_id not in self._echoes:
            return False
        stamped, synced = self._echoes[item.source_id]
        updated_at = record_updated_at(item.source)
        if updated_at is None:
            return True
        if stamped is not None:
            return updated_at <= stamped
        return synced is None or updated_at <= synced + ECHO_SKEW

    def _auto_resolve(self, item: Item) -> None:
        if self._open_exceptions is None or item.source_id in self._open_exceptions:
            exception_auto_resolve(flow=self.flow, record_type=self.flow.source_entity, record_id=item.source_id,
                                   run=self.run)

    # --- Stages -------------------------------------------------------------------------------

    def _fail(self, item: Item, *, stage: str, error_class: str, code: str, message: str,
              remote_response: Any = None) -> None:
        exception_record(
            flow=self.flow, run=self.run, record_type=self.flow.source_entity, record_id=item.source_id,
            record_ref=item.source_ref, stage=stage, error_class=error_class, code=code, message=message,
            source_payload=_jsonable(item.data),
            # The mapping's own payload stays the exception's "transformed" one; a person's
            # edit that failed again stays as their edit, beside it.
            transformed_payload=_jsonable(item.mapped_payload if item.mapped_payload is not None
                                          else item.outcome.payload if item.outcome else None),
            remote_response=_jsonable(remote_response), record_link=item.link,
        )
        if self._open_exceptions is not None:
            self._open_exceptions.add(item.source_id)
        item.done = True

    def _succeed(self, item: Item, action: str, **data: Any) -> None:
        self._audit.append(audit_event_build(
            action=action, source=AuditSource.WORKER, object_system=self.flow.target_connection.system,
            object_type=self.flow.target_entity, object_id=item.link.target_id if item.link else "",
            object_ref=item.source_ref, flow=self.flow, run=self.run, record_link=item.link, data=data,
            after=(item.payload_json if item.payload_json is not None else _jsonable(item.outcome.payload))
            if item.outcome and action != "record.unchanged" else None,
        ))
        self._auto_resolve(item)
        item.done = True

    def map_record(self, item: Item) -> Failure | None:
        """The transform without side effects (runs and dry runs): sets the outcome; a review
        verdict is returned as the failure it becomes."""
        item.outcome = outcome = self.mapping.apply(item.data, self.functions)
        edited = self._edits.get(item.source_id)
        if edited is not None and outcome.verdict in (Verdict.SEND, Verdict.REVIEW):
            # Edit and retry: the person's payload replaces the mapping's; rules that skip or
            # void the record still decide first.
            item.mapped_payload = outcome.payload
            item.outcome = outcome = Outcome(Verdict.SEND, payload=dict(edited), reason="edited in the review queue")
        if outcome.verdict != Verdict.REVIEW:
            return None
        problem = outcome.problems[0] if outcome.problems else None
        return Failure(ExceptionStage.TRANSFORM, ErrorClass.MAPPING, problem.code if problem else "mapping.review",
                       "; ".join(p.message for p in outcome.problems) or outcome.reason,
                       tuple(p.message for p in outcome.problems) or (outcome.reason,))

    def check_target(self, item: Item) -> Failure | None:
        """The validation without side effects (runs and dry runs), for a record to send: sets
        the target record and the payload hash, or returns why the target would refuse it."""
        try:
            item.target = build_target(self.flow.target_connection.system, self.flow.target_entity, item.outcome.payload)
        except TargetBuildError as exc:
            return Failure(ExceptionStage.VALIDATE, ErrorClass.MAPPING, "mapping.target_shape", str(exc), (str(exc),))
        problems = validate(self.flow.target_entity, item.target, item.data, self.catalogue)
        if problems:
            return Failure(ExceptionStage.VALIDATE, ErrorClass.VALIDATION, problems[0].code,
                           " ".join(p.message for p in problems), tuple(p.message for p in problems))
        item.payload_json = to_jsonable(item.outcome.payload)
        item.hash = payload_hash(item.payload_json)
        return None

    def _flush_audit(self) -> None:
        """Append the batch's audit events (one statement); inside the caller's transaction
        when there is one, so links and their events commit together."""
        if self._audit:
            events, self._audit = self._audit, []
            bulk_insert(AuditEvent, events)

    def _fail_with(self, item: Item, failure: Failure) -> None:
        self._fail(item, stage=failure.stage, error_class=failure.error_class, code=failure.code, message=failure.message)

    def transform(self, item: Item, report: BatchReport) -> None:
        if self._is_echo(item):
            self._audit.append(audit_event_build(
                action="record.skipped", source=AuditSource.WORKER, object_system=self.flow.source_connection.system,
                object_type=self.flow.source_entity, object_id=item.source_id, object_ref=item.source_ref,
                flow=self.flow, run=self.run,
                data={"reason": f"written by Ledgerbridge from {self.flow.target_connection.get_system_display()}; not sent back"},
            ))
            item.done = True
            report.skipped += 1
            return
        failure = self.map_record(item)
        outcome = item.outcome
        if failure is not None:
            self._fail_with(item, failure)
            report.failed += 1
        elif outcome.verdict == Verdict.SKIP:
            self._audit.append(audit_event_build(
                action="record.skipped", source=AuditSource.WORKER, object_system=self.flow.source_connection.system,
                object_type=self.flow.source_entity, object_id=item.source_id, object_ref=item.source_ref,
                flow=self.flow, run=self.run, data={"reason": outcome.reason},
            ))
            self._auto_resolve(item)
            item.done = True
            report.skipped += 1

    def validate(self, item: Item, report: BatchReport) -> None:
        if item.outcome.verdict != Verdict.SEND:
            return
        failure = self.check_target(item)
        if failure is not None:
            self._fail_with(item, failure)
            report.failed += 1

    # --- Load ---------------------------------------------------------------------------------

    def _links(self, items: list[Item]) -> None:
        """Get or create the pending link of every item, committed before any remote call. A
        link made here for a record to send is born claimed by the run (``last_run``, as
        ``_claim`` would set it): it costs no second write. Not for master data, whose creates
        may yet become updates of a record the target has (``_match_master_data``)."""
        flow = self.flow
        self._born = set()
        claim = self.run if flow.target_entity not in MASTER_DATA else None
        with transaction.atomic():
            existing = {
                link.source_id: link
                for link in select_rows(
                    RecordLink, None, for_update=True,
                    source_connection_id=flow.source_connection_id, source_type=flow.source_entity,
                    target_connection_id=flow.target_connection_id, target_type=flow.target_entity,
                    source_id=[i.source_id for i in items],
                )
            }
            missing = [
                RecordLink(source_connection=flow.source_connection, source_type=flow.source_entity,
                           source_id=i.source_id, source_ref=i.source_ref[:200],
                           target_connection=flow.target_connection, target_type=flow.target_entity,
                           target_ref=i.source_ref[:200], state=LinkState.PENDING,
                           last_run=claim if i.outcome.verdict == Verdict.SEND else None)
                for i in items if i.source_id not in existing
            ]
            if missing:
                made = self._links_create(missing)
                if made is missing:  # inserted as built; a re-read after a conflict holds links made elsewhere
                    self._born = {link.pk for link in made if link.last_run_id is not None}
                existing.update({link.source_id: link for link in made})
        for item in items:
            item.link = existing[item.source_id]

    def _links_create(self, missing: list[RecordLink]) -> list[RecordLink]:
        """Insert new pending links; the insert gives their primary keys. A link made meanwhile
        by another path fails the insert (in its own savepoint): then the links that are missing
        are inserted skipping conflicts, and all of them re-read as they now stand."""
        try:
            with transaction.atomic():
                bulk_insert(RecordLink, missing)
            if all(link.pk for link in missing):
                return missing
        except IntegrityError:
            pass
        RecordLink.objects.bulk_create(missing, ignore_conflicts=True)
        flow = self.flow
        return list(RecordLink.objects.filter(
            source_connection=flow.source_connection, source_type=flow.source_entity,
            target_connection=flow.target_connection, target_type=flow.target_entity,
            source_id__in=[m.source_id for m in missing]))

    def _commit_failure(self, item: Item, result: ElementResult, *, created: bool, report: BatchReport) -> None:
        error_class = result.error_class or ErrorClass.VALIDATION
        self._fail(item, stage=ExceptionStage.LOAD, error_class=error_class,
                   code=f"{self.flow.target_connection.system}.{ErrorClass(error_class).value}",
                   message=" ".join(result.errors) or "The target refused the record.",
                   remote_response={"errors": list(result.errors), "warnings": list(result.warnings)})
        if created and error_class == ErrorClass.VALIDATION:
            # Refused outright: nothing was created, so the next attempt need not look first.
            RecordLink.objects.filter(pk=item.link.pk, target_id__isnull=True).update(
                state=LinkState.PENDING, last_run=None)
        report.failed += 1

    def _commit_results(self, answered: list[tuple[Item, ElementResult]], *, created: bool, report: BatchReport) -> None:
        """The target's answers for a batch: failures to the queue one by one; successes in one
        transaction (their links linked, with the remote id, and their audit events) right after
        the answer, so a crash after it never sends them again."""
        done = []
        for item, result in answered:
            if result.ok:
                done.append((item, result))
            else:
                self._commit_failure(item, result, created=created, report=report)
        if not done:
            return
        now = timezone.now()
        links = []
        for item, result in done:
            if created and self._master_data is not None and result.remote_id:
                self._master_data.add(item.target, result.remote_id)
            link = item.link
            link.target_id = result.remote_id or link.target_id
            link.state, link.payload_hash, link.last_run, link.last_synced_at = LinkState.LINKED, item.hash, self.run, now
            link.source_updated_at = record_updated_at(item.source)
            link.target_updated_at = getattr(result.record, "updated_at", None)
            link.updated_at = now
            links.append(link)
        with transaction.atomic():
            _links_save(links)
            for item, _ in done:
                self._succeed(item, "record.created" if created else "record.updated")
            self._flush_audit()
        if created:
            report.created += len(done)
        else:
            report.updated += len(done)

    def _commit_result(self, item: Item, result: ElementResult, *, created: bool, report: BatchReport) -> None:
        self._commit_results([(item, result)], created=created, report=report)

    def _key(self, kind: str, items: list[Item]) -> str:
        """The same batch of the same run gets the same key, so a resent request is replayed,
        not applied twice. Another run gets another key: Xero caches errors for a key too
        (api-notes/xero.md §5.5), and across runs safety comes from looking records up first."""
        digest = hashlib.sha256(f"{self.flow.pk}:{self.run.pk if self.run else 0}:{kind}:".encode())
        for item in items:
            digest.update(f"{item.link.pk}={item.hash};".encode())
        return digest.hexdigest()[:40]

    def _send(self, kind: str, items: list[Item], report: BatchReport) -> None:
        if not items:
            return
        batch = {item.source_id: item.target for item in items}
        entity = self.flow.target_entity
        write = self.target.create_records if kind == "create" else self.target.update_records
        try:
            results = write(entity, batch, idempotency_key=self._key(kind, items))
        except UnknownOutcome:
            if kind != "create":
                results = write(entity, batch, idempotency_key=self._key(kind, items))  # updates are idempotent
            else:
                RecordLink.objects.filter(pk__in=[i.link.pk for i in items]).update(state=LinkState.UNKNOWN_OUTCOME)
                results = self._settle_then_create(items)
        by_key = {result.source_ref: result for result in results}
        missing = ElementResult("", ok=False, errors=("The target did not answer for this record.",),
                                error_class=ErrorClass.ANOMALY)
        self._commit_results([(item, by_key.get(item.source_id) or missing) for item in items],
                             created=kind == "create", report=report)

    def _settle_then_create(self, items: list[Item]) -> list[ElementResult]:
        """The create may or may not have happened: link what the target has, create the rest."""
        batch = {item.source_id: item.target for item in items}
        settled = {r.source_ref: r for r in self.target.settle_records(self.flow.target_entity, batch)}
        results = [r for r in settled.values() if r.ok or r.error_class != ErrorClass.NOT_FOUND]
        retry = [item for item in items if (r := settled.get(item.source_id)) and not r.ok and r.error_class == ErrorClass.NOT_FOUND]
        if retry:
            results += self.target.create_records(self.flow.target_entity, {i.source_id: i.target for i in retry},
                                                  idempotency_key=self._key("create-again", retry))
        return results

    def load(self, items: list[Item], report: BatchReport) -> None:
        ready = [i for i in items if not i.done and i.outcome and i.outcome.verdict in (Verdict.SEND, Verdict.VOID)]
        if not ready:
            return
        self._links(ready)
        creates, updates, unsettled = [], [], []
        for item in ready:
            action = load_action(item.outcome.verdict, item.hash, item.link, born=item.link.pk in self._born)
            if action == LoadAction.NEVER_SENT:
                self._succeed(item, "record.skipped", reason=never_sent_reason(item.outcome.reason))
                report.skipped += 1
            elif action == LoadAction.VOID:
                self._void(item, report)
            elif action == LoadAction.UNCHANGED:
                self._succeed(item, "record.unchanged")
                report.unchanged += 1
            elif action == LoadAction.UPDATE:
                item.target.remote_id = item.link.target_id
                updates.append(item)
            elif action == LoadAction.SETTLE:
                unsettled.append(item)
            else:
                creates.append(item)
        if unsettled:
            batch = {i.source_id: i.target for i in unsettled}
            for result in self.target.settle_records(self.flow.target_entity, batch):
                item = next(i for i in unsettled if i.source_id == result.source_ref)
                if result.ok:
                    self._commit_result(item, result, created=True, report=report)
                elif result.error_class == ErrorClass.NOT_FOUND:
                    creates.append(item)
                else:
                    self._commit_result(item, result, created=True, report=report)
        if creates and self.flow.target_entity in MASTER_DATA:
            creates = self._match_master_data(creates, updates, report)
        if creates:
            creates = self._claim(creates)
        self._send("create", creates, report)
        if updates and self.flow.conflict_policy != ConflictPolicy.SOURCE_WINS:
            updates = self._resolve_conflicts(updates, report)
        self._send("update", updates, report)

    def master_data_index(self) -> MasterDataIndex:
        """The target's contacts or items, read once per run (one listing, paged)."""
        if self._master_data is None:
            self._master_data = MasterDataIndex(list(self.target.list_records(self.flow.target_entity)))
        return self._master_data

    def _match_master_data(self, creates: list[Item], updates: list[Item], report: BatchReport) -> list[Item]:
        """Link records the target already has instead of creating twins; return the rest."""
        index = self.master_data_index()
        taken = set(RecordLink.objects.filter(
            target_connection=self.flow.target_connection, target_type=self.flow.target_entity,
            source_connection=self.flow.source_connection, source_type=self.flow.source_entity,
            target_id__isnull=False).values_list("target_id", flat=True))
        remaining = []
        batch = MasterDataIndex([])  # the creates of this batch, which the target has not seen yet
        for item in creates:
            match = index.match(item.target)
            twin = batch.match(item.target) if match is None else None
            if twin is not None:
                match = Match(candidates=twin.candidates + (item.source_id,), by=twin.by)
            if match is None:
                batch.add(item.target, f"this batch: {item.source_ref}")
                remaining.append(item)
                continue
            problem = twin_problem(match, taken)
            if problem:
                self._fail(item, stage=ExceptionStage.LOAD, error_class=ErrorClass.DUPLICATE,
                           code="master_data.ambiguous", message=problem,
                           remote_response={"candidates": list(match.candidates), "matched_by": match.by})
                report.failed += 1
                continue
            with transaction.atomic():
                RecordLink.objects.filter(pk=item.link.pk).update(target_id=match.remote_id, state=LinkState.PENDING)
                item.link.target_id = match.remote_id
                audit_event_record(
                    action="record.linked", source=AuditSource.WORKER, object_system=self.flow.target_connection.system,
                    object_type=self.flow.target_entity, object_id=match.remote_id, object_ref=item.source_ref,
                    flow=self.flow, run=self.run, record_link=item.link, data={"matched_by": match.by},
                )
            taken.add(match.remote_id)
            item.target.remote_id = match.remote_id
            updates.append(item)  # brought in line with the source by an update
        return remaining

    def _claim(self, creates: list[Item]) -> list[Item]:
        """Mark the links as in flight (``last_run``) before sending, so that after a crash the
        next run looks them up instead of creating them blindly. The mark is conditional: a run
        the reaper gave up on (a worker stalled past the heartbeat limit, then woke) must not send
        what its resume run now owns. A run sends only the records it won, and only while it is
        still the flow's live run."""
        if self.run is None:
            return creates
        ids = [item.link.pk for item in creates if item.link.pk not in self._born]
        with transaction.atomic():
            if not select_rows(SyncRun, ["id"], for_update=True, id=self.run.pk, status=RunStatus.RUNNING):
                raise RunSuperseded(f"Run {self.run.pk} is no longer running; its records belong to another run.")
            if not ids:
                return creates  # all born claimed by this run (``_links``)
            others = SyncRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).exclude(pk=self.run.pk)
            RecordLink.objects.filter(pk__in=ids).filter(
                Q(last_run__isnull=True) | Q(last_run=self.run) | ~Q(last_run__in=others)
            ).update(last_run=self.run)
        won = self._born | set(RecordLink.objects.filter(pk__in=ids, last_run=self.run).values_list("pk", flat=True))
        return [item for item in creates if item.link.pk in won]

    def _resolve_conflicts(self, updates: list[Item], report: BatchReport) -> list[Item]:
        """Bidirectional flows: read the target's current records (one call per 40) and apply
        the flow's policy. Last writer wins: a record changed later in the target is left for the
        reverse flow to carry back. Field ownership: fields the target owns keep its values."""
        current = {str(r.remote_id): r for r in self.target.get_records(
            self.flow.target_entity, [item.link.target_id for item in updates])}
        kept = []
        for item in updates:
            remote = current.get(str(item.link.target_id))
            if remote is None:
                kept.append(item)  # gone from the target: the update says so in its result
                continue
            skipped = self.apply_conflict_policy(item, remote)
            if skipped:
                self._succeed(item, "record.skipped", reason=skipped)
                report.skipped += 1
                continue
            kept.append(item)
        return kept

    def apply_conflict_policy(self, item: Item, remote: Any) -> str:
        """One update against the target's current record, without side effects (runs and dry
        runs): why it is skipped, or "" once the fields the target owns carry its values."""
        if self.flow.conflict_policy == ConflictPolicy.LAST_WRITER_WINS:
            ours, theirs = record_updated_at(item.source), getattr(remote, "updated_at", None)
            if ours and theirs and theirs > ours:
                return "changed later in the target; the last writer wins and the reverse flow carries it back"
        for name, owner in (self.flow.field_ownership or {}).items():
            if owner == "target" and hasattr(item.target, name):
                setattr(item.target, name, getattr(remote, name))
        return ""

    def _void(self, item: Item, report: BatchReport) -> None:
        link = item.link
        try:
            void = getattr(self.target, f"void_{self.flow.target_entity}")
            void(link.target_id)
        except ConnectorError as exc:
            self._fail(item, stage=ExceptionStage.LOAD, error_class=exc.error_class, code=f"void.{exc.error_class.value}",
                       message=exc.message, remote_response=exc.response)
            report.failed += 1
            return
        self._succeed(item, "record.voided", reason=item.outcome.reason)
        report.updated += 1

    # --- A batch ------------------------------------------------------------------------------

    def process(self, records: list[Any]) -> BatchReport:
        report = BatchReport()
        for record in records:
            if isinstance(record, RawRecord):
                record = record.decoded()
            if isinstance(record, Undecodable):
                # The source's record could not be read: to the queue with its raw payload.
                exception_record(
                    flow=self.flow, run=self.run, record_type=self.flow.source_entity, record_id=record.remote_id,
                    record_ref=record.remote_id, stage=ExceptionStage.EXTRACT, error_class=ErrorClass.MAPPING,
                    code="extract.undecodable",
                    message=f"This {record.entity.replace('_', ' ')} could not be read from the source: {record.message}",
                    source_payload=_jsonable(record.raw),
                )
                report.failed += 1
                continue
            report.items.append(Item.of(record))
        self._load_echoes(report.items)
        open_exceptions = select_rows(
            SyncException, ["record_id", "edited_payload"], flow_id=self.flow.pk, record_type=self.flow.source_entity,
            status=OPEN_EXCEPTION_STATUSES, record_id=[item.source_id for item in report.items],
        )
        self._open_exceptions = {record_id for record_id, _ in open_exceptions}
        self._edits = {record_id: edited for record_id, edited in open_exceptions if isinstance(edited, dict)}
        for item in report.items:
            try:
                self.transform(item, report)
                if not item.done:
                    self.validate(item, report)
            except ReauthorizationRequired:
                raise
            except ConnectorError as exc:  # reading the target's catalogue failed
                self._fail(item, stage=ExceptionStage.VALIDATE, error_class=exc.error_class,
                           code=f"catalogue.{exc.error_class.value}", message=exc.message)
                report.failed += 1
        try:
            self.load(report.items, report)
        except ReauthorizationRequired:
            raise
        except ConnectorError as exc:
            # The whole batch call failed (after the client's own retries): each record not yet
            # settled gets its exception, to be retried on the flow's schedule.
            for item in report.items:
                if not item.done and item.outcome and item.outcome.verdict in (Verdict.SEND, Verdict.VOID):
                    self._fail(item, stage=ExceptionStage.LOAD, error_class=exc.error_class,
                               code=f"{self.flow.target_connection.system}.{exc.error_class.value}", message=exc.message,
                               remote_response=exc.response)
                    report.failed += 1
        finally:
            self._flush_audit()  # skips, unchanged records: their events commit with the batch
        return report


# Batches sent side by side per target system: Xero answers at most 5 calls in flight per
# organisation (api-notes/xero.md §2); TIMS 10 per client. One lane is left for other work.
LANES = {"xero": 4, "tims": 4}


def lanes_for(flow: Flow, run: SyncRun) -> int:
    """How many batches of this run may be in flight at once. Master data (contacts, items)
    goes one batch at a time: a twin in a later batch must see what an earlier one created.
    Inside a caller's transaction (a test's, a shell's) other threads could not see its rows."""
    if flow.target_entity in MASTER_DATA or run.trigger == RunTrigger.RETRY or db_connection.in_atomic_block:
        return 1
    return LANES.get(flow.target_connection.system, 1)


class BatchLanes:
    """Up to ``width`` batches worked at once in threads (reading, mapping and committing one
    while another waits for the target's answer); their results come back in the order the
    batches were read, so the cursor only moves past batches that are committed. A record
    never runs in two batches at once: a batch holding a record still in flight waits."""

    def __init__(self, runner: FlowRunner, width: int, *, processes: bool = False, backfill: bool = False) -> None:
        self.runner = runner
        self.width = width
        self.pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"flow-{runner.flow.pk}") if width > 1 else None
        # A run with more batches than lanes works the rest in lane processes (one interpreter
        # lock each); a short run never pays for starting them.
        self.processes_wanted = processes and self.pool is not None and runner.run is not None
        if self.processes_wanted and backfill:
            fork_server_warm()  # a run reading everything will hand its lanes batches
        self.processes: LaneProcesses | None = None
        self.submitted = 0
        self.pending: deque[tuple[list[Any], set[str], Future]] = deque()
        # Each lane thread's own database connection, kept from batch to batch (a connection
        # per batch cost a PostgreSQL backend start each time) and closed when the lanes end.
        self.connections: set[Any] = set()
        self._connections_lock = threading.Lock()

    def __enter__(self) -> BatchLanes:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.processes is not None:
            self.processes.shutdown()
        if self.pool is not None:
            # A batch already sending finishes (its results commit); none starts after an error.
            self.pool.shutdown(wait=True, cancel_futures=True)
            for connection in self.connections:  # their threads are idle now, for good
                connection.inc_thread_sharing()
                try:
                    connection.close()
                finally:
                    connection.dec_thread_sharing()

    def _work(self, chunk: list[Any]) -> BatchReport:
        connection = connections[DEFAULT_DB_ALIAS]  # this thread's own
        with self._connections_lock:
            self.connections.add(connection)
        try:
            return self.runner.process(chunk)
        finally:
            connection.close_if_unusable_or_obsolete()  # a broken one is not kept for the next batch

    def submit(self, chunk: list[Any]) -> list[tuple[list[Any], BatchReport]]:
        if self.pool is None:
            return [(chunk, self.runner.process(chunk))]
        ids = {record_id(record) for record in chunk if not isinstance(record, Undecodable)}
        finished = []
        while self.pending and (len(self.pending) >= self._depth() or any(ids & busy for _, busy, _ in self.pending)):
            finished.append(self._oldest())
        self.pending.append((chunk, ids, self._start(chunk)))
        return finished

    def _depth(self) -> int:
        """How many batches may be pending. A lane thread starts its batch at once, so threads
        get ``width``. Lane processes take one batch at a time each, so once every pending
        batch is theirs, each may have one more queued behind the one it works: a lane that
        finishes while an older batch is still out starts the next at once, instead of waiting
        idle for the run to read that older result (at most ``width`` batches in flight)."""
        if self.processes is not None and self.submitted >= 2 * self.width:
            # The thread batches (the first ``width``) are all read back by now.
            return max(self.width, 2 * self.processes.size)
        return self.width

    def _start(self, chunk: list[Any]) -> Future:
        self.submitted += 1
        if self.processes_wanted and self.submitted > self.width:
            if self.processes is None:
                self.processes = LaneProcesses(self.runner, self.width, current_correlation_id())
            return self.processes.submit(chunk)
        context = contextvars.copy_context()  # the run's correlation id, for the audit trail
        return self.pool.submit(context.run, self._work, chunk)

    def drain(self) -> list[tuple[list[Any], BatchReport]]:
        return [self._oldest() for _ in range(len(self.pending))]

    def _oldest(self) -> tuple[list[Any], BatchReport]:
        chunk, _, future = self.pending.popleft()
        return chunk, future.result()


def _batch_commit(run: SyncRun, chunk: list[Any], report: BatchReport, high_water: datetime | None,
                  links: GrowthAnalyzer) -> datetime | None:
    """Count a committed batch and move the cursor past it."""
    flow = run.flow
    run_counts_add(run, read=len(chunk), created=report.created, updated=report.updated,
                   unchanged=report.unchanged, skipped=report.skipped, failed=report.failed)
    links.rows_added(report.created)  # each create added its link
    stamps = [t for t in (record_updated_at(r) for r in chunk) if t]
    if stamps and run.trigger != RunTrigger.RETRY:
        newest = max(stamps).astimezone(dt_timezone.utc)
        high_water = max(high_water, newest) if high_water else newest
        flow.cursor = run.cursor_after = {**flow.cursor, "high_water": high_water.isoformat()}
        bulk_update_fields(Flow, [flow], ["cursor"])  # a statement made once, not compiled per batch
    return high_water


# A run's progress and heartbeat are written at most this often. A backfill commits batches
# many times a second (each batch's cursor is still committed with it), while a run is taken
# for dead only after minutes of silence (services.runs.STALE_AFTER).
PROGRESS_SECONDS = 1.0


class Heartbeat:
    """The run's heartbeat and progress counts, written after a batch unless one was written
    less than ``PROGRESS_SECONDS`` ago: the first batch's always. A run cancelled or reaped
    meanwhile stops at its next write, within about a second. The final counts are written
    when the run finishes, whatever the last heartbeat held."""

    def __init__(self, run: SyncRun, clock: Callable[[], float] = time.monotonic) -> None:
        self.run = run
        self.clock = clock
        self.due = 0.0

    def alive(self) -> bool:
        """``False`` when the run was cancelled or reaped: stop."""
        now = self.clock()
        if now < self.due:
            return True
        self.due = now + PROGRESS_SECONDS
        return run_heartbeat(run=self.run, **_progress(self.run))


def _progress(run: SyncRun) -> dict[str, Any]:
    return {"read_count": run.read_count, "created_count": run.created_count, "updated_count": run.updated_count,
            "unchanged_count": run.unchanged_count, "skipped_count": run.skipped_count,
            "failed_count": run.failed_count, "cursor_after": run.cursor_after}


def _cursor_since(flow: Flow, full: bool) -> datetime | None:
    if full or not flow.cursor.get("high_water"):
        return None
    high_water = datetime.fromisoformat(flow.cursor["high_water"])
    return high_water - timedelta(seconds=flow.cursor_lookback_seconds)


def run_execute(run: SyncRun) -> SyncRun:
    """Run a claimed (running) run to its end. Progress and the cursor are committed per batch."""
    flow = run.flow
    with operation(run.correlation_id):
        try:
            runner = FlowRunner(flow, run)
            high_water = datetime.fromisoformat(flow.cursor["high_water"]) if flow.cursor.get("high_water") else None
            if run.trigger == RunTrigger.RETRY:
                # Only the records whose retry is due, read afresh; the cursor stays where it is.
                from integrations.services.retries import exceptions_due

                records = runner.source.get_records(flow.source_entity, exceptions_due(flow))
                high_water, backfill = None, False
            else:
                since = _cursor_since(flow, run.full)
                # Undecoded where the source offers it: each batch is decoded where it is worked
                # (process), and lane processes receive raw JSON, much cheaper to pickle.
                undecoded = {"undecoded": True} if getattr(runner.source, "lists_undecoded", False) else {}
                records = runner.source.list_records(flow.source_entity, modified_since=since, **undecoded)
                backfill = since is None  # it reads everything
            links = GrowthAnalyzer(RecordLink)
            heartbeat = Heartbeat(run)
            with BatchLanes(runner, lanes_for(flow, run), processes=lane_processes_wanted(), backfill=backfill) as lanes:
                for chunk in _chunks(records, flow.batch_size):
                    for done, report in lanes.submit(chunk):
                        high_water = _batch_commit(run, done, report, high_water, links)
                        if not heartbeat.alive():
                            logger.info("Run %s was cancelled or reaped; stopping", run.pk)
                            return run
                for done, report in lanes.drain():
                    high_water = _batch_commit(run, done, report, high_water, links)
                    if not heartbeat.alive():
                        logger.info("Run %s was cancelled or reaped; stopping", run.pk)
                        return run
        except RunSuperseded as exc:
            logger.warning("%s Stopping without sending.", exc)
            return run
        except ReauthorizationRequired as exc:
            return run_finish(run=run, status=RunStatus.FAILED, error_message=f"Needs re-authorisation: {exc.message}")
        except ConnectorError as exc:
            return run_finish(run=run, status=RunStatus.FAILED, error_message=exc.message)
        except Exception as exc:
            # Not planned for (a bug, the database): the run ends failed with an alert, rather than
            # stay "running" until the reaper resumes it into the same error every few minutes.
            # Committed batches stay committed; the next run starts from the cursor. Re-raised so
            # the task is recorded as failed too.
            logger.exception("Run %s failed unexpectedly", run.pk)
            run_finish(run=run, status=RunStatus.FAILED, error_message=f"Unexpected error: {type(exc).__name__}: {exc}")
            raise
        status = RunStatus.PARTIAL if run.failed_count else RunStatus.SUCCEEDED
        return run_finish(run=run, status=status)
