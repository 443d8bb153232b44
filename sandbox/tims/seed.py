"""Reference data every site has (chart, tax codes, dimensions) and the demo's master data and
documents: an industrial gas and welding supplier, as TIMS sites are. Deterministic per seed."""

from __future__ import annotations

import random
from decimal import Decimal

from django.db import transaction

from sandbox.models import TimsDimension, TimsDimensionValue, TimsGlAccount, TimsProduct, TimsSite, TimsTaxCode
from sandbox.tims import masterdata, purchasing, sales
from sandbox.tims.records import SYSTEM_ACTOR, stamp_new, user_actor
from sandbox.tims.sales import LineInput

CHART = [
    # code, name, type, subtype, control
    ("1100", "Trade debtors", "asset", "receivable", True),
    ("1200", "Bank current account", "asset", "bank", False),
    ("1210", "Cash on hand", "asset", "cash", False),
    ("1300", "Inventory", "asset", "inventory", False),
    ("1500", "Cylinder fleet", "asset", "fixed_asset", False),
    ("2100", "Trade creditors", "liability", "payable", True),
    ("2150", "Goods received not invoiced", "liability", "current_liability", False),
    ("2200", "VAT on sales", "liability", "current_liability", False),
    ("2210", "VAT on purchases", "liability", "current_liability", False),
    ("3000", "Share capital", "equity", "equity", False),
    ("3100", "Retained earnings", "equity", "equity", True),
    ("4000", "Sales - industrial gases", "revenue", "revenue", False),
    ("4010", "Sales - welding hardgoods", "revenue", "revenue", False),
    ("4100", "Cylinder rental", "revenue", "revenue", False),
    ("4200", "Delivery charges", "revenue", "other_income", False),
    ("5000", "Cost of sales", "expense", "cost_of_sales", False),
    ("5400", "Stock shrinkage", "expense", "expense", False),
    ("6000", "Wages and salaries", "expense", "expense", False),
    ("6100", "Rent and rates", "expense", "expense", False),
    ("6200", "Utilities", "expense", "expense", False),
    ("6300", "Vehicle running costs", "expense", "expense", False),
]
TAX_CODES = [
    ("S20", "Standard rate 20%", "20", "both", False),
    ("R5", "Reduced rate 5%", "5", "both", False),
    ("Z0", "Zero rated", "0", "both", False),
    ("EX", "Exempt", "0", "both", True),
    ("RC", "Reverse charge (EU purchases)", "0", "purchases", False),
]
DIMENSIONS = [
    ("BRANCH", "Branch", ["sales", "purchases", "inventory", "gl"], [("LEEDS", "Leeds depot"), ("HULL", "Hull depot"), ("YORK", "York depot")]),
    ("DEPT", "Department", ["sales", "gl"], [("SALES", "Sales"), ("OPS", "Operations"), ("ADMIN", "Administration")]),
    ("CYLCLASS", "Cylinder class", ["sales", "inventory"], [("HP", "High pressure"), ("LP", "Low pressure"), ("CRYO", "Cryogenic")]),
]
WAREHOUSES = ["LEEDS", "HULL"]

