"""The canonical model: what every connector decodes into and encodes from. Money and
quantities are ``Decimal``; datetimes are timezone-aware UTC; dates are plain dates.

``remote_id`` is the id in the system the record came from (empty before creation);
``updated_at`` is that system's last-change time, used for cursors and conflict checks."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class LineAmountType(str, enum.Enum):
    """Whether line amounts include tax (Xero LineAmountTypes, api-notes/xero.md §6.2)."""

    EXCLUSIVE = "Exclusive"
    INCLUSIVE = "Inclusive"
    NO_TAX = "NoTax"


@dataclass
class Address:
    kind: str = ""  # STREET, POBOX, ...
    lines: list[str] = field(default_factory=list)
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    attention_to: str = ""


@dataclass
class Phone:
    kind: str = ""  # DEFAULT, MOBILE, FAX, DDI
    number: str = ""
    area_code: str = ""
    country_code: str = ""


@dataclass
class Contact:
    name: str
    remote_id: str = ""
    number: str = ""  # our reference on the remote (Xero ContactNumber)
    account_number: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    tax_number: str = ""
    status: str = ""
    is_customer: bool | None = None  # read-only in Xero: derived from activity
    is_supplier: bool | None = None
    default_currency: str = ""
    addresses: list[Address] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    updated_at: datetime | None = None


@dataclass
class ContactRef:
    """A contact as a document points at it: by id, by our number, or by name."""

    remote_id: str = ""
    number: str = ""
    name: str = ""


@dataclass
class ItemPriceDetails:
    unit_price: Decimal | None = None
    account_code: str = ""
    tax_type: str = ""
    cogs_account_code: str = ""


@dataclass
class Item:
    code: str
    remote_id: str = ""
    name: str = ""
    description: str = ""
    purchase_description: str = ""
    is_sold: bool | None = None
    is_purchased: bool | None = None
    sales: ItemPriceDetails | None = None
    purchase: ItemPriceDetails | None = None
    inventory_asset_account_code: str = ""
    is_tracked: bool | None = None
    quantity_on_hand: Decimal | None = None
    total_cost_pool: Decimal | None = None
    updated_at: datetime | None = None


@dataclass
class TrackingRef:
    """A line's tracking element: by ids, or by category and option names."""

    category: str = ""
    option: str = ""
    category_id: str = ""
    option_id: str = ""


@dataclass
class Line:
    """A document line (invoice, credit note, bank transaction)."""

    description: str = ""
    quantity: Decimal | None = None
    unit_amount: Decimal | None = None
    item_code: str = ""
    account_code: str = ""
    tax_type: str = ""
    tax_amount: Decimal | None = None
    line_amount: Decimal | None = None
    discount_rate: Decimal | None = None
    tracking: list[TrackingRef] = field(default_factory=list)
    remote_id: str = ""  # Xero LineItemID: echo it on update, or the line is re-created


@dataclass(kw_only=True)
class Document:
    """What invoices, credit notes and bank transactions share: typed, dated, lines with
    amounts that do or do not include tax, in a currency, totalled by the remote."""

    type: str
    lines: list[Line] = field(default_factory=list)
    remote_id: str = ""
    reference: str = ""
    date: date | None = None
    status: str = ""
    line_amount_types: LineAmountType | None = None
    currency_code: str = ""
    currency_rate: Decimal | None = None
    sub_total: Decimal | None = None  # the totals are computed by the remote: read-only
    total_tax: Decimal | None = None
    total: Decimal | None = None
    url: str = ""
    updated_at: datetime | None = None


@dataclass(kw_only=True)
class Invoice(Document):
    """A sales invoice (``type`` ACCREC) or a bill (ACCPAY)."""

    contact: ContactRef
    number: str = ""
    due_date: date | None = None
    amount_due: Decimal | None = None
    amount_paid: Decimal | None = None
    amount_credited: Decimal | None = None


