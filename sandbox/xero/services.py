"""The Xero sandbox's public Python interface, for the seed command, the demo and tests.

    tenant = xero_tenant_create(name="Demo Company (UK)")          # chart, taxes, currencies
    app = xero_app_create(name="Ledgerbridge", redirect_uris=["http://localhost/cb"])
    tokens = xero_connect(app=app, tenants=[tenant])               # consent + code exchange
    xero_app_set_webhook(app=app, url="https://.../webhooks/xero") # then intent_to_receive(app)
    xero_tenant_set_limits(tenant=tenant, minute=None, day=None, concurrent=None)  # unlimited
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), error_rate=0.1, seed=7)
    deliver_pending()                                              # flush the webhook outbox
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from sandbox.models import (
    XeroAccount,
    XeroApp,
    XeroContact,
    XeroCurrency,
    XeroItem,
    XeroTaxRate,
    XeroTenant,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from sandbox.xero import tokens
from sandbox.xero.identity import consent_grant

DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings"
)

# A small UK chart of accounts, in the shape of Xero's demo company.
UK_ACCOUNTS = [
    ("090", "Business Bank Account", "BANK", "NONE", ""),
    ("091", "Business Savings Account", "BANK", "NONE", ""),
    ("200", "Sales", "SALES", "OUTPUT2", ""),
    ("260", "Other Revenue", "REVENUE", "OUTPUT2", ""),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT2", ""),
    ("400", "Advertising", "OVERHEADS", "INPUT2", ""),
    ("429", "General Expenses", "OVERHEADS", "INPUT2", ""),
    ("461", "Printing & Stationery", "OVERHEADS", "INPUT2", ""),
    ("610", "Accounts Receivable", "CURRENT", "NONE", "DEBTORS"),
    ("630", "Inventory", "INVENTORY", "NONE", ""),
    ("800", "Accounts Payable", "CURRLIAB", "NONE", "CREDITORS"),
    ("820", "VAT", "CURRLIAB", "NONE", "GST"),
    ("840", "Historical Adjustment", "CURRLIAB", "NONE", "HISTORICAL"),
    ("860", "Rounding", "CURRLIAB", "NONE", "ROUNDING"),
    ("877", "Tracking Transfers", "CURRLIAB", "NONE", "TRACKINGTRANSFERS"),
    ("960", "Retained Earnings", "EQUITY", "NONE", "RETAINEDEARNINGS"),
    ("970", "Owner A Funds Introduced", "EQUITY", "NONE", ""),
    ("877A", "Suspense", "CURRLIAB", "NONE", ""),
]
UK_TAX_RATES = [
    ("OUTPUT2", "20% (VAT on Income)", "OUTPUT", Decimal("20")),
    ("INPUT2", "20% (VAT on Expenses)", "INPUT", Decimal("20")),
    ("RROUTPUT", "5% (VAT on Income)", "OUTPUT", Decimal("5")),
    ("ZERORATEDOUTPUT", "Zero Rated Income", "OUTPUT", Decimal("0")),
    ("ZERORATEDINPUT", "Zero Rated Expenses", "INPUT", Decimal("0")),
    ("EXEMPTOUTPUT", "Exempt Income", "EXEMPTOUTPUT", Decimal("0")),
    ("NONE", "No VAT", "NONE", Decimal("0")),
]
CURRENCIES = [("GBP", "British Pound"), ("EUR", "Euro"), ("USD", "United States Dollar")]


@transaction.atomic
def xero_tenant_create(
    *,
    name: str,
    with_chart: bool = True,
    with_samples: bool = False,
    country_code: str = "GB",
    base_currency: str = "GBP",
    tenant_id=None,
) -> XeroTenant:
    """An organisation with Xero's defaults; ``with_chart`` adds accounts, tax rates and
    currencies; ``with_samples`` a few contacts, items and a tracking category."""
    values = {"name": name, "country_code": country_code, "base_currency": base_currency}
    if tenant_id:
        values["tenant_id"] = tenant_id
    tenant = XeroTenant.objects.create(**values)
    if with_chart:
        xero_tenant_seed_chart(tenant=tenant)
    if with_samples:
        xero_tenant_seed_samples(tenant=tenant)
    return tenant


@transaction.atomic
def xero_tenant_seed_chart(*, tenant: XeroTenant) -> XeroTenant:
    """A UK demo chart of accounts, VAT rates and currencies, for an organisation that has none
    (one created in the admin, say). What exists already is left alone."""
    for tax_type, label, report, rate in UK_TAX_RATES:
        XeroTaxRate.objects.get_or_create(
            tenant=tenant, tax_type=tax_type, defaults={"name": label, "report_tax_type": report, "rate": rate}
        )
    for code, description in CURRENCIES:
        XeroCurrency.objects.get_or_create(tenant=tenant, code=code, defaults={"description": description})
    existing = set(XeroAccount.objects.filter(tenant=tenant).values_list("code", flat=True))
    for code, label, type_, tax_type, system_account in UK_ACCOUNTS:
        if code in existing:
            continue
        XeroAccount.objects.create(
            tenant=tenant,
            code=code,
            name=label,
            type=type_,
            tax_type=tax_type,
            system_account=system_account,
            bank_account_number="12345678" if type_ == "BANK" else "",
            bank_account_type="BANK" if type_ == "BANK" else "",
        )
    return tenant


@transaction.atomic
def xero_tenant_seed_samples(*, tenant: XeroTenant) -> XeroTenant:
    """A few contacts, two items and a tracking category with two options (once)."""
    for number, contact_name, email in (
        ("CUST-001", "Ridgeway University", "accounts@ridgeway.example"),
        ("CUST-002", "Bayside Club", "treasurer@bayside.example"),
        ("SUPP-001", "PowerDirect", "billing@powerdirect.example"),
    ):
        XeroContact.objects.get_or_create(
            tenant=tenant, contact_number=number, defaults={"name": contact_name, "email_address": email}
        )
    for code, item_name, price in (("WIDGET-01", "Widget", Decimal("12.50")), ("GADGET-02", "Gadget", Decimal("99.00"))):
        XeroItem.objects.get_or_create(
            tenant=tenant,
            code=code,
            defaults={
                "name": item_name,
                "description": item_name,
                "sales_unit_price": price,
                "sales_account_code": "200",
                "sales_tax_type": "OUTPUT2",
                "purchase_unit_price": price / 2,
                "purchase_account_code": "310",
                "purchase_tax_type": "INPUT2",
            },
        )
    region, created = XeroTrackingCategory.objects.get_or_create(tenant=tenant, name="Region")
    if created:
        for option in ("North", "South"):
            XeroTrackingOption.objects.create(category=region, name=option)
    return tenant


def xero_app_create(
    *,
    name: str,
    redirect_uris: list[str] | None = None,
    custom_connection_tenant: XeroTenant | None = None,
    webhook_url: str = "",
) -> XeroApp:
    """A Web app (``redirect_uris``) or, with ``custom_connection_tenant``, a Custom Connection."""
    app = XeroApp.objects.create(
        name=name,
        redirect_uris="\n".join(redirect_uris or []),
        app_type=XeroApp.AppType.CUSTOM_CONNECTION if custom_connection_tenant else XeroApp.AppType.WEB,
        custom_connection_tenant=custom_connection_tenant,
    )
    if webhook_url:
        xero_app_set_webhook(app=app, url=webhook_url)
    return app


def xero_app_set_webhook(*, app: XeroApp, url: str) -> XeroApp:
    """A new or changed URL needs Intent to Receive again before events flow (api-notes §3)."""
    app.webhook_url = url
    app.webhook_status = XeroApp.WebhookStatus.INTENT_TO_RECEIVE_REQUIRED if url else XeroApp.WebhookStatus.NONE
    app.save(update_fields=["webhook_url", "webhook_status"])
    return app


def xero_connect(
    *, app: XeroApp, tenants: list[XeroTenant], scopes: str = DEFAULT_SCOPES, user_email: str = "demo.user@sandbox.test"
) -> dict:
    """Consent and code exchange without the browser: the token endpoint's JSON answer."""
    redirect_uri = app.redirect_uri_list[0] if app.redirect_uri_list else "http://localhost/callback"
    code = consent_grant(app=app, tenants=tenants, scopes=scopes, redirect_uri=redirect_uri, user_email=user_email)
    return tokens.exchange_code(app=app, code=code, redirect_uri=redirect_uri).as_response()


def xero_tenant_set_limits(
    *, tenant: XeroTenant, minute: int | None = 60, day: int | None = 5000, concurrent: int | None = 5
) -> XeroTenant:
    """Xero's defaults unless told otherwise; None or 0 = unlimited (benchmarks)."""
    tenant.minute_limit, tenant.day_limit, tenant.concurrent_limit = minute, day, concurrent
    tenant.save(update_fields=["minute_limit", "day_limit", "concurrent_limit"])
    return tenant
