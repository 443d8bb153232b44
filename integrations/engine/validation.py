"""Checks on a mapped record before it is sent: what the target would refuse, said in words
a finance person understands, without spending an API call on a record that cannot pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.canonical import LineAmountType

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(line: Any) -> Decimal:
    """Xero's line amount: quantity × unit amount less discount, rounded to the cent."""
    quantity = line.quantity if line.quantity is not None else Decimal(1)
    amount = quantity * (line.unit_amount or Decimal(0))
    if line.discount_rate:
        amount = amount * (Decimal(100) - line.discount_rate) / Decimal(100)
    return _round(amount)


def document_total(document: Any, rates: dict[str, Decimal]) -> Decimal:
    """The total Xero will compute, tax rounded per line (api-notes/xero.md §6.10)."""
    total = Decimal(0)
    for line in document.lines:
        amount = line_amount(line)
        rate = rates.get(line.tax_type, Decimal(0)) / Decimal(100)
        if document.line_amount_types == LineAmountType.EXCLUSIVE:
            total += amount + _round(amount * rate)
        else:  # Inclusive: tax is inside the line amount; NoTax: there is none
            total += amount
    return total


MAX_TRACKING = 2  # active tracking categories per Xero org, and tracking elements per line (§6.6)
RUN_DIMENSIONS_FIRST = ("Run the dimensions flows first (dimensions to tracking categories, then their values "
                        "to options), then retry.")


@dataclass(frozen=True)
class TrackingList:
    """The target's ACTIVE tracking categories and options, by case-folded name (Xero matches
    names case-insensitively) and by id."""

    categories: dict[str, str]  # folded name → name as the target spells it
    options: dict[str, set[str]]  # folded category name → folded option names
    ids: dict[str, set[str]]  # category id → option ids

    @classmethod
    def of(cls, categories: list[Any]) -> TrackingList:
        active = [c for c in categories if (c.status or "ACTIVE") == "ACTIVE"]
        return cls(
            categories={_fold(c.name): c.name for c in active},
            options={_fold(c.name): {_fold(o.name) for o in c.options if (o.status or "ACTIVE") == "ACTIVE"} for c in active},
            ids={c.remote_id: {o.remote_id for o in c.options if (o.status or "ACTIVE") == "ACTIVE"} for c in active},
        )


def _fold(name: str) -> str:
    return (name or "").strip().casefold()


