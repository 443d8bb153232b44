"""Request bodies checked against the contract itself.

The contract (``connectors/tims/openapi.yaml``) is read as a data file, never imported as code,
so the emulator refuses exactly what the contract refuses (unknown fields, immutable codes,
patterns, enums) with the contract's field-error codes, and no second copy of the schemas
can drift from it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.tims.problems import field_error, validation_failed

CONTRACT_URI = "urn:ledgerbridge:tims-contract"

CODE_FOR_KEYWORD = {
    "type": "invalid_type",
    "required": "required",
    "maxLength": "too_long",
    "maxItems": "too_long",
    "maxProperties": "too_long",
    "minLength": "invalid_value",
    "minItems": "required",
    "minProperties": "required",
    "pattern": "invalid_format",
    "format": "invalid_format",
    "propertyNames": "invalid_format",
    "enum": "invalid_value",
    "const": "invalid_value",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "uniqueItems": "not_unique",
    "not": "immutable",
    "oneOf": "invalid_value",
    "anyOf": "invalid_value",
}


def contract_path() -> Path:
    return Path(getattr(settings, "SANDBOX_TIMS_CONTRACT", Path(settings.BASE_DIR) / "connectors" / "tims" / "openapi.yaml"))


@cache
def contract() -> dict:
    with contract_path().open() as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    registry = Registry().with_resource(CONTRACT_URI, Resource.from_contents(contract(), default_specification=DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{CONTRACT_URI}#/components/schemas/{schema_name}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def enum_values(schema_name: str) -> list[str]:
    return list(contract()["components"]["schemas"][schema_name]["enum"])


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return contract()["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


@cache
def known_properties(schema_name: str) -> frozenset[str]:
    """Top-level property names a schema declares, through ``allOf`` and ``$ref``."""
    names: set[str] = set()
    pending = [contract()["components"]["schemas"][schema_name]]
    while pending:
        schema = _resolve(pending.pop())
        names.update(schema.get("properties", {}))
        pending.extend(schema.get("allOf", []))
    return frozenset(names)


def _errors_of(error, known: frozenset[str]) -> list[dict]:
    keyword = error.validator
    base = _pointer(error.absolute_path)
    if keyword == "propertyNames":
        return [field_error(f"{base}/{error.instance}", "invalid_format", error.message)]
    if keyword in ("unevaluatedProperties", "additionalProperties"):
        names = re.findall(r"'([^']+)'", error.message.split("(")[-1]) or ["?"]
        if not base:
            # A failing allOf branch drops its annotations, so its valid properties look
            # "unevaluated" too; only names the schema does not declare are unknown.
            names = [name for name in names if name not in known]
        return [field_error(f"{base}/{name}", "unknown_field", f"Unknown field {name!r}.") for name in names]
    if keyword == "required":
        match = re.match(r"'([^']+)' is a required property", error.message)
        name = match.group(1) if match else "?"
        return [field_error(f"{base}/{name}", "required", f"{name!r} is required.")]
    if keyword == "not" and isinstance(error.validator_value, dict) and "required" in error.validator_value:
        return [
            field_error(f"{base}/{name}", "immutable", f"{name!r} cannot be changed.")
            for name in error.validator_value["required"]
        ]
    message = error.message if len(error.message) < 300 else error.message[:297] + "..."
    return [field_error(base or "/", CODE_FOR_KEYWORD.get(keyword, "invalid_value"), message)]


def body_errors(schema_name: str, body: object) -> list[dict]:
    errors: list[dict] = []
    known = known_properties(schema_name)
    for error in sorted(_validator(schema_name).iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        for item in _errors_of(error, known):
            if item not in errors:
                errors.append(item)
    return errors


def validate_body(schema_name: str, body: object) -> None:
    """Raise a 422 ``validation-error`` listing every field the contract refuses."""
    errors = body_errors(schema_name, body)
    if errors:
        raise validation_failed(errors)
