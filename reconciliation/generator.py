"""A seeded generator of invoices and payments with ground truth, for evaluating the matcher.

    python -m reconciliation.generator --invoices 10000 --out-dir reconciliation-data --seed 7

writes ``invoices.csv`` and ``payments.csv`` (the columns ``reconcile_eval`` reads; payments
carry ``truth``, the semicolon-separated ids of the invoices each one really pays, and
``scenario``, the case it was drawn from).

The default mix (``DEFAULT_MIX``, shares of payments) is meant to look like an SME's
receivables ledger fed by bank lines, payments recorded in the ledger, card gateways and
credit notes:

==================  =====  =================================================================
scenario            share  what it is
==================  =====  =================================================================
reference           0.43   bank line; the invoice number mangled by the bank ("inv 42
                           payment", "PAYMENT REF INV00042/ACME", "00042", sometimes cut off);
                           the payer's name as banks print it; the exact amount
contact             0.10   a payment recorded against the contact, no useful reference
name_only           0.08   bank line with the payer's name and no invoice number
write_off           0.03   short by up to 1% and 1.00 (bank charges, rounding), with reference
partial             0.07   part payment (half, a third, a quarter, or any share); 85% with
                           a reference, the others recorded against the contact only
overpayment         0.02   more than the invoice, with reference
multi_reference     0.04   2-4 invoices of one contact, all numbers in the reference
multi_subset        0.04   2-5 invoices of one contact, no reference (the remittance is lost)
credit_note         0.04   a credit note naming the invoice it credits, up to its amount
fx                  0.04   EUR or USD invoice paid in GBP at a rate up to 2% from the
                           invoice's; reference
gateway_linked      0.02   card-gateway payout for 1-3 invoices, net of fees; the payout
                           report links the invoice ids
gateway_reference   0.02   card-gateway payout for one invoice net of its fee; the invoice
                           number in the description
typo                0.01   the reference names another invoice (digits swapped); exact amount
tie                 0.03   the contact has two open invoices of the same amount; the payment,
                           with no reference, pays one of them (a person must choose)
unmatched           0.03   no counterpart: half a same-amount decoy from an unknown payer,
                           half noise
==================  =====  =================================================================

Besides the invoices the payments pay, 15% of the invoices stay unpaid (the contacts'
backlog), and a tenth of those copy the amount of another contact's invoice (decoys).
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from reconciliation.engine.documents import Invoice, Payment

DEFAULT_MIX: dict[str, float] = {
    "reference": 0.43,
    "contact": 0.10,
    "name_only": 0.08,
    "write_off": 0.03,
    "partial": 0.07,
    "overpayment": 0.02,
    "multi_reference": 0.04,
    "multi_subset": 0.04,
    "credit_note": 0.04,
    "fx": 0.04,
    "gateway_linked": 0.02,
    "gateway_reference": 0.02,
    "typo": 0.01,
    "tie": 0.03,
    "unmatched": 0.03,
}
UNPAID_SHARE = 0.15
BASE_CURRENCY = "GBP"
START = date(2026, 1, 1)
CENT = Decimal("0.01")

_FIRST = (
    "Acme Apex Atlas Beacon Birch Bright Cedar Coastal Copper Crown Delta Eagle Elm Falcon Fern Forge Granite "
    "Harbour Hazel Horizon Iron Ivy Juniper Kestrel Lakeside Linden Maple Meridian Mill Northern Oak Orchard "
    "Pennine Pioneer Quarry Raven Ridge River Rowan Sable Silver Summit Thames Thistle Union Vale Willow York"
).split()
_SECOND = (
    "Trading Engineering Logistics Foods Textiles Pipework Electrical Joinery Print Design Plastics Metals "
    "Motors Marine Farms Garden Supplies Systems Analytics Health Dental Travel Builders Roofing Glass Paper"
).split()
_SUFFIX = ["Ltd", "Limited", "Ltd.", "LLP", "PLC", "Inc", "LLC", "GmbH", "Pty Ltd", "& Co Ltd", ""]
_GATEWAYS = [("STRIPE PAYMENTS UK LTD", "STRIPE PAYOUT"), ("PAYPAL EUROPE SARL", "PAYPAL TRANSFER"), ("GOCARDLESS LTD", "GOCARDLESS")]
_GENERIC = ["", "PAYMENT", "THANK YOU", "FASTER PAYMENT", "BACS", "REMITTANCE", "SUPPLIER PAYMENT", "ONLINE BANKING"]


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass
class Contact:
    id: str
    name: str


@dataclass
class GeneratedSet:
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    truth: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scenario: dict[str, str] = field(default_factory=dict)

    def write_csv(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        invoices_path, payments_path = folder / "invoices.csv", folder / "payments.csv"
        with invoices_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(INVOICE_COLUMNS)
            for inv in self.invoices:
                writer.writerow([
                    inv.id, inv.number, inv.contact_name, inv.contact_id, inv.currency, inv.amount,
                    inv.issue_date.isoformat(), inv.due_date.isoformat() if inv.due_date else "",
                    inv.base_currency, inv.base_amount if inv.base_amount is not None else "",
                ])
        with payments_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(PAYMENT_COLUMNS)
            for pay in self.payments:
                writer.writerow([
                    pay.id, pay.kind, pay.contact_name, pay.contact_id, pay.currency, pay.amount, pay.date.isoformat(),
                    pay.reference, ";".join(pay.invoice_ids), ";".join(self.truth.get(pay.id, ())), self.scenario.get(pay.id, ""),
                ])
        return invoices_path, payments_path


INVOICE_COLUMNS = ["id", "number", "contact", "contact_id", "currency", "amount", "issue_date", "due_date", "base_currency", "base_amount"]
PAYMENT_COLUMNS = ["id", "kind", "contact", "contact_id", "currency", "amount", "date", "reference", "invoice_ids", "truth", "scenario"]


class _Builder:
    def __init__(self, invoices: int, seed: int, mix: dict[str, float]) -> None:
        self.rng = random.Random(seed)
        self.target = invoices
        self.mix = mix
        self.width = max(5, len(str(invoices + 10)))
        self.out = GeneratedSet()
        self.contacts = self._contacts(max(8, invoices // 20))
        self.invoice_seq = 0
        self.payment_seq = 0

    # -- people and documents ---------------------------------------------------------------

    def _contacts(self, count: int) -> list[Contact]:
        rng = self.rng
        seen: set[str] = set()
        contacts = []
        while len(contacts) < count:
            words = [rng.choice(_FIRST), rng.choice(_SECOND)]
            if len(seen) > len(_FIRST) * len(_SECOND) // 3 or rng.random() < 0.3:
                words.insert(1, rng.choice(_FIRST))
            if len(seen) > len(_FIRST) * len(_SECOND) * 5:
                words.append(str(len(contacts)))
            core = " ".join(words)
            if core in seen:
                continue
            seen.add(core)
            suffix = rng.choice(_SUFFIX)
            contacts.append(Contact(f"C{len(contacts) + 1:06d}", f"{core} {suffix}".strip()))
        return contacts

    def invoice(self, contact: Contact, amount: Decimal | None = None, *, currency: str = BASE_CURRENCY, issue: date | None = None) -> Invoice:
        rng = self.rng
        self.invoice_seq += 1
        if amount is None:
            amount = money(min(rng.lognormvariate(6.4, 1.0), 60_000) + 5) if rng.random() > 0.08 else money(rng.choice([250, 500, 750, 1000, 1200, 1500, 2500]))
        issue = issue or START + timedelta(days=rng.randrange(0, 360))
        base_currency, base_amount = "", None
        if currency != BASE_CURRENCY:
            base_currency = BASE_CURRENCY
            base_amount = money(amount * Decimal(str(rng.uniform(0.74, 0.90))))
        invoice = Invoice(
            id=f"I{self.invoice_seq:07d}",
            number=f"INV-{self.invoice_seq:0{self.width}d}",
            currency=currency,
            amount=amount,
            issue_date=issue,
            due_date=issue + timedelta(days=rng.choice([14, 30, 30, 30, 60])),
            contact_id=contact.id,
            contact_name=contact.name,
            base_currency=base_currency,
            base_amount=base_amount,
        )
        self.out.invoices.append(invoice)
        return invoice

    def pay_date(self, invoice: Invoice) -> date:
        rng = self.rng
        assert invoice.due_date is not None
        span = (invoice.due_date - invoice.issue_date).days
        return invoice.issue_date + timedelta(days=max(0, int(rng.triangular(0, span + 45, span))))

    def payment(self, scenario: str, truth: list[Invoice], **fields) -> Payment:
        self.payment_seq += 1
        payment = Payment(id=f"P{self.payment_seq:07d}", **fields)
        self.out.payments.append(payment)
        self.out.truth[payment.id] = tuple(i.id for i in truth)
        self.out.scenario[payment.id] = scenario
        return payment

    # -- how banks and people write things ---------------------------------------------------

    def bank_name(self, name: str) -> str:
        rng = self.rng
        text = name.upper() if rng.random() < 0.8 else name
        roll = rng.random()
        if roll < 0.25:
            text = text.replace("LIMITED", "LTD").replace("Limited", "Ltd")
        elif roll < 0.4:
            for suffix in (" LTD", " LIMITED", " LLP", " PLC", " INC", " LLC", " GMBH", " PTY", " & CO"):
                text = text.replace(suffix, "").replace(suffix.title(), "")
        text = text.replace(".", "") if rng.random() < 0.5 else text
        if rng.random() < 0.2:
            text = text[:18].rstrip()
        if rng.random() < 0.05 and len(text) > 8:  # a typing slip at the payer's bank
            k = rng.randrange(1, len(text) - 2)
            text = text[:k] + text[k + 1] + text[k] + text[k + 2 :]
        return text

    def mangle(self, number: str, name: str) -> str:
        rng = self.rng
        digits = number.split("-")[-1]
        short = digits.lstrip("0")
        who = name.upper().split(" ")[0]
        forms = [
            number, number.replace("-", ""), f"inv {short} payment", f"PAYMENT REF {number.replace('-', '')}/{who}",
            f"{who} INV {short}", f"Invoice {short}", f"REF:INV-{short} THANK YOU", digits, f"{number} FPS",
            f"{name.upper()} {number}"[:18],
        ]
        return rng.choice(forms)

    def multi_reference(self, invoices: list[Invoice]) -> str:
        rng = self.rng
        numbers = [i.number for i in invoices]
        shorts = [n.split("-")[-1].lstrip("0") for n in numbers]
        forms = [" ".join(numbers), ", ".join(numbers), "INV " + ",".join(shorts), "INVOICES " + " & ".join(shorts), "/".join(numbers)]
        return rng.choice(forms)

    # -- scenarios ---------------------------------------------------------------------------

    def run(self) -> GeneratedSet:
        rng = self.rng
        scenarios = list(self.mix)
        weights = [self.mix[s] for s in scenarios]
        paid_target = int(self.target * (1 - UNPAID_SHARE))
        while len(self.out.invoices) < paid_target:
            getattr(self, f"_{rng.choices(scenarios, weights)[0]}")(rng.choice(self.contacts))
        while len(self.out.invoices) < self.target:  # the unpaid backlog, a tenth of it decoys
            if rng.random() < 0.1 and self.out.invoices:
                model = rng.choice(self.out.invoices)
                self.invoice(rng.choice(self.contacts), model.amount, issue=model.issue_date)
            else:
                self.invoice(rng.choice(self.contacts))
        self.out.payments.sort(key=lambda p: (p.date, p.id))
        return self.out

    def _bank_line(self, scenario: str, truth: list[Invoice], contact: Contact, amount: Decimal, when: date, reference: str, **extra) -> Payment:
        return self.payment(
            scenario, truth, currency=BASE_CURRENCY, amount=amount, date=when, reference=reference,
            contact_name=self.bank_name(contact.name), kind="bank_line", **extra,
        )

    def _recorded(self, scenario: str, truth: list[Invoice], contact: Contact, amount: Decimal, when: date, reference: str = "", kind: str = "payment") -> Payment:
        return self.payment(
            scenario, truth, currency=BASE_CURRENCY, amount=amount, date=when, reference=reference,
            contact_id=contact.id, contact_name=contact.name, kind=kind,
        )

    def _reference(self, contact: Contact) -> None:
        inv = self.invoice(contact)
        self._bank_line("reference", [inv], contact, inv.amount, self.pay_date(inv), self.mangle(inv.number, contact.name))

    def _contact(self, contact: Contact) -> None:
        inv = self.invoice(contact)
        self._recorded("contact", [inv], contact, inv.amount, self.pay_date(inv), self.rng.choice(_GENERIC))

    def _name_only(self, contact: Contact) -> None:
        inv = self.invoice(contact)
        self._bank_line("name_only", [inv], contact, inv.amount, self.pay_date(inv), self.rng.choice(_GENERIC))

    def _write_off(self, contact: Contact) -> None:
        inv = self.invoice(contact)
        short = min(money(self.rng.uniform(0.01, 1.0)), money(inv.amount * Decimal("0.01")))
        self._bank_line("write_off", [inv], contact, inv.amount - max(short, CENT * 2), self.pay_date(inv), self.mangle(inv.number, contact.name))

    def _partial(self, contact: Contact) -> None:
        rng = self.rng
        inv = self.invoice(contact)
        share = rng.choice([Decimal(1) / 2, Decimal(1) / 3, Decimal(1) / 4]) if rng.random() < 0.5 else Decimal(str(rng.uniform(0.1, 0.9)))
        amount = money(inv.amount * share)
        if rng.random() < 0.85:
            self._bank_line("partial", [inv], contact, amount, self.pay_date(inv), self.mangle(inv.number, contact.name))
        else:
            self._recorded("partial", [inv], contact, amount, self.pay_date(inv), rng.choice(_GENERIC))

    def _overpayment(self, contact: Contact) -> None:
        rng = self.rng
        inv = self.invoice(contact)
        extra = money(inv.amount * Decimal(str(rng.uniform(0.01, 0.2)))) + 2 if rng.random() < 0.7 else money(rng.choice([50, 100]))
        self._bank_line("overpayment", [inv], contact, inv.amount + extra, self.pay_date(inv), self.mangle(inv.number, contact.name))

    def _group(self, contact: Contact, low: int, high: int) -> list[Invoice]:
        rng = self.rng
        first = START + timedelta(days=rng.randrange(0, 300))
        return [self.invoice(contact, issue=first + timedelta(days=rng.randrange(0, 45))) for _ in range(rng.randint(low, high))]

    def _multi_reference(self, contact: Contact) -> None:
        invoices = self._group(contact, 2, 4)
        total = sum((i.amount for i in invoices), Decimal(0))
        self._bank_line("multi_reference", invoices, contact, total, max(self.pay_date(i) for i in invoices), self.multi_reference(invoices))

    def _multi_subset(self, contact: Contact) -> None:
        invoices = self._group(contact, 2, 5)
        total = sum((i.amount for i in invoices), Decimal(0))
        self._recorded("multi_subset", invoices, contact, total, max(self.pay_date(i) for i in invoices), self.rng.choice(_GENERIC))

    def _credit_note(self, contact: Contact) -> None:
        rng = self.rng
        inv = self.invoice(contact)
        amount = inv.amount if rng.random() < 0.4 else money(inv.amount * Decimal(str(rng.uniform(0.05, 0.95))))
        self._recorded("credit_note", [inv], contact, amount, inv.issue_date + timedelta(days=rng.randrange(1, 40)), inv.number, kind="credit_note")

    def _fx(self, contact: Contact) -> None:
        rng = self.rng
        inv = self.invoice(contact, currency=rng.choice(["EUR", "USD"]))
        assert inv.base_amount is not None
        paid = money(inv.base_amount * Decimal(str(1 + rng.uniform(-0.02, 0.02))))
        self._bank_line("fx", [inv], contact, paid, self.pay_date(inv), self.mangle(inv.number, contact.name))

    def _gateway_linked(self, contact: Contact) -> None:
        rng = self.rng
        invoices = [self.invoice(rng.choice(self.contacts), money(rng.uniform(20, 900))) for _ in range(rng.randint(1, 3))]
        total = sum((i.amount for i in invoices), Decimal(0))
        fee = money(total * Decimal("0.014") + Decimal("0.20") * len(invoices))
        name, description = rng.choice(_GATEWAYS)
        self.payment(
            "gateway_linked", invoices, currency=BASE_CURRENCY, amount=total - fee, date=max(self.pay_date(i) for i in invoices) + timedelta(days=2),
            reference=f"{description} po_{rng.getrandbits(40):010x}", contact_name=name, kind="bank_line", invoice_ids=tuple(i.id for i in invoices),
        )

    def _gateway_reference(self, contact: Contact) -> None:
        rng = self.rng
        inv = self.invoice(contact, money(rng.uniform(20, 900)))
        fee = money(inv.amount * Decimal("0.029") + Decimal("0.30"))
        name, description = rng.choice(_GATEWAYS)
        self.payment(
            "gateway_reference", [inv], currency=BASE_CURRENCY, amount=inv.amount - fee, date=self.pay_date(inv) + timedelta(days=2),
            reference=f"{description} {inv.number}", contact_name=name, kind="bank_line",
        )

    def _typo(self, contact: Contact) -> None:
        inv = self.invoice(contact)
        digits = inv.number.split("-")[-1]
        swapped = digits[:-2] + digits[-1] + digits[-2]
        if swapped == digits:
            swapped = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        self._bank_line("typo", [inv], contact, inv.amount, self.pay_date(inv), f"INV-{swapped}")

    def _tie(self, contact: Contact) -> None:
        rng = self.rng
        amount = money(rng.choice([300, 450, 600, 900, 1200, 1800, 2400]))
        first = START + timedelta(days=rng.randrange(0, 300))
        twins = [self.invoice(contact, amount, issue=first), self.invoice(contact, amount, issue=first + timedelta(days=rng.choice([0, 7, 14, 28])))]
        paid = rng.choice(twins)
        when = max(self.pay_date(t) for t in twins)
        self._recorded("tie", [paid], contact, amount, when, rng.choice(_GENERIC))

    def _unmatched(self, contact: Contact) -> None:
        rng = self.rng
        stranger = f"{rng.choice(_FIRST)} {rng.choice(_FIRST)} HOLDINGS".upper()
        when = START + timedelta(days=rng.randrange(20, 380))
        if rng.random() < 0.5 and self.out.invoices:
            amount = rng.choice(self.out.invoices).amount  # the same amount as someone's invoice
            self.payment("unmatched", [], currency=BASE_CURRENCY, amount=amount, date=when, reference=rng.choice(_GENERIC), contact_name=stranger, kind="bank_line")
        else:
            self.payment(
                "unmatched", [], currency=BASE_CURRENCY, amount=money(rng.uniform(5, 3000)), date=when,
                reference=f"TRANSFER {rng.randrange(10_000, 99_999)}", contact_name=stranger, kind="bank_line",
            )


def generate(invoices: int, *, seed: int = 0, mix: dict[str, float] | None = None) -> GeneratedSet:
    """About ``invoices`` invoices (exactly, once the backlog is filled) and the payments the
    mix draws for them, deterministic for a seed."""
    return _Builder(invoices, seed, mix or DEFAULT_MIX).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a generated invoice/payment set with ground truth as CSV.")
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = generate(args.invoices, seed=args.seed)
    invoices_path, payments_path = data.write_csv(args.out_dir)
    print(f"{len(data.invoices)} invoices -> {invoices_path}\n{len(data.payments)} payments -> {payments_path}")


if __name__ == "__main__":
    main()
