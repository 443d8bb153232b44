"""The Accounting API's resources, by lower-cased collection name (Xero's paths are
case-insensitive)."""

from sandbox.xero.resources.bank_transactions import BankTransactions
from sandbox.xero.resources.base import Resource
from sandbox.xero.resources.contacts import Contacts
from sandbox.xero.resources.credit_notes import CreditNotes
from sandbox.xero.resources.invoices import Invoices
from sandbox.xero.resources.items import Items
from sandbox.xero.resources.journals import ManualJournals
from sandbox.xero.resources.payments import Payments
from sandbox.xero.resources.settings import Accounts, Currencies, Organisation, TaxRates
from sandbox.xero.resources.tracking import TrackingCategories

REGISTRY: dict[str, Resource] = {
    "contacts": Contacts(),
    "invoices": Invoices(),
    "creditnotes": CreditNotes(),
    "payments": Payments(),
    "items": Items(),
    "accounts": Accounts(),
    "trackingcategories": TrackingCategories(),
    "banktransactions": BankTransactions(),
    "manualjournals": ManualJournals(),
    "taxrates": TaxRates(),
    "currencies": Currencies(),
}
ORGANISATION = Organisation()