@dataclass(kw_only=True)
class CreditNote(Document):
    """ACCRECCREDIT (to a customer) or ACCPAYCREDIT (from a supplier)."""

    contact: ContactRef
    number: str = ""
    remaining_credit: Decimal | None = None


@dataclass
class Payment:
    """A payment against one invoice (or credit note) into one bank account."""

    amount: Decimal
    date: date
    remote_id: str = ""
    invoice_id: str = ""
    invoice_number: str = ""
    credit_note_id: str = ""
    account_id: str = ""
    account_code: str = ""
    reference: str = ""
    currency_rate: Decimal | None = None
    bank_amount: Decimal | None = None
    status: str = ""
    payment_type: str = ""
    is_reconciled: bool | None = None
    updated_at: datetime | None = None


@dataclass
class JournalLine:
    """Debits positive, credits negative (api-notes/xero.md §6.8)."""

    account_code: str
    amount: Decimal
    description: str = ""
    tax_type: str = ""
    tax_amount: Decimal | None = None
    tracking: list[TrackingRef] = field(default_factory=list)


@dataclass
class ManualJournal:
    narration: str
    lines: list[JournalLine] = field(default_factory=list)
    remote_id: str = ""
    date: date | None = None
    status: str = ""
    line_amount_types: LineAmountType | None = None
    show_on_cash_basis_reports: bool | None = None
    url: str = ""
    updated_at: datetime | None = None


@dataclass(kw_only=True)
class BankTransaction(Document):
    """Money spent (SPEND) or received (RECEIVE) through a bank account."""

    contact: ContactRef | None = None
    bank_account_id: str = ""
    bank_account_code: str = ""
    is_reconciled: bool | None = None


@dataclass
class Account:
    code: str
    name: str
    type: str
    remote_id: str = ""
    status: str = ""
    tax_type: str = ""
    system_account: str = ""
    enable_payments: bool = False
    currency_code: str = ""
    updated_at: datetime | None = None


@dataclass
class TaxRate:
    tax_type: str  # the code used on lines, e.g. OUTPUT2, TAX001
    name: str
    status: str = ""
    effective_rate: Decimal | None = None


@dataclass
class TrackingOption:
    name: str
    remote_id: str = ""
    status: str = ""
    category_id: str = ""  # its tracking category's id: options are written under it


@dataclass
class TrackingCategory:
    name: str
    remote_id: str = ""
    status: str = ""
    options: list[TrackingOption] = field(default_factory=list)


# --- ERP records (TIMS REST contract, connectors/tims/openapi.yaml) ----------------------------
#
# What an ERP holds beyond the accounting documents above: parties with terms and balances,
# orders, receivable invoices and receipts, stock movements, the general ledger and its
# analytical dimensions. Every one carries the record metadata of ``RemoteRecord``; codes and
# numbers are the ERP's own (customer code, SKU, order number), ids are opaque.


@dataclass
class Actor:
    """Who made a change: ``kind`` user, api_client or system. A change whose actor is our own
    API client is our own write coming back (echo suppression)."""

    kind: str
    id: str = ""
    name: str = ""


@dataclass(kw_only=True)
class RemoteRecord:
    """Metadata every ERP record has. ``version`` starts at 1 and grows by one per change;
    ``(remote_id, version)`` identifies one state of a record, which is how a re-read of the
    same change (an inclusive cursor, a lookback) is recognised. ``external_refs`` holds the
    other systems' ids for this record, keyed by system (``{"xero": "<ContactID>"}``)."""

    remote_id: str = ""
    version: int | None = None
    external_refs: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_modified_by: Actor | None = None

    @property
    def state_key(self) -> tuple[str, int | None]:
        return (self.remote_id, self.version)


@dataclass
class PaymentTerms:
    kind: str  # net, end_of_month, due_on_receipt
    days: int = 0


@dataclass
class ContactPerson:
    name: str
    email: str = ""
    phone: str = ""
    role: str = ""
    is_primary: bool = False


