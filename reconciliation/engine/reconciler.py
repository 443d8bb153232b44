"""The matching pipeline over one organisation's open invoices, in full or one payment at a
time.

Phase A works on *units*: the connected components of the graph of *contending* pairs (those
a reference or link joins, or whose score is within ``auto_margin`` of ``auto_threshold``: no
other pair can be automatic or keep one from being automatic). Within a unit, in order:

1. tier 1 — links and references: a payment whose reference names invoice numbers that each
   fit one open invoice, or whose source links it to invoices, settles them when a residual
   rule allows it without a person;
2. tier 2 — scores and assignment: the remaining pairs go through a one-to-one assignment with
   a "no match" option; a pair is automatic only above ``auto_threshold``, within tolerance,
   unique by ``auto_margin``, and not rivalled by a group of the contact's invoices adding up
   to the same amount.

Phase B works per contact, on payments phase A left undecided: groups of up to five of the
contact's open invoices adding up to the payment (automatic only when exactly one group fits
and nothing else does), else part-payment suggestions, oldest invoice first.

Suggestions (the top three proposals, with reasons) are drawn last, for each payment left
undecided, from its candidates and groups and the invoices' amounts still open.

Units are independent, phase B depends only on phase A's results for its contact, and
suggestions only on the state both leave, so adding one payment re-solves only its unit and
the contacts that unit touches: the result is the same as a full run over all payments,
whatever the order they arrived in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from reconciliation.engine.assignment import assign
from reconciliation.engine.blocking import RESOLVED_FUZZY, InvoiceIndex, PaymentFacts
from reconciliation.engine.config import (
    AMOUNT_EXACT, AMOUNT_OVER, AMOUNT_PARTIAL, CONTACT_FUZZY, CONTACT_ID, CONTACT_MISMATCH, CONTACT_NAME, CONTACT_UNKNOWN, DATE_EARLY,
    DATE_LATE, DATE_NORMAL, DATE_VERY_LATE, REF_DIGITS, REF_ID, REF_NONE, REF_STRONG, MatchConfig, logit,
)
from reconciliation.engine.documents import Band, Decision, Invoice, Payment, Proposal, Reason, Settlement, Tier
from reconciliation.engine.normalise import to_units
from reconciliation.engine.residuals import AMOUNT_CODE, WITHIN_TOLERANCE, SettlementResult, settle
from reconciliation.engine.scoring import explain, pair_logodds, probability
from reconciliation.engine.subset import fitting_groups

ZERO = Decimal("0")
WITHIN_TOLERANCE_CODES = frozenset(AMOUNT_CODE[kind] for kind in WITHIN_TOLERANCE)


class Edge(NamedTuple):
    invoice: int
    logodds: float
    reference: int
    elsewhere: bool
    amount: int
    contact: int
    when: int


@dataclass
class Outcome:
    band: Band
    tier: Tier
    proposals: tuple[Proposal, ...] = ()
    consumed: dict[int, Decimal] = field(default_factory=dict)


NOTHING = Outcome(Band.NONE, Tier.NONE)


class _Consumed:
    """What phases A and B consumed of an invoice, read as one mapping."""

    __slots__ = ("a", "b")

    def __init__(self, a: dict[int, Decimal], b: dict[int, Decimal]) -> None:
        self.a, self.b = a, b

    def get(self, i: int, default: Decimal = ZERO) -> Decimal:
        return self.a.get(i, ZERO) + self.b.get(i, ZERO)


class Reconciler:
    """Matches payments against a fixed set of open invoices.

    ``excluded_pairs`` (payment id, invoice id) are never proposed (a person rejected them);
    ``no_auto_pairs`` may be suggested but never settled automatically (a person undid them);
    ``contacts`` (direction, contact id, name) completes the directory of names when
    ``invoices`` are a blocked subset (see ``InvoiceIndex``).
    """

    def __init__(
        self,
        invoices: Sequence[Invoice],
        config: MatchConfig | None = None,
        *,
        excluded_pairs: Iterable[tuple[str, str]] = (),
        no_auto_pairs: Iterable[tuple[str, str]] = (),
        contacts: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        self.config = config or MatchConfig()
        self.index = InvoiceIndex(invoices, self.config, contacts)
        self.excluded = set(excluded_pairs)
        self.no_auto = set(no_auto_pairs)
        self.facts: list[PaymentFacts] = []
        self.edges: list[list[Edge]] = []
        self.payers: dict[int, list[int]] = defaultdict(list)  # invoice -> payments contending for it
        self.candidate_of: dict[int, list[int]] = defaultdict(list)  # invoice -> payments with it as candidate
        self.by_contact: dict[int, list[int]] = defaultdict(list)  # contact -> payments grouped with it
        self.phase_a: dict[int, Outcome] = {}
        self.phase_b: dict[int, Outcome] = {}
        self.consumed_a: dict[int, Decimal] = defaultdict(lambda: ZERO)
        self.consumed_b: dict[int, Decimal] = {}  # phase B (an invoice belongs to one contact)
        self.consumed = _Consumed(self.consumed_a, self.consumed_b)
        self._rivals: dict[int, bool] = {}

    # -- public -----------------------------------------------------------------------------

    def run(self, payments: Sequence[Payment]) -> list[Decision]:
        """Full run: add every payment, solve every unit, then every contact's groups."""
        start = len(self.facts)
        self._add_payments(payments)
        count = len(self.facts)
        n = len(self.index.invoices)
        rows, cols = [], []
        for p in range(count):
            for edge in self._contending(p):
                rows.append(p)
                cols.append(count + edge.invoice)
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(count + n, count + n))
        _, labels = connected_components(graph, directed=False)
        units: dict[int, list[int]] = defaultdict(list)
        for p in range(count):
            units[int(labels[p])].append(p)
        for unit in units.values():
            self._solve_unit(unit)
        for contact in sorted(self.by_contact):
            self._solve_contact(contact)
        return [self.decision(p) for p in range(start, count)]

    def add(self, payment: Payment) -> list[Decision]:
        """Incremental run for one new payment: re-solve its unit and the contacts the unit
        touches. Returns the decisions that may have changed (the new payment's first)."""
        position = len(self.facts)
        self._add_payments([payment])
        unit = self._unit_of(position)
        self._solve_unit(unit)
        contacts = {self.facts[p].contact_for_groups for p in unit}
        invoices = {edge.invoice for p in unit for edge in self._contending(p)}
        contacts |= {int(self.index.contact[i]) for i in invoices}
        changed = dict.fromkeys([position, *unit])
        for contact in sorted(c for c in contacts if c >= 0):
            changed.update(dict.fromkeys(self._solve_contact(contact)))
            invoices.update(int(i) for i in self.index.by_contact.get(contact, ()))
        # Payments whose suggestions may change: their candidates' open amounts moved.
        for i in invoices:
            changed.update(dict.fromkeys(self.candidate_of.get(i, ())))
        return [self.decision(p) for p in changed]

    def decision(self, p: int) -> Decision:
        """The payment's decision in the current state (suggestions are drawn now)."""
        payment_id = self.facts[p].payment.id
        first = self.phase_a.get(p, NOTHING)
        if first.band is Band.AUTO:
            return Decision(payment_id, Band.AUTO, first.tier, first.proposals)
        second = self.phase_b.get(p)
        if second is not None and second.band is Band.AUTO:
            return Decision(payment_id, Band.AUTO, second.tier, second.proposals)
        suggested = self._suggest(p)
        groups = list(second.proposals) if second else []
        best = _best_proposals(suggested + groups, self.config.max_suggestions)
        if not best:
            return Decision(payment_id, Band.NONE, Tier.NONE)
        if best[0] in groups:
            tier = second.tier if second else Tier.SUBSET
        else:
            tier = Tier.REFERENCE if any(e.reference >= REF_STRONG for e in self.edges[p]) else Tier.SCORE
        return Decision(payment_id, Band.SUGGESTED, tier, tuple(best))

    def candidates(self, payment: Payment, limit: int = 10) -> list[Proposal]:
        """Ranked proposals for one payment on demand (no assignment, nothing consumed)."""
        facts = self.index.facts(payment)
        edges = self._materialise(self.index.candidates([facts]), [facts])[0]
        proposals = [self._single(facts, edge, self.consumed) for edge in edges]
        contact = facts.contact_for_groups
        if contact >= 0:
            groups, parts = self._group_and_part_proposals(facts, contact, self.consumed, limit=limit, with_parts=True)
            proposals += groups + parts
        return _best_proposals([p for p in proposals if p is not None], limit)

    # -- building ---------------------------------------------------------------------------

    def _add_payments(self, payments: Sequence[Payment]) -> None:
        offset = len(self.facts)
        facts = [self.index.facts(payment) for payment in payments]
        self.facts.extend(facts)
        edges = self._materialise(self.index.candidates(facts), facts)
        for k, (f, own) in enumerate(zip(facts, edges, strict=True)):
            position = offset + k
            self.edges.append(own)
            for edge in own:
                self.candidate_of[edge.invoice].append(position)
            for edge in self._contending(position):
                self.payers[edge.invoice].append(position)
            if f.contact_for_groups >= 0:
                self.by_contact[f.contact_for_groups].append(position)

    def _materialise(self, arrays, facts: Sequence[PaymentFacts]) -> list[list[Edge]]:
        out: list[list[Edge]] = [[] for _ in facts]
        invoices = self.index.invoices
        columns = zip(
            arrays.payment.tolist(), arrays.invoice.tolist(), arrays.logodds.tolist(), arrays.reference.tolist(),
            arrays.reference_elsewhere.tolist(), arrays.amount.tolist(), arrays.contact.tolist(), arrays.when.tolist(),
            strict=True,
        )
        check = bool(self.excluded)
        floor = self.config.suggest_logit
        for p, i, logodds, ref, elsewhere, amount, contact, when in columns:
            if logodds < floor and ref < REF_STRONG:
                continue  # never suggested, never chosen
            if check and (facts[p].payment.id, invoices[i].id) in self.excluded:
                continue
            out[p].append(Edge(i, logodds, ref, elsewhere, amount, contact, when))
        return out

    def _contending(self, p: int) -> list[Edge]:
        floor = self.config.auto_logit - self.config.auto_margin
        return [e for e in self.edges[p] if e.logodds >= floor or e.reference >= REF_STRONG]


    def _unit_of(self, start: int) -> list[int]:
        seen_payments = {start}
        seen_invoices: set[int] = set()
        stack = [start]
        while stack:
            p = stack.pop()
            for edge in self._contending(p):
                if edge.invoice in seen_invoices:
                    continue
                seen_invoices.add(edge.invoice)
                for other in self.payers[edge.invoice]:
                    if other not in seen_payments:
                        seen_payments.add(other)
                        stack.append(other)
        return sorted(seen_payments)

    # -- phase A ----------------------------------------------------------------------------

    def _order(self, payments: Iterable[int]) -> list[int]:
        return sorted(payments, key=lambda p: (self.facts[p].day, self.facts[p].payment.id, p))

    def _solve_unit(self, unit: list[int]) -> None:
        config = self.config
        for p in unit:  # undo what this unit consumed before
            for i, amount in self.phase_a.get(p, NOTHING).consumed.items():
                self.consumed_a[i] -= amount
        ordered = self._order(unit)
        consumed: dict[int, Decimal] = defaultdict(lambda: ZERO)
        touched: set[int] = set()
        outcome: dict[int, Outcome] = {}
        auto_logit = config.auto_logit

        # Tier 1: links and references.
        for p in ordered:
            result = self._tier_one(p, consumed)
            if result is not None:
                outcome[p] = result
                for i, amount in result.consumed.items():
                    consumed[i] += amount
                    touched.add(i)

        # Tier 2: one-to-one assignment on what is left.
        rest = [p for p in ordered if p not in outcome]
        local = {p: k for k, p in enumerate(rest)}
        pairs = []
        by_pair = {}
        for p in rest:
            for edge in self._contending(p):
                if edge.invoice not in touched:
                    pairs.append((local[p], edge.invoice, edge.logodds))
                    by_pair[(p, edge.invoice)] = edge
        floor = auto_logit - config.auto_margin
        for chosen in assign(pairs, threshold=floor, margin_of_interest=auto_logit):
            p = rest[chosen.row]
            edge = by_pair[(p, chosen.col)]
            if chosen.weight < auto_logit or chosen.drop < config.auto_margin or not self._may_auto(p, [edge.invoice]):
                continue
            if edge.reference < REF_STRONG and self._rivalled_by_group(p):
                continue
            proposal = self._single(self.facts[p], edge, consumed)
            if proposal is None or proposal.settlement not in WITHIN_TOLERANCE:
                continue
            use = self._consumption(proposal)
            outcome[p] = Outcome(Band.AUTO, Tier.REFERENCE if edge.reference >= REF_STRONG else Tier.SCORE, (proposal,), use)
            for i, amount in use.items():
                consumed[i] += amount
                touched.add(i)

        for p in unit:
            self.phase_a[p] = outcome.get(p, NOTHING)
            for i, amount in self.phase_a[p].consumed.items():
                self.consumed_a[i] += amount

    def _capacity(self, i: int, consumed: dict[int, Decimal]) -> Decimal:
        return self.index.invoices[i].open - consumed.get(i, ZERO)

    def _may_auto(self, p: int, invoices: Iterable[int]) -> bool:
        if not self.no_auto:
            return True
        payment_id = self.facts[p].payment.id
        return not any((payment_id, self.index.invoices[i].id) in self.no_auto for i in invoices)

    def _tier_one(self, p: int, consumed: dict[int, Decimal]) -> Outcome | None:
        facts = self.facts[p]
        edges = self.edges[p]
        linked = [e for e in edges if e.reference == REF_ID]
        tier = Tier.ID
        if not linked:
            if facts.ambiguous_reference:
                return None
            linked = [e for e in edges if e.reference == REF_STRONG]
            tier = Tier.REFERENCE
        if not linked:
            return None
        targets = sorted((e.invoice for e in linked), key=lambda i: (self.index.issue[i], i))
        if any(self._capacity(i, consumed) <= 0 for i in targets) or not self._may_auto(p, targets):
            return None
        if len(linked) == 1:
            proposal = self._single(facts, linked[0], consumed, referenced=True)
        else:
            proposal = self._group(facts, targets, consumed, subset_unique=None)
        if proposal is None or proposal.score < self.config.auto_threshold or not proposal.auto_allowed:
            return None
        if proposal.settlement not in WITHIN_TOLERANCE:
            # A reference that disagrees with the amount, while another candidate has exactly
            # that amount, is a conflict for a person.
            named = set(targets)
            if any(e.amount == AMOUNT_EXACT and e.invoice not in named for e in edges):
                return None
        return Outcome(Band.AUTO, tier, (proposal,), self._consumption(proposal))

    def _consumption(self, proposal: Proposal) -> dict[int, Decimal]:
        position = self.index.position
        return {position[a.invoice_id]: a.amount for a in proposal.allocations}

    def _suggest(self, p: int) -> list[Proposal]:
        """Proposals for an undecided payment from its candidates, against what is still open."""
        facts = self.facts[p]
        consumed = self.consumed
        proposals: list[Proposal] = []
        strong = [e.invoice for e in self.edges[p] if e.reference >= REF_STRONG and self._capacity(e.invoice, consumed) > 0]
        if len(strong) > 1:
            group = self._group(facts, sorted(strong, key=lambda i: (self.index.issue[i], i)), consumed, subset_unique=None)
            if group is not None:
                proposals.append(group)
        for edge in self.edges[p]:  # best first
            if len(proposals) > self.config.max_suggestions:
                break
            if self._capacity(edge.invoice, consumed) <= 0:
                continue
            proposal = self._single(facts, edge, consumed)
            if proposal is not None:
                proposals.append(proposal)
        return proposals

    def _rivalled_by_group(self, p: int) -> bool:
        """Does a group of two or more of the contact's invoices also add up to the payment?
        (Static: original open amounts, so the answer does not depend on other units.)"""
        if p in self._rivals:
            return self._rivals[p]
        facts = self.facts[p]
        contact = facts.contact_for_groups
        rivalled = False
        if contact >= 0:
            pool = self._pool(facts, contact, {})
            if len(pool) >= 2:
                tol = to_units(self.config.rules.tolerance_for(facts.payment.currency)) * self.config.subset_max_size
                amounts = self.index.open_units[pool]
                rivalled = bool(fitting_groups(amounts, facts.units - tol, facts.units + tol, max_size=self.config.subset_max_size, limit=1))
        self._rivals[p] = rivalled
        return rivalled

    # -- phase B ----------------------------------------------------------------------------

    def _solve_contact(self, contact: int) -> list[int]:
        """Groups and part payments for the payments of one contact that phase A left open;
        returns the payments whose outcome it (re)computed."""
        members = [p for p in self.by_contact.get(contact, ()) if self.phase_a.get(p, NOTHING).band is not Band.AUTO]
        for p in self.by_contact.get(contact, ()):
            self.phase_b.pop(p, None)
        own = [int(i) for i in self.index.by_contact.get(contact, ())]
        consumed: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for i in own:
            self.consumed_b.pop(i, None)
            used = self.consumed_a.get(i)
            if used:
                consumed[i] = used
        ordered = self._order(members)
        plausible = logit(self.config.plausible_threshold)
        for p in ordered:
            facts = self.facts[p]
            fits_alone = any(
                e.amount in WITHIN_TOLERANCE_CODES and e.logodds >= plausible and self._capacity(e.invoice, consumed) > 0
                for e in self.edges[p]
            )
            groups, others = self._group_and_part_proposals(facts, contact, consumed, limit=self.config.max_suggestions + 1, with_parts=not fits_alone)
            if (
                len(groups) == 1
                and not fits_alone
                and groups[0].score >= self.config.auto_threshold
                and self._may_auto(p, [self.index.position[i] for i in groups[0].invoice_ids])
            ):
                use = self._consumption(groups[0])
                self.phase_b[p] = Outcome(Band.AUTO, Tier.SUBSET, (groups[0],), use)
                for i, amount in use.items():
                    consumed[i] += amount
                    self.consumed_b[i] = self.consumed_b.get(i, ZERO) + amount
                continue
            proposals = groups + others
            self.phase_b[p] = Outcome(Band.SUGGESTED if proposals else Band.NONE, Tier.SUBSET if groups else Tier.SCORE, tuple(proposals))
        return ordered

    def _pool(self, facts: PaymentFacts, contact: int, consumed: dict[int, Decimal]) -> np.ndarray:
        """The contact's open invoices a group may draw from: same currency, issued by the
        payment date (plus the blocking slack), not rejected, the most recent few."""
        index = self.index
        pool = index.by_contact.get(contact)
        if pool is None or facts.group < 0:
            return np.empty(0, dtype=np.int64)
        pool = pool[(index.group[pool] == facts.group) & (index.issue[pool] <= facts.day + self.config.days_before_issue)]
        if consumed:
            pool = np.array([i for i in pool.tolist() if self._capacity(i, consumed) > 0], dtype=np.int64)
        if self.excluded:
            payment_id = facts.payment.id
            pool = np.array([i for i in pool.tolist() if (payment_id, index.invoices[i].id) not in self.excluded], dtype=np.int64)
        return pool[-self.config.subset_max_candidates :]

    def _group_and_part_proposals(
        self, facts: PaymentFacts, contact: int, consumed: dict[int, Decimal], *, limit: int, with_parts: bool
    ) -> tuple[list[Proposal], list[Proposal]]:
        config = self.config
        pool = self._pool(facts, contact, consumed)
        if not len(pool):
            return [], []
        caps = [self._capacity(i, consumed) for i in pool.tolist()]
        amounts = np.array([to_units(c) for c in caps], dtype=np.int64)
        rules = config.rules
        tol = to_units(rules.tolerance_for(facts.payment.currency))
        # Groups must add up within the rounding tolerance: with a write-off's latitude, one of
        # the thousands of groups of a busy contact would fit by chance.
        slack = tol * config.subset_max_size
        found = fitting_groups(amounts, facts.units - slack, facts.units + slack, max_size=config.subset_max_size, limit=limit)
        fitting = []
        for positions in found:
            invoices = [int(pool[k]) for k in positions]
            proposal = self._group(facts, invoices, consumed, subset_unique=None)
            if proposal is not None and proposal.settlement is Settlement.EXACT:
                fitting.append(invoices)
        # Only a group that is the one fitting group earns the uniqueness weight.
        groups = [self._group(facts, invoices, consumed, subset_unique=len(fitting) == 1) for invoices in fitting]
        parts: list[Proposal] = []
        if with_parts and not groups:
            parts = self._part_proposals(facts, pool.tolist(), caps, consumed)
        return groups, parts

    def _part_proposals(self, facts: PaymentFacts, pool: list[int], caps: list[Decimal], consumed: dict[int, Decimal]) -> list[Proposal]:
        """Suggestions for a payment no invoice or group fits: part payment of a larger invoice
        of the contact (a simple fraction of it first, then the invoice due nearest the
        payment date), or overpayment of a slightly smaller one."""
        paid = facts.payment.amount
        ranked = []
        for i, cap in zip(pool, caps, strict=True):
            if cap > paid:
                kind = AMOUNT_PARTIAL
            elif cap * 2 >= paid:
                kind = AMOUNT_OVER
            else:
                continue
            edge = self._edge_for(facts, i, kind)
            fraction = _simple_fraction(paid, cap, self.config.rules.tolerance_for(facts.payment.currency)) if kind == AMOUNT_PARTIAL else ""
            proposal = self._single(facts, edge, consumed, instalment=fraction)
            if proposal is not None:
                ranked.append((-proposal.score, abs(facts.day - int(self.index.due[i])), i, proposal))
        ranked.sort(key=lambda r: r[:3])
        return [r[3] for r in ranked[: self.config.max_suggestions]]

    # -- proposals --------------------------------------------------------------------------

    def _edge_for(self, facts: PaymentFacts, i: int, amount: int) -> Edge:
        reference = REF_STRONG if i in facts.numbered_hits else (REF_DIGITS if i in facts.digit_hits else REF_NONE)
        elsewhere = bool(facts.numbered_hits or facts.id_links) and reference < REF_STRONG
        contact = self._contact_category(facts, [i])
        when = self._date_category(facts, i)
        logodds = float(
            pair_logodds(self.config.weights, np.array([reference]), np.array([elsewhere]), np.array([amount]), np.array([contact]), np.array([when]))[0]
        )
        return Edge(i, logodds, reference, elsewhere, amount, contact, when)

    def _contact_category(self, facts: PaymentFacts, invoices: Sequence[int]) -> int:
        codes = {int(self.index.contact[i]) for i in invoices}
        if facts.contact != -1:
            if codes == {facts.contact}:
                return CONTACT_ID
            return CONTACT_MISMATCH if codes - {-1} else CONTACT_UNKNOWN
        if facts.resolved >= 0 and codes == {facts.resolved}:
            return CONTACT_FUZZY if facts.resolved_how == RESOLVED_FUZZY else CONTACT_NAME
        return CONTACT_UNKNOWN

    def _date_category(self, facts: PaymentFacts, i: int) -> int:
        config = self.config
        due = int(self.index.due[i])
        if facts.day < int(self.index.issue[i]) - config.days_before_issue:
            return DATE_EARLY
        if facts.day <= due + config.days_late:
            return DATE_NORMAL
        if facts.day <= due + config.days_very_late:
            return DATE_LATE
        return DATE_VERY_LATE

    def _single(
        self, facts: PaymentFacts, edge: Edge, consumed: dict[int, Decimal], *, referenced: bool | None = None, instalment: str = ""
    ) -> Proposal | None:
        invoice = self.index.invoices[edge.invoice]
        capacity = self._capacity(edge.invoice, consumed)
        if capacity <= 0:
            return None
        result = settle(
            facts.payment, [(invoice, capacity)], rules=self.config.rules,
            referenced=edge.reference >= REF_STRONG if referenced is None else referenced, gateway=facts.gateway,
        )
        if result is None:
            return None
        logodds, reasons = explain(
            self.config.weights, reference=edge.reference, reference_elsewhere=edge.elsewhere,
            amount=edge.amount, contact=edge.contact, when=edge.when, instalment=instalment,
        )
        return _proposal(result, logodds, reasons)

    def _group(self, facts: PaymentFacts, invoices: list[int], consumed: dict[int, Decimal], *, subset_unique: bool | None) -> Proposal | None:
        targets = [(self.index.invoices[i], self._capacity(i, consumed)) for i in invoices]
        if any(cap <= 0 for _, cap in targets):
            return None
        referenced = all(i in facts.numbered_hits or i in facts.id_links for i in invoices)
        result = settle(facts.payment, targets, rules=self.config.rules, referenced=referenced, gateway=facts.gateway)
        if result is None:
            return None
        if all(i in facts.id_links for i in invoices):
            reference = REF_ID
        elif referenced:
            reference = REF_STRONG
        elif all(i in facts.digit_hits or i in facts.numbered_hits for i in invoices):
            reference = REF_DIGITS
        else:
            reference = REF_NONE
        elsewhere = bool(facts.numbered_hits or facts.id_links) and reference < REF_STRONG
        logodds, reasons = explain(
            self.config.weights, reference=reference, reference_elsewhere=elsewhere,
            amount=AMOUNT_CODE[result.kind], contact=self._contact_category(facts, invoices),
            when=max(self._date_category(facts, i) for i in invoices), invoices=len(invoices), subset_unique=subset_unique,
        )
        return _proposal(result, logodds, reasons)


