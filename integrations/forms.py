"""Forms of the review queue and the auditor views.

The payload editor derives its fields from the payload's own shape (scalars at the top, one
level of nested objects such as the contact, and lists of objects such as invoice lines as a
table), so it serves every entity without a form per target system; whatever it does not
show is edited in the JSON beside it."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from integrations.models import System

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
MAX_FIELDS = 300


def exception_assignees() -> QuerySet:
    """The people who may work the queue (who hold the change permission on it)."""
    User = get_user_model()
    codename = "change_openexception"
    return (User.objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(groups__permissions__codename=codename)
                    | Q(user_permissions__codename=codename))
            .distinct().order_by("username"))


class AssigneeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="Resolution note", widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), max_length=2000,
        help_text="How the record was settled, for whoever reads the audit trail later "
                  "(e.g. \u201centered by hand in Xero as INV-0042\u201d).",
    )


class IgnoreForm(forms.Form):
    note = forms.CharField(
        label="Why it needs no sync", required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000, help_text="Optional (e.g. \u201ca test order\u201d).",
    )


class AssignForm(forms.Form):
    assignee = AssigneeChoiceField(
        queryset=exception_assignees(), required=False, empty_label="Nobody (unassign)",
        help_text="Only people who may act on the review queue are listed.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = exception_assignees()


# --- The payload editor ------------------------------------------------------------------------

Path = tuple[str | int, ...]


@dataclass
class PayloadSection:
    """One group of editor fields: plain fields, or a table (a list of objects, one row each)."""

    title: str
    path: Path
    names: list[str] = field(default_factory=list)  # plain: form field names
    columns: list[str] = field(default_factory=list)  # table: the objects' keys
    rows: list[list[str | None]] = field(default_factory=list)  # table: field name per cell (None: absent)


def _label(key: str) -> str:
    return key.replace("_", " ").replace(".", " ").strip().capitalize()


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def payload_sections(payload: dict[str, Any]) -> list[tuple[PayloadSection, dict[Path, Any]]]:
    """The editable scalars of ``payload``, grouped for display: the top level's, each nested
    object's, and each list of objects as a table. Deeper structures stay in the JSON."""
    top = PayloadSection(title="Fields", path=())
    top_values: dict[Path, Any] = {}
    sections: list[tuple[PayloadSection, dict[Path, Any]]] = [(top, top_values)]
    for key, value in payload.items():
        if _is_scalar(value):
            top_values[(key,)] = value
        elif isinstance(value, dict) and any(_is_scalar(v) for v in value.values()):
            sections.append((PayloadSection(title=_label(key), path=(key,)),
                             {(key, k): v for k, v in value.items() if _is_scalar(v)}))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            columns: list[str] = []
            for item in value:
                columns += [k for k, v in item.items() if _is_scalar(v) and k not in columns]
            cells = {(key, index, column): item[column] for index, item in enumerate(value)
                     for column in columns if column in item}
            sections.append((PayloadSection(title=_label(key), path=(key,), columns=columns), cells))
    return [(section, values) for section, values in sections if values]


def _iso_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _path_get(payload: Any, path: Path) -> Any:
    for step in path:
        payload = payload[step]
    return payload


