"""Forms of the reconciliation screen."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from reconciliation.models import PAYING_KINDS


class ScreenFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100,
                        widget=forms.TextInput(attrs={"placeholder": "Reference, invoice number or contact"}))
    kind = forms.ChoiceField(label="Kind", required=False,
                             choices=[("", "Payments and bank lines")] + [(k.value, k.label) for k in PAYING_KINDS])
    connection = forms.IntegerField(required=False, widget=forms.HiddenInput)


class BulkAcceptForm(forms.Form):
    """The confidence is typed as a percentage, as people read scores on the screen."""

    min_confidence = forms.DecimalField(
        label="Accept every first suggestion scoring at least", min_value=Decimal("50"), max_value=Decimal("100"),
        decimal_places=1, initial=Decimal("95"),
        widget=forms.NumberInput(attrs={"step": "0.5", "class": "recon-confidence"}),
        help_text="Per cent. Payments below it wait for a person.",
    )

    def min_score(self) -> Decimal:
        return (self.cleaned_data["min_confidence"] / 100).quantize(Decimal("0.0001"))


def split_amounts(data: dict) -> dict[int, str]:
    """``amount-<document id>`` fields of a split, as typed."""
    amounts = {}
    for name, value in data.items():
        if name.startswith("amount-") and name[7:].isdigit():
            amounts[int(name[7:])] = value
    return amounts
