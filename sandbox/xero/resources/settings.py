"""Organisation settings: Accounts, TaxRates, Currencies and the Organisation itself
(api-notes §6.5, §6.9). None of them is paged; TaxRates and Currencies take no
If-Modified-Since."""

from __future__ import annotations

from decimal import Decimal


from sandbox.models import XeroAccount, XeroCurrency, XeroTaxRate
from sandbox.xero.dates import ms_datetime
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.resources.base import ApiContext, Resource, boolean, decimal, drop_empty, stamp, text, touch
from sandbox.xero.where import FieldRef, Kind

SETTINGS_READ = frozenset({"accounting.settings", "accounting.settings.read"})
SETTINGS_WRITE = frozenset({"accounting.settings"})

ACCOUNT_CLASS = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "FIXED": "ASSET",
    "INVENTORY": "ASSET",
    "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET",
    "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "PAYG": "LIABILITY",
    "EQUITY": "EQUITY",
    "DEPRECIATN": "EXPENSE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE",
}


class Accounts(Resource):
    plural = "Accounts"
    type_name = "Account"
    id_key = "AccountID"
    id_attr = "account_id"
    model = XeroAccount
    supports_if_modified_since = True
    default_order = ("code", "name", "pk")
    read_scopes = SETTINGS_READ
    write_scopes = SETTINGS_WRITE
    can_post = False  # the spec has PUT /Accounts and POST /Accounts/{AccountID} only
    can_delete = True
    one_element_per_request = True  # Xero silently ignores extra accounts (api-notes §5.4)
    where_fields = {
        "AccountID": FieldRef("account_id", Kind.GUID),
        "Code": FieldRef("code", Kind.STRING),
        "Name": FieldRef("name", Kind.STRING),
        "Type": FieldRef("type", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
        "TaxType": FieldRef("tax_type", Kind.STRING),
        "SystemAccount": FieldRef("system_account", Kind.STRING),
        "EnablePaymentsToAccount": FieldRef("enable_payments_to_account", Kind.BOOL),
        "BankAccountNumber": FieldRef("bank_account_number", Kind.STRING),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    def queryset(self, ctx):
        return super().queryset(ctx).exclude(status="DELETED")

    def serialize(self, ctx: ApiContext, obj: XeroAccount, *, full: bool = True) -> dict:
        return {
            **drop_empty(
                {
                    "AccountID": str(obj.account_id),
                    "Code": obj.code,
                    "Name": obj.name,
                    "Status": obj.status,
                    "Type": obj.type,
                    "TaxType": obj.tax_type,
                    "Description": obj.description,
                    "Class": ACCOUNT_CLASS.get(obj.type),
                    "SystemAccount": obj.system_account,
                    "BankAccountNumber": obj.bank_account_number,
                    "BankAccountType": obj.bank_account_type,
                    "CurrencyCode": obj.currency_code,
                    "ReportingCode": obj.reporting_code,
                }
            ),
            "EnablePaymentsToAccount": obj.enable_payments_to_account,
            "ShowInExpenseClaims": obj.show_in_expense_claims,
            "HasAttachments": False,
            **stamp(obj),
        }

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroAccount:
        account = target
        if account is None and method == "POST":
            account = self.match_for_post(ctx, data)
        creating = account is None
        if creating:
            account = XeroAccount(tenant=ctx.tenant, created_by_app=ctx.app)
        code = text(data, "Code", max_length=10)
        name = text(data, "Name", max_length=150)
        type_ = text(data, "Type")
        if creating and not code:
            raise ValidationFailed("Please enter a Code.")
        if creating and not name:
            raise ValidationFailed("Please enter a Name.")
        if creating and not type_:
            raise ValidationFailed("Please select an Account Type.")
        if type_ is not None and type_ not in ACCOUNT_CLASS:
            raise ValidationFailed(f"Account Type '{type_}' is not valid.")
        if account.system_account and (type_ and type_ != account.type):
            raise ValidationFailed("The type of a system account cannot be changed.")
        others = XeroAccount.objects.filter(tenant=ctx.tenant).exclude(status="DELETED").exclude(pk=account.pk)
        if code is not None:
            if not code.isalnum():
                raise ValidationFailed("Code must be alphanumeric.")
            if others.filter(code__iexact=code).exists():
                raise ValidationFailed("Please enter a unique Code.")
            account.code = code
        if name is not None:
            if others.filter(name__iexact=name).exists():
                raise ValidationFailed("Please enter a unique Name.")
            account.name = name
        if type_ is not None:
            account.type = type_
        tax_type = text(data, "TaxType")
        if tax_type:
            if not XeroTaxRate.objects.filter(tenant=ctx.tenant, tax_type__iexact=tax_type).exists():
                raise ValidationFailed(f"The TaxType code '{tax_type}' does not exist.")
            account.tax_type = tax_type
        for key, attr in (("Description", "description"), ("ReportingCode", "reporting_code"), ("CurrencyCode", "currency_code")):
            value = text(data, key)
            if value is not None:
                setattr(account, attr, value)
        number = text(data, "BankAccountNumber")
        if number is not None:
            if account.type != "BANK":
                raise ValidationFailed("BankAccountNumber can only be set on bank accounts.")
            account.bank_account_number = number
        if account.type == "BANK":
            account.bank_account_type = text(data, "BankAccountType") or account.bank_account_type or "BANK"
        for key, attr in (("EnablePaymentsToAccount", "enable_payments_to_account"), ("ShowInExpenseClaims", "show_in_expense_claims")):
            value = boolean(data, key)
            if value is not None:
                setattr(account, attr, value)
        status = text(data, "Status")
        if status is not None:
            if status not in ("ACTIVE", "ARCHIVED"):
                raise ValidationFailed(f"Status '{status}' is not valid for an account.")
            if status == "ARCHIVED" and account.system_account:
                raise ValidationFailed("System accounts cannot be archived.")
            account.status = status
        touch(account)
        account.save()
        return account

    def delete(self, ctx: ApiContext, obj: XeroAccount) -> dict:
        if obj.system_account:
            raise ValidationFailed("System accounts cannot be deleted.")
        obj.status = "DELETED"
        touch(obj)
        obj.save(update_fields=["status", "updated_at"])
        return self.serialize(ctx, obj)


class TaxRates(Resource):
    plural = "TaxRates"
    type_name = "TaxRate"
    id_key = "TaxType"
    id_attr = ""
    model = XeroTaxRate
    default_order = ("name", "pk")
    read_scopes = SETTINGS_READ
    write_scopes = SETTINGS_WRITE
    can_post_one = False  # POST /TaxRates updates by the TaxType in the body
    where_fields = {
        "TaxType": FieldRef("tax_type", Kind.STRING),
        "Name": FieldRef("name", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
        "ReportTaxType": FieldRef("report_tax_type", Kind.STRING),
        "EffectiveRate": FieldRef("rate", Kind.NUMBER),
    }

    def get(self, ctx: ApiContext, ident: str):
        return self.queryset(ctx).filter(tax_type__iexact=ident).first()

    def filter_list(self, ctx, qs, params):
        if params.get("TaxType"):
            qs = qs.filter(tax_type__iexact=params["TaxType"])
        return qs

    def match_for_post(self, ctx, data):
        if data.get("TaxType"):
            found = self.get(ctx, str(data["TaxType"]))
            if found is None:
                raise ValidationFailed(f"TaxType {data['TaxType']} does not exist.")
            return found
        if data.get("Name"):
            return self.queryset(ctx).filter(name__iexact=data["Name"]).first()
        return None

    def serialize(self, ctx: ApiContext, obj: XeroTaxRate, *, full: bool = True) -> dict:
        # Rates are stored as text in JSON (exact decimals) and sent as JSON numbers.
        components = [
            {**component, "Rate": Decimal(str(component["Rate"]))} for component in obj.extra.get("TaxComponents", [])
        ] or [{"Name": obj.name, "Rate": obj.rate, "IsCompound": False, "IsNonRecoverable": False}]
        flags = obj.extra.get("CanApplyTo", {})
        return {
            "Name": obj.name,
            "TaxType": obj.tax_type,
            "ReportTaxType": obj.report_tax_type or "OUTPUT",
            "CanApplyToAssets": flags.get("Assets", True),
            "CanApplyToEquity": flags.get("Equity", True),
            "CanApplyToExpenses": flags.get("Expenses", True),
            "CanApplyToLiabilities": flags.get("Liabilities", True),
            "CanApplyToRevenue": flags.get("Revenue", True),
            "DisplayTaxRate": obj.rate,
            "EffectiveRate": obj.rate,
            "Status": obj.status,
            "TaxComponents": components,
        }

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroTaxRate:
        rate = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        name = text(data, "Name", max_length=100)
        components = data.get("TaxComponents")
        if rate is None:
            if not name:
                raise ValidationFailed("Name is required.")
            if XeroTaxRate.objects.filter(tenant=ctx.tenant, name__iexact=name).exists():
                raise ValidationFailed("Tax rate name must be unique.")
            if not isinstance(components, list) or not components:
                raise ValidationFailed("At least one tax component is required.")
            # User-defined tax rates are TAX001, TAX002, ... (api-notes §6.9).
            existing = XeroTaxRate.objects.filter(tenant=ctx.tenant, tax_type__startswith="TAX").count()
            rate = XeroTaxRate(tenant=ctx.tenant, tax_type=f"TAX{existing + 1:03d}", created_by_app=ctx.app, rate=0)
        if name is not None:
            rate.name = name
        if components is not None:
            total = Decimal("0")
            cleaned = []
            for component in components if isinstance(components, list) else []:
                value = decimal(component, "Rate")
                if value is None or value < 0:
                    raise ValidationFailed("Each tax component needs a Rate of zero or more.")
                total += value
                cleaned.append(
                    {
                        "Name": str(component.get("Name") or rate.name),
                        "Rate": value,
                        "IsCompound": bool(component.get("IsCompound", False)),
                        "IsNonRecoverable": bool(component.get("IsNonRecoverable", False)),
                    }
                )
            rate.rate = total
            rate.extra = {**rate.extra, "TaxComponents": [{**c, "Rate": str(c["Rate"])} for c in cleaned]}
        report = text(data, "ReportTaxType")
        if report:
            rate.report_tax_type = report
        status = text(data, "Status")
        if status:
            if status not in ("ACTIVE", "DELETED", "ARCHIVED"):
                raise ValidationFailed(f"Status '{status}' is not valid for a tax rate.")
            rate.status = status
        touch(rate)
        rate.save()
        return rate


class Currencies(Resource):
    plural = "Currencies"
    type_name = "Currency"
    id_key = "Code"
    id_attr = ""
    model = XeroCurrency
    default_order = ("code",)
    read_scopes = SETTINGS_READ
    write_scopes = SETTINGS_WRITE
    can_post = can_post_one = False  # PUT /Currencies only
    one_element_per_request = True
    where_fields = {"Code": FieldRef("code", Kind.STRING), "Description": FieldRef("description", Kind.STRING)}

    def get(self, ctx, ident):
        return None  # no GET by code in Xero's API

    def serialize(self, ctx, obj: XeroCurrency, *, full: bool = True) -> dict:
        return {"Code": obj.code, "Description": obj.description}

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroCurrency:
        code = (text(data, "Code") or "").upper()
        if len(code) != 3 or not code.isalpha():
            raise ValidationFailed("Currency code must be a valid ISO 4217 code.")
        currency, _ = XeroCurrency.objects.get_or_create(
            tenant=ctx.tenant, code=code, defaults={"description": code, "created_by_app": ctx.app}
        )
        return currency


class Organisation:
    """GET /Organisation: the tenant itself, read-only (POST is 501 on Xero)."""

    read_scopes = SETTINGS_READ

    def serialize(self, ctx: ApiContext) -> dict:
        tenant = ctx.tenant
        return {
            "OrganisationID": str(tenant.tenant_id),
            "APIKey": "",
            "Name": tenant.name,
            "LegalName": tenant.name,
            "PaysTax": tenant.pays_tax,
            "Version": tenant.version,
            "OrganisationType": tenant.organisation_type,
            "BaseCurrency": tenant.base_currency,
            "CountryCode": tenant.country_code,
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 3,
            "DefaultSalesTax": tenant.default_sales_tax,
            "DefaultPurchasesTax": tenant.default_purchases_tax,
            "CreatedDateUTC": ms_datetime(tenant.created_at),
            "Timezone": tenant.org_timezone,
            "OrganisationEntityType": tenant.organisation_type,
            "ShortCode": tenant.short_code or f"!{str(tenant.tenant_id)[:5]}",
            "Edition": "BUSINESS",
            "Class": "PREMIUM",
            "Addresses": [],
            "Phones": [],
            "ExternalLinks": [],
            "PaymentTerms": {},
        }


