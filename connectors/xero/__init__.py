"""The Xero Accounting API connector (api-notes/xero.md)."""

from connectors.base import registry
from connectors.xero.auth import XeroAuthenticator, XeroEndpoints, XeroOAuth, XeroTenant
from connectors.xero.client import XeroClient
from connectors.xero.connector import XERO_RATE_HEADERS, XERO_RATE_LIMITS, connect, xero_oauth

registry.register("xero", connect)

__all__ = [
    "XERO_RATE_HEADERS",
    "XERO_RATE_LIMITS",
    "XeroAuthenticator",
    "XeroClient",
    "XeroEndpoints",
    "XeroOAuth",
    "XeroTenant",
    "connect",
    "xero_oauth",
]