CUSTOMERS = [
    ("Northern Welding Supplies Ltd", "Leeds", "LS11 5QT", "GBP", "net", 30),
    ("Humber Fabrication Ltd", "Hull", "HU2 8AA", "GBP", "net", 30),
    ("Aire Valley Engineering", "Bradford", "BD1 1AA", "GBP", "end_of_month", 30),
    ("Pennine Pipework plc", "Halifax", "HX1 2AB", "GBP", "net", 45),
    ("York Brewing Company", "York", "YO1 7HH", "GBP", "net", 14),
    ("St James's Hospital Trust", "Leeds", "LS9 7TF", "GBP", "net", 60),
    ("Wharfedale Motors", "Ilkley", "LS29 8AA", "GBP", "due_on_receipt", 0),
    ("Calder Metalworks", "Wakefield", "WF1 1AA", "GBP", "net", 30),
    ("Rotterdam Staalbouw BV", "Rotterdam", "3011 AA", "EUR", "net", 30),
    ("Ouse Marine Services", "Goole", "DN14 5AA", "GBP", "net", 30),
    ("Dales Farm Dairies", "Skipton", "BD23 1AA", "GBP", "end_of_month", 15),
    ("Ohio Cryogenics Inc", "Columbus", "43215", "USD", "net", 45),
]
VENDORS = [
    ("Cryogas Industrial plc", "GBP", "end_of_month", 30, "5000"),
    ("Weldmaster Hardgoods Ltd", "GBP", "net", 30, "5000"),
    ("EuroValve GmbH", "EUR", "net", 45, "5000"),
    ("Yorkshire Water", "GBP", "net", 14, "6200"),
    ("Fleetline Vehicle Leasing", "GBP", "net", 30, "6300"),
]
PRODUCTS = [
    # sku, name, category, unit, sale, cost, tracked, tax, sales account
    ("OX-300-CYL", "Oxygen, industrial, size W cylinder", "GAS-IND", "CYL", "48.5000", "21.2000", True, "S20", "4000"),
    ("AR-200-CYL", "Argon, size V cylinder", "GAS-IND", "CYL", "62.0000", "27.5000", True, "S20", "4000"),
    ("CO2-50-CYL", "Carbon dioxide, 50 kg", "GAS-IND", "CYL", "55.2500", "22.1000", True, "S20", "4000"),
    ("ACET-CYL", "Acetylene, size G cylinder", "GAS-IND", "CYL", "71.4000", "33.9000", True, "S20", "4000"),
    ("MIX-ARCO2", "Argon/CO2 shielding mix, size V", "GAS-MIX", "CYL", "66.8000", "29.3000", True, "S20", "4000"),
    ("N2-LIQ-CF", "Liquid nitrogen, per cubic foot", "GAS-BULK", "CF", "0.124500", "0.051250", False, "S20", "4000"),
    ("O2-MED-CD", "Medical oxygen, size CD", "GAS-MED", "CYL", "38.9000", "17.4000", True, "Z0", "4000"),
    ("WIRE-ER70-15", "MIG wire ER70S-6 0.8 mm, 15 kg", "HARDGOODS", "EA", "42.9900", "24.1000", True, "S20", "4010"),
    ("ROD-7018-5", "Stick electrodes 7018 3.2 mm, 5 kg", "HARDGOODS", "EA", "28.5000", "14.7500", True, "S20", "4010"),
    ("REG-OX-2ST", "Oxygen regulator, two-stage", "HARDGOODS", "EA", "89.0000", "46.0000", True, "S20", "4010"),
    ("HELMET-AD", "Auto-darkening welding helmet", "SAFETY", "EA", "119.0000", "61.5000", True, "S20", "4010"),
    ("GLOVE-TIG", "TIG welding gloves (pair)", "SAFETY", "EA", "12.5000", "5.9000", True, "S20", "4010"),
    ("DELIV-STD", "Standard delivery", "SERVICE", "EA", "15.0000", None, False, "S20", "4200"),
    ("HAZMAT-FEE", "Hazardous goods handling", "SERVICE", "EA", "7.5000", None, False, "S20", "4200"),
]

SALES_DESK = user_actor("sales1", "Sales desk")
DISPATCH = user_actor("warehouse1", "Dispatch desk")
ACCOUNTS = user_actor("accounts1", "Accounts")
BUYER = user_actor("buyer1", "Purchasing")


