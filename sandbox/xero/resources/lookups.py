"""What one request looks up again and again, read once per request.

A 50-invoice batch names the same account, tax rate, currency and contact on every line; asking
the database each time costs hundreds of queries a call. :class:`RequestLookups` lives on the
request's :class:`~sandbox.xero.resources.base.ApiContext` and nowhere else: nothing is kept
from one request to the next, so every call sees the tenant's data as it stands when it starts.

The answers are the ones the per-line queries gave:

- accounts (not DELETED) by code, case-insensitive, and by AccountID; tax rates (ACTIVE) by
  TaxType, case-insensitive; the lowest primary key wins, as ``.first()`` did;
- ``iexact`` is ASCII case folding on SQLite and ``UPPER()`` on PostgreSQL; they agree with
  Python's ``str.upper()`` only on ASCII, so a non-ASCII code (asked for, or stored) goes to the
  database as before;
- currencies by exact code; tracking categories (ACTIVE) and their ACTIVE options;
- contacts by ContactID and items by exact code, read for the whole batch in one query each
  (:meth:`prefetch_contacts`, :meth:`prefetch_items`) or one query per distinct value.

Requests that write accounts, tax rates, currencies, tracking categories or items do not read
them through here. Contacts and items rows can change during a batch (a contact becomes a
customer, stock moves), so the batch forgets them (:meth:`forget_rows`) whenever an element's
savepoint is rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sandbox.models import XeroAccount, XeroContact, XeroCurrency, XeroItem, XeroTaxRate, XeroTenant, XeroTrackingCategory


class _CaseInsensitive:
    """Rows by ``attr`` compared as ``iexact`` does, first by primary key; ``usable`` is False
    when some stored value is not ASCII (then the database must answer)."""

    def __init__(self, rows: Iterable[Any], attr: str) -> None:
        self.by_key: dict[str, Any] = {}
        self.usable = True
        for row in sorted(rows, key=lambda r: r.pk):
            value = getattr(row, attr)
            if not value.isascii():
                self.usable = False
            self.by_key.setdefault(value.upper(), row)

    def answers(self, value: str) -> bool:
        return self.usable and value.isascii()

    def get(self, value: str) -> Any:
        return self.by_key.get(value.upper())


class RequestLookups:
    def __init__(self, tenant: XeroTenant) -> None:
        self.tenant = tenant
        self._accounts: list[XeroAccount] | None = None
        self._accounts_by_code: _CaseInsensitive | None = None
        self._accounts_by_id: dict[uuid.UUID, XeroAccount] = {}
        self._tax_rates: _CaseInsensitive | None = None
        self._currencies: set[str] | None = None
        self._categories: list[XeroTrackingCategory] | None = None
        self._contacts: dict[uuid.UUID, XeroContact | None] = {}
        self._items: dict[str, XeroItem | None] = {}
        # Set for a PUT of invoices (see SalesInvoiceNumbers); None: ask the database.
        self.sales_invoice_numbers: SalesInvoiceNumbers | None = None

    # Accounts -----------------------------------------------------------------------------------

    def _live_accounts(self):
        return XeroAccount.objects.filter(tenant=self.tenant).exclude(status="DELETED")

    def _load_accounts(self) -> None:
        if self._accounts is None:
            self._accounts = list(self._live_accounts())
            self._accounts_by_code = _CaseInsensitive(self._accounts, "code")
            self._accounts_by_id = {a.account_id: a for a in self._accounts}

    def account_by_code(self, code: str) -> XeroAccount | None:
        self._load_accounts()
        assert self._accounts_by_code is not None
        if not self._accounts_by_code.answers(code):
            return self._live_accounts().filter(code__iexact=code).first()
        return self._accounts_by_code.get(code)

    def account_by_id(self, account_id: uuid.UUID) -> XeroAccount | None:
        self._load_accounts()
        return self._accounts_by_id.get(account_id)

    # Tax rates ----------------------------------------------------------------------------------

    def _active_tax_rates(self):
        return XeroTaxRate.objects.filter(tenant=self.tenant, status="ACTIVE")

    def tax_rate(self, tax_type: str) -> XeroTaxRate | None:
        if self._tax_rates is None:
            self._tax_rates = _CaseInsensitive(self._active_tax_rates(), "tax_type")
        if not self._tax_rates.answers(tax_type):
            return self._active_tax_rates().filter(tax_type__iexact=tax_type).first()
        return self._tax_rates.get(tax_type)

    # Currencies ---------------------------------------------------------------------------------

    def currency_enabled(self, code: str) -> bool:
        if self._currencies is None:
            self._currencies = set(XeroCurrency.objects.filter(tenant=self.tenant).values_list("code", flat=True))
        return code in self._currencies

    # Tracking -----------------------------------------------------------------------------------

    def active_categories(self) -> list[XeroTrackingCategory]:
        """The tenant's ACTIVE categories by primary key, each with its options prefetched."""
        if self._categories is None:
            self._categories = list(
                XeroTrackingCategory.objects.filter(tenant=self.tenant, status="ACTIVE")
                .prefetch_related("options")
                .order_by("pk")
            )
        return self._categories

    # Contacts and items (rows a batch may change: forgotten after a rolled-back element) ------

    def prefetch_contacts(self, contact_ids: Iterable[uuid.UUID]) -> None:
        wanted = {c for c in contact_ids if c is not None and c not in self._contacts}
        if not wanted:
            return
        found = {c.contact_id: c for c in XeroContact.objects.filter(tenant=self.tenant, contact_id__in=wanted)}
        for contact_id in wanted:
            self._contacts[contact_id] = found.get(contact_id)

    def contact_by_id(self, contact_id: uuid.UUID) -> XeroContact | None:
        if contact_id not in self._contacts:
            self.prefetch_contacts([contact_id])
        return self._contacts[contact_id]

    def prefetch_items(self, codes: Iterable[str]) -> None:
        wanted = {c for c in codes if c not in self._items}
        if not wanted:
            return
        found = {i.code: i for i in XeroItem.objects.filter(tenant=self.tenant, code__in=wanted)}
        for code in wanted:
            self._items[code] = found.get(code)

    def item_by_code(self, code: str) -> XeroItem | None:
        if code not in self._items:
            self.prefetch_items([code])
        return self._items[code]

    def tracked_item_codes(self, codes) -> set[str]:
        """Which of ``codes`` are items tracked as inventory: only they move stock."""
        return {code for code in codes if (item := self.item_by_code(code)) is not None and item.is_tracked_as_inventory}

    def forget_rows(self) -> None:
        self._contacts.clear()
        self._items.clear()
        self.sales_invoice_numbers = None


