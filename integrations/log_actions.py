"""The registry of audit actions, each with a human description (after Wagtail's log actions).

An action is registered once with a description template over the event's fields and its
``data``; the audit trail shows that description, not the machine name. Recording an event
with an unregistered action is an error, so the trail never holds a name nobody can read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.models import AuditEvent

Formatter = Callable[["AuditEvent"], str]


@dataclass(frozen=True)
class LogAction:
    name: str
    label: str
    template: str | Formatter

    def describe(self, event: AuditEvent) -> str:
        if callable(self.template):
            return self.template(event)
        values: dict[str, Any] = {
            "object_type": event.object_type,
            "object_ref": event.object_ref or event.object_id,
            "actor": event.actor_label or "the system",
            **(event.data or {}),
        }
        try:
            return self.template.format(**values)
        except (KeyError, IndexError, ValueError):
            return self.label


class UnknownLogAction(LookupError):
    pass


class LogActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, LogAction] = {}

    def register(self, name: str, label: str, template: str | Formatter | None = None) -> LogAction:
        if name in self._actions:
            raise ValueError(f"Audit action {name!r} is already registered.")
        action = LogAction(name=name, label=label, template=template or label)
        self._actions[name] = action
        return action

    def get(self, name: str) -> LogAction:
        try:
            return self._actions[name]
        except KeyError:
            raise UnknownLogAction(f"Audit action {name!r} is not registered.") from None

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def choices(self) -> list[tuple[str, str]]:
        return sorted(((a.name, a.label) for a in self._actions.values()), key=lambda c: c[1])

    def describe(self, event: AuditEvent) -> str:
        action = self._actions.get(event.action)
        return action.describe(event) if action else event.action


log_actions = LogActionRegistry()
register = log_actions.register

# Records moved by the engine.
register("record.created", "Record created", "Created {object_type} {object_ref} in the target system")
register("record.updated", "Record updated", "Updated {object_type} {object_ref} in the target system")
register("record.unchanged", "Record unchanged", "{object_type} {object_ref} was unchanged; nothing sent")
register("record.skipped", "Record skipped", "Skipped {object_type} {object_ref}: {reason}")
register("record.voided", "Record voided", "Voided {object_type} {object_ref} in the target system")
register("record.deleted", "Record deleted", "Deleted {object_type} {object_ref} in the target system")
register("record.linked", "Record linked", "Linked {object_type} {object_ref} to an existing target record")
register("record.failed", "Record failed", "{object_type} {object_ref} failed: {message}")

# Runs.
register("run.started", "Run started", "Run of {flow} started ({trigger})")
register("run.finished", "Run finished", "Run of {flow} finished: {status}")
register("run.crashed", "Run crashed", "Run of {flow} stopped sending heartbeats and was marked crashed")

# The review queue.
register("exception.opened", "Exception opened", "{object_type} {object_ref} went to the review queue: {message}")
register("exception.retried", "Exception retried", "{actor} retried {object_type} {object_ref}")
register("exception.edited", "Exception payload edited", "{actor} edited the payload of {object_type} {object_ref}")
register("exception.resolved", "Exception resolved", "{actor} resolved {object_type} {object_ref}")
register("exception.auto_resolved", "Exception auto-resolved", "{object_type} {object_ref} synced; its exception closed")
register("exception.ignored", "Exception ignored", "{actor} ignored {object_type} {object_ref}")
register("exception.assigned", "Exception assigned", "{actor} assigned {object_type} {object_ref} to {assignee}")

# Connections.
register("connection.connected", "Connection authorised", "{actor} connected {object_ref}")
register("connection.token_refreshed", "Token refreshed", "Access token of {object_ref} refreshed")
register("connection.needs_reauth", "Re-authorisation needed", "{object_ref} needs re-authorisation: {reason}")
register("connection.disconnected", "Connection disconnected", "{actor} disconnected {object_ref}")
register("connection.credentials_changed", "Credentials changed", "{actor} changed the credentials of {object_ref}")
register("connection.webhooks_subscribed", "Webhooks subscribed",
         "{actor} subscribed {object_ref} to {events} at {url}")
register("connection.webhooks_unsubscribed", "Webhooks unsubscribed", "{actor} ended the webhook subscription of {object_ref}")
register("connection.credentials_rotated", "Credentials re-encrypted", "Credentials of {object_ref} re-encrypted with the newest key")

# Flows.
register("flow.run_requested", "Run requested", "{actor} asked for a run of {object_ref}")
register("flow.paused", "Flow paused", "{actor} paused {object_ref}: {reason}")
register("flow.resumed", "Flow resumed", "{actor} resumed {object_ref}")

# Reconciliation.
register("match.suggested", "Match suggested", "Suggested matching {object_ref} (score {score})")
register("match.auto_confirmed", "Match confirmed automatically", "Matched {object_ref} automatically (score {score})")
register("match.confirmed", "Match confirmed", "{actor} confirmed the match of {object_ref}")
register("match.rejected", "Match rejected", "{actor} rejected the match of {object_ref}")
register("match.undone", "Match undone", "{actor} undid the match of {object_ref}")
register("match.posted", "Match posted", "The match of {object_ref} was posted to {system}")
register("match.split", "Payment split", "{actor} split {object_ref} across {count} documents")
register("match.post_failed", "Match posting failed", "Posting the match of {object_ref} to {system} failed: {message}")
register("match.reversed", "Match posting reversed", "The posting of {object_ref} to {system} was reversed")
register("documents.pulled", "Ledger documents pulled", "Pulled documents from {object_ref}: {created} new, {updated} updated")
