"""The Xero emulator's state: developer apps, organisations (tenants), grants and tokens, and
the accounting documents of each organisation.

Indexed columns carry what filters, ordering and the lifecycle need; money is Decimal. Fields
the emulator only stores and echoes (addresses, phones, payment terms, ...) live in ``extra``.
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone

MONEY = {"max_digits": 16, "decimal_places": 2}
UNIT = {"max_digits": 18, "decimal_places": 4}
QUANTITY = {"max_digits": 18, "decimal_places": 4}


def new_client_id() -> str:
    return secrets.token_hex(16).upper()


def new_client_secret() -> str:
    return secrets.token_urlsafe(36)


def new_webhook_key() -> str:
    return secrets.token_urlsafe(48)


class XeroTenant(models.Model):
    """An organisation. Its limits are Xero's defaults (api-notes §2); 0 or empty = unlimited."""

    class TenantType(models.TextChoices):
        ORGANISATION = "ORGANISATION"
        PRACTICE = "PRACTICE"

    tenant_id = models.UUIDField(default=uuid.uuid4, unique=True, help_text="Xero tenantId = OrganisationID.")
    name = models.CharField(max_length=255)
    tenant_type = models.CharField(max_length=20, choices=TenantType.choices, default=TenantType.ORGANISATION)
    short_code = models.CharField(max_length=20, blank=True)
    country_code = models.CharField(max_length=2, default="GB")
    base_currency = models.CharField(max_length=3, default="GBP")
    org_timezone = models.CharField(max_length=60, default="GMTSTANDARDTIME")
    version = models.CharField(max_length=20, default="UK")
    organisation_type = models.CharField(max_length=30, default="COMPANY")
    pays_tax = models.BooleanField(default=True)
    default_sales_tax = models.CharField(max_length=50, default="Tax Exclusive")
    default_purchases_tax = models.CharField(max_length=50, default="Tax Exclusive")
    invoice_number_prefix = models.CharField(max_length=10, default="INV-")
    next_invoice_number = models.PositiveIntegerField(default=1)
    credit_note_number_prefix = models.CharField(max_length=10, default="CN-")
    next_credit_note_number = models.PositiveIntegerField(default=1)
    minute_limit = models.PositiveIntegerField(null=True, blank=True, default=60)
    day_limit = models.PositiveIntegerField(null=True, blank=True, default=5000)
    concurrent_limit = models.PositiveIntegerField(null=True, blank=True, default=5)
    limit_window_offset_seconds = models.PositiveIntegerField(
        default=0, help_text="Xero's windows reset at a different time for each tenant (api-notes §2)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Xero organisation"

    def __str__(self) -> str:
        return f"{self.name} ({self.tenant_id})"


class XeroApp(models.Model):
    """A developer app: a Web app (authorization code) or a Custom Connection (one tenant)."""

    class AppType(models.TextChoices):
        WEB = "web", "Web app (authorization code)"
        CUSTOM_CONNECTION = "custom", "Custom connection (client credentials)"

    class WebhookStatus(models.TextChoices):
        NONE = "none", "No webhook"
        INTENT_TO_RECEIVE_REQUIRED = "itr_required", "Intent to receive required"
        OK = "ok", "OK"
        DISABLED = "disabled", "Disabled after failures"

    name = models.CharField(max_length=100)
    app_type = models.CharField(max_length=10, choices=AppType.choices, default=AppType.WEB)
    client_id = models.CharField(max_length=64, unique=True, default=new_client_id)
    client_secret = models.CharField(max_length=128, default=new_client_secret)
    redirect_uris = models.TextField(blank=True, help_text="One per line, matched exactly (no wildcards).")
    custom_connection_tenant = models.ForeignKey(
        XeroTenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="custom_connection_apps"
    )
    custom_connection_scopes = models.TextField(
        blank=True,
        default="accounting.transactions accounting.contacts accounting.settings",
        help_text="Scopes granted to client_credentials tokens (space-separated).",
    )
    webhook_url = models.URLField(blank=True)
    webhook_key = models.CharField(max_length=128, default=new_webhook_key)
    webhook_status = models.CharField(max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.NONE)
    app_minute_limit = models.PositiveIntegerField(null=True, blank=True, default=10000)
    idempotency_ttl_seconds = models.PositiveIntegerField(
        default=360, help_text="Xero keeps Idempotency-Keys for 6 minutes (api-notes §5.5)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Xero app"

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @property
    def redirect_uri_list(self) -> list[str]:
        return [line.strip() for line in self.redirect_uris.splitlines() if line.strip()]


class XeroGrant(models.Model):
    """One user's consent to one app: the token set belongs to the user and the app, not to a
    tenant (api-notes §1.2)."""

    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE, related_name="grants")
    user_email = models.CharField(max_length=255, default="demo.user@sandbox.test")
    scopes = models.TextField()
    auth_event_id = models.UUIDField(default=uuid.uuid4)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_email} → {self.app.name}"