def seed_reference_data(site: TimsSite) -> None:
    """Chart of accounts, tax codes and three dimensions (Xero maps at most two)."""
    for code, name, type_, subtype, control in CHART:
        account = TimsGlAccount(site=site, code=code, name=name, type=type_, subtype=subtype, is_control_account=control)
        stamp_new(account, SYSTEM_ACTOR)
        account.save()
    for code, name, rate, applies, exempt in TAX_CODES:
        tax = TimsTaxCode(site=site, code=code, name=name, rate=Decimal(rate), applies_to=applies, is_exempt=exempt)
        stamp_new(tax, SYSTEM_ACTOR)
        tax.save()
    for code, name, applies, values in DIMENSIONS:
        dimension = TimsDimension(site=site, code=code, name=name, applies_to=applies)
        stamp_new(dimension, SYSTEM_ACTOR)
        dimension.save()
        for value_code, value_name in values:
            value = TimsDimensionValue(site=site, dimension=dimension, code=value_code, name=value_name)
            stamp_new(value, SYSTEM_ACTOR)
            value.save()


def order_lines(rng: random.Random, products: list[TimsProduct], warehouse: str) -> list[LineInput]:
    """One to three products, sometimes a discount, sometimes a cylinder rental fee."""
    lines = []
    for product in rng.sample(products, rng.randint(1, min(3, len(products)))):
        quantity = Decimal(rng.choice([1, 2, 4, 6, 10, 12])) if product.unit != "CF" else Decimal(rng.choice([250, 500, 1200]))
        discount = Decimal(rng.choice([0, 0, 0, 5, 10])) or None
        lines.append(
            LineInput(
                description=product.name,
                quantity=quantity,
                unit_price=product.sale_price,
                product=product,
                discount_percent=discount,
                dimensions=[{"dimension_code": "BRANCH", "value_code": warehouse}, {"dimension_code": "DEPT", "value_code": "SALES"}],
            )
        )
    if rng.random() < 0.3:
        cylinders = Decimal(rng.randint(1, 6))
        lines.append(
            LineInput(
                description="Cylinder rental, this month",
                quantity=cylinders,
                unit_price=Decimal("3.25"),
                line_type="fee",
                tax_code="S20",
                account_code="4100",
                unit="EA",
                dimensions=[{"dimension_code": "BRANCH", "value_code": warehouse}],
            )
        )
    return lines