class SalesInvoiceNumbers:
    """Which sales invoice numbers are taken, for a batch that only creates invoices: read once
    for the numbers the batch names, then kept up to date with the invoices the batch creates.

    It answers "does a sales invoice that is not DELETED have this number (case-insensitive)?"
    only for ASCII numbers the batch named (``answers``); anything else goes to the database. A
    batch that creates a non-ASCII number, or whose element is rolled back, stops using it
    (``RequestLookups.forget_rows``)."""

    CHUNK = 500

    def __init__(self, tenant: XeroTenant, numbers: Iterable[str]) -> None:
        from django.db.models.functions import Upper

        from sandbox.models import XeroInvoice

        self.asked = {n.upper() for n in numbers if n and n.isascii()}
        self.taken_upper: set[str] = set()
        asked = sorted(self.asked)
        for start in range(0, len(asked), self.CHUNK):
            # UPPER() = UPPER() is PostgreSQL's iexact; on SQLite both UPPER() and LIKE fold ASCII only.
            self.taken_upper.update(
                XeroInvoice.objects.filter(tenant=tenant, type="ACCREC")
                .exclude(status="DELETED")
                .annotate(number_upper=Upper("invoice_number"))
                .filter(number_upper__in=asked[start : start + self.CHUNK])
                .values_list("number_upper", flat=True)
            )

    def answers(self, number: str) -> bool:
        return number.isascii() and number.upper() in self.asked

    def taken(self, number: str) -> bool:
        return number.upper() in self.taken_upper

    def created(self, number: str) -> bool:
        """Count a number the batch just used; False when it cannot be tracked here."""
        if not number.isascii():
            return False
        self.taken_upper.add(number.upper())
        return True
