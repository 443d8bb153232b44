"""Blocking: the few invoices each payment is compared with, found with numpy over sorted
arrays (beancount-import's design: a sorted key of group and amount, and a window searched
with ``searchsorted``), plus an inverted index of invoice numbers for the references.

- Within the payment's contact (recorded, or the one its printed name resolves to): every
  invoice whose open amount lies in the window — equal within tolerance, or short by a
  write-off or a gateway fee.
- Across contacts, when none is recorded: equal amounts only (or net of a fee for a gateway
  payout), and not at all when more than ``max_window`` invoices share the amount: an amount
  that common says nothing alone.
- Foreign-currency invoices by their base amount, within the exchange band.
- References and links reach any open invoice.

The cost of matching is the number of candidate pairs, hence the tight windows; dates, the
recorded contact and currencies then filter the pairs, which are scored and capped per payment.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

from reconciliation.engine.config import (
    AMOUNT_BANK_FEE, AMOUNT_EXACT, AMOUNT_FX, AMOUNT_MISMATCH, AMOUNT_OVER, AMOUNT_PARTIAL, AMOUNT_WRITE_OFF,
    CONTACT_FUZZY, CONTACT_ID, CONTACT_MISMATCH, CONTACT_NAME, CONTACT_UNKNOWN, CONTACT_WEAK, DATE_EARLY,
    DATE_LATE, DATE_NORMAL, DATE_VERY_LATE, REF_DIGITS, REF_ID, REF_STRONG, MatchConfig,
)
from reconciliation.engine.documents import Invoice, Payment
from reconciliation.engine.normalise import (
    invoice_number_key, has_gateway, normalise_name, reference_keys, to_units,
)
from reconciliation.engine.scoring import pair_logodds

SHIFT = 46  # key = group << SHIFT | amount in units: amounts up to 7e9 in major units
MAX_UNITS = (1 << SHIFT) - 1
CONTACT_ABSENT = -2  # the payer is known but has no open invoice here
RESOLVED_NONE, RESOLVED_EXACT, RESOLVED_FUZZY = 0, 1, 2


@dataclass(slots=True)
class PaymentFacts:
    """What blocking and scoring need of one payment, computed once."""

    payment: Payment
    group: int  # (direction, currency) code; -1 when no invoice shares it
    units: int
    day: int
    contact: int  # the recorded contact's code, CONTACT_ABSENT, or -1 (not recorded)
    resolved: int  # the contact its name resolves to, or -1
    resolved_how: int
    gateway: bool
    name: str
    id_links: tuple[int, ...]
    numbered_hits: tuple[int, ...]  # invoices its reference names by number (strong)
    digit_hits: tuple[int, ...]
    ambiguous_reference: bool  # one of its numbers fits several invoices

    @property
    def contact_for_groups(self) -> int:
        """The contact whose invoices may be grouped for this payment (-1: none)."""
        if self.contact >= 0:
            return self.contact
        if self.contact == -1 and not self.gateway and self.resolved >= 0:
            return self.resolved
        return -1


@dataclass
class Edges:
    """Candidate pairs as parallel arrays."""

    payment: np.ndarray
    invoice: np.ndarray
    reference: np.ndarray
    reference_elsewhere: np.ndarray
    amount: np.ndarray
    contact: np.ndarray
    when: np.ndarray
    logodds: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.payment)


class InvoiceIndex:
    """The open invoices of one organisation, indexed for blocking."""

    def __init__(self, invoices: Sequence[Invoice], config: MatchConfig, contacts: Iterable[tuple[str, str, str]] = ()) -> None:
        """``contacts`` ((direction, contact id, name)) completes the directory names are
        resolved against when ``invoices`` are only a blocked subset of the open ones: a name
        must stand for one contact among all of them, not among those that happen to be here."""
        self.config = config
        self.invoices = list(invoices)
        self.position = {invoice.id: i for i, invoice in enumerate(self.invoices)}
        n = len(self.invoices)
        self.group_codes: dict[tuple[str, str], int] = {}
        self.contact_codes: dict[str, int] = {}
        self.open_units = np.empty(n, dtype=np.int64)
        self.base_units = np.full(n, -1, dtype=np.int64)
        self.issue = np.empty(n, dtype=np.int64)
        self.due = np.empty(n, dtype=np.int64)
        self.contact = np.full(n, -1, dtype=np.int64)
        self.group = np.empty(n, dtype=np.int64)
        self.base_group = np.full(n, -1, dtype=np.int64)
        self.name = [""] * n
        self.name_ids: dict[str, int] = {"": 0}
        self.name_code = np.zeros(n, dtype=np.int64)
        self.numbered: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        self.digits: dict[tuple[str, str], list[int]] = defaultdict(list)
        names_to_contacts: dict[tuple[str, str], set[int]] = defaultdict(set)
        by_contact: dict[int, list[int]] = defaultdict(list)
        terms = config.default_terms_days
        for i, invoice in enumerate(self.invoices):
            self.group[i] = self._group(invoice.direction, invoice.currency)
            self.open_units[i] = min(to_units(invoice.open), MAX_UNITS)
            if invoice.base_currency and invoice.base_currency != invoice.currency and invoice.base_amount:
                self.base_group[i] = self._group(invoice.direction, invoice.base_currency)
                share = invoice.base_amount * invoice.open / invoice.amount if invoice.amount else invoice.base_amount
                self.base_units[i] = min(to_units(share), MAX_UNITS)
            self.issue[i] = invoice.issue_date.toordinal()
            self.due[i] = invoice.due_date.toordinal() if invoice.due_date else self.issue[i] + terms
            normalised = normalise_name(invoice.contact_name)
            self.name[i] = normalised
            self.name_code[i] = self.name_ids.setdefault(normalised, len(self.name_ids))
            if invoice.contact_id:
                code = self.contact_codes.setdefault(invoice.contact_id, len(self.contact_codes))
                self.contact[i] = code
                by_contact[code].append(i)
                if normalised:
                    names_to_contacts[(invoice.direction, normalised)].add(code)
            key = invoice_number_key(invoice.number)
            if key is not None:
                self.numbered[(invoice.direction, *key)].append(i)
                self.digits[(invoice.direction, key[1])].append(i)
        # Each contact's invoices, oldest first: the pool for groups and part payments.
        self.by_contact = {
            code: np.array(sorted(members, key=lambda i: (self.issue[i], i)), dtype=np.int64)
            for code, members in by_contact.items()
        }
        for direction, contact_id, contact_name in contacts:
            normalised = normalise_name(contact_name)
            if contact_id and normalised:
                code = self.contact_codes.setdefault(contact_id, len(self.contact_codes))
                names_to_contacts[(direction, normalised)].add(code)
        self.contact_ids = {code: contact_id for contact_id, code in self.contact_codes.items()}
        self.names_to_contacts = names_to_contacts
        self.sorted_names: dict[str, list[str]] = defaultdict(list)
        for direction, name in names_to_contacts:
            self.sorted_names[direction].append(name)
        for names in self.sorted_names.values():
            names.sort()
        # Token-sorted names, once: the fuzzy comparison is then a plain ratio (rapidfuzz's
        # token_sort_ratio would sort every choice's tokens on every query).
        self.fuzzy_choices = {direction: [_sorted_tokens(n) for n in names] for direction, names in self.sorted_names.items()}
        # Names sharing a word with a misspelt one are the only ones worth a fuzzy comparison.
        self.names_by_word: dict[tuple[str, str], list[int]] = defaultdict(list)
        for direction, names in self.sorted_names.items():
            for k, name in enumerate(names):
                for word in set(name.split()):
                    if len(word) >= 3:
                        self.names_by_word[(direction, word)].append(k)
        self._resolved: dict[tuple[str, str], tuple[int, int]] = {}
        self._similarity: dict[tuple[str, str], float] = {}
        # Sorted keys for the amount windows: domestic by open amount, foreign by base amount.
        keys = (self.group << SHIFT) | self.open_units
        self.dom_order = np.argsort(keys, kind="stable")
        self.dom_keys = keys[self.dom_order]
        with_contact = np.nonzero(self.contact >= 0)[0]
        ckeys = (self.contact[with_contact] << SHIFT) | self.open_units[with_contact]
        order = np.argsort(ckeys, kind="stable")
        self.contact_order = with_contact[order]
        self.contact_keys = ckeys[order]
        foreign = np.nonzero(self.base_group >= 0)[0]
        fkeys = (self.base_group[foreign] << SHIFT) | self.base_units[foreign]
        order = np.argsort(fkeys, kind="stable")
        self.fx_order = foreign[order]
        self.fx_keys = fkeys[order]
        foreign = foreign[self.contact[foreign] >= 0]
        fkeys = (self.contact[foreign] << SHIFT) | self.base_units[foreign]
        order = np.argsort(fkeys, kind="stable")
        self.fx_contact_order = foreign[order]
        self.fx_contact_keys = fkeys[order]

    def _group(self, direction: str, currency: str) -> int:
        return self.group_codes.setdefault((direction, currency), len(self.group_codes))

    # -- payments ---------------------------------------------------------------------------

    def resolve_name(self, direction: str, name: str) -> tuple[int, int]:
        """The one contact a printed name stands for: equal after normalising, a prefix of
        exactly one name (banks truncate), or the single best fuzzy match (a tie resolves
        nothing, as ERPNext's party matcher does)."""
        cache_key = (direction, name)
        if cache_key in self._resolved:
            return self._resolved[cache_key]
        result = (-1, RESOLVED_NONE)
        contacts = self.names_to_contacts.get((direction, name))
        if contacts is not None:
            if len(contacts) == 1:
                result = (next(iter(contacts)), RESOLVED_EXACT)
        elif name:
            names = self.sorted_names.get(direction, [])
            if len(name) >= self.config.name_prefix_min_length:
                start = bisect_left(names, name)
                found: set[int] = set()
                for candidate in names[start:]:
                    if not candidate.startswith(name):
                        break
                    found |= self.names_to_contacts[(direction, candidate)]
                    if len(found) > 1:
                        break
                if len(found) == 1:
                    result = (next(iter(found)), RESOLVED_EXACT)
            if result[0] < 0 and names:
                pool = sorted({k for word in set(name.split()) for k in self.names_by_word.get((direction, word), ())})
                choices = self.fuzzy_choices[direction]
                best = process.extract(
                    _sorted_tokens(name), {k: choices[k] for k in pool}, scorer=fuzz.ratio, limit=2,
                    score_cutoff=self.config.name_fuzzy_threshold,
                )
                if best and (len(best) == 1 or best[0][1] > best[1][1]):
                    contacts = self.names_to_contacts[(direction, names[best[0][2]])]
                    if len(contacts) == 1:
                        result = (next(iter(contacts)), RESOLVED_FUZZY)
        self._resolved[cache_key] = result
        return result

    def facts(self, payment: Payment) -> PaymentFacts:
        config = self.config
        group = self.group_codes.get((payment.direction, payment.currency), -1)
        gateway = has_gateway(f"{payment.contact_name} {payment.reference}", config.gateway_keywords)
        if payment.contact_id:
            contact = self.contact_codes.get(payment.contact_id, CONTACT_ABSENT)
        else:
            contact = -1
        name = "" if gateway else normalise_name(payment.contact_name)
        resolved, how = (-1, RESOLVED_NONE)
        if contact == -1 and name:
            resolved, how = self.resolve_name(payment.direction, name)
        keys = reference_keys(payment.reference)
        numbered: list[int] = []
        ambiguous = False
        for prefix, digits in keys.numbered:
            hits = self.numbered.get((payment.direction, prefix, digits), ())
            ambiguous |= len(hits) > 1
            numbered.extend(hits)
        digit_hits: list[int] = []
        for digits in keys.digits:
            hits = self.digits.get((payment.direction, digits), ())
            ambiguous |= len(hits) > 1
            digit_hits.extend(hits)
        links = tuple(self.position[i] for i in payment.invoice_ids if i in self.position)
        return PaymentFacts(
            payment=payment,
            group=group,
            units=min(to_units(payment.amount), MAX_UNITS),
            day=payment.date.toordinal(),
            contact=contact,
            resolved=resolved,
            resolved_how=how,
            gateway=gateway,
            name=name,
            id_links=links,
            numbered_hits=tuple(dict.fromkeys(numbered)),
            digit_hits=tuple(dict.fromkeys(digit_hits)),
            ambiguous_reference=ambiguous,
        )

    # -- candidate pairs --------------------------------------------------------------------

    def candidates(self, facts: Sequence[PaymentFacts], offset: int = 0) -> Edges:
        """Every candidate pair of ``facts`` (payment positions start at ``offset``), scored,
        at most ``max_candidates`` per payment, best first."""
        config = self.config
        rules = config.rules
        m = len(facts)
        group = np.fromiter((f.group for f in facts), dtype=np.int64, count=m)
        units = np.fromiter((f.units for f in facts), dtype=np.int64, count=m)
        day = np.fromiter((f.day for f in facts), dtype=np.int64, count=m)
        gateway = np.fromiter((f.gateway for f in facts), dtype=bool, count=m)
        contact = np.fromiter((f.contact for f in facts), dtype=np.int64, count=m)
        tol = np.fromiter((to_units(rules.tolerance_for(f.payment.currency)) for f in facts), dtype=np.int64, count=m)
        valid = group >= 0

        # Amount windows: equal within tolerance, or short by a write-off, or by a gateway fee.
        above = np.maximum(tol, to_units(rules.write_off_max) if rules.write_off_enabled else 0)
        if rules.bank_fee_enabled:
            ratio = float(rules.bank_fee_max_ratio)
            fee_high = ((units + to_units(rules.bank_fee_fixed)) / (1 - ratio)).astype(np.int64) - units
            above = np.where(gateway, np.maximum(above, fee_high), above)
        low = np.maximum(units - tol, 0)
        high = units + above
        # The contact each payment is blocked on: the recorded one, else the one its name
        # resolves to (-1: none; CONTACT_ABSENT: recorded but without open invoices here).
        resolved = np.fromiter((f.resolved for f in facts), dtype=np.int64, count=m)
        block = np.where(contact != -1, contact, resolved)
        base = group << SHIFT
        limit = config.max_window
        found_p, found_i = [], []
        # Within the blocked contact: the whole window, write-off and fee included.
        blocked = valid & (block >= 0)
        cbase = np.where(blocked, block, 0) << SHIFT
        p_c, i_c = _window(self.contact_keys, self.contact_order, cbase + low, cbase + high, blocked, None)
        same = self.group[i_c] == group[p_c]
        found_p.append(p_c[same]), found_i.append(i_c[same])
        # Across contacts (no contact recorded): equal amounts, or net of a gateway fee, unless
        # the amount is so common that it says nothing alone.
        open_ = valid & (contact == -1)
        exact_high = np.where(gateway, high, units + tol)
        p_d, i_d = _window(self.dom_keys, self.dom_order, base + low, base + exact_high, open_, limit)
        found_p.append(p_d), found_i.append(i_d)
        if len(self.fx_keys) and rules.fx_enabled:
            fx = float(rules.fx_max_ratio)
            f_low = base + (units / (1 + fx)).astype(np.int64)
            f_high = base + (units / (1 - fx)).astype(np.int64) + 1
            p_fx, i_fx = _window(self.fx_keys, self.fx_order, f_low, f_high, open_, limit)
            found_p.append(p_fx), found_i.append(i_fx)
            f_low, f_high = cbase + (f_low - base), cbase + (f_high - base)
            p_fx, i_fx = _window(self.fx_contact_keys, self.fx_contact_order, f_low, f_high, blocked, None)
            same = self.base_group[i_fx] == group[p_fx]
            found_p.append(p_fx[same]), found_i.append(i_fx[same])
        band_p, band_i = np.concatenate(found_p), np.concatenate(found_i)
        # Blocking on the date window and on the contact: the recorded contact strictly; the
        # resolved one when it has a candidate at all (a name may resolve wrongly).
        keep = (day[band_p] >= self.issue[band_i] - config.days_before_issue) & (day[band_p] <= self.due[band_i] + config.days_after_due)
        band_p, band_i = band_p[keep], band_i[keep]
        inv_contact = self.contact[band_i]
        known = contact[band_p] != -1
        own = inv_contact == block[band_p]
        has_own = np.bincount(band_p[own & ~known], minlength=m) > 0
        keep = np.where(known, own | (inv_contact < 0), own | ~has_own[band_p])
        band_p, band_i = band_p[keep], band_i[keep]

        # References and links reach any open invoice, whatever its amount and date.
        ref_p, ref_i, ref_s = [], [], []
        for position, f in enumerate(facts):
            for i in f.id_links:
                ref_p.append(position), ref_i.append(i), ref_s.append(REF_ID)
            for i in f.numbered_hits:
                ref_p.append(position), ref_i.append(i), ref_s.append(REF_STRONG)
            for i in f.digit_hits:
                ref_p.append(position), ref_i.append(i), ref_s.append(REF_DIGITS)
        all_p = np.concatenate([band_p, np.asarray(ref_p, dtype=np.int64)])
        all_i = np.concatenate([band_i, np.asarray(ref_i, dtype=np.int64)])
        all_s = np.concatenate([np.zeros(len(band_p), dtype=np.int64), np.asarray(ref_s, dtype=np.int64)])
        # One edge per pair, with its strongest reference.
        order = np.lexsort((-all_s, all_i, all_p))
        all_p, all_i, all_s = all_p[order], all_i[order], all_s[order]
        first = np.ones(len(all_p), dtype=bool)
        first[1:] = (all_p[1:] != all_p[:-1]) | (all_i[1:] != all_i[:-1])
        p, i, ref = all_p[first], all_i[first], all_s[first]
        # Currencies must be comparable (same, or the invoice's base currency).
        domestic = self.group[i] == group[p]
        foreign = ~domestic & (self.base_group[i] == group[p])
        keep = domestic | foreign
        p, i, ref, domestic = p[keep], i[keep], ref[keep], domestic[keep]

        amount = self._amount_category(units[p], tol[p], gateway[p], i, domestic)
        contact_cat = self._contact_category(facts, p, i, contact)
        when = self._date_category(day[p], i)
        strong = np.zeros(m, dtype=bool)
        strong[[pos for pos, f in enumerate(facts) if f.numbered_hits or f.id_links]] = True
        elsewhere = strong[p] & (ref < REF_STRONG)
        logodds = pair_logodds(config.weights, ref, elsewhere, amount, contact_cat, when)
        # The best ``max_candidates`` per payment, best first.
        order = np.lexsort((i, -logodds, p))
        p, i = p[order], i[order]
        rank = np.arange(len(p)) - np.searchsorted(p, p, side="left")
        keep = rank < config.max_candidates
        return Edges(
            payment=p[keep] + offset,
            invoice=i[keep],
            reference=ref[order][keep],
            reference_elsewhere=elsewhere[order][keep],
            amount=amount[order][keep],
            contact=contact_cat[order][keep],
            when=when[order][keep],
            logodds=logodds[order][keep],
        )

    def _amount_category(self, paid: np.ndarray, tol: np.ndarray, gateway: np.ndarray, i: np.ndarray, domestic: np.ndarray) -> np.ndarray:
        rules = self.config.rules
        asked = np.where(domestic, self.open_units[i], self.base_units[i])
        diff = paid - asked
        short = -diff
        category = np.full(len(i), AMOUNT_PARTIAL, dtype=np.int64)
        category[diff > tol] = AMOUNT_OVER
        category[paid > 3 * asked] = AMOUNT_MISMATCH
        if rules.bank_fee_enabled:
            fee = gateway & (short > 0) & (short <= float(rules.bank_fee_max_ratio) * asked + to_units(rules.bank_fee_fixed))
            category[domestic & fee] = AMOUNT_BANK_FEE
        if rules.write_off_enabled:
            write_off = (short > 0) & (short <= to_units(rules.write_off_max)) & (short <= float(rules.write_off_max_ratio) * asked)
            category[domestic & write_off] = AMOUNT_WRITE_OFF
        if rules.fx_enabled:
            category[~domestic & (np.abs(diff) <= float(rules.fx_max_ratio) * asked)] = AMOUNT_FX
        category[np.abs(diff) <= tol] = AMOUNT_EXACT
        return category

    def _contact_category(self, facts: Sequence[PaymentFacts], p: np.ndarray, i: np.ndarray, contact: np.ndarray) -> np.ndarray:
        config = self.config
        inv_contact = self.contact[i]
        pay_contact = contact[p]
        category = np.full(len(p), CONTACT_UNKNOWN, dtype=np.int64)
        known = pay_contact != -1
        category[known & (inv_contact >= 0)] = CONTACT_MISMATCH
        category[known & (inv_contact == pay_contact)] = CONTACT_ID
        resolved = np.fromiter((f.resolved for f in facts), dtype=np.int64, count=len(facts))[p]
        how = np.fromiter((f.resolved_how for f in facts), dtype=np.int64, count=len(facts))[p]
        by_name = ~known & (resolved >= 0) & (resolved == inv_contact)
        category[by_name & (how == RESOLVED_EXACT)] = CONTACT_NAME
        category[by_name & (how == RESOLVED_FUZZY)] = CONTACT_FUZZY
        # Names that resolved to another contact, or to none: compare the two names, once per
        # distinct pair of names.
        open_question = np.nonzero(~known & ~by_name)[0]
        if len(open_question):
            names = [f.name for f in facts]
            payer = np.fromiter((self.name_ids.setdefault(name, len(self.name_ids)) for name in names), dtype=np.int64, count=len(facts))
            pair = payer[p[open_question]] * (len(self.name_ids) + 1) + self.name_code[i[open_question]]
            distinct, inverse = np.unique(pair, return_inverse=True)
            texts = {code: name for name, code in self.name_ids.items()}
            scores = np.empty(len(distinct))
            width = len(self.name_ids) + 1
            for k, code in enumerate(distinct.tolist()):
                left, right = texts[code // width], texts[code % width]
                if not left or not right:
                    scores[k] = -1
                    continue
                key = (left, right)
                value = self._similarity.get(key)
                if value is None:
                    value = self._similarity[key] = fuzz.token_sort_ratio(left, right)
                scores[k] = value
            score = scores[inverse]
            sub = np.full(len(open_question), CONTACT_UNKNOWN, dtype=np.int64)
            sub[score >= 0] = CONTACT_WEAK
            sub[(score >= 0) & (score < config.name_mismatch_threshold)] = CONTACT_MISMATCH
            sub[score >= config.name_fuzzy_threshold] = CONTACT_FUZZY
            category[open_question] = sub
        return category

    def _date_category(self, day: np.ndarray, i: np.ndarray) -> np.ndarray:
        config = self.config
        due = self.due[i]
        category = np.full(len(i), DATE_VERY_LATE, dtype=np.int64)
        category[day <= due + config.days_very_late] = DATE_LATE
        category[day <= due + config.days_late] = DATE_NORMAL
        category[day < self.issue[i] - config.days_before_issue] = DATE_EARLY
        return category


def _sorted_tokens(name: str) -> str:
    return " ".join(sorted(name.split()))


def _window(
    keys: np.ndarray, order: np.ndarray, low: np.ndarray, high: np.ndarray, valid: np.ndarray, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """(payment, invoice) for every key in each payment's [low, high] window; windows holding
    more than ``limit`` keys are left out."""
    start = np.searchsorted(keys, low, side="left")
    end = np.searchsorted(keys, high, side="right")
    counts = np.where(valid, end - start, 0)
    if limit is not None:
        counts[counts > limit] = 0
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    payments = np.repeat(np.arange(len(start)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return payments, order[np.repeat(start, counts) + offsets]
