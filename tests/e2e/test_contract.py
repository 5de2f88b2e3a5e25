"""Holds real responses of `atrium serve` to the contract it serves at /openapi.json."""
import re

import httpx
import jsonschema
import pytest


@pytest.fixture(scope="module")
def contract(atrium):
    return httpx.get(atrium.url + "/openapi.json").json()


def schema_for(contract, method, path, status):
    """The JSON schema of one documented response, with the document's components in reach of $ref."""
    template = next((t for t in contract["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)), None)
    assert template, f"{path} is not in the contract"
    operation = contract["paths"][template].get(method.lower())
    assert operation, f"{method} {template} is not in the contract"
    response = operation["responses"].get(str(status))
    assert response, f"{method} {template} does not document status {status}"
    if "$ref" in response:
        response = contract["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": contract["components"]}


def check(contract, response):
    request = response.request
    schema = schema_for(contract, request.method, request.url.path, response.status_code)
    jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)


def test_management_responses_match_the_contract(atrium, contract, api_key):
    signup = httpx.post(atrium.url + "/api/auth/signup",
                        json={"email": "contract@example.com", "password": "correct horse", "name": "C"})
    check(contract, signup)
    session = httpx.Client(base_url=atrium.url, cookies=signup.cookies)
    check(contract, session.get("/api/auth/me"))
    organization = session.post("/api/organizations", json={"name": "Contract Co"})
    check(contract, organization)
    org = organization.json()["id"]
    check(contract, session.get("/api/organizations"))
    check(contract, session.get(f"/api/organizations/{org}"))
    check(contract, session.get(f"/api/organizations/{org}/members"))
    check(contract, session.post(f"/api/organizations/{org}/members", json={"email": "e2e@example.com", "role": "admin"}))
    check(contract, session.post("/api/keys", json={"name": "contract", "organization_id": org}))
    check(contract, session.get("/api/keys", params={"organization_id": org}))
    check(contract, session.post("/api/keys", json={"name": ""}))
    check(contract, session.get("/api/organizations/00000000-0000-0000-0000-000000000000"))
    check(contract, httpx.get(atrium.url + "/api/keys"))
    check(contract, httpx.post(atrium.url + "/api/auth/login", json={"email": "contract@example.com", "password": "nope nope"}))


def test_billing_responses_match_the_contract(atrium, contract, api_key):
    staff = atrium.create_staff("contract-staff@example.com")
    dev = atrium.session("e2e@example.com")
    key = dev.get("/api/keys").json()["data"][0]
    httpx.post(atrium.url + "/v1/chat/completions", headers={"authorization": f"Bearer {api_key}"},
               json={"model": "echo", "messages": [{"role": "user", "content": "x"}]}, timeout=20)
    check(contract, dev.patch(f"/api/keys/{key['id']}", json={"rate_limits": {"requests_per_minute": 10000}}))
    check(contract, dev.patch(f"/api/keys/{key['id']}", json={"rate_limits": {"requests_per_minute": 0}}))
    check(contract, dev.get("/api/usage"))
    check(contract, dev.get("/api/usage", params={"from": "soon"}))
    check(contract, dev.get("/api/usage/records", params={"limit": 5}))
    check(contract, dev.get("/api/credits"))
    check(contract, dev.put("/api/credits/budget", json={"monthly_budget_micros": 10**12, "alert_micros": 10**11}))
    check(contract, dev.put("/api/credits/budget", json={"monthly_budget_micros": 1, "alert_micros": 2}))
    check(contract, dev.put("/api/credits/budget", json={"monthly_budget_micros": None}))
    check(contract, dev.get("/api/notifications"))
    check(contract, staff.put("/api/prices", json={"model": "contract", "input_micros_per_million": 1, "output_micros_per_million": 2}))
    check(contract, dev.put("/api/prices", json={"model": "contract", "input_micros_per_million": 1, "output_micros_per_million": 2}))
    check(contract, dev.get("/api/prices"))
    check(contract, dev.get("/api/prices/contract"))
    organization = dev.get("/api/credits").json()["organization_id"]
    check(contract, staff.post("/api/admin/credits", json={"organization_id": organization, "amount_micros": 1000}))
    code = staff.post("/api/admin/redemption-codes", json={"amount_micros": 5})
    check(contract, code)
    check(contract, dev.post("/api/credits/redeem", json={"code": code.json()["code"]}))
    check(contract, dev.post("/api/credits/redeem", json={"code": code.json()["code"]}))
    assert staff.put(f"/api/admin/organizations/{organization}/plan", json={"plan": "default"}).status_code == 204
    check(contract, staff.put(f"/api/admin/organizations/{organization}/plan", json={"plan": "gold"}))


def test_model_api_responses_match_the_contract(atrium, contract, api_key):
    v1 = httpx.Client(base_url=atrium.url, headers={"authorization": f"Bearer {api_key}"}, timeout=20)
    check(contract, v1.get("/v1/models"))
    check(contract, v1.get("/v1/models/echo"))
    check(contract, v1.get("/v1/models/nope"))
    check(contract, v1.post("/v1/chat/completions", json={"model": "echo", "messages": [{"role": "user", "content": "x"}]}))
    check(contract, v1.post("/v1/completions", json={"model": "instruct", "prompt": "x"}))
    check(contract, v1.post("/v1/embeddings", json={"model": "embedder", "input": "x"}))
    check(contract, v1.post("/v1/chat/completions", json={"model": "echo", "messages": []}))
    check(contract, v1.post("/v1/chat/completions", json={"model": "hang", "messages": [{"role": "user", "content": "x"}]}))
    check(contract, httpx.get(atrium.url + "/v1/models"))
    check(contract, httpx.get(atrium.url + "/healthz"))
    check(contract, httpx.get(atrium.url + "/readyz"))


def test_every_route_is_documented(contract):
    documented = {(method.upper(), path) for path, item in contract["paths"].items() for method in item if method != "parameters"}
    served = {
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json"),
        ("POST", "/api/auth/signup"), ("POST", "/api/auth/login"), ("POST", "/api/auth/logout"), ("GET", "/api/auth/me"),
        ("GET", "/api/organizations"), ("POST", "/api/organizations"), ("GET", "/api/organizations/{organization}"),
        ("GET", "/api/organizations/{organization}/members"), ("POST", "/api/organizations/{organization}/members"),
        ("DELETE", "/api/organizations/{organization}/members/{user}"),
        ("GET", "/api/keys"), ("POST", "/api/keys"), ("DELETE", "/api/keys/{key}"), ("PATCH", "/api/keys/{key}"),
        ("GET", "/api/usage"), ("GET", "/api/usage/records"), ("GET", "/api/credits"), ("POST", "/api/credits/redeem"),
        ("PUT", "/api/credits/budget"), ("GET", "/api/notifications"),
        ("GET", "/api/prices"), ("PUT", "/api/prices"), ("GET", "/api/prices/{model}"),
        ("POST", "/api/admin/credits"), ("POST", "/api/admin/redemption-codes"),
        ("PUT", "/api/admin/organizations/{organization}/plan"),
        ("GET", "/v1/models"), ("GET", "/v1/models/{model}"), ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"), ("POST", "/v1/embeddings"), ("POST", "/tokenize"), ("POST", "/detokenize"),
    }
    assert served == documented