@dataclass
class Customer(RemoteRecord):
    name: str
    currency: str = ""
    code: str = ""  # the ERP's account number; immutable once set
    legal_name: str = ""
    status: str = ""  # active, inactive, on_hold
    email: str = ""
    phone: str = ""
    tax_number: str = ""
    tax_exempt: bool | None = None
    default_tax_code: str = ""
    payment_terms: PaymentTerms | None = None
    credit_limit: Decimal | None = None
    balance: Decimal | None = None  # open receivable balance, read-only
    billing_address: Address | None = None
    shipping_address: Address | None = None
    contacts: list[ContactPerson] = field(default_factory=list)


@dataclass
class Vendor(RemoteRecord):
    name: str
    currency: str = ""
    code: str = ""
    legal_name: str = ""
    status: str = ""
    email: str = ""
    phone: str = ""
    tax_number: str = ""
    default_tax_code: str = ""
    default_expense_account_code: str = ""
    payment_terms: PaymentTerms | None = None
    balance: Decimal | None = None  # open payable balance, read-only
    remit_to_address: Address | None = None
    contacts: list[ContactPerson] = field(default_factory=list)


@dataclass
class Product(RemoteRecord):
    sku: str  # immutable once created
    name: str = ""
    unit: str = ""
    currency: str = ""
    description: str = ""
    category: str = ""
    status: str = ""
    sale_price: Decimal | None = None  # per unit, up to 6 decimals
    purchase_price: Decimal | None = None
    tax_code: str = ""
    purchase_tax_code: str = ""
    tracked: bool | None = None
    is_sold: bool | None = None
    is_purchased: bool | None = None
    sales_account_code: str = ""
    purchase_account_code: str = ""
    cogs_account_code: str = ""
    inventory_account_code: str = ""
    barcode: str = ""


@dataclass
class DimensionTag:
    """One analytical dimension value on a line, by codes (a Xero tracking element)."""

    dimension_code: str
    value_code: str


@dataclass
class TaxTotal:
    tax_code: str
    tax_rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal


@dataclass
class SalesLine:
    """A sales order or receivable invoice line, in its document's currency.
    ``line_total`` is the authority; ``unit_price`` may carry up to 6 decimals."""

    line_number: int
    line_type: str  # item, freight, fee, comment
    description: str = ""
    quantity: Decimal = Decimal("0")
    unit_price: Decimal = Decimal("0")
    discount_amount: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")
    line_total: Decimal = Decimal("0")
    product_id: str = ""
    sku: str = ""
    unit: str = ""
    quantity_shipped: Decimal | None = None
    discount_percent: Decimal | None = None
    tax_code: str = ""
    tax_rate: Decimal | None = None
    account_code: str = ""
    dimensions: list[DimensionTag] = field(default_factory=list)


@dataclass
class PurchaseLine:
    """A purchase order or vendor bill line, in its document's currency."""

    line_number: int
    line_type: str
    description: str = ""
    quantity: Decimal = Decimal("0")
    unit_cost: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")
    line_total: Decimal = Decimal("0")
    product_id: str = ""
    sku: str = ""
    unit: str = ""
    quantity_received: Decimal | None = None
    quantity_billed: Decimal | None = None
    purchase_order_line_number: int | None = None
    tax_code: str = ""
    tax_rate: Decimal | None = None
    account_code: str = ""
    dimensions: list[DimensionTag] = field(default_factory=list)


@dataclass(kw_only=True)
class CommercialDocument(RemoteRecord):
    """Currency fields of every order, bill and invoice. ``exchange_rate`` is units of
    ``currency`` per one unit of ``base_currency`` ("1" for base-currency documents)."""

    currency: str = ""
    base_currency: str = ""
    exchange_rate: Decimal = Decimal("1")
    amounts_tax_inclusive: bool = False
    subtotal: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    total: Decimal = Decimal("0")
    tax_totals: list[TaxTotal] = field(default_factory=list)


