"""The integrations domain: connections, flows, mappings, runs, links, exceptions, audit."""

from integrations.models.alerts import Alert, AlertKind, FlowAlertSettings
from integrations.models.api_calls import ApiCall
from integrations.models.audit import AppendOnlyError, AuditEvent, AuditSource
from integrations.models.connections import (
    AuthKind,
    Connection,
    ConnectionStatus,
    CredentialsUnreadable,
    Environment,
    System,
)
from integrations.models.exceptions import (
    CLOSED_EXCEPTION_STATUSES,
    OPEN_EXCEPTION_STATUSES,
    ErrorClass,
    ExceptionStage,
    ExceptionStatus,
    OpenException,
    ResolvedException,
    SyncException,
)
from integrations.models.flows import ConflictPolicy, Flow, FlowTrigger
from integrations.models.links import LinkState, RecordLink
from integrations.models.mappings import (
    Conversion,
    FieldMapping,
    MappingSet,
    MissingValue,
    Rule,
    RuleAction,
    ValueMap,
    ValueMapEntry,
)
from integrations.models.rate import RateBudgetState, RateGrant, RateLease
from integrations.models.runs import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger, SyncRun
from integrations.models.webhooks import WebhookDelivery, WebhookStatus

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "CLOSED_EXCEPTION_STATUSES",
    "OPEN_EXCEPTION_STATUSES",
    "Alert",
    "AlertKind",
    "ApiCall",
    "AppendOnlyError",
    "AuditEvent",
    "AuditSource",
    "AuthKind",
    "ConflictPolicy",
    "Connection",
    "ConnectionStatus",
    "Conversion",
    "CredentialsUnreadable",
    "Environment",
    "ErrorClass",
    "ExceptionStage",
    "ExceptionStatus",
    "FieldMapping",
    "Flow",
    "FlowAlertSettings",
    "FlowTrigger",
    "LinkState",
    "MappingSet",
    "MissingValue",
    "OpenException",
    "RateBudgetState",
    "RateGrant",
    "RateLease",
    "RecordLink",
    "ResolvedException",
    "Rule",
    "RuleAction",
    "RunStatus",
    "RunTrigger",
    "SyncException",
    "SyncRun",
    "System",
    "ValueMap",
    "ValueMapEntry",
    "WebhookDelivery",
    "WebhookStatus",
]
