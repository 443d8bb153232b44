from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from integrations.models.connections import System


class MappingSet(models.Model):
    """The field mappings and rules that turn one source entity into one target entity."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    source_system = models.CharField(max_length=20, choices=System.choices)
    source_entity = models.CharField(max_length=50)
    target_system = models.CharField(max_length=20, choices=System.choices)
    target_entity = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversion(models.TextChoices):
    NONE = "none", "As is"
    STRING = "string", "Text"
    DECIMAL = "decimal", "Decimal"
    MONEY = "money", "Money (2 decimal places)"
    INTEGER = "integer", "Integer"
    BOOLEAN = "boolean", "Yes/no"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time (UTC)"


class FieldMapping(models.Model):
    """target field ← source path or expression, converted, defaulted, maybe required."""

    mapping_set = models.ForeignKey(MappingSet, on_delete=models.CASCADE, related_name="field_mappings")
    target_field = models.CharField(max_length=200, help_text="Dotted path in the target payload.")
    source_path = models.CharField(
        max_length=200, blank=True, help_text="Dotted path in the source record, e.g. customer.email."
    )
    expression = models.TextField(
        blank=True, help_text="A safe expression over the source record; wins over the source path."
    )
    value_map = models.ForeignKey(
        "ValueMap", null=True, blank=True, on_delete=models.PROTECT, related_name="field_mappings"
    )
    conversion = models.CharField(max_length=20, choices=Conversion.choices, default=Conversion.NONE)
    default = models.CharField(max_length=200, blank=True, help_text="Used when the source is empty.")
    required = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["mapping_set", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mapping_set", "target_field"], name="unique_target_field_per_mapping_set"
            ),
            models.CheckConstraint(
                condition=~models.Q(source_path="", expression="", default=""),
                name="field_mapping_has_a_source",
                violation_error_message="Give a source path, an expression or a default.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target_field} \u2190 {self.expression or self.source_path or repr(self.default)}"

    def clean(self) -> None:
        _check_expressions(self, "expression")


class MissingValue(models.TextChoices):
    ERROR = "error", "Send the record to review"
    DEFAULT = "default", "Use the default value"
    PASSTHROUGH = "passthrough", "Keep the source value"


class ValueMap(models.Model):
    """A lookup table: TIMS product category → Xero AccountCode, tax code → TaxType, …"""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    on_missing = models.CharField(max_length=20, choices=MissingValue.choices, default=MissingValue.ERROR)
    default_value = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ValueMapEntry(models.Model):
    value_map = models.ForeignKey(ValueMap, on_delete=models.CASCADE, related_name="entries")
    source_value = models.CharField(max_length=200)
    target_value = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["value_map", "source_value"]
        verbose_name_plural = "value map entries"
        constraints = [
            models.UniqueConstraint(fields=["value_map", "source_value"], name="unique_source_value_per_map")
        ]

    def __str__(self) -> str:
        return f"{self.source_value} \u2192 {self.target_value}"


class RuleAction(models.TextChoices):
    SKIP = "skip", "Skip the record (with a reason)"
    VOID = "void", "Void or delete the target record"
    REVIEW = "review", "Send to the review queue"
    SET_FIELD = "set_field", "Set a target field"


class Rule(models.Model):
    """condition → action, evaluated in order after the field mappings."""

    mapping_set = models.ForeignKey(MappingSet, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100)
    condition = models.TextField(help_text="A safe expression over the source record, e.g. status == 'cancelled'.")
    action = models.CharField(max_length=20, choices=RuleAction.choices)
    target_field = models.CharField(max_length=200, blank=True)
    value_expression = models.TextField(blank=True)
    reason = models.CharField(max_length=300, blank=True, help_text="Shown to people when the rule fires.")
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["mapping_set", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["mapping_set", "name"], name="unique_rule_name_per_mapping_set"),
            models.CheckConstraint(
                condition=~models.Q(action="set_field") | ~models.Q(target_field=""),
                name="set_field_rule_names_its_field",
                violation_error_message="A set-field rule needs a target field.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        _check_expressions(self, "condition", "value_expression")


def _check_expressions(instance: models.Model, *names: str) -> None:
    """Expressions are checked when saved in admin, not first at run time."""
    from integrations.mapping.expressions import ExpressionError, check

    errors = {}
    for name in names:
        value = getattr(instance, name)
        if value:
            try:
                check(value)
            except ExpressionError as exc:
                errors[name] = str(exc)
    if errors:
        raise ValidationError(errors)
