"""The TIMS emulator's state: sites, OAuth clients and tokens, and each site's records.

Every business record shares :class:`TimsRecord` (opaque id, ``created_at``, ``updated_at``,
``version``, ``last_modified_by``, ``external_refs``), as the contract's ``RecordMeta`` does.
Money is Decimal (4 places, enough for every currency's minor units); unit prices carry 6
and quantities 4. Fields the emulator only stores and echoes (addresses, contacts, payment
terms, ...) live in ``extra``.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

MONEY = {"max_digits": 19, "decimal_places": 4}
UNIT_PRICE = {"max_digits": 21, "decimal_places": 6}
QUANTITY = {"max_digits": 16, "decimal_places": 4}
RATE = {"max_digits": 20, "decimal_places": 10}
PERCENT = {"max_digits": 8, "decimal_places": 4}

ALL_SCOPES = (
    "customers:read customers:write vendors:read vendors:write products:read products:write "
    "salesorders:read purchaseorders:read bills:read invoices:read invoices:write payments:read "
    "payments:write inventory:read gl:read dimensions:read external_refs:write webhooks:manage"
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_record_id(prefix: str) -> str:
    """``<prefix>_<ULID>``: 48 bits of milliseconds, then 80 random bits, in Crockford base32."""
    value = (int(timezone.now().timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def new_client_id() -> str:
    return "tims_client_" + secrets.token_hex(8)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


class TimsSite(models.Model):
    """One TIMS site, served at ``/sandbox/tims/<code>/`` (the connection's base URL)."""

    code = models.SlugField(max_length=50, unique=True, help_text="Path segment of the base URL.")
    name = models.CharField(max_length=255)
    base_currency = models.CharField(max_length=3, default="GBP")
    time_zone = models.CharField(max_length=60, default="Europe/London")
    exchange_rates = models.JSONField(
        default=dict, blank=True, help_text='Units of a currency per one base unit, e.g. {"EUR": "1.1540"}.'
    )
    closed_through = models.DateField(null=True, blank=True, help_text="Periods up to this date are closed.")
    allow_http_webhook_urls = models.BooleanField(
        default=False, help_text="The contract wants https; the local demo receives on plain http."
    )
    anonymous_minute_limit = models.PositiveIntegerField(
        default=120, help_text="Budget of calls that present no valid client (per 60-second window)."
    )
    counters = models.JSONField(default=dict, blank=True, help_text="Next document numbers.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "TIMS site"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class TimsApiClient(models.Model):
    """An OAuth 2.0 client (client credentials) of one site, with its scopes and limits."""

    site = models.ForeignKey(TimsSite, on_delete=models.CASCADE, related_name="clients")
    name = models.CharField(max_length=100)
    client_id = models.CharField(max_length=64, unique=True, default=new_client_id)
    client_secret = models.CharField(max_length=128, default=new_client_secret)
    scopes = models.TextField(default=ALL_SCOPES, help_text="Scopes this client may be granted (space-separated).")
    is_active = models.BooleanField(default=True, help_text="Inactive = credentials revoked.")
    token_seconds = models.PositiveIntegerField(default=3600, help_text="Access token lifetime (at least 60).")
    minute_limit = models.PositiveIntegerField(default=120, help_text="Requests per fixed window (at least 1).")
    window_seconds = models.PositiveIntegerField(default=60)
    concurrent_limit = models.PositiveIntegerField(
        null=True, blank=True, default=10, help_text="Requests in flight; empty = unlimited."
    )
    idempotency_ttl_seconds = models.PositiveIntegerField(default=86400, help_text="Keys are kept 24 hours.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "TIMS API client"

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())


class TimsAccessToken(models.Model):
    token = models.CharField(max_length=100, unique=True)
    client = models.ForeignKey(TimsApiClient, on_delete=models.CASCADE, related_name="tokens")
    scopes = models.TextField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()


class TimsRecord(models.Model):
    """The contract's RecordMeta. ``updated_at`` and ``version`` move together on every change
    except external-refs-only writes."""

    ID_PREFIX = "rec"

    id = models.CharField(primary_key=True, max_length=64)
    site = models.ForeignKey(TimsSite, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)
    last_modified_by = models.JSONField(default=dict, blank=True)
    external_refs = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self.id:
            self.id = new_record_id(self.ID_PREFIX)
        super().save(*args, **kwargs)


def _paging_index(name: str) -> list[models.Index]:
    return [models.Index(fields=["site", "updated_at", "id"], name=f"sandbox_tims_{name}_page")]


class PartyStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ON_HOLD = "on_hold"


class ActiveStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TimsCustomer(TimsRecord):
    ID_PREFIX = "cus"
    customer_code = models.CharField(max_length=50)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=PartyStatus.choices, default=PartyStatus.ACTIVE)
    currency = models.CharField(max_length=3)
    email = models.CharField(max_length=255, blank=True)
    tax_exempt = models.BooleanField(default=False)
    default_tax_code = models.CharField(max_length=20, blank=True)
    credit_limit = models.DecimalField(null=True, blank=True, **MONEY)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "TIMS customer"
        indexes = _paging_index("cus")
        constraints = [models.UniqueConstraint(fields=["site", "customer_code"], name="sandbox_tims_customer_code")]

    def __str__(self) -> str:
        return f"{self.customer_code} {self.name}"


class TimsVendor(TimsRecord):
    ID_PREFIX = "ven"
    vendor_code = models.CharField(max_length=50)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=PartyStatus.choices, default=PartyStatus.ACTIVE)
    currency = models.CharField(max_length=3)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "TIMS vendor"
        indexes = _paging_index("ven")
        constraints = [models.UniqueConstraint(fields=["site", "vendor_code"], name="sandbox_tims_vendor_code")]

    def __str__(self) -> str:
        return f"{self.vendor_code} {self.name}"