class PayloadEditForm(forms.Form):
    """Fields for the payload's common values beside a JSON editor for all of it.

    On save the JSON is parsed (it must be an object), then each field a person changed is
    written into it at its path: a field wins over the JSON where both changed the same value."""

    payload_json = forms.CharField(
        label="Payload (JSON)", widget=forms.Textarea(attrs={"rows": 24, "cols": 80, "spellcheck": "false",
                                                             "class": "payload-json"}),
        help_text="The whole payload as JSON; edit anything the fields above do not show.",
    )

    def __init__(self, *args: Any, payload: dict[str, Any], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("payload_json", json.dumps(payload, indent=2, ensure_ascii=False))
        super().__init__(*args, **kwargs)
        self.payload = payload
        self.paths: dict[str, Path] = {}
        self.originals: dict[str, Any] = {}
        self.sections: list[PayloadSection] = []
        count = 0
        for section, values in payload_sections(payload):
            self.sections.append(section)
            for path, value in values.items():
                if count >= MAX_FIELDS:
                    break
                name = f"f{count}"
                count += 1
                self.paths[name] = path
                self.originals[name] = value
                self.fields[name] = self._field_for(path, value)
                if section.columns:
                    index, column = path[1], path[2]
                    while len(section.rows) <= index:
                        section.rows.append([None] * len(section.columns))
                    section.rows[index][section.columns.index(column)] = name
                else:
                    section.names.append(name)
        self.sections = [s for s in self.sections if s.names or s.rows]

    @staticmethod
    def _field_for(path: Path, value: Any) -> forms.Field:
        label = _label(str(path[-1]))
        if isinstance(value, bool):
            return forms.TypedChoiceField(label=label, choices=[("true", "Yes"), ("false", "No")], initial=str(value).lower(),
                                          coerce=lambda v: v == "true")
        if isinstance(value, int):
            return forms.IntegerField(label=label, initial=value, required=False)
        if isinstance(value, float):
            return forms.DecimalField(label=label, initial=Decimal(str(value)), required=False)
        if isinstance(value, str) and ISO_DATE.match(value) and _iso_date(value):
            return forms.DateField(label=label, initial=_iso_date(value), required=False, input_formats=["%Y-%m-%d"],
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
        if isinstance(value, str) and DECIMAL.match(value):
            return forms.DecimalField(label=label, initial=Decimal(value), required=False,
                                      widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 10}))
        text = "" if value is None else value
        # As wide as the value (within reason), so a table of lines shows its descriptions.
        size = max(8, min(40, len(text) + 2)) if len(path) == 3 else 30
        return forms.CharField(label=label, initial=text, required=False, strip=False,
                               widget=forms.TextInput(attrs={"size": size}))

    def bound_sections(self) -> list[dict[str, Any]]:
        """The sections with their bound fields, as the template shows them."""
        return [{"title": section.title, "columns": section.columns,
                 "rows": [[self[name] if name else None for name in row] for row in section.rows],
                 "fields": [self[name] for name in section.names]}
                for section in self.sections]

    def clean_payload_json(self) -> dict[str, Any]:
        text = self.cleaned_data["payload_json"]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                "The JSON does not parse: %(msg)s at line %(line)s, column %(col)s.",
                params={"msg": exc.msg, "line": exc.lineno, "col": exc.colno}, code="json_syntax",
            ) from None
        if not isinstance(value, dict):
            kind = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false",
                    type(None): "null"}.get(type(value), "not an object")
            raise forms.ValidationError(
                "The payload must be a JSON object ({ \u2026 }), not %(kind)s.", params={"kind": kind}, code="json_type"
            )
        return value

    def _typed(self, name: str, value: Any) -> Any:
        original = self.originals[name]
        if isinstance(value, Decimal):
            return str(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if value in ("", None) and original is None:
            return None
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        payload = cleaned.get("payload_json")
        if not isinstance(payload, dict):
            return cleaned
        payload = copy.deepcopy(payload)
        for name in self.changed_data:
            if name not in self.paths or name in self.errors:
                continue
            path = self.paths[name]
            try:
                container = _path_get(payload, path[:-1])
                container[path[-1]]  # the JSON still has the value the field edits
            except (KeyError, IndexError, TypeError):
                self.add_error(name, "The JSON no longer has this value; edit it in the JSON instead.")
                continue
            container[path[-1]] = self._typed(name, cleaned.get(name))
        cleaned["payload"] = payload
        return cleaned


# --- Auditor filters ---------------------------------------------------------------------------


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class AuditFilterForm(forms.Form):
    """The audit trail's filters; the export takes the same query string."""

    system = forms.ChoiceField(label="System", required=False, choices=[("", "Any")] + list(System.choices))
    object_type = forms.CharField(label="Record type", required=False, max_length=50,
                                  widget=forms.TextInput(attrs={"placeholder": "e.g. sales_order", "size": 14}))
    object_id = forms.CharField(label="Record id", required=False, max_length=100,
                                widget=forms.TextInput(attrs={"size": 16}))
    run = forms.IntegerField(label="Run", required=False, min_value=1, widget=forms.NumberInput(attrs={"style": "width:7em"}))
    user = forms.CharField(label="User", required=False, max_length=150,
                           widget=forms.TextInput(attrs={"placeholder": "username", "size": 12}))
    action = forms.ChoiceField(label="Action", required=False)
    correlation_id = forms.UUIDField(label="Operation", required=False,
                                     widget=forms.TextInput(attrs={"placeholder": "correlation id", "size": 20}))
    since = forms.DateTimeField(label="From", required=False, widget=DateTimeLocalInput(),
                                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
    until = forms.DateTimeField(label="Until", required=False, widget=DateTimeLocalInput(),
                                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from integrations.log_actions import log_actions

        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any")] + log_actions.choices()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "\u201cUntil\u201d is before \u201cFrom\u201d.")
        return cleaned


class ConfigHistoryFilterForm(forms.Form):
    user = forms.CharField(label="Changed by", required=False, max_length=150,
                           widget=forms.TextInput(attrs={"placeholder": "username", "size": 12}))
    object_id = forms.CharField(label="Object id", required=False, max_length=40, widget=forms.TextInput(attrs={"size": 8}))
    since = AuditFilterForm.base_fields["since"]
    until = AuditFilterForm.base_fields["until"]
