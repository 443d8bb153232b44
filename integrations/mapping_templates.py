"""The default mapping sets for the Xero ↔ TIMS rows of DESIGN §1, as data.

``manage.py install_mapping_templates`` (and the demo) installs them; they are then ordinary
mapping sets, value maps and rules that integration admins edit in the admin. Installing
again adds what is missing and never overwrites what people changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from integrations.models import FieldMapping, MappingSet, Rule, ValueMap, ValueMapEntry

CATEGORY_ACCOUNTS = "TIMS product category → Xero sales account"
SALES_TAX = "TIMS tax code → Xero tax type (sales)"
PURCHASE_TAX = "TIMS tax code → Xero tax type (purchases)"
GL_ACCOUNTS = "TIMS GL account → Xero account code"

VALUE_MAPS: dict[str, dict[str, Any]] = {
    CATEGORY_ACCOUNTS: {
        "description": "Which Xero revenue account each TIMS product category sells into. A category "
                       "missing here (medical gases, GAS-MED, until finance decides) sends the order to the "
                       "review queue.",
        # Lines without a product are keyed by their line type (freight, fee).
        "entries": {"GAS-IND": "200", "GAS-MIX": "200", "GAS-BULK": "200", "HARDGOODS": "200", "SAFETY": "200",
                    "SERVICE": "260", "freight": "260", "fee": "260"},
    },
    SALES_TAX: {
        "description": "TIMS tax codes on sales lines → Xero TaxType.",
        "entries": {"S20": "OUTPUT2", "R5": "RROUTPUT", "Z0": "ZERORATEDOUTPUT", "EX": "EXEMPTOUTPUT"},
    },
    PURCHASE_TAX: {
        "description": "TIMS tax codes on purchase lines → Xero TaxType.",
        "entries": {"S20": "INPUT2", "Z0": "ZERORATEDINPUT", "EX": "NONE", "RC": "NONE"},
    },
    GL_ACCOUNTS: {
        "description": "TIMS general-ledger accounts → Xero chart of accounts.",
        "entries": {"4000": "200", "4010": "200", "4100": "200", "4200": "260", "5000": "310", "6200": "429",
                    "6300": "429", "1200": "090", "1210": "090", "1100": "610", "2100": "800", "2200": "820",
                    "2210": "820", "1300": "630", "5400": "310", "6000": "429", "6100": "429", "3000": "970",
                    "2150": "630"},  # goods received not invoiced → inventory
    },
}


@dataclass(frozen=True)
class Template:
    name: str
    source: tuple[str, str]
    target: tuple[str, str]
    description: str
    fields: list[tuple[str, dict[str, Any]]]
    rules: list[dict[str, Any]] = field(default_factory=list)


DOCUMENT_RULES = [
    {"name": "Cancelled orders void their invoice", "condition": "status == 'cancelled'", "action": "void",
     "reason": "The order was cancelled in TIMS"},
    {"name": "Invoice on shipment", "condition": "status not in ('shipped', 'completed')", "action": "skip",
     "reason": "Not shipped yet: invoiced when TIMS ships it"},
    {"name": "Zero-value orders", "condition": "total == 0", "action": "skip",
     "reason": "Zero-value order: nothing to invoice"},
]

# The TIMS dimensions that become Xero tracking categories. Xero keeps at most two active
# categories per organisation (api-notes/xero.md §6.6), and the demo organisation has one
# (Region), so one goes by default; an admin names a second in the rule "Dimensions Xero tracks"
# of the dimensions and values mappings. Document lines then carry the dimensions that became
# categories (integrations/engine/tracking.py).
XERO_DIMENSIONS = ("BRANCH",)
_TRACKING_ARGS = ", ".join(repr(code) for code in XERO_DIMENSIONS) + ("," if len(XERO_DIMENSIONS) == 1 else "")


def _line_tracking(tags: str) -> tuple[str, dict[str, Any]]:
    """Line dimensions as tracking by names, resolved from the TIMS codes."""
    return ("lines[].tracking", {"expression": f"tracking({tags})"})


SALES_LINES = [
    ("lines[]", {"expression": "[l for l in lines if l['line_type'] != 'comment']"}),
    ("lines[].item_code", {"source_path": "sku"}),
    ("lines[].description", {"expression": "line['description'] or line['sku']", "required": True}),
    ("lines[].quantity", {"source_path": "quantity", "conversion": "decimal"}),
    ("lines[].unit_amount", {"source_path": "unit_price", "conversion": "decimal"}),
    ("lines[].discount_rate", {"source_path": "discount_percent", "conversion": "decimal"}),
    ("lines[].account_code", {
        "expression": "lookup('product', line['product_id'])['category'] if line['product_id'] else line['line_type']",
        "value_map": CATEGORY_ACCOUNTS, "required": True}),
    ("lines[].tax_type", {"source_path": "tax_code", "value_map": SALES_TAX, "required": True}),
    _line_tracking("line['dimensions']"),
]

# Customers and vendors alike: the TIMS code is the ContactNumber, how unknown outcomes are settled.
CONTACT_FIELDS = [
    ("name", {"source_path": "name", "required": True}),
    ("number", {"source_path": "code", "required": True}),
    ("email", {"source_path": "email"}),
    ("tax_number", {"source_path": "tax_number"}),
    ("default_currency", {"source_path": "currency"}),
]

TEMPLATES = [
    Template(
        "TIMS customers → Xero contacts", ("tims", "customer"), ("xero", "contact"),
        "Customers as Xero contacts; the TIMS account code becomes the ContactNumber (the lookup key).",
        CONTACT_FIELDS,
    ),
    Template(
        "TIMS vendors → Xero contacts", ("tims", "vendor"), ("xero", "contact"),
        "Vendors as Xero contacts (suppliers); the TIMS vendor code becomes the ContactNumber.",
        CONTACT_FIELDS,
    ),
    Template(
        "TIMS products → Xero items", ("tims", "product"), ("xero", "item"),
        "Products as untracked Xero items: TIMS owns the stock (connectors/tims/README.md).",
        [
            ("code", {"source_path": "sku", "required": True}),
            ("name", {"expression": "name[:50]", "required": True}),
            ("description", {"expression": "description or name"}),
            ("is_sold", {"expression": "is_sold != False", "conversion": "boolean"}),
            ("is_purchased", {"expression": "is_purchased != False", "conversion": "boolean"}),
            ("sales.unit_price", {"expression": "round(decimal(sale_price), 4) if sale_price is not None else None"}),
            ("sales.account_code", {"source_path": "category", "value_map": CATEGORY_ACCOUNTS}),
            ("sales.tax_type", {"source_path": "tax_code", "value_map": SALES_TAX}),
            ("purchase.unit_price", {"expression": "round(decimal(purchase_price), 4) if purchase_price is not None else None"}),
            ("purchase.account_code", {"default": "310"}),
            ("purchase.tax_type", {"source_path": "purchase_tax_code", "value_map": PURCHASE_TAX}),
        ],
        [{"name": "Inactive products", "condition": "status == 'inactive'", "action": "skip",
          "reason": "Inactive in TIMS"}],
    ),
    Template(
        "TIMS sales orders → Xero invoices", ("tims", "sales_order"), ("xero", "invoice"),
        "Shipped or completed orders become authorised sales invoices numbered as the order; a "
        "cancelled order voids its invoice; the contact is the one the customers flow linked.",
        [
            ("type", {"default": "ACCREC"}),
            ("number", {"source_path": "number", "required": True}),
            ("reference", {"expression": "customer_reference or number"}),
            ("contact.remote_id", {"expression": "linked('customer', customer_id)"}),
            ("contact.number", {"source_path": "customer_code"}),
            ("date", {"expression": "date(shipped_at) if shipped_at else order_date", "conversion": "date"}),
            ("due_date", {"expression": "due_date or add_days(order_date, 30)", "conversion": "date"}),
            ("status", {"default": "AUTHORISED"}),
            ("line_amount_types", {"expression": "'Inclusive' if amounts_tax_inclusive else 'Exclusive'"}),
            ("currency_code", {"source_path": "currency", "required": True}),
            ("currency_rate", {"expression": "exchange_rate if currency != base_currency else None"}),
            *SALES_LINES,
        ],
        DOCUMENT_RULES,
    ),
    Template(
        "TIMS vendor bills → Xero bills", ("tims", "vendor_bill"), ("xero", "invoice"),
        "Vendor bills as Xero bills (ACCPAY); bill numbers are not unique in Xero, so the reference "
        "carries the TIMS bill id for lookups.",
        [
            ("type", {"default": "ACCPAY"}),
            ("number", {"source_path": "number", "required": True}),
            ("reference", {"expression": "concat('TIMS-BILL-', remote_id)"}),
            ("contact.remote_id", {"expression": "linked('vendor', vendor_id)"}),
            ("contact.number", {"source_path": "vendor_code"}),
            ("date", {"source_path": "bill_date", "conversion": "date"}),
            ("due_date", {"source_path": "due_date", "conversion": "date"}),
            ("status", {"default": "AUTHORISED"}),
            ("line_amount_types", {"expression": "'Inclusive' if amounts_tax_inclusive else 'Exclusive'"}),
            ("currency_code", {"source_path": "currency", "required": True}),
            ("lines[]", {"source_path": "lines"}),
            ("lines[].description", {"expression": "line['description'] or line['sku']", "required": True}),
            ("lines[].quantity", {"source_path": "quantity", "conversion": "decimal"}),
            ("lines[].unit_amount", {"source_path": "unit_cost", "conversion": "decimal"}),
            ("lines[].account_code", {"expression": "line['account_code'] or '5000'", "value_map": GL_ACCOUNTS, "required": True}),
            ("lines[].tax_type", {"source_path": "tax_code", "value_map": PURCHASE_TAX, "required": True}),
            _line_tracking("line['dimensions']"),
        ],
        [{"name": "Voided bills", "condition": "status == 'void'", "action": "void", "reason": "The bill was voided in TIMS"}],
    ),
    Template(
        "TIMS AR payments → Xero payments", ("tims", "payment"), ("xero", "payment"),
        "A customer payment applied to one invoice becomes a Xero payment against the invoice of the "
        "same number, into the bank account its deposit account maps to.",
        [
            # Xero invoices are numbered as the TIMS order: find it through the AR invoice paid.
            ("invoice_number", {"expression": "lookup('receivable_invoice', allocations[0]['invoice_id'])['order_number'] "
                                              "if allocations else None", "required": True}),
            ("amount", {"expression": "allocations[0]['amount'] if allocations else amount", "conversion": "money", "required": True}),
            ("date", {"source_path": "payment_date", "conversion": "date", "required": True}),
            ("account_code", {"expression": "deposit_account_code or '1200'", "value_map": GL_ACCOUNTS}),
            ("reference", {"expression": "concat('TIMS-PAY-', number or remote_id)"}),
        ],
        [{"name": "Voided payments", "condition": "status == 'void'", "action": "skip",
          "reason": "Voided in TIMS before it reached Xero"},
         {"name": "Split payments", "condition": "len(allocations) > 1", "action": "review",
          "reason": "Applied to several invoices: match it on the reconciliation screen"}],
    ),
]


# The TIMS AR invoice behind a Xero invoice: the Xero invoice came from a TIMS sales order
# (the orders flow's link), and TIMS issued one AR invoice for it.
AR_INVOICE = "target_lookup('receivable_invoice', 'sales_order_id', origin('invoice', invoice_id, 'sales_order'))"

TEMPLATES.append(Template(
    "Xero payments → TIMS AR payments", ("xero", "payment"), ("tims", "payment"),
    "A payment recorded in Xero against an invoice that came from TIMS becomes a TIMS customer "
    "payment applied to that order's AR invoice, which TIMS then marks paid. Payments Ledgerbridge "
    "itself wrote into Xero from TIMS are never sent back.",
    [
        ("customer_id", {"expression": f"{AR_INVOICE}['customer_id']", "required": True}),
        ("payment_date", {"source_path": "date", "conversion": "date", "required": True}),
        ("amount", {"source_path": "amount", "conversion": "money", "required": True}),
        ("currency", {"expression": f"{AR_INVOICE}['currency']", "required": True}),
        ("method", {"default": "bank_transfer"}),
        ("reference", {"expression": "concat('Xero payment ', reference or remote_id)"}),
        ("deposit_account_code", {"default": "1200"}),
        ("external_refs.xero", {"source_path": "remote_id", "required": True}),
        ("allocations[]", {"expression": f"[{AR_INVOICE}]"}),
        ("allocations[].invoice_id", {"source_path": "remote_id", "required": True}),
        ("allocations[].amount", {"expression": "record['amount']", "conversion": "money"}),
    ],
    [
        {"name": "Deleted payments", "condition": "status == 'DELETED'", "action": "skip",
         "reason": "Deleted in Xero"},
        {"name": "Invoices that did not come from TIMS", "condition": "origin('invoice', invoice_id, 'sales_order') is None",
         "action": "skip", "reason": "Its invoice was not created from a TIMS order"},
    ],
))


TEMPLATES += [
    Template(
        "TIMS GL entries → Xero manual journals", ("tims", "gl_entry"), ("xero", "manual_journal"),
        "Journals TIMS posts by hand, for payroll or at period end, as Xero manual journals (debits "
        "positive, credits negative). Entries that come from documents reach Xero through their own "
        "flows (invoices, bills, payments, stock), so they are skipped, or the books would count them twice.",
        [
            ("narration", {"expression": "concat('TIMS journal ', number, ': ', memo or source)", "required": True}),
            ("date", {"source_path": "entry_date", "conversion": "date", "required": True}),
            ("status", {"default": "POSTED"}),
            ("line_amount_types", {"default": "NoTax"}),
            ("lines[]", {"source_path": "lines"}),
            ("lines[].account_code", {"source_path": "account_code", "value_map": GL_ACCOUNTS, "required": True}),
            ("lines[].amount", {"expression": "line['debit'] - line['credit']", "conversion": "money"}),
            ("lines[].description", {"expression": "line['memo'] or line['account_name']"}),
            _line_tracking("line['dimensions']"),
        ],
        [{"name": "Entries from documents", "action": "skip",
          "condition": "source in ('sales', 'purchases', 'cash_receipts', 'cash_disbursements', 'inventory')",
          "reason": "Posted from a document that reaches Xero through its own flow"},
         {"name": "Reversed entries", "condition": "status == 'reversed'", "action": "skip",
          "reason": "Reversed in TIMS"}],
    ),
    Template(
        "TIMS inventory adjustments → Xero manual journals", ("tims", "inventory_adjustment"), ("xero", "manual_journal"),
        "TIMS owns quantities and average cost; Xero keeps untracked items, so each stock adjustment's "
        "value moves between inventory and its offset account as a manual journal.",
        [
            ("narration", {"expression": "concat('TIMS stock adjustment ', number, ': ', reason, ' ', sku, ' ', "
                                         "quantity_delta, ' ', unit)", "required": True}),
            ("date", {"source_path": "adjustment_date", "conversion": "date", "required": True}),
            ("status", {"default": "POSTED"}),
            ("line_amount_types", {"default": "NoTax"}),
            ("lines[]", {"expression": "[{'account': '1300', 'amount': total_cost}, "
                                       "{'account': offset_account_code or '5400', 'amount': -total_cost}]"}),
            ("lines[].account_code", {"source_path": "account", "value_map": GL_ACCOUNTS, "required": True}),
            ("lines[].amount", {"source_path": "amount", "conversion": "money"}),
            ("lines[].description", {"expression": "concat(record['sku'], ' ', record['reason'])"}),
            # TIMS tags stock by warehouse, and its branches are its warehouses (LEEDS, HULL).
            _line_tracking("[{'dimension_code': 'BRANCH', 'value_code': record['warehouse']}]"),
        ],
        [{"name": "No value change", "condition": "total_cost == 0", "action": "skip",
          "reason": "The adjustment moved no value"}],
    ),
]


# TIMS dimensions as Xero tracking categories, created with their values as options; then the
# values on their own, one link per value, so a new value adds an option, a renamed one renames
# its option and an inactive one archives it (Xero refuses to delete an option in use).
XERO_DIMENSIONS_RULE = {"name": "Dimensions Xero tracks", "action": "skip",
                        "reason": "Not one of the (at most two) dimensions sent to Xero as tracking categories"}
NAME_AND_STATUS = [
    ("name", {"expression": "name[:100]", "required": True}),  # Xero's limit for both (§6.6)
    ("status", {"expression": "'ARCHIVED' if status == 'inactive' else 'ACTIVE'"}),
]
TEMPLATES += [
    Template(
        "TIMS dimensions → Xero tracking categories", ("tims", "dimension"), ("xero", "tracking_category"),
        "Analytical dimensions as Xero tracking categories, named as in TIMS and created with their active "
        "values as options. Xero keeps at most two active categories: the rule names the dimensions that go, "
        "and a third is refused before any call. An inactive dimension archives its category.",
        [
            *NAME_AND_STATUS,
            ("options[]", {"expression": "[v for v in dimension_values(remote_id) if v['status'] == 'active']"}),
            ("options[].name", {"expression": "line['name'][:100]", "required": True}),
        ],
        [{**XERO_DIMENSIONS_RULE, "condition": f"code not in ({_TRACKING_ARGS})"}],
    ),
    Template(
        "TIMS dimension values → Xero tracking options", ("tims", "dimension_value"), ("xero", "tracking_option"),
        "Dimension values as options of their dimension's tracking category, once the dimensions flow has "
        "made it: a new value adds an option, a renamed one renames it, an inactive one archives it. After "
        "the rule changes, run this flow in full so the values it skipped before are read again.",
        [
            *NAME_AND_STATUS,
            ("category_id", {"expression": "linked('dimension', dimension_id)", "required": True}),
        ],
        [{**XERO_DIMENSIONS_RULE, "condition": f"dimension_code not in ({_TRACKING_ARGS})"},
         {"name": "Category not in Xero yet", "condition": "linked('dimension', dimension_id) is None", "action": "skip",
          "reason": "Its dimension is not a Xero tracking category yet; the dimensions flow creates the "
                    "category with its values as options"}],
    ),
]


# Xero contacts back to TIMS customers or vendors; the Xero ContactID goes into external_refs.
XERO_CONTACT_FIELDS = [
    ("name", {"source_path": "name", "required": True}),
    ("code", {"source_path": "number"}),
    ("email", {"source_path": "email"}),
    ("tax_number", {"source_path": "tax_number"}),
    ("currency", {"expression": "default_currency or 'GBP'"}),
    ("external_refs.xero", {"source_path": "remote_id", "required": True}),
]
ARCHIVED_CONTACTS = {"name": "Archived contacts", "condition": "status == 'ARCHIVED'", "action": "skip",
                     "reason": "Archived in Xero"}

TEMPLATES += [
    Template(
        "Xero contacts → TIMS customers", ("xero", "contact"), ("tims", "customer"),
        "Customers created or changed in Xero, back to TIMS. Contacts Ledgerbridge wrote from TIMS are "
        "not sent back unless someone changed them in Xero since; an existing TIMS customer with the same "
        "code, email or name is updated, not duplicated.",
        XERO_CONTACT_FIELDS,
        [{"name": "Suppliers only", "condition": "is_supplier and not is_customer", "action": "skip",
          "reason": "A supplier: the vendors flow carries it"},
         ARCHIVED_CONTACTS],
    ),
    Template(
        "Xero contacts → TIMS vendors", ("xero", "contact"), ("tims", "vendor"),
        "Suppliers created or changed in Xero, back to TIMS as vendors (same rules as customers).",
        XERO_CONTACT_FIELDS,
        [{"name": "Customers only", "condition": "not is_supplier", "action": "skip",
          "reason": "Not a supplier: the customers flow carries it"},
         ARCHIVED_CONTACTS],
    ),
    Template(
        "Xero items → TIMS products", ("xero", "item"), ("tims", "product"),
        "Items created or changed in Xero, back to TIMS (TIMS keeps the stock: quantities never travel).",
        [
            ("sku", {"source_path": "code", "required": True}),
            ("name", {"source_path": "name", "required": True}),
            ("description", {"source_path": "description"}),
            ("sale_price", {"expression": "sales['unit_price'] if sales else None", "conversion": "decimal"}),
            ("purchase_price", {"expression": "purchase['unit_price'] if purchase else None", "conversion": "decimal"}),
            ("currency", {"default": "GBP"}),
            ("external_refs.xero", {"source_path": "remote_id", "required": True}),
        ],
    ),
]


def templates_install() -> list[str]:
    """Create the value maps and mapping sets that do not exist yet; report what was done."""
    report = []
    with transaction.atomic():
        maps = {}
        for name, spec in VALUE_MAPS.items():
            value_map, created = ValueMap.objects.get_or_create(name=name, defaults={"description": spec["description"]})
            maps[name] = value_map
            if created:
                ValueMapEntry.objects.bulk_create(
                    ValueMapEntry(value_map=value_map, source_value=k, target_value=v) for k, v in spec["entries"].items())
                report.append(f"Value map \u201c{name}\u201d ({len(spec['entries'])} entries)")
        for template in TEMPLATES:
            mapping_set, created = MappingSet.objects.get_or_create(
                name=template.name,
                defaults={"description": template.description, "source_system": template.source[0],
                          "source_entity": template.source[1], "target_system": template.target[0],
                          "target_entity": template.target[1]},
            )
            if not created:
                continue
            for position, (target, options) in enumerate(template.fields):
                options = dict(options)
                if "value_map" in options:
                    options["value_map"] = maps[options["value_map"]]
                FieldMapping.objects.create(mapping_set=mapping_set, target_field=target, position=position, **options)
            for position, rule in enumerate(template.rules):
                Rule.objects.create(mapping_set=mapping_set, position=position, **rule)
            report.append(f"Mapping set \u201c{template.name}\u201d ({len(template.fields)} fields, {len(template.rules)} rules)")
    return report