class TimsProduct(TimsRecord):
    ID_PREFIX = "prd"
    sku = models.CharField(max_length=50)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    category = models.CharField(max_length=50, blank=True)
    unit = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    sale_price = models.DecimalField(null=True, blank=True, **UNIT_PRICE)
    purchase_price = models.DecimalField(null=True, blank=True, **UNIT_PRICE)
    tax_code = models.CharField(max_length=20, blank=True)
    tracked = models.BooleanField(default=False)
    is_sold = models.BooleanField(default=True)
    is_purchased = models.BooleanField(default=True)
    average_cost = models.DecimalField(default=0, **UNIT_PRICE)
    has_movements = models.BooleanField(default=False)
    stock_updated_at = models.DateTimeField(default=timezone.now, help_text="Time of the last stock movement.")
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "TIMS product"
        indexes = _paging_index("prd") + [models.Index(fields=["site", "stock_updated_at", "sku"], name="sandbox_tims_stock_page")]
        constraints = [models.UniqueConstraint(fields=["site", "sku"], name="sandbox_tims_product_sku")]

    def __str__(self) -> str:
        return self.sku


class TimsStockLevel(models.Model):
    product = models.ForeignKey(TimsProduct, on_delete=models.CASCADE, related_name="stock_levels")
    warehouse = models.CharField(max_length=30)
    on_hand = models.DecimalField(default=0, **QUANTITY)
    allocated = models.DecimalField(default=0, **QUANTITY)
    on_order = models.DecimalField(default=0, **QUANTITY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "warehouse"], name="sandbox_tims_stock_unique")]


