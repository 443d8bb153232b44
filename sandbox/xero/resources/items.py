"""Items (api-notes §6.4): Code required, at most 30 characters, unique; Name ≤ 50; not paged;
If-Modified-Since; DELETE exists; tracked when an inventory and a COGS account are set."""

from __future__ import annotations

from sandbox.models import XeroAccount, XeroItem
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import round_unit
from sandbox.xero.resources.base import ApiContext, Resource, boolean, decimal, drop_empty, stamp, text, touch
from sandbox.xero.where import FieldRef, Kind

ITEMS_READ = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.settings", "accounting.settings.read",
     "accounting.invoices", "accounting.invoices.read"}
)
ITEMS_WRITE = frozenset({"accounting.transactions", "accounting.settings", "accounting.invoices"})


class Items(Resource):
    plural = "Items"
    type_name = "Item"
    id_key = "ItemID"
    id_attr = "item_id"
    model = XeroItem
    supports_if_modified_since = True
    default_order = ("code", "pk")
    read_scopes = ITEMS_READ
    write_scopes = ITEMS_WRITE
    can_delete = True
    where_fields = {
        "ItemID": FieldRef("item_id", Kind.GUID),
        "Code": FieldRef("code", Kind.STRING),
        "Name": FieldRef("name", Kind.STRING),
        "IsSold": FieldRef("is_sold", Kind.BOOL),
        "IsPurchased": FieldRef("is_purchased", Kind.BOOL),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    def get(self, ctx, ident):
        return super().get(ctx, ident) or self.queryset(ctx).filter(code=ident).first()

    def serialize(self, ctx: ApiContext, obj: XeroItem, *, full: bool = True) -> dict:
        body = drop_empty(
            {
                "ItemID": str(obj.item_id),
                "Code": obj.code,
                "Name": obj.name,
                "Description": obj.description,
                "PurchaseDescription": obj.purchase_description,
                "InventoryAssetAccountCode": obj.inventory_asset_account_code,
            }
        )
        body.update({"IsSold": obj.is_sold, "IsPurchased": obj.is_purchased, **stamp(obj)})
        if obj.is_purchased:
            body["PurchaseDetails"] = drop_empty(
                {
                    "UnitPrice": round_unit(obj.purchase_unit_price, ctx.unitdp) if obj.purchase_unit_price is not None else None,
                    "AccountCode": obj.purchase_account_code,
                    "COGSAccountCode": obj.purchase_cogs_account_code,
                    "TaxType": obj.purchase_tax_type,
                }
            )
        if obj.is_sold:
            body["SalesDetails"] = drop_empty(
                {
                    "UnitPrice": round_unit(obj.sales_unit_price, ctx.unitdp) if obj.sales_unit_price is not None else None,
                    "AccountCode": obj.sales_account_code,
                    "TaxType": obj.sales_tax_type,
                }
            )
        body["IsTrackedAsInventory"] = obj.is_tracked_as_inventory
        if obj.is_tracked_as_inventory:
            body["TotalCostPool"] = obj.total_cost_pool
            body["QuantityOnHand"] = obj.quantity_on_hand
        return body

    def match_for_post(self, ctx, data):
        found = super().match_for_post(ctx, data)
        if found is None and data.get("Code"):
            found = self.queryset(ctx).filter(code=data["Code"]).first()
        return found

    def _account(self, ctx: ApiContext, code: str, *, inventory: bool = False) -> str:
        account = XeroAccount.objects.filter(tenant=ctx.tenant, code__iexact=code).exclude(status="DELETED").first()
        if account is None:
            raise ValidationFailed(f"Account code '{code}' is not a valid code.")
        if inventory and account.type != "INVENTORY":
            raise ValidationFailed("The InventoryAssetAccountCode must be an account of type INVENTORY.")
        return account.code

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroItem:
        item = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        creating = item is None
        if creating:
            item = XeroItem(tenant=ctx.tenant, created_by_app=ctx.app)
        code = text(data, "Code")
        if creating and not code:
            raise ValidationFailed("Item Code is required.")
        if code is not None:
            if len(code) > 30:
                raise ValidationFailed("The Item Code must not be more than 30 characters long.")
            if XeroItem.objects.filter(tenant=ctx.tenant, code__iexact=code).exclude(pk=item.pk).exists():
                raise ValidationFailed(f"Item Code '{code}' already exists.")
            item.code = code
        name = text(data, "Name", max_length=50, label="The Item Name")
        if name is not None:
            item.name = name
        for key, attr in (("Description", "description"), ("PurchaseDescription", "purchase_description")):
            value = text(data, key, max_length=4000)
            if value is not None:
                setattr(item, attr, value)
        for key, attr in (("IsSold", "is_sold"), ("IsPurchased", "is_purchased")):
            value = boolean(data, key)
            if value is not None:
                setattr(item, attr, value)
        if data.get("InventoryAssetAccountCode"):
            item.inventory_asset_account_code = self._account(ctx, str(data["InventoryAssetAccountCode"]), inventory=True)
        for key, prefix in (("SalesDetails", "sales"), ("PurchaseDetails", "purchase")):
            details = data.get(key)
            if not isinstance(details, dict):
                continue
            price = decimal(details, "UnitPrice")
            if price is not None:
                setattr(item, f"{prefix}_unit_price", round_unit(price, 4))
            if details.get("AccountCode"):
                setattr(item, f"{prefix}_account_code", self._account(ctx, str(details["AccountCode"])))
            if details.get("TaxType"):
                setattr(item, f"{prefix}_tax_type", str(details["TaxType"]))
            if prefix == "purchase" and details.get("COGSAccountCode"):
                item.purchase_cogs_account_code = self._account(ctx, str(details["COGSAccountCode"]))
        # Setting IsSold or IsPurchased to false nulls the matching details (api-notes §6.4).
        if not item.is_sold:
            item.sales_unit_price, item.sales_account_code, item.sales_tax_type = None, "", ""
        if not item.is_purchased:
            item.purchase_unit_price, item.purchase_account_code, item.purchase_tax_type = None, "", ""
        if item.is_tracked_as_inventory:
            item.purchase_account_code = ""  # not applicable to tracked items
        touch(item)
        item.save()
        return item

    def delete(self, ctx, obj: XeroItem) -> None:
        obj.delete()
        return None