class XeroConnection(models.Model):
    """An app's access to a tenant, as listed by GET /connections (api-notes §1.3)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE, related_name="connections")
    tenant = models.ForeignKey(XeroTenant, on_delete=models.CASCADE, related_name="connections")
    user_email = models.CharField(max_length=255)
    auth_event_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "tenant", "user_email"], name="sandbox_xero_connection_unique")
        ]


class XeroAuthCode(models.Model):
    code = models.CharField(max_length=64, unique=True)
    grant = models.ForeignKey(XeroGrant, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class XeroAccessToken(models.Model):
    token = models.CharField(max_length=128, unique=True)
    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE)
    grant = models.ForeignKey(XeroGrant, null=True, blank=True, on_delete=models.CASCADE)
    scopes = models.TextField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)


class XeroRefreshToken(models.Model):
    """Single use and rotating; the replaced token answers with the same new pair for the grace
    period, then invalid_grant (api-notes §1.2)."""

    token = models.CharField(max_length=128, unique=True)
    grant = models.ForeignKey(XeroGrant, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    replacement_access_token = models.ForeignKey(
        XeroAccessToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class TenantScoped(models.Model):
    tenant = models.ForeignKey(XeroTenant, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by_app = models.ForeignKey(XeroApp, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class XeroTaxRate(TenantScoped):
    tax_type = models.CharField(max_length=50)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="ACTIVE")
    report_tax_type = models.CharField(max_length=50, blank=True)
    rate = models.DecimalField(max_digits=8, decimal_places=4, help_text="Effective rate, percent.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "tax_type"], name="sandbox_xero_taxrate_unique")]


class XeroCurrency(TenantScoped):
    code = models.CharField(max_length=3)
    description = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="sandbox_xero_currency_unique")]


class XeroAccount(TenantScoped):
    account_id = models.UUIDField(default=uuid.uuid4, unique=True)
    code = models.CharField(max_length=10, blank=True)
    name = models.CharField(max_length=150)
    type = models.CharField(max_length=20)
    status = models.CharField(max_length=20, default="ACTIVE")
    tax_type = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    bank_account_number = models.CharField(max_length=50, blank=True)
    bank_account_type = models.CharField(max_length=20, blank=True)
    currency_code = models.CharField(max_length=3, blank=True)
    enable_payments_to_account = models.BooleanField(default=False)
    show_in_expense_claims = models.BooleanField(default=False)
    system_account = models.CharField(max_length=30, blank=True)
    reporting_code = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "code"])]


class XeroTrackingCategory(TenantScoped):
    category_id = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="ACTIVE")


class XeroTrackingOption(models.Model):
    option_id = models.UUIDField(default=uuid.uuid4, unique=True)
    category = models.ForeignKey(XeroTrackingCategory, on_delete=models.CASCADE, related_name="options")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="ACTIVE")


class XeroContact(TenantScoped):
    contact_id = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=255)
    contact_number = models.CharField(max_length=50, blank=True, db_index=True)
    account_number = models.CharField(max_length=50, blank=True)
    contact_status = models.CharField(max_length=20, default="ACTIVE")
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    email_address = models.CharField(max_length=255, blank=True)
    tax_number = models.CharField(max_length=50, blank=True)
    default_currency = models.CharField(max_length=3, blank=True)
    is_supplier = models.BooleanField(default=False)
    is_customer = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["tenant", "updated_at"]), models.Index(fields=["tenant", "name"])]


class XeroItem(TenantScoped):
    item_id = models.UUIDField(default=uuid.uuid4, unique=True)
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    purchase_description = models.TextField(blank=True)
    is_sold = models.BooleanField(default=True)
    is_purchased = models.BooleanField(default=True)
    sales_unit_price = models.DecimalField(null=True, blank=True, **UNIT)
    sales_account_code = models.CharField(max_length=10, blank=True)
    sales_tax_type = models.CharField(max_length=50, blank=True)
    purchase_unit_price = models.DecimalField(null=True, blank=True, **UNIT)
    purchase_account_code = models.CharField(max_length=10, blank=True)
    purchase_cogs_account_code = models.CharField(max_length=10, blank=True)
    purchase_tax_type = models.CharField(max_length=50, blank=True)
    inventory_asset_account_code = models.CharField(max_length=10, blank=True)
    quantity_on_hand = models.DecimalField(default=0, **QUANTITY)
    total_cost_pool = models.DecimalField(default=0, **MONEY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="sandbox_xero_item_code_unique")]

    @property
    def is_tracked_as_inventory(self) -> bool:
        # api-notes §6.4: tracked when an inventory asset account and a COGS account are set.
        return bool(self.inventory_asset_account_code and self.purchase_cogs_account_code)


class Document(TenantScoped):
    """What invoices, credit notes and bank transactions share: lines and their totals."""

    contact = models.ForeignKey(XeroContact, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, db_index=True)
    line_amount_types = models.CharField(max_length=20, default="Exclusive")
    reference = models.CharField(max_length=255, blank=True)
    currency_code = models.CharField(max_length=3, blank=True)
    currency_rate = models.DecimalField(max_digits=24, decimal_places=6, default=1)
    url = models.CharField(max_length=2000, blank=True)
    sub_total = models.DecimalField(default=0, **MONEY)
    total_tax = models.DecimalField(default=0, **MONEY)
    total = models.DecimalField(default=0, **MONEY)

    class Meta:
        abstract = True


class XeroInvoice(Document):
    invoice_id = models.UUIDField(default=uuid.uuid4, unique=True)
    type = models.CharField(max_length=20)
    invoice_number = models.CharField(max_length=255, blank=True, db_index=True)
    due_date = models.DateField(null=True, blank=True)
    amount_due = models.DecimalField(default=0, **MONEY)
    amount_paid = models.DecimalField(default=0, **MONEY)
    amount_credited = models.DecimalField(default=0, **MONEY)
    fully_paid_on_date = models.DateField(null=True, blank=True)
    sent_to_contact = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "updated_at"]),
            models.Index(fields=["tenant", "type", "status"]),
            # Xero refuses a sales invoice number already used (case-insensitive): looked up per batch.
            models.Index(F("tenant"), F("type"), Upper("invoice_number"), name="xero_invoice_number_upper"),
        ]


class XeroCreditNote(Document):
    credit_note_id = models.UUIDField(default=uuid.uuid4, unique=True)
    type = models.CharField(max_length=20)
    credit_note_number = models.CharField(max_length=255, blank=True, db_index=True)
    due_date = models.DateField(null=True, blank=True)
    remaining_credit = models.DecimalField(default=0, **MONEY)
    fully_paid_on_date = models.DateField(null=True, blank=True)


class XeroBankTransaction(Document):
    bank_transaction_id = models.UUIDField(default=uuid.uuid4, unique=True)
    type = models.CharField(max_length=30)
    bank_account = models.ForeignKey(XeroAccount, on_delete=models.PROTECT, related_name="+")
    is_reconciled = models.BooleanField(default=False)


class XeroLineItem(models.Model):
    line_item_id = models.UUIDField(default=uuid.uuid4, unique=True)
    invoice = models.ForeignKey(XeroInvoice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines")
    credit_note = models.ForeignKey(
        XeroCreditNote, null=True, blank=True, on_delete=models.CASCADE, related_name="lines"
    )
    bank_transaction = models.ForeignKey(
        XeroBankTransaction, null=True, blank=True, on_delete=models.CASCADE, related_name="lines"
    )
    position = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True)
    quantity = models.DecimalField(null=True, blank=True, **QUANTITY)
    unit_amount = models.DecimalField(null=True, blank=True, **UNIT)
    item_code = models.CharField(max_length=30, blank=True)
    account_code = models.CharField(max_length=10, blank=True)
    tax_type = models.CharField(max_length=50, blank=True)
    tax_amount = models.DecimalField(default=0, **MONEY)
    line_amount = models.DecimalField(default=0, **MONEY)
    discount_rate = models.DecimalField(null=True, blank=True, max_digits=8, decimal_places=4)
    tracking = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position", "id"]


class XeroManualJournal(TenantScoped):
    manual_journal_id = models.UUIDField(default=uuid.uuid4, unique=True)
    narration = models.TextField()
    date = models.DateField()
    status = models.CharField(max_length=20, default="DRAFT")
    line_amount_types = models.CharField(max_length=20, default="NoTax")
    url = models.CharField(max_length=2000, blank=True)
    show_on_cash_basis_reports = models.BooleanField(default=True)


class XeroManualJournalLine(models.Model):
    journal = models.ForeignKey(XeroManualJournal, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    line_amount = models.DecimalField(**MONEY)
    account_code = models.CharField(max_length=10)
    description = models.TextField(blank=True)
    tax_type = models.CharField(max_length=50, blank=True)
    tax_amount = models.DecimalField(default=0, **MONEY)
    tracking = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position", "id"]


class XeroPayment(TenantScoped):
    payment_id = models.UUIDField(default=uuid.uuid4, unique=True)
    invoice = models.ForeignKey(XeroInvoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    credit_note = models.ForeignKey(
        XeroCreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    account = models.ForeignKey(XeroAccount, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    amount = models.DecimalField(**MONEY)
    bank_amount = models.DecimalField(**MONEY)
    currency_rate = models.DecimalField(max_digits=24, decimal_places=6, default=1)
    reference = models.CharField(max_length=255, blank=True)
    is_reconciled = models.BooleanField(default=False)
    status = models.CharField(max_length=20, default="AUTHORISED")
    payment_type = models.CharField(max_length=30)


class XeroWebhookEvent(models.Model):
    """The outbox: one event for one app, sent later by ``sandbox_deliver_webhooks``."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "Gave up"

    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE, related_name="webhook_events")
    tenant = models.ForeignKey(XeroTenant, on_delete=models.CASCADE, related_name="+")
    sequence = models.PositiveBigIntegerField()
    event_category = models.CharField(max_length=20)
    event_type = models.CharField(max_length=10)
    resource_id = models.UUIDField()
    resource_url = models.CharField(max_length=500)
    event_date = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "sequence"], name="sandbox_xero_webhook_seq_unique")]
        ordering = ["sequence"]