class Document(TimsRecord):
    """Currency fields shared by commercial documents."""

    currency = models.CharField(max_length=3)
    exchange_rate = models.DecimalField(default=1, **RATE)
    amounts_tax_inclusive = models.BooleanField(default=False)
    subtotal = models.DecimalField(default=0, **MONEY)
    tax_total = models.DecimalField(default=0, **MONEY)
    total = models.DecimalField(default=0, **MONEY)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class SalesOrderStatus(models.TextChoices):
    OPEN = "open"
    ALLOCATED = "allocated"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TimsSalesOrder(Document):
    ID_PREFIX = "so"
    order_number = models.CharField(max_length=50)
    customer = models.ForeignKey(TimsCustomer, on_delete=models.PROTECT, related_name="sales_orders")
    customer_reference = models.CharField(max_length=100, null=True, blank=True)
    status = models.CharField(max_length=10, choices=SalesOrderStatus.choices, default=SalesOrderStatus.OPEN)
    order_date = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    warehouse = models.CharField(max_length=30)
    discount_total = models.DecimalField(default=0, **MONEY)
    shipped_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=500, null=True, blank=True)
    status_history = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "TIMS sales order"
        indexes = _paging_index("so")

    def __str__(self) -> str:
        return self.order_number


class DocumentLine(models.Model):
    """What every line of a commercial document carries (the contract's SalesLine and
    PurchaseLine share it); the price side differs."""

    line_number = models.PositiveIntegerField()
    line_type = models.CharField(max_length=10, default="item")
    product = models.ForeignKey(TimsProduct, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=50, null=True, blank=True)
    description = models.CharField(max_length=4000)
    quantity = models.DecimalField(**QUANTITY)
    unit = models.CharField(max_length=20, blank=True)
    tax_code = models.CharField(max_length=20, null=True, blank=True)
    tax_rate = models.DecimalField(default=0, **PERCENT)
    tax_amount = models.DecimalField(default=0, **MONEY)
    line_total = models.DecimalField(default=0, **MONEY)
    account_code = models.CharField(max_length=30, null=True, blank=True)
    dimensions = models.JSONField(default=list, blank=True)

    class Meta:
        abstract = True
        ordering = ["line_number"]


class SalesLine(DocumentLine):
    unit_price = models.DecimalField(**UNIT_PRICE)
    discount_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    discount_amount = models.DecimalField(default=0, **MONEY)

    class Meta(DocumentLine.Meta):
        abstract = True


class TimsSalesOrderLine(SalesLine):
    order = models.ForeignKey(TimsSalesOrder, on_delete=models.CASCADE, related_name="lines")
    quantity_shipped = models.DecimalField(default=0, **QUANTITY)


