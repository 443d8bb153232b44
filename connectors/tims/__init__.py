"""TIMS ERP connector: the REST contract Ledgerbridge expects a TIMS site to offer (openapi.yaml)."""

from connectors.base import registry
from connectors.tims.auth import TimsEndpoints, TimsOAuth
from connectors.tims.client import TimsClient
from connectors.tims.connector import TIMS_RATE_HEADERS, TIMS_RATE_LIMITS, connect, tims_oauth, tls_verify
from connectors.tims.errors import DuplicateRecord, PreconditionFailed

registry.register("tims", connect)

__all__ = [
    "TIMS_RATE_HEADERS",
    "TIMS_RATE_LIMITS",
    "DuplicateRecord",
    "PreconditionFailed",
    "TimsClient",
    "TimsEndpoints",
    "TimsOAuth",
    "connect",
    "tims_oauth",
    "tls_verify",
]
