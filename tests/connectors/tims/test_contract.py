"""Checks on the TIMS REST contract, connectors/tims/openapi.yaml.

The file is the interface the TIMS connector is written against and the sandbox emulates, so
these tests hold it to its own rules: valid OpenAPI 3.1, cursor paging on every list,
Idempotency-Key on every write, problem+json errors, rate-limit headers, money as decimal
strings, and webhook payloads that can be de-duplicated.

Each check returns the problems it found, so a failure names the operation and the field.
The mutation tests at the end break a copy of the contract and expect the check to notice.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[3] / "connectors" / "tims" / "openapi.yaml"
SPEC_URI = "urn:ledgerbridge:tims-contract"
WRITE_METHODS = {"post", "put", "patch", "delete"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROBLEM = "application/problem+json"
RATE_LIMIT_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
# Property names that hold an amount of money (or a price per unit).
MONEY_NAME = re.compile(r"(^|_)(amount|total|subtotal|price|cost|balance|limit|debit|credit|value)$|^amount_")

# What the brief for the contract asks for, by operationId: (method, path).
REQUIRED_OPERATIONS = {
    "issueAccessToken": ("post", "/oauth/token"),
    "listCustomers": ("get", "/api/v1/customers"),
    "createCustomer": ("post", "/api/v1/customers"),
    "getCustomer": ("get", "/api/v1/customers/{customerId}"),
    "updateCustomer": ("patch", "/api/v1/customers/{customerId}"),
    "listVendors": ("get", "/api/v1/vendors"),
    "createVendor": ("post", "/api/v1/vendors"),
    "getVendor": ("get", "/api/v1/vendors/{vendorId}"),
    "updateVendor": ("patch", "/api/v1/vendors/{vendorId}"),
    "listProducts": ("get", "/api/v1/products"),
    "createProduct": ("post", "/api/v1/products"),
    "getProduct": ("get", "/api/v1/products/{productId}"),
    "updateProduct": ("patch", "/api/v1/products/{productId}"),
    "listSalesOrders": ("get", "/api/v1/salesorders"),
    "getSalesOrder": ("get", "/api/v1/salesorders/{salesOrderId}"),
    "listPurchaseOrders": ("get", "/api/v1/purchaseorders"),
    "getPurchaseOrder": ("get", "/api/v1/purchaseorders/{purchaseOrderId}"),
    "listPurchaseOrderBills": ("get", "/api/v1/purchaseorders/{purchaseOrderId}/bills"),
    "listVendorBills": ("get", "/api/v1/vendorbills"),
    "getVendorBill": ("get", "/api/v1/vendorbills/{vendorBillId}"),
    "listReceivableInvoices": ("get", "/api/v1/accounts/receivable/invoices"),
    "getReceivableInvoice": ("get", "/api/v1/accounts/receivable/invoices/{invoiceId}"),
    "updateReceivableInvoiceStatus": ("post", "/api/v1/accounts/receivable/invoices/{invoiceId}/status"),
    "listReceivableInvoicePayments": ("get", "/api/v1/accounts/receivable/invoices/{invoiceId}/payments"),
    "createReceivableInvoicePayment": ("post", "/api/v1/accounts/receivable/invoices/{invoiceId}/payments"),
    "listPayments": ("get", "/api/v1/payments"),
    "createPayment": ("post", "/api/v1/payments"),
    "getPayment": ("get", "/api/v1/payments/{paymentId}"),
    "listInventoryLevels": ("get", "/api/v1/inventory/items"),
    "getInventoryQuantity": ("get", "/api/v1/inventory/items/{sku}/quantity"),
    "listInventoryAdjustments": ("get", "/api/v1/inventory/adjustments"),
    "getInventoryAdjustment": ("get", "/api/v1/inventory/adjustments/{adjustmentId}"),
    "listGlEntries": ("get", "/api/v1/gl/entries"),
    "getGlEntry": ("get", "/api/v1/gl/entries/{entryId}"),
    "listDimensions": ("get", "/api/v1/dimensions"),
    "getDimension": ("get", "/api/v1/dimensions/{dimensionId}"),
    "listDimensionValues": ("get", "/api/v1/dimensions/{dimensionId}/values"),
    "listWebhookSubscriptions": ("get", "/api/v1/webhooks/subscriptions"),
    "createWebhookSubscription": ("post", "/api/v1/webhooks/subscriptions"),
    "deleteWebhookSubscription": ("delete", "/api/v1/webhooks/subscriptions/{subscriptionId}"),
}
REQUIRED_WEBHOOKS = {"salesorder.status_changed", "payment.created", "inventory.adjustment.created"}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until the node is not a reference."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local refs are expected, got {ref}"
        assert ref not in seen, f"reference cycle at {ref}"
        seen.add(ref)
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(spec: dict[str, Any], section: str = "paths") -> Iterator[tuple[str, str, dict, dict]]:
    for path, item in spec.get(section, {}).items():
        item = resolve(spec, item)
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op, item


def parameters(spec: dict[str, Any], item: dict, op: dict) -> dict[tuple[str, str], dict]:
    """Path-level and operation-level parameters, resolved, keyed by (in, name)."""
    found = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = resolve(spec, raw)
        found[(param["in"], param["name"].lower())] = param
    return found


def flatten(spec: dict[str, Any], schema: Any) -> tuple[dict[str, Any], set[str]]:
    """Properties and required names of a schema, through `$ref` and `allOf`."""
    schema = resolve(spec, schema)
    props: dict[str, Any] = {}
    required: set[str] = set()
    for part in schema.get("allOf", []):
        sub_props, sub_required = flatten(spec, part)
        props.update(sub_props)
        required |= sub_required
    for name, prop in schema.get("properties", {}).items():
        # A later allOf branch that narrows a property (e.g. `event_type: {const: ...}`)
        # must not hide the earlier definition: keep the first full one.
        props.setdefault(name, prop)
    required |= set(schema.get("required", []))
    return props, required


def non_null(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    """The non-null branch of `oneOf: [X, {type: null}]`, or the schema itself."""
    schema = resolve(spec, schema)
    branches = [b for b in schema.get("oneOf", []) if resolve(spec, b).get("type") != "null"]
    if len(branches) == 1:
        return resolve(spec, branches[0])
    return schema


def response_schema(spec: dict[str, Any], response: Any, media_type: str) -> dict | None:
    content = resolve(spec, response).get("content", {})
    if media_type not in content:
        return None
    return content[media_type].get("schema")


def is_list_operation(spec: dict[str, Any], method: str, op: dict) -> bool:
    if method != "get" or "200" not in op.get("responses", {}):
        return False
    schema = response_schema(spec, op["responses"]["200"], "application/json")
    if schema is None:
        return False
    props, _ = flatten(spec, schema)
    return resolve(spec, props.get("data", {})).get("type") == "array"


def all_schemas(spec: dict[str, Any], node: Any, where: str) -> Iterator[tuple[str, str, Any]]:
    """Every (location, property name, property schema) reachable inside a schema, unresolved."""
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            yield f"{where}.{name}", name, prop
            yield from all_schemas(spec, prop, f"{where}.{name}")
        for key in ("allOf", "oneOf", "anyOf"):
            for index, part in enumerate(node.get(key, [])):
                yield from all_schemas(spec, part, f"{where}.{key}[{index}]")
        for key in ("items", "additionalProperties", "not"):
            if isinstance(node.get(key), dict):
                yield from all_schemas(spec, node[key], f"{where}.{key}")


def is_decimal_string(spec: dict[str, Any], schema: Any) -> bool:
    """A string schema whose pattern accepts plain decimals and refuses floats and thousands separators."""
    schema = non_null(spec, schema)
    if schema.get("type") != "string" or "pattern" not in schema:
        return False
    pattern = re.compile(schema["pattern"])
    accepts = all(pattern.fullmatch(s) for s in ("123.45", "0.00", "12", "1234567.1"))
    refuses = not any(pattern.fullmatch(s) for s in ("1e3", "12.", ".5", "1,000.00", "", "12.3.4", " 1.00", "NaN"))
    return accepts and refuses


# --------------------------------------------------------------------------- checks


def check_operations_exist(spec: dict[str, Any]) -> list[str]:
    found = {op.get("operationId"): (method, path) for path, method, op, _ in operations(spec)}
    return [
        f"{op_id}: expected {where[0].upper()} {where[1]}, found {found.get(op_id)}"
        for op_id, where in REQUIRED_OPERATIONS.items()
        if found.get(op_id) != where
    ]


def check_list_operations(spec: dict[str, Any]) -> list[str]:
    problems = []
    for path, method, op, item in operations(spec):
        if not is_list_operation(spec, method, op):
            continue
        name = op["operationId"]
        params = parameters(spec, item, op)
        cursor = params.get(("query", "cursor"))
        limit = params.get(("query", "limit"))
        since = params.get(("query", "updated_since"))
        if not cursor or cursor.get("schema", {}).get("type") != "string":
            problems.append(f"{name}: no string `cursor` query parameter")
        if not limit or limit.get("schema", {}).get("maximum") != 500 or limit["schema"].get("type") != "integer":
            problems.append(f"{name}: `limit` must be an integer query parameter with maximum 500")
        if not since or since.get("schema", {}).get("format") != "date-time":
            problems.append(f"{name}: `updated_since` must be a date-time query parameter")
        elif "inclusive" not in since.get("description", "").lower():
            problems.append(f"{name}: `updated_since` must document that it is inclusive")
        props, required = flatten(spec, response_schema(spec, op["responses"]["200"], "application/json"))
        next_cursor = resolve(spec, props.get("next_cursor", {}))
        if {"data", "next_cursor"} - required:
            problems.append(f"{name}: response must require `data` and `next_cursor`")
        if set(next_cursor.get("type", [])) != {"string", "null"}:
            problems.append(f"{name}: `next_cursor` must be a string or null")
    return problems


def check_idempotency_keys(spec: dict[str, Any]) -> list[str]:
    problems = []
    for path, method, op, item in operations(spec):
        if method not in WRITE_METHODS or not path.startswith("/api/v1/"):
            continue
        key = parameters(spec, item, op).get(("header", "idempotency-key"))
        if key is None:
            problems.append(f"{op['operationId']}: no Idempotency-Key header")
        elif key["schema"].get("maxLength", 0) < 64:
            problems.append(f"{op['operationId']}: Idempotency-Key must allow at least 64 characters")
        if "422" not in op["responses"]:
            problems.append(f"{op['operationId']}: a write must declare 422 (key reused with another body)")
    return problems


def check_error_responses(spec: dict[str, Any]) -> list[str]:
    problems = []
    problem_schema = spec["components"]["schemas"]["Problem"]
    for path, method, op, item in operations(spec):
        name = op["operationId"]
        expected = {"429", "500", "503"}
        if path.startswith("/api/v1/"):
            expected |= {"400", "401", "403"}
            if "{" in path:
                expected.add("404")
            if method in WRITE_METHODS:
                expected |= {"409", "422"}
        declared = op.get("responses", {})
        for status in sorted(expected - set(declared)):
            problems.append(f"{name}: does not declare {status}")
        for status in sorted(expected & set(declared)):
            schema = response_schema(spec, declared[status], PROBLEM)
            if schema is None:
                problems.append(f"{name}: {status} is not {PROBLEM}")
            elif resolve(spec, schema) is not problem_schema:
                problems.append(f"{name}: {status} does not use the Problem schema")
        for status in ("429", "503"):
            headers = resolve(spec, declared.get(status, {})).get("headers", {})
            if "Retry-After" not in headers:
                problems.append(f"{name}: {status} has no Retry-After header")
    return problems


def check_rate_limit_headers(spec: dict[str, Any]) -> list[str]:
    problems = []
    for path, method, op, item in operations(spec):
        for status, response in op.get("responses", {}).items():
            missing = RATE_LIMIT_HEADERS - set(resolve(spec, response).get("headers", {}))
            if missing:
                problems.append(f"{op['operationId']} {status}: missing {sorted(missing)}")
    return problems


def check_security(spec: dict[str, Any]) -> list[str]:
    scopes = set(spec["components"]["securitySchemes"]["timsOAuth"]["flows"]["clientCredentials"]["scopes"])
    problems = []
    for path, method, op, item in operations(spec):
        if not path.startswith("/api/v1/"):
            continue
        requirements = op.get("security", spec.get("security", []))
        used = [scope for requirement in requirements for scope in requirement.get("timsOAuth", [])]
        if not used:
            problems.append(f"{op['operationId']}: no OAuth scope required")
        for scope in used:
            if scope not in scopes:
                problems.append(f"{op['operationId']}: undeclared scope {scope}")
            elif method == "get" and not (scope.endswith(":read") or scope == "webhooks:manage"):
                problems.append(f"{op['operationId']}: a read asks for the write scope {scope}")
            elif method != "get" and scope.endswith(":read"):
                problems.append(f"{op['operationId']}: a write only asks for the read scope {scope}")
    return problems


def check_money(spec: dict[str, Any]) -> tuple[list[str], int]:
    problems, seen = [], 0
    for schema_name, schema in spec["components"]["schemas"].items():
        for where, name, prop in all_schemas(spec, schema, schema_name):
            if MONEY_NAME.search(name):
                seen += 1
                if not is_decimal_string(spec, prop):
                    problems.append(f"{where}: money must be a decimal string with a pattern")
            if name == "currency" or name.endswith("_currency"):
                target = non_null(spec, prop)
                if target.get("type") != "string" or target.get("pattern") != "^[A-Z]{3}$":
                    problems.append(f"{where}: currency must be an ISO 4217 code")
    return problems, seen


def record_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """Schemas returned by the GET-by-id operations (the records), by name."""
    found = {}
    for path, method, op, item in operations(spec):
        if method == "get" and path.endswith("}") and "200" in op["responses"]:
            schema = response_schema(spec, op["responses"]["200"], "application/json")
            found[schema["$ref"].rsplit("/", 1)[1]] = schema
    return found


def check_records(spec: dict[str, Any]) -> list[str]:
    problems = []
    for name, schema in record_schemas(spec).items():
        props, required = flatten(spec, schema)
        for field in ("id", "created_at", "updated_at", "version", "external_refs"):
            if field not in props or field not in required:
                problems.append(f"{name}: `{field}` must be a required property")
        for field in ("created_at", "updated_at"):
            if field in props and resolve(spec, props[field]).get("format") != "date-time":
                problems.append(f"{name}: `{field}` must be a date-time")
        if "id" in props and resolve(spec, props["id"]).get("type") != "string":
            problems.append(f"{name}: `id` must be an opaque string")
        has_money = any(MONEY_NAME.search(field) for field in props)
        if has_money and "currency" not in props:
            problems.append(f"{name}: holds money but has no `currency`")
    return problems


def check_webhooks(spec: dict[str, Any]) -> list[str]:
    problems = []
    event_types = set(spec["components"]["schemas"]["EventType"]["enum"])
    declared = set(spec.get("webhooks", {}))
    if declared != event_types:
        problems.append(f"webhooks {sorted(declared)} differ from EventType {sorted(event_types)}")
    if REQUIRED_WEBHOOKS - declared:
        problems.append(f"missing webhooks {sorted(REQUIRED_WEBHOOKS - declared)}")
    for name, method, op, item in operations(spec, "webhooks"):
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            problems.append(f"{name}: no JSON payload")
            continue
        props, required = flatten(spec, schema)
        for field in ("event_id", "event_type", "occurred_at", "data"):
            if field not in props or field not in required:
                problems.append(f"{name}: payload must require `{field}`")
        signature = parameters(spec, item, op).get(("header", "tims-signature"))
        if not signature or not signature.get("required"):
            problems.append(f"{name}: no required TIMS-Signature header")
        elif not re.fullmatch(signature["schema"]["pattern"], "t=1795240980,v1=" + "ab" * 32):
            problems.append(f"{name}: TIMS-Signature pattern refuses `t=<unix>,v1=<hex>`")
    return problems


def check_examples(spec: dict[str, Any]) -> tuple[list[str], int]:
    """Validate every schema's `examples` against the schema itself."""
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    problems, count = [], 0
    for name, schema in spec["components"]["schemas"].items():
        validator = Draft202012Validator(
            {"$ref": f"{SPEC_URI}#/components/schemas/{name}"},
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        for index, example in enumerate(schema.get("examples", [])):
            count += 1
            for error in validator.iter_errors(example):
                problems.append(f"{name} example {index}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
    return problems, count


# --------------------------------------------------------------------------- tests


def test_the_contract_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert errors == []


def test_the_base_url_is_per_connection(spec):
    (server,) = spec["servers"]
    assert server["url"] == "{baseUrl}"
    assert "baseUrl" in server["variables"]
    assert "CA bundle" in server["description"]


def test_operation_ids_are_unique_camel_case_and_cover_the_brief(spec):
    ids = [op.get("operationId") for section in ("paths", "webhooks") for *_, op, _ in operations(spec, section)]
    assert all(i and re.fullmatch(r"[a-z][a-zA-Z0-9]+", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    assert check_operations_exist(spec) == []


def test_token_endpoint_is_form_encoded_client_credentials(spec):
    op = spec["paths"]["/oauth/token"]["post"]
    body = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert resolve(spec, body)["properties"]["grant_type"]["const"] == "client_credentials"
    assert {"clientBasic": []} in op["security"] and {} in op["security"]
    token = resolve(spec, response_schema(spec, op["responses"]["200"], "application/json"))
    assert {"access_token", "token_type", "expires_in"} <= set(token["required"])
    assert spec["components"]["securitySchemes"]["timsOAuth"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"


def test_every_list_pages_by_cursor_limit_and_updated_since(spec):
    lists = [op["operationId"] for _, method, op, _ in operations(spec) if is_list_operation(spec, method, op)]
    collection_gets = [
        op["operationId"] for path, method, op, _ in operations(spec)
        if method == "get" and path.startswith("/api/v1/") and not path.endswith("}") and not path.endswith("/quantity")
    ]
    assert sorted(lists) == sorted(collection_gets)
    assert len(lists) >= 17
    assert check_list_operations(spec) == []


def test_every_write_accepts_an_idempotency_key(spec):
    writes = [op for path, method, op, _ in operations(spec) if method in WRITE_METHODS and path.startswith("/api/v1/")]
    assert len(writes) >= 20
    assert check_idempotency_keys(spec) == []


def test_every_operation_declares_problem_json_errors_and_retry_after(spec):
    assert check_error_responses(spec) == []


def test_every_response_carries_rate_limit_headers(spec):
    assert check_rate_limit_headers(spec) == []


def test_every_api_operation_requires_a_declared_scope(spec):
    assert check_security(spec) == []


def test_money_is_a_decimal_string_with_a_currency(spec):
    problems, seen = check_money(spec)
    assert problems == []
    assert seen >= 40, "the money check found suspiciously few money fields"


def test_records_have_id_timestamps_version_and_external_refs(spec):
    assert len(record_schemas(spec)) >= 14
    assert check_records(spec) == []


def test_webhook_payloads_are_signed_and_carry_an_event_id(spec):
    assert check_webhooks(spec) == []


def test_schema_examples_match_their_schemas(spec):
    problems, count = check_examples(spec)
    assert problems == []
    assert count >= 15


# --------------------------------------------------------------------------- the checks can fail


def _mutate(spec: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(spec)


def test_list_check_notices_a_missing_limit(spec):
    broken = _mutate(spec)
    op = broken["paths"]["/api/v1/salesorders"]["get"]
    op["parameters"] = [p for p in op["parameters"] if p.get("$ref") != "#/components/parameters/Limit"]
    assert check_list_operations(broken) == ["listSalesOrders: `limit` must be an integer query parameter with maximum 500"]


def test_list_check_notices_a_non_nullable_next_cursor(spec):
    broken = _mutate(spec)
    broken["components"]["schemas"]["NextCursor"]["type"] = "string"
    assert len(check_list_operations(broken)) == len(
        [1 for _, method, op, _ in operations(spec) if is_list_operation(spec, method, op)]
    )


def test_idempotency_check_notices_a_write_without_the_header(spec):
    broken = _mutate(spec)
    broken["paths"]["/api/v1/payments"]["post"]["parameters"] = []
    assert check_idempotency_keys(broken) == ["createPayment: no Idempotency-Key header"]


def test_error_check_notices_plain_json_errors_and_a_429_without_retry_after(spec):
    broken = _mutate(spec)
    responses = broken["paths"]["/api/v1/customers"]["post"]["responses"]
    responses["422"] = {"description": "bad", "content": {"application/json": {"schema": {"type": "object"}}}}
    broken["components"]["responses"]["TooManyRequests"]["headers"].pop("Retry-After")
    problems = check_error_responses(broken)
    assert "createCustomer: 422 is not application/problem+json" in problems
    assert "listCustomers: 429 has no Retry-After header" in problems


def test_money_check_notices_a_float_amount(spec):
    broken = _mutate(spec)
    broken["components"]["schemas"]["Payment"]["allOf"][1]["properties"]["amount"] = {"type": "number"}
    problems, _ = check_money(broken)
    assert problems == ["Payment.allOf[1].amount: money must be a decimal string with a pattern"]
    assert not is_decimal_string(spec, {"type": "string", "pattern": "^.*$"})


def test_record_check_notices_missing_external_refs(spec):
    broken = _mutate(spec)
    meta = broken["components"]["schemas"]["RecordMeta"]
    meta["required"].remove("external_refs")
    assert "Customer: `external_refs` must be a required property" in check_records(broken)


def test_webhook_check_notices_a_payload_without_event_id(spec):
    broken = _mutate(spec)
    broken["components"]["schemas"]["EventEnvelope"]["required"].remove("event_id")
    problems = check_webhooks(broken)
    assert len(problems) == len(spec["webhooks"])
    assert all(p.endswith("payload must require `event_id`") for p in problems)


def test_example_check_notices_an_example_that_breaks_its_schema(spec):
    broken = _mutate(spec)
    broken["components"]["schemas"]["Customer"]["examples"][0]["balance"] = 4310.4
    problems, _ = check_examples(broken)
    assert problems and all(p.startswith("Customer example 0: balance") for p in problems)