class InvoiceStatus(models.TextChoices):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class TimsReceivableInvoice(Document):
    ID_PREFIX = "inv"
    invoice_number = models.CharField(max_length=50)
    customer = models.ForeignKey(TimsCustomer, on_delete=models.PROTECT, related_name="invoices")
    sales_order = models.ForeignKey(TimsSalesOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices")
    customer_reference = models.CharField(max_length=100, null=True, blank=True)
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.OPEN)
    invoice_date = models.DateField()
    due_date = models.DateField()
    discount_total = models.DecimalField(default=0, **MONEY)
    amount_paid = models.DecimalField(default=0, **MONEY)
    amount_due = models.DecimalField(default=0, **MONEY)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    external_settlement = models.JSONField(null=True, blank=True)
    gl_entry = models.ForeignKey("TimsGlEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "TIMS AR invoice"
        indexes = _paging_index("inv")
        constraints = [models.UniqueConstraint(fields=["site", "invoice_number"], name="sandbox_tims_invoice_number")]

    def __str__(self) -> str:
        return self.invoice_number


class TimsReceivableInvoiceLine(SalesLine):
    invoice = models.ForeignKey(TimsReceivableInvoice, on_delete=models.CASCADE, related_name="lines")


class PurchaseOrderStatus(models.TextChoices):
    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class TimsPurchaseOrder(Document):
    ID_PREFIX = "po"
    po_number = models.CharField(max_length=50)
    vendor = models.ForeignKey(TimsVendor, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=20, choices=PurchaseOrderStatus.choices, default=PurchaseOrderStatus.OPEN)
    order_date = models.DateField()
    expected_date = models.DateField(null=True, blank=True)
    warehouse = models.CharField(max_length=30)

    class Meta:
        verbose_name = "TIMS purchase order"
        indexes = _paging_index("po")

    def __str__(self) -> str:
        return self.po_number


class PurchaseLine(DocumentLine):
    unit_cost = models.DecimalField(**UNIT_PRICE)

    class Meta(DocumentLine.Meta):
        abstract = True


class TimsPurchaseOrderLine(PurchaseLine):
    order = models.ForeignKey(TimsPurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    quantity_received = models.DecimalField(default=0, **QUANTITY)
    quantity_billed = models.DecimalField(default=0, **QUANTITY)


class TimsVendorBill(Document):
    ID_PREFIX = "bill"
    bill_number = models.CharField(max_length=100)
    vendor = models.ForeignKey(TimsVendor, on_delete=models.PROTECT, related_name="bills")
    purchase_order = models.ForeignKey(TimsPurchaseOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="bills")
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.OPEN)
    bill_date = models.DateField()
    due_date = models.DateField()
    memo = models.CharField(max_length=1000, null=True, blank=True)
    amount_paid = models.DecimalField(default=0, **MONEY)
    amount_due = models.DecimalField(default=0, **MONEY)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "TIMS vendor bill"
        indexes = _paging_index("bill")

    def __str__(self) -> str:
        return self.bill_number


class TimsVendorBillLine(PurchaseLine):
    bill = models.ForeignKey(TimsVendorBill, on_delete=models.CASCADE, related_name="lines")
    purchase_order_line_number = models.PositiveIntegerField(null=True, blank=True)


class PaymentStatus(models.TextChoices):
    POSTED = "posted"
    VOID = "void"


class TimsPayment(TimsRecord):
    ID_PREFIX = "pay"
    payment_number = models.CharField(max_length=50)
    customer = models.ForeignKey(TimsCustomer, on_delete=models.PROTECT, related_name="payments")
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.POSTED)
    payment_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    exchange_rate = models.DecimalField(default=1, **RATE)
    method = models.CharField(max_length=20)
    reference = models.CharField(max_length=255, null=True, blank=True)
    memo = models.CharField(max_length=1000, null=True, blank=True)
    deposit_account_code = models.CharField(max_length=30, null=True, blank=True)
    unallocated_amount = models.DecimalField(default=0, **MONEY)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, null=True, blank=True)

    class Meta:
        verbose_name = "TIMS AR payment"
        indexes = _paging_index("pay")

    def __str__(self) -> str:
        return self.payment_number


class TimsPaymentAllocation(models.Model):
    payment = models.ForeignKey(TimsPayment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(TimsReceivableInvoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]


class TimsGlAccount(TimsRecord):
    ID_PREFIX = "gla"
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=255)
    description = models.CharField(max_length=1000, null=True, blank=True)
    type = models.CharField(max_length=20)
    subtype = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    is_control_account = models.BooleanField(default=False)
    currency = models.CharField(max_length=3, null=True, blank=True)

    class Meta:
        verbose_name = "TIMS GL account"
        indexes = _paging_index("gla")
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="sandbox_tims_gl_account_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TimsGlEntry(TimsRecord):
    ID_PREFIX = "gle"
    entry_number = models.CharField(max_length=50)
    entry_date = models.DateField()
    period = models.CharField(max_length=7)
    source = models.CharField(max_length=20)
    source_document = models.JSONField(null=True, blank=True)
    memo = models.CharField(max_length=1000, null=True, blank=True)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, default="posted")
    total_debit = models.DecimalField(default=0, **MONEY)
    total_credit = models.DecimalField(default=0, **MONEY)
    posted_at = models.DateTimeField(default=timezone.now)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reversed_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "TIMS GL entry"
        verbose_name_plural = "TIMS GL entries"
        indexes = _paging_index("gle")

    def __str__(self) -> str:
        return self.entry_number