@transaction.atomic
def tims_demo_seed(*, site: TimsSite, seed: int = 1) -> dict:
    """Customers, vendors, products with opening stock, and orders in every status (some
    invoiced and paid). Returns counts. Run on a fresh site (with reference data)."""
    rng = random.Random(f"tims-seed:{seed}")
    customers = []
    for index, (name, city, postcode, currency, terms, days) in enumerate(CUSTOMERS):
        address = {"line1": f"{rng.randint(1, 120)} {rng.choice(['Foundry', 'Mill', 'Dock', 'Station', 'Canal'])} Lane", "city": city, "postal_code": postcode, "country": {"EUR": "NL", "USD": "US"}.get(currency, "GB")}
        body = {
            "name": name,
            "currency": currency,
            "email": f"accounts{index + 1}@customer{index + 1}.example",
            "payment_terms": {"type": terms, "days": days},
            "billing_address": address,
            "shipping_address": {"attention": "Goods in", **address},
            "default_tax_code": "S20" if currency == "GBP" else "Z0",
            "credit_limit": str(rng.choice([5000, 10000, 25000, 50000])),
            "contacts": [{"name": f"Accounts payable {index + 1}", "email": f"ap{index + 1}@customer{index + 1}.example", "role": "Accounts payable", "is_primary": True}],
        }
        if name.startswith("St James"):
            body["tax_exempt"] = True
        customers.append(masterdata.customer_create(site=site, body=body, actor=SALES_DESK))
    masterdata.customer_update(customer=customers[6], body={"status": "on_hold"}, actor=ACCOUNTS)
    vendors = []
    for name, currency, terms, days, expense in VENDORS:
        body = {"name": name, "currency": currency, "payment_terms": {"type": terms, "days": days}, "default_expense_account_code": expense}
        vendors.append(masterdata.vendor_create(site=site, body=body, actor=BUYER))
    products = []
    for sku, name, category, unit, sale, cost, tracked, tax, account in PRODUCTS:
        body = {
            "sku": sku, "name": name, "category": category, "unit": unit, "currency": site.base_currency,
            "sale_price": sale, "tax_code": tax, "purchase_tax_code": "S20", "tracked": tracked,
            "is_sold": True, "is_purchased": cost is not None, "sales_account_code": account,
        }
        if cost:
            body |= {"purchase_price": cost, "cogs_account_code": "5000"}
        if tracked:
            body["inventory_account_code"] = "1300"
        products.append(masterdata.product_create(site=site, body=body, actor=BUYER))
    # Opening stock: one received and billed purchase order per warehouse and supplier.
    stocked = [p for p in products if p.tracked]
    for warehouse in WAREHOUSES:
        for vendor, group in ((vendors[0], [p for p in stocked if p.category.startswith("GAS")]), (vendors[1], [p for p in stocked if not p.category.startswith("GAS")])):
            lines = [LineInput(description=p.name, quantity=Decimal(rng.randint(40, 160)), unit_price=p.purchase_price, product=p) for p in group]
            po = purchasing.purchase_order_create(vendor=vendor, lines=lines, actor=BUYER, warehouse=warehouse)
            purchasing.purchase_order_receive(po, actor=BUYER)
            purchasing.vendor_bill_create(vendor=vendor, bill_number=f"{vendor.vendor_code}-{rng.randint(10000, 99999)}", purchase_order=po, actor=ACCOUNTS)
    purchasing.purchase_order_create(
        vendor=vendors[2], lines=[LineInput(description=products[9].name, quantity=Decimal(20), unit_price=Decimal("52.00"), product=products[9], tax_code="RC")],
        actor=BUYER,
    )
    purchasing.vendor_bill_create(
        vendor=vendors[3], bill_number=f"YW-{rng.randint(100000, 999999)}", actor=ACCOUNTS, memo="Water, Leeds depot",
        lines=[LineInput(description="Water and sewerage", quantity=Decimal(1), unit_price=Decimal("412.60"), line_type="fee", tax_code="Z0", account_code="6200")],
    )
    # Orders in every status.
    sellable = [p for p in products if p.category != "SERVICE"]
    active = [c for c in customers if c.status == "active"]
    plan = ["open"] * 3 + ["allocated"] * 3 + ["shipped"] * 4 + ["completed"] * 4 + ["cancelled"] * 2 + ["cancelled_after_ship"]
    orders = []
    for status in plan:
        warehouse = rng.choice(WAREHOUSES)
        order = sales.sales_order_create(
            customer=rng.choice(active), lines=order_lines(rng, sellable, warehouse), actor=SALES_DESK, warehouse=warehouse,
            customer_reference=f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.7 else None,
        )
        if status in ("allocated", "shipped", "completed", "cancelled_after_ship"):
            sales.sales_order_allocate(order, actor=DISPATCH)
        if status in ("shipped", "completed", "cancelled_after_ship"):
            sales.sales_order_ship(order, actor=DISPATCH)
        if status == "completed":
            sales.sales_order_complete(order, actor=DISPATCH)
        if status.startswith("cancelled"):
            sales.sales_order_cancel(order, actor=SALES_DESK, reason="Customer cancelled")
        orders.append(order)
    # Payments: some invoices paid in full, one in part.
    open_invoices = [i for o in orders for i in o.invoices.filter(status="open").order_by("invoice_number")]
    for index, invoice in enumerate(open_invoices[:5]):
        amount = invoice.amount_due if index != 2 else (invoice.amount_due / 2).quantize(Decimal("0.01"))
        sales.payment_create(
            customer=invoice.customer, payment_date=invoice.invoice_date, amount=amount, currency=invoice.currency,
            method=rng.choice(["bank_transfer", "check", "card", "bank_transfer"]), actor=ACCOUNTS,
            allocations=[sales.AllocationInput(invoice.id, amount)], reference=f"BACS {invoice.customer.customer_code}",
        )
    return {"customers": len(customers), "vendors": len(vendors), "products": len(products), "sales_orders": len(orders)}