@dataclass
class StatusChange:
    status: str
    at: datetime


@dataclass
class SalesOrder(CommercialDocument):
    number: str
    customer_id: str
    status: str  # open, allocated, shipped, completed, cancelled
    order_date: date
    lines: list[SalesLine] = field(default_factory=list)
    customer_code: str = ""
    customer_reference: str = ""  # the customer's PO number (Xero invoice Reference)
    due_date: date | None = None
    warehouse: str = ""
    billing_address: Address | None = None
    shipping_address: Address | None = None
    discount_total: Decimal = Decimal("0")
    shipped_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancellation_reason: str = ""
    invoice_ids: list[str] = field(default_factory=list)
    status_history: list[StatusChange] = field(default_factory=list)


@dataclass
class PurchaseOrder(CommercialDocument):
    number: str
    vendor_id: str
    status: str  # draft, open, partially_received, received, closed, cancelled
    order_date: date
    lines: list[PurchaseLine] = field(default_factory=list)
    vendor_code: str = ""
    expected_date: date | None = None
    warehouse: str = ""
    ship_to_address: Address | None = None
    bill_ids: list[str] = field(default_factory=list)


@dataclass
class VendorBill(CommercialDocument):
    """A supplier's invoice (Xero ACCPAY bill). ``number`` is the vendor's, not unique."""

    number: str
    vendor_id: str
    status: str  # open, partially_paid, paid, void
    bill_date: date
    due_date: date
    lines: list[PurchaseLine] = field(default_factory=list)
    vendor_code: str = ""
    purchase_order_id: str = ""
    memo: str = ""
    amount_paid: Decimal = Decimal("0")
    amount_due: Decimal = Decimal("0")
    voided_at: datetime | None = None


@dataclass
class ExternalSettlement:
    """A receivable balance marked paid outside the ERP's cash ledger."""

    amount: Decimal
    settled_on: date
    reason: str
    settled_at: datetime


@dataclass
class ReceivableInvoice(CommercialDocument):
    """An AR invoice (from a shipped or completed sales order): what payments apply to."""

    number: str  # unique per site: the Xero ACCREC InvoiceNumber
    customer_id: str
    status: str  # open, partially_paid, paid, void
    invoice_date: date
    due_date: date
    lines: list[SalesLine] = field(default_factory=list)
    customer_code: str = ""
    sales_order_id: str = ""
    order_number: str = ""
    customer_reference: str = ""
    billing_address: Address | None = None
    shipping_address: Address | None = None
    discount_total: Decimal = Decimal("0")
    amount_paid: Decimal = Decimal("0")
    amount_due: Decimal = Decimal("0")
    paid_at: datetime | None = None
    voided_at: datetime | None = None
    external_settlement: ExternalSettlement | None = None


@dataclass
class PaymentAllocation:
    """The part of a receipt applied to one receivable invoice, in the receipt's currency."""

    invoice_id: str
    amount: Decimal
    invoice_number: str = ""


@dataclass
class ReceivablePayment(RemoteRecord):
    """A customer receipt, allocated to receivable invoices. Immutable once posted: a
    correction is a void and a new receipt."""

    customer_id: str
    payment_date: date
    amount: Decimal
    currency: str
    method: str  # cash, check, card, bank_transfer, ach, direct_debit, other
    number: str = ""
    customer_code: str = ""
    status: str = ""  # posted, void
    base_currency: str = ""
    exchange_rate: Decimal | None = None
    reference: str = ""
    memo: str = ""
    deposit_account_code: str = ""
    allocations: list[PaymentAllocation] = field(default_factory=list)
    unallocated_amount: Decimal | None = None
    voided_at: datetime | None = None
    void_reason: str = ""