class TimsGlEntryLine(models.Model):
    entry = models.ForeignKey(TimsGlEntry, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField()
    account = models.ForeignKey(TimsGlAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    account_code = models.CharField(max_length=30)
    account_name = models.CharField(max_length=255, blank=True)
    debit = models.DecimalField(default=0, **MONEY)
    credit = models.DecimalField(default=0, **MONEY)
    memo = models.CharField(max_length=500, null=True, blank=True)
    tax_code = models.CharField(max_length=20, null=True, blank=True)
    dimensions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["line_number"]


class TimsInventoryAdjustment(TimsRecord):
    ID_PREFIX = "adj"
    adjustment_number = models.CharField(max_length=50)
    product = models.ForeignKey(TimsProduct, on_delete=models.PROTECT, related_name="adjustments")
    sku = models.CharField(max_length=50)
    warehouse = models.CharField(max_length=30)
    adjustment_date = models.DateField()
    posted_at = models.DateTimeField(default=timezone.now)
    quantity_delta = models.DecimalField(**QUANTITY)
    unit = models.CharField(max_length=20)
    unit_cost = models.DecimalField(**UNIT_PRICE)
    total_cost = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=20)
    reason_note = models.CharField(max_length=500, null=True, blank=True)
    offset_account_code = models.CharField(max_length=30, null=True, blank=True)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    gl_entry = models.ForeignKey(TimsGlEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "TIMS inventory adjustment"
        indexes = _paging_index("adj")

    def __str__(self) -> str:
        return self.adjustment_number


class TimsTaxCode(TimsRecord):
    ID_PREFIX = "tax"
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=255)
    rate = models.DecimalField(**PERCENT)
    status = models.CharField(max_length=10, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    applies_to = models.CharField(max_length=10, default="both")
    is_exempt = models.BooleanField(default=False)
    components = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "TIMS tax code"
        indexes = _paging_index("tax")
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="sandbox_tims_tax_code")]

    def __str__(self) -> str:
        return self.code


class TimsDimension(TimsRecord):
    ID_PREFIX = "dim"
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    applies_to = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "TIMS dimension"
        indexes = _paging_index("dim")

    def __str__(self) -> str:
        return self.code


class TimsDimensionValue(TimsRecord):
    ID_PREFIX = "dmv"
    dimension = models.ForeignKey(TimsDimension, on_delete=models.CASCADE, related_name="values")
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "TIMS dimension value"
        indexes = _paging_index("dmv")

    def __str__(self) -> str:
        return f"{self.dimension.code}:{self.code}"


class TimsWebhookSubscription(TimsRecord):
    ID_PREFIX = "whs"
    client = models.ForeignKey(TimsApiClient, on_delete=models.CASCADE, related_name="subscriptions")
    url = models.CharField(max_length=2048)
    events = models.JSONField(default=list)
    description = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, default="active")
    disabled_reason = models.CharField(max_length=20, null=True, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_delivery_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_delivery_error = models.CharField(max_length=1000, null=True, blank=True)
    secret = models.CharField(max_length=100)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "TIMS webhook subscription"
        indexes = _paging_index("whs")

    def __str__(self) -> str:
        return f"{self.id} → {self.url}"


class TimsWebhookEvent(models.Model):
    """The outbox: one event for one subscription, written in the change's transaction and
    sent later by :func:`sandbox.tims.webhooks.deliver_pending`. ``body`` is the exact payload."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "Gave up"
        CANCELLED = "cancelled", "Subscription deleted"

    event_id = models.CharField(max_length=64)
    subscription = models.ForeignKey(TimsWebhookSubscription, on_delete=models.CASCADE, related_name="events_sent")
    event_type = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    body = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "TIMS webhook event"
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["subscription", "event_id"], name="sandbox_tims_event_unique")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