def _proposal(result: SettlementResult, logodds: float, reasons: tuple[Reason, ...]) -> Proposal:
    return Proposal(
        invoice_ids=tuple(a.invoice_id for a in result.allocations),
        allocations=result.allocations,
        score=probability(logodds),
        reasons=reasons + (Reason("residual", result.detail, 0.0),),
        settlement=result.kind,
        residual=result.residual,
        auto_allowed=result.auto_allowed,
    )


FRACTIONS = ((Decimal(1) / 2, "half"), (Decimal(1) / 3, "a third"), (Decimal(2) / 3, "two thirds"), (Decimal(1) / 4, "a quarter"), (Decimal(3) / 4, "three quarters"))


def _simple_fraction(paid: Decimal, asked: Decimal, tolerance: Decimal) -> str:
    for share, label in FRACTIONS:
        if abs(asked * share - paid) <= tolerance:
            return label
    return ""


def _best_proposals(proposals: Iterable[Proposal], limit: int) -> list[Proposal]:
    seen: set[frozenset[str]] = set()
    out = []
    for proposal in sorted(proposals, key=lambda q: (-q.score, len(q.invoice_ids), q.invoice_ids)):
        key = frozenset(proposal.invoice_ids)
        if key in seen or not proposal.allocations:
            continue
        seen.add(key)
        out.append(proposal)
        if len(out) >= limit:
            break
    return out
