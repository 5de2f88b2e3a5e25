"""Extreme numbers in every numeric field of every operation of the served contract: 2^63, -2^63, 1e308,
-1e308, -0 and 400 digits, written into the JSON as they are. A value outside the field's documented
type or range is a 400 naming the field; any value is never a 5xx; the server is alive after them.

The operations are read from the contract: one that gains a numeric field, or a new operation with
one, fails here until `CALLS` says how to send it."""
import json

import httpx
import pytest

from test_metering import Developer

EXTREMES = ["9223372036854775808", "-9223372036854775808", "1e308", "-1e308", "-0", "9" * 400]
INT64 = (-(2**63), 2**63 - 1)


@pytest.fixture(scope="module")
def contract(atrium):
    return httpx.get(atrium.url + "/openapi.json").json()


@pytest.fixture(scope="module")
def people(atrium):
    dev = Developer(atrium, prefix="extreme")
    staff = atrium.create_staff("extreme-staff@example.com")
    return dev, staff


def schema_ref_parts(ref):
    return ref.lstrip("#/").split("/")


def deref(contract, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        target = contract
        for part in schema_ref_parts(schema["$ref"]):
            target = target[part]
        schema = target
    return schema


def numeric_fields(contract, schema, prefix=""):
    """(dotted name, schema) of every integer or number property, nested objects included."""
    schema = deref(contract, schema)
    found = []
    for name, field in (schema.get("properties") or {}).items():
        field = deref(contract, field)
        types = field.get("type", [])
        types = [types] if isinstance(types, str) else types
        if "integer" in types or "number" in types:
            found.append((prefix + name, field))
        elif "object" in types or "properties" in field:
            found += numeric_fields(contract, field, prefix + name + ".")
    return found


def numeric_inputs(contract):
    """operationId → [(where, name, schema)] for request bodies and query parameters."""
    inputs = {}
    for path, item in contract["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            found = []
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                found += [("body", name, schema) for name, schema in numeric_fields(contract, body)]
            for parameter in operation.get("parameters", []):
                parameter = deref(contract, parameter)
                schema = deref(contract, parameter.get("schema", {}))
                if parameter.get("in") == "query" and schema.get("type") in ("integer", "number"):
                    found.append(("query", parameter["name"], schema))
            if found:
                inputs[operation["operationId"]] = found
    return inputs


def documented(schema, literal):
    """Whether the contract allows this literal in the field."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    integral = all(c in "-0123456789" for c in literal)
    if "integer" in types:
        if not integral:
            return False
        value = int(literal)
        low, high = INT64
    else:
        value = float(literal)
        low, high = float("-inf"), float("inf")
        if value in (float("inf"), float("-inf")):
            return False
    low = max(low, schema.get("minimum", low))
    high = min(high, schema.get("maximum", high))
    return low <= value <= high


def body_with(base, name, literal):
    """`base` as JSON with the (dotted) field set to the literal, written as it is."""
    body = json.loads(json.dumps(base))
    target = body
    *parents, last = name.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[last] = "__EXTREME__"
    return json.dumps(body).replace('"__EXTREME__"', literal)


def CALLS(atrium, dev, staff):
    """How to send each operation with a numeric input: (client, method, path, base body or None)."""
    key = dev.session.post("/api/keys", json={"name": "extreme target"}).json()["id"]
    v1 = httpx.Client(base_url=atrium.url, headers={"authorization": f"Bearer {dev.key}"}, timeout=30)
    chat = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    return {
        "createKey": (dev.session, "POST", "/api/keys", {"name": "extreme"}),
        "updateKey": (dev.session, "PATCH", f"/api/keys/{key}", {}),
        "usageRecords": (dev.session, "GET", "/api/usage/records", None),
        "credits": (dev.session, "GET", "/api/credits", None),
        "setBudget": (dev.session, "PUT", "/api/credits/budget", {"monthly_budget_micros": 10**9, "alert_micros": 10}),
        "setPrice": (staff, "PUT", "/api/prices", {"model": "extreme-unused-model", "input_micros_per_million": 1, "output_micros_per_million": 1}),
        "grantCredit": (staff, "POST", "/api/admin/credits", {"organization_id": dev.organization, "amount_micros": 1, "kind": "adjustment"}),
        "createRedemptionCode": (staff, "POST", "/api/admin/redemption-codes", {"amount_micros": 1, "max_redemptions": 1}),
        "createChatCompletion": (v1, "POST", "/v1/chat/completions", chat),
        "createCompletion": (v1, "POST", "/v1/completions", {"model": "instruct", "prompt": "hi", "max_tokens": 5}),
        "createEmbedding": (v1, "POST", "/v1/embeddings", {"model": "embedder", "input": "hi"}),
    }


def test_extreme_numbers_in_every_numeric_field_are_refused_cleanly(atrium, contract, people):
    dev, staff = people
    calls = CALLS(atrium, dev, staff)
    inputs = numeric_inputs(contract)
    assert set(inputs) <= set(calls), f"operations with numeric inputs that this test does not send: {set(inputs) - set(calls)}"
    failures, sent, statuses = [], 0, {}
    for operation, fields in inputs.items():
        client, method, path, base = calls[operation]
        for where, name, schema in fields:
            for literal in EXTREMES:
                if where == "query":
                    response = client.request(method, path, params={name: literal})
                else:
                    response = client.request(method, path, content=body_with(base, name, literal), headers={"content-type": "application/json"})
                sent += 1
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                allowed = documented(schema, literal)
                bad = response.status_code >= 500 or (not allowed and response.status_code != 400)
                if response.status_code == 400:
                    error = response.json().get("error", {})
                    named = error.get("param") in (name, name.split(".")[-1], None) or name.split(".")[-1] in error.get("message", "")
                    bad = bad or not named or not error.get("message")
                if bad:
                    failures.append(f"{operation} {name}={literal[:24]}: {response.status_code} {response.text[:160]}")
    print(f'\n{sent} requests sent; statuses: {statuses}')
    assert sent > 100
    assert not failures, "\n".join(failures)
    assert httpx.get(atrium.url + "/healthz").status_code == 200
    assert atrium.proc.poll() is None


def test_token_ids_at_the_extremes_are_refused(atrium, people):
    dev, _ = people
    v1 = httpx.Client(base_url=atrium.url, headers={"authorization": f"Bearer {dev.key}"}, timeout=30)
    for literal in EXTREMES[:4] + ["9" * 400]:
        for path, body in [("/v1/completions", '{"model": "instruct", "prompt": [%s], "max_tokens": 3}' % literal),
                           ("/v1/embeddings", '{"model": "embedder", "input": [%s]}' % literal)]:
            response = v1.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code in (400, 200), (path, literal, response.text)
            assert response.status_code < 500
    assert atrium.proc.poll() is None