class TargetCatalogue:
    """What the target has (account codes, tax types and rates, tracking), read once per run."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._accounts: set[str] | None = None
        self._rates: dict[str, Decimal] | None = None
        self._tracking: TrackingList | None = None
        # Categories this run has passed for creation: they count against the two active ones
        # before Xero has them.
        self.planned_categories: dict[str, str] = {}  # folded name → name

    @property
    def account_codes(self) -> set[str]:
        if self._accounts is None:
            self._accounts = {a.code for a in self._client.accounts() if getattr(a, "status", "ACTIVE") != "ARCHIVED"}
        return self._accounts

    @property
    def tax_rates(self) -> dict[str, Decimal]:
        if self._rates is None:
            self._rates = {t.tax_type: t.effective_rate or Decimal(0) for t in self._client.tax_rates()}
        return self._rates

    @property
    def tracking(self) -> TrackingList:
        """The whole list, read once per run: Xero has no If-Modified-Since for it (§6.6). A
        target without tracking categories has an empty list."""
        if self._tracking is None:
            lister = getattr(self._client, "list_tracking_categories", None)
            self._tracking = TrackingList.of(list(lister()) if lister else [])
        return self._tracking


def validate_document(document: Any, source: dict[str, Any], catalogue: TargetCatalogue) -> list[Problem]:
    problems = []
    if not document.lines:
        problems.append(Problem("validation.no_lines", "It has no lines to invoice."))
    for position, line in enumerate(document.lines, start=1):
        if line.account_code and line.account_code not in catalogue.account_codes:
            problems.append(Problem("validation.account_code",
                                    f"Line {position}: account code {line.account_code} does not exist in the target (or is archived)."))
        if line.tax_type and line.tax_type not in catalogue.tax_rates:
            problems.append(Problem("validation.tax_type",
                                    f"Line {position}: tax type {line.tax_type} does not exist in the target."))
    expected = source.get("total")
    if expected is not None and not problems and document.line_amount_types is not None:
        computed = document_total(document, catalogue.tax_rates)
        # One cent per line of tolerance: the source may round the tax on the total, Xero per line.
        tolerance = CENT * max(1, len(document.lines))
        if abs(computed - Decimal(str(expected))) > tolerance:
            problems.append(Problem(
                "validation.total_mismatch",
                f"The total would be {computed} in the target but is {expected} in the source "
                f"(more than {tolerance} apart): check the tax codes and prices.",
            ))
    return problems


def tracking_problems(lines: list[Any], catalogue: TargetCatalogue) -> list[Problem]:
    """Line tracking the target would refuse: more than two elements, one category twice, or a
    category or option it does not have (active). Said before any call, with what to do."""
    problems = []
    for position, line in enumerate(lines, start=1):
        refs = list(getattr(line, "tracking", None) or [])
        if not refs:
            continue
        if len(refs) > MAX_TRACKING:
            problems.append(Problem("validation.tracking_count",
                                    f"Line {position} carries {len(refs)} tracking elements; Xero takes at most "
                                    f"{MAX_TRACKING} per line. Send at most two dimensions."))
            continue
        listed = catalogue.tracking
        seen: set[str] = set()
        for ref in refs:
            if ref.category_id and ref.option_id:
                if ref.option_id not in listed.ids.get(ref.category_id, set()):
                    problems.append(Problem("validation.tracking_option",
                                            f"Line {position}: tracking option {ref.option_id} is not an active option "
                                            f"of category {ref.category_id} in the target. {RUN_DIMENSIONS_FIRST}"))
                key = ref.category_id
            else:
                key = _fold(ref.category)
                if key not in listed.categories:
                    problems.append(Problem("validation.tracking_category",
                                            f"Line {position}: tracking category “{ref.category}” does not exist "
                                            f"(active) in the target. {RUN_DIMENSIONS_FIRST}"))
                elif _fold(ref.option) not in listed.options[key]:
                    problems.append(Problem("validation.tracking_option",
                                            f"Line {position}: tracking option “{ref.option}” does not exist "
                                            f"(active) in the tracking category “{listed.categories[key]}” of the "
                                            f"target. {RUN_DIMENSIONS_FIRST}"))
            if key in seen:
                problems.append(Problem("validation.tracking_twice",
                                        f"Line {position} carries the tracking category “{ref.category or key}” "
                                        "twice; Xero takes each category once per line."))
            seen.add(key)
    return problems


def validate_tracked_document(document: Any, source: dict[str, Any], catalogue: TargetCatalogue) -> list[Problem]:
    return validate_document(document, source, catalogue) + tracking_problems(document.lines, catalogue)


def validate_line_tracking(record: Any, source: dict[str, Any], catalogue: TargetCatalogue) -> list[Problem]:
    return tracking_problems(record.lines, catalogue)


def validate_tracking_category(category: Any, source: dict[str, Any], catalogue: TargetCatalogue) -> list[Problem]:
    """Xero keeps at most two active tracking categories: a third is refused here, before any
    call, naming the two and what to do, instead of by Xero's terse 400."""
    if (category.status or "ACTIVE").upper() != "ACTIVE":
        return []
    name = _fold(category.name)
    active = catalogue.tracking.categories
    if name in active or name in catalogue.planned_categories:
        return []
    taken = sorted(active.values()) + sorted(n for k, n in catalogue.planned_categories.items() if k not in active)
    if len(taken) >= MAX_TRACKING:
        return [Problem(
            "validation.tracking_limit",
            f"Xero allows only {MAX_TRACKING} active tracking categories and "
            f"{' and '.join(f'“{n}”' for n in taken)} are active already, so "
            f"“{category.name}” cannot be added. Archive one of them in Xero, or leave this dimension out "
            "(the rule “Dimensions Xero tracks” of the dimensions mapping), then retry.",
        )]
    catalogue.planned_categories[name] = category.name
    return []


VALIDATORS: dict[str, Callable[[Any, dict[str, Any], TargetCatalogue], list[Problem]]] = {
    "invoice": validate_tracked_document,
    "credit_note": validate_tracked_document,
    "manual_journal": validate_line_tracking,
    "bank_transaction": validate_line_tracking,
    "tracking_category": validate_tracking_category,
}


def validate(entity: str, target: Any, source: dict[str, Any], catalogue: TargetCatalogue) -> list[Problem]:
    validator = VALIDATORS.get(entity)
    return validator(target, source, catalogue) if validator else []