@dataclass
class InventoryAdjustment(RemoteRecord):
    """A stock count, write-off, damage, find or revaluation. ``total_cost`` is the signed
    change in inventory value; ``gl_entry_id`` is the journal it posted."""

    number: str
    sku: str
    product_id: str
    warehouse: str
    adjustment_date: date
    posted_at: datetime
    quantity_delta: Decimal
    unit: str
    unit_cost: Decimal
    total_cost: Decimal
    currency: str
    reason: str
    reason_note: str = ""
    offset_account_code: str = ""
    reverses_adjustment_id: str = ""
    gl_entry_id: str = ""


@dataclass
class WarehouseStock:
    warehouse: str
    on_hand: Decimal
    allocated: Decimal
    available: Decimal
    on_order: Decimal


@dataclass
class InventoryLevel:
    """Stock of one tracked SKU: a computed view keyed by SKU, with no id or version."""

    sku: str
    product_id: str
    unit: str
    on_hand: Decimal
    allocated: Decimal
    available: Decimal
    on_order: Decimal
    average_unit_cost: Decimal
    inventory_value: Decimal
    currency: str
    updated_at: datetime
    warehouses: list[WarehouseStock] = field(default_factory=list)


@dataclass
class GLEntryLine:
    """One side of a journal line, in the base currency: exactly one of debit and credit is
    non-zero. ``amount`` is the signed form (debits positive, credits negative, as a Xero
    ManualJournal line wants it)."""

    line_number: int
    account_code: str
    debit: Decimal
    credit: Decimal
    account_id: str = ""
    account_name: str = ""
    memo: str = ""
    tax_code: str = ""
    dimensions: list[DimensionTag] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return self.debit - self.credit


@dataclass
class SourceDocument:
    kind: str  # sales_order, receivable_invoice, payment, purchase_order, vendor_bill, inventory_adjustment
    id: str
    number: str = ""


@dataclass
class GLEntry(RemoteRecord):
    number: str
    entry_date: date
    period: str  # fiscal period YYYY-MM (13: an adjustment period)
    source: str  # sales, purchases, cash_receipts, cash_disbursements, inventory, payroll, manual, period_end
    currency: str
    status: str  # posted, reversed
    posted_at: datetime
    lines: list[GLEntryLine] = field(default_factory=list)
    total_debit: Decimal = Decimal("0")
    total_credit: Decimal = Decimal("0")
    memo: str = ""
    source_document: SourceDocument | None = None
    reverses_entry_id: str = ""
    reversed_by_entry_id: str = ""

    @property
    def is_balanced(self) -> bool:
        debits = sum((line.debit for line in self.lines), Decimal("0"))
        credits = sum((line.credit for line in self.lines), Decimal("0"))
        return debits == credits == self.total_debit == self.total_credit


@dataclass
class GLAccount(RemoteRecord):
    code: str
    name: str
    type: str  # asset, liability, equity, revenue, expense
    subtype: str  # bank, cash, receivable, payable, inventory, ...
    status: str = ""
    is_control_account: bool = False  # AR/AP control, retained earnings: no manual journals in Xero
    description: str = ""
    currency: str = ""  # a foreign-currency bank account; empty for the base currency


@dataclass
class TaxComponent:
    name: str
    rate: Decimal


@dataclass
class TaxCode(RemoteRecord):
    code: str
    name: str
    rate: Decimal
    status: str = ""
    applies_to: str = ""  # sales, purchases, both
    is_exempt: bool | None = None
    components: list[TaxComponent] = field(default_factory=list)


@dataclass
class Dimension(RemoteRecord):
    """An analytical dimension (a Xero tracking category)."""

    code: str
    name: str
    status: str = ""
    applies_to: list[str] = field(default_factory=list)
    value_count: int = 0


@dataclass
class DimensionValue(RemoteRecord):
    """One value of a dimension (a Xero tracking option)."""

    dimension_id: str
    dimension_code: str
    code: str
    name: str
    status: str = ""
    parent_value_id: str = ""
