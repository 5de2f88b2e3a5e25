"""Who may call what, for every operation of the contract (openapi.yaml, the document the server serves).

RULES classifies each operation: who may call it at all (public, an API key, a session, platform
staff), which requests of a user of another organization must not find the resources of organization A
(404, and nothing changed), and which members without the role must be refused (403, nothing changed).
An operation of the contract missing from RULES fails `test_operation_is_classified`, and so does one
whose path, `organization_id` or `key_id` names a resource while its rule says nothing about it: a new
operation cannot go unchecked by being unknown here.

Staff operations refuse every signed-in user without the `admin` staff role with 403 (the server's
documented behaviour: `403` in the contract, `permission_denied`), not 404.
"""
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import httpx
import pytest
import yaml

from conftest import ROOT

CONTRACT = yaml.safe_load((ROOT / "openapi.yaml").read_text())
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def operations(contract):
    """operationId → (METHOD, path template, operation object, path item)."""
    found = {}
    for path, item in contract["paths"].items():
        for method in METHODS:
            if method in item:
                found[item[method]["operationId"]] = (method.upper(), path, item[method], item)
    return found


OPERATIONS = operations(CONTRACT)


def resolved(node):
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = CONTRACT["components"][section][name]
    return node


def parameters(operation, item, where):
    found = [resolved(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
    return {p["name"] for p in found if p["in"] == where}


def body_properties(operation):
    schema = resolved(operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}))
    return set(schema.get("properties", {}))


# References to resources an organization owns: any path parameter, and these query or body fields.
OWNED_FIELDS = {"organization_id", "key_id"}


@dataclass
class Req:
    method: str
    path: str
    json: dict | None = None
    params: dict | None = None


@dataclass
class Rule:
    access: str  # public | api_key | session | staff
    # Requests of user B (another organization) for organization A's resources: 404 and nothing changed.
    foreign: list[Callable] = field(default_factory=list)
    # Requests whose answer to B must not mention A's resource: (request, the id that must not show).
    hidden: list[Callable] = field(default_factory=list)
    # Requests refused for want of a role: (actor, request, who may do it instead or None). 403, nothing changed.
    roles: list[Callable] = field(default_factory=list)
    # Why a resource the request names is nobody's (a model of the catalog), when it is so.
    unowned: str = ""
    # For staff operations: the request a non-staff user must be refused (403).
    staff: Callable | None = None
    # Where a 403 comes from besides roles: the test that shows it (e.g. an unverified email).
    other_refusal: str = ""


BUDGET = {"monthly_budget_micros": 123, "alert_micros": 45}
LIMITS = {"rate_limits": {"requests_per_minute": 7}}

RULES = {
    # Operations
    "health": Rule("public"),
    "readiness": Rule("public"),
    "metrics": Rule("public"),
    "contract": Rule("public"),
    # Auth
    "signUp": Rule("public"),
    "logIn": Rule("public"),
    "logOut": Rule("public"),
    "me": Rule("session", hidden=[lambda w: (Req("GET", "/api/auth/me"), w.org_a)]),
    # Organizations
    "listOrganizations": Rule("session", hidden=[lambda w: (Req("GET", "/api/organizations"), w.org_a)]),
    "createOrganization": Rule("session"),
    "getOrganization": Rule("session", foreign=[lambda w: Req("GET", f"/api/organizations/{w.org_a}")]),
    "listMembers": Rule("session", foreign=[lambda w: Req("GET", f"/api/organizations/{w.org_a}/members")]),
    "addMember": Rule(
        "session",
        foreign=[lambda w: Req("POST", f"/api/organizations/{w.org_a}/members", json={"email": w.b.email, "role": "owner"})],
        roles=[
            lambda w: (w.member, Req("POST", f"/api/organizations/{w.org_a}/members", json={"email": w.b.email}), w.admin),
            lambda w: (w.member, Req("POST", f"/api/organizations/{w.org_a}/members", json={"email": w.member.email, "role": "admin"}), w.owner),
            lambda w: (w.admin, Req("POST", f"/api/organizations/{w.org_a}/members", json={"email": w.b.email, "role": "owner"}), w.owner),
        ]),
    "removeMember": Rule(
        "session",
        foreign=[lambda w: Req("DELETE", f"/api/organizations/{w.org_a}/members/{w.member.id}")],
        roles=[
            lambda w: (w.member, Req("DELETE", f"/api/organizations/{w.org_a}/members/{w.admin.id}"), w.owner),
            lambda w: (w.admin, Req("DELETE", f"/api/organizations/{w.org_a}/members/{w.owner.id}"), None),
        ]),
    # Keys
    "listKeys": Rule(
        "session",
        foreign=[lambda w: Req("GET", "/api/keys", params={"organization_id": w.org_a})],
        hidden=[lambda w: (Req("GET", "/api/keys"), w.key_a)]),
    "createKey": Rule("session", foreign=[lambda w: Req("POST", "/api/keys", json={"name": "intruder", "organization_id": w.org_a})],
                      other_refusal="403 email_not_verified while the email waits for its link: test_account_mail.py"),
    "revokeKey": Rule(
        "session",
        foreign=[lambda w: Req("DELETE", f"/api/keys/{w.key_a}")],
        roles=[lambda w: (w.member, Req("DELETE", f"/api/keys/{w.key_a}"), w.admin)]),
    "updateKey": Rule(
        "session",
        foreign=[lambda w: Req("PATCH", f"/api/keys/{w.key_a}", json={**LIMITS, "organization_id": w.org_a})],
        roles=[lambda w: (w.member, Req("PATCH", f"/api/keys/{w.key_a}", json={**LIMITS, "organization_id": w.org_a}), w.admin)]),
    # Billing
    "usageSummary": Rule(
        "session",
        foreign=[lambda w: Req("GET", "/api/usage", params={"organization_id": w.org_a})],
        hidden=[lambda w: (Req("GET", "/api/usage", params={"key_id": w.key_a}), w.key_a)]),
    "usageRecords": Rule(
        "session",
        foreign=[lambda w: Req("GET", "/api/usage/records", params={"organization_id": w.org_a})],
        hidden=[lambda w: (Req("GET", "/api/usage/records", params={"key_id": w.key_a}), w.key_a)]),
    "credits": Rule("session", foreign=[lambda w: Req("GET", "/api/credits", params={"organization_id": w.org_a})]),
    "redeemCode": Rule(
        "session",
        foreign=[lambda w: Req("POST", "/api/credits/redeem", json={"code": w.code(), "organization_id": w.org_a})],
        roles=[lambda w: (w.member, Req("POST", "/api/credits/redeem", json={"code": w.code(), "organization_id": w.org_a}), w.admin)]),
    "setBudget": Rule(
        "session",
        foreign=[lambda w: Req("PUT", "/api/credits/budget", json={**BUDGET, "organization_id": w.org_a})],
        roles=[lambda w: (w.member, Req("PUT", "/api/credits/budget", json={**BUDGET, "organization_id": w.org_a}), w.admin)]),
    "listNotifications": Rule("session", foreign=[lambda w: Req("GET", "/api/notifications", params={"organization_id": w.org_a})]),
    "listPrices": Rule("session"),
    "priceHistory": Rule("session", unowned="a price belongs to a model of the platform's catalog, which every user may read"),
    # Staff
    "setPrice": Rule("staff", staff=lambda w: Req("PUT", "/api/prices", json={"model": "authz-model", "input_micros_per_million": 1, "output_micros_per_million": 1})),
    "grantCredit": Rule("staff", unowned="staff act on any organization", staff=lambda w: Req("POST", "/api/admin/credits", json={"organization_id": w.org_a, "amount_micros": 1})),
    "createRedemptionCode": Rule("staff", staff=lambda w: Req("POST", "/api/admin/redemption-codes", json={"amount_micros": 1})),
    "setPlan": Rule("staff", unowned="staff act on any organization",
                    staff=lambda w: Req("PUT", f"/api/admin/organizations/{w.org_a}/plan", json={"plan": "default"})),
    # Models: the key's scopes are its roles.
    "listModels": Rule("api_key", roles=[lambda w: (w.key_without("model.read"), Req("GET", "/v1/models"), w.key_with("model.read"))]),
    "retrieveModel": Rule("api_key", unowned="a model belongs to the platform's catalog",
                          roles=[lambda w: (w.key_without("model.read"), Req("GET", "/v1/models/echo"), w.key_with("model.read"))]),
    "createChatCompletion": Rule("api_key", roles=[lambda w: (
        w.key_without("model.request"), Req("POST", "/v1/chat/completions", json={"model": "echo", "messages": [{"role": "user", "content": "x"}]}),
        w.key_with("model.request"))]),
    "createCompletion": Rule("api_key", roles=[lambda w: (
        w.key_without("model.request"), Req("POST", "/v1/completions", json={"model": "instruct", "prompt": "x"}), w.key_with("model.request"))]),
    "createEmbedding": Rule("api_key", roles=[lambda w: (
        w.key_without("model.request"), Req("POST", "/v1/embeddings", json={"model": "embedder", "input": "x"}), w.key_with("model.request"))]),
    # No embedded chat model in the test server: whoever may call them gets 404, so there is no control.
    "tokenize": Rule("api_key", roles=[lambda w: (w.key_without("model.request"), Req("POST", "/tokenize", json={"model": "echo", "prompt": "x"}), None)]),
    "detokenize": Rule("api_key", roles=[lambda w: (w.key_without("model.request"), Req("POST", "/detokenize", json={"model": "echo", "tokens": [1]}), None)]),
}


def security_of(operation):
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    return {frozenset(): "public", frozenset({"apiKey"}): "api_key", frozenset({"session"}): "session"}.get(frozenset(schemes), schemes)


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_operation_is_classified(operation_id):
    method, path, operation, item = OPERATIONS[operation_id]
    assert operation_id in RULES, f"{method} {path} ({operation_id}) is new: classify it in RULES of test_authorization.py"
    rule = RULES[operation_id]
    declared = security_of(operation)
    expected = "session" if rule.access == "staff" else rule.access
    assert declared == expected, f"{operation_id}: the contract's security is {declared}, RULES says {rule.access}"
    is_staff = "Staff" in operation.get("tags", []) or path.startswith("/api/admin/")
    assert is_staff == (rule.access == "staff"), f"{operation_id}: tagged Staff or under /api/admin exactly when RULES says staff"
    if rule.access == "staff":
        assert rule.staff, f"{operation_id}: a staff operation needs the request non-staff users are refused"
    named = parameters(operation, item, "path") | ((parameters(operation, item, "query") | body_properties(operation)) & OWNED_FIELDS)
    if named:
        assert rule.foreign or rule.hidden or rule.unowned, (
            f"{operation_id} names {sorted(named)}: give RULES a foreign request (404 for another "
            f"organization), a hidden check, or the reason the resource is nobody's")
    documents = set(operation["responses"])
    if rule.foreign:
        assert "404" in documents, f"{operation_id}: refuses other organizations with 404, which its contract does not document"
    if rule.roles or rule.staff:
        assert "403" in documents, f"{operation_id}: refuses with 403, which its contract does not document"
    if "403" in documents and rule.access == "session":
        assert rule.roles or rule.other_refusal, f"{operation_id} documents 403: give RULES the member (without the role) it refuses"


def test_rules_name_only_operations_of_the_contract(atrium):
    assert set(RULES) <= set(OPERATIONS), f"RULES names operations the contract lacks: {sorted(set(RULES) - set(OPERATIONS))}"
    served = operations(httpx.get(atrium.url + "/openapi.json").json())
    assert set(served) == set(OPERATIONS), "the served contract is not openapi.yaml"


# ---------------------------------------------------------------------------------------------------
# The world each check runs in: organization A with an owner, an admin and a member; user B with
# organizations of their own; a key of A's organization that has been used.

@dataclass
class User:
    email: str
    id: str
    client: httpx.Client

    def send(self, request: Req):
        return self.client.request(request.method, request.path, json=request.json, params=request.params)


@dataclass
class KeyUser:
    """An API key acting like a user: requests carry it as Bearer."""
    secret: str
    client: httpx.Client

    def send(self, request: Req):
        return self.client.request(request.method, request.path, json=request.json, params=request.params,
                                   headers={"authorization": f"Bearer {self.secret}"})


class World:
    def __init__(self, atrium, staff_admin):
        self.atrium = atrium
        self.staff_admin = staff_admin
        tag = uuid.uuid4().hex[:10]
        self.owner = self.sign_up(f"authz-owner-{tag}@example.com")
        self.admin = self.sign_up(f"authz-admin-{tag}@example.com")
        self.member = self.sign_up(f"authz-member-{tag}@example.com")
        self.b = self.sign_up(f"authz-b-{tag}@example.com")
        made = self.owner.send(Req("POST", "/api/organizations", json={"name": "A Co"}))
        assert made.status_code == 201, made.text
        self.org_a = made.json()["id"]
        for user, role in ((self.admin, "admin"), (self.member, "member")):
            added = self.owner.send(Req("POST", f"/api/organizations/{self.org_a}/members", json={"email": user.email, "role": role}))
            assert added.status_code == 201, added.text
        b_org = self.b.send(Req("POST", "/api/organizations", json={"name": "B Co"}))
        assert b_org.status_code == 201, b_org.text
        key = self.owner.send(Req("POST", "/api/keys", json={"name": "A's key", "organization_id": self.org_a}))
        assert key.status_code == 201, key.text
        self.key_a, self.key_a_secret = key.json()["id"], key.json()["secret"]

    def sign_up(self, email):
        client = httpx.Client(base_url=self.atrium.url, timeout=20)
        response = client.post("/api/auth/signup", json={"email": email, "password": "correct horse", "name": "Authz"})
        assert response.status_code == 201, response.text
        return User(email, response.json()["user"]["id"], client)

    def code(self):
        made = self.staff_admin.send(Req("POST", "/api/admin/redemption-codes", json={"amount_micros": 5}))
        assert made.status_code == 201, made.text
        return made.json()["code"]

    def key_with(self, *scopes):
        made = self.owner.send(Req("POST", "/api/keys", json={"name": "scoped", "scopes": list(scopes), "organization_id": self.org_a}))
        assert made.status_code == 201, made.text
        return KeyUser(made.json()["secret"], httpx.Client(base_url=self.atrium.url, timeout=20))

    def key_without(self, scope):
        return self.key_with(*({"model.read", "model.request"} - {scope}))

    def use_key_a(self):
        """One metered request with A's key, and its record in A's ledger."""
        answer = httpx.post(self.atrium.url + "/v1/chat/completions", headers={"authorization": f"Bearer {self.key_a_secret}"},
                            json={"model": "echo", "messages": [{"role": "user", "content": "x"}]}, timeout=20)
        assert answer.status_code == 200, answer.text
        for _ in range(100):
            records = self.owner.send(Req("GET", "/api/usage/records", params={"organization_id": self.org_a, "key_id": self.key_a}))
            if records.status_code == 200 and records.json()["data"]:
                return
            time.sleep(0.1)
        raise AssertionError("the request with A's key was never recorded")

    def snapshot(self):
        """What organization A looks like to its owner, and what B belongs to."""
        view = {}
        for name, request in {
            "organization": Req("GET", f"/api/organizations/{self.org_a}"),
            "members": Req("GET", f"/api/organizations/{self.org_a}/members"),
            "keys": Req("GET", "/api/keys", params={"organization_id": self.org_a}),
            "credits": Req("GET", "/api/credits", params={"organization_id": self.org_a}),
        }.items():
            response = self.owner.send(request)
            assert response.status_code == 200, response.text
            view[name] = response.json()
        # When a key was last used is written by a flush every 10 s, whenever it falls: a key presented
        # (even one refused for want of a scope) is a key used, not a change to the organization.
        for key in view["keys"]["data"]:
            key.pop("last_used_at", None)
        view["b"] = sorted(o["id"] for o in self.b.send(Req("GET", "/api/organizations")).json()["data"])
        return view


@pytest.fixture(scope="module")
def staff_admin(atrium):
    atrium.create_staff("authz-staff-admin@example.com")
    client = atrium.session("authz-staff-admin@example.com")
    return User("authz-staff-admin@example.com", client.get("/api/auth/me").json()["user"]["id"], client)


@pytest.fixture(scope="module")
def staff_support(atrium):
    email = "authz-staff-support@example.com"
    made = atrium.cli("admin", "create-user", "--email", email, "--name", "Support", "--staff", "support", stdin="correct horse\n")
    assert made.returncode == 0, made.stderr
    client = atrium.session(email)
    return User(email, client.get("/api/auth/me").json()["user"]["id"], client)


@pytest.fixture
def world(atrium, staff_admin):
    return World(atrium, staff_admin)


def documented(operation_id, status):
    return str(status) in OPERATIONS[operation_id][2]["responses"]


def cases(kind):
    return [pytest.param(op, i, id=f"{op}-{i}" if len(getattr(rule, kind)) > 1 else op)
            for op, rule in RULES.items() for i in range(len(getattr(rule, kind)))]


@pytest.mark.parametrize("operation_id, index", cases("foreign"))
def test_another_organization_does_not_find_the_resource(world, operation_id, index):
    request = RULES[operation_id].foreign[index](world)
    before = world.snapshot()
    refused = world.b.send(request)
    assert refused.status_code == 404, f"{request} by a user of another organization: {refused.status_code} {refused.text}"
    assert refused.json()["error"]["type"] == "invalid_request_error", refused.text
    assert world.snapshot() == before, f"{request} by a user of another organization changed organization A"
    # The control: the resource is there, and its owner reaches it with the same request.
    allowed = world.owner.send(request)
    assert 200 <= allowed.status_code < 300, f"{request} by organization A's owner: {allowed.status_code} {allowed.text}"


@pytest.mark.parametrize("operation_id, index", cases("hidden"))
def test_another_organization_does_not_see_the_resource(world, operation_id, index):
    world.use_key_a()
    request, secret = RULES[operation_id].hidden[index](world)
    seen = world.b.send(request)
    assert seen.status_code in (200, 404), f"{request} by a user of another organization: {seen.status_code} {seen.text}"
    assert seen.status_code == 404 or secret not in seen.text, f"{request} by a user of another organization shows {secret}: {seen.text}"
    # The control: organization A's owner sees it through the same operation.
    owner = world.owner.send(Req(request.method, request.path, json=request.json, params={**(request.params or {}), "organization_id": world.org_a}))
    assert owner.status_code == 200 and secret in owner.text, f"{request} by organization A's owner: {owner.status_code} {owner.text}"


@pytest.mark.parametrize("operation_id, index", cases("roles"))
def test_a_member_without_the_role_is_refused(world, operation_id, index):
    actor, request, control = RULES[operation_id].roles[index](world)
    before = world.snapshot()
    refused = actor.send(request)
    assert refused.status_code == 403, f"{request} without the role: {refused.status_code} {refused.text}"
    assert documented(operation_id, 403), f"{operation_id} answers 403 (for want of a role), which its contract does not document"
    assert world.snapshot() == before, f"{request} without the role changed organization A"
    if control is not None:
        allowed = control.send(request)
        assert 200 <= allowed.status_code < 300, f"{request} by one with the role: {allowed.status_code} {allowed.text}"


@pytest.mark.parametrize("operation_id", [op for op, rule in RULES.items() if rule.access == "staff"])
def test_staff_operations_refuse_everyone_else(world, staff_support, staff_admin, operation_id):
    request = RULES[operation_id].staff(world)
    before = world.snapshot()
    for who, user in (("an organization owner", world.owner), ("another user", world.b), ("support staff", staff_support)):
        refused = user.send(request)
        assert refused.status_code == 403, f"{request} by {who}: {refused.status_code} {refused.text}"
        assert refused.json()["error"]["code"] == "permission_denied", refused.text
    assert world.snapshot() == before, f"{request} refused to non-staff changed organization A"
    allowed = staff_admin.send(request)
    assert 200 <= allowed.status_code < 300, f"{request} by a platform administrator: {allowed.status_code} {allowed.text}"


def fill(path):
    """A path of the template with made-up parameters: authentication comes before anything they name."""
    return re.sub(r"\{[^}]+\}", str(uuid.UUID(int=1)), path)


@pytest.fixture(scope="module")
def signed_in(atrium, api_key):
    """A signed-in user (the one of `api_key`) for the credential checks."""
    return atrium.session("e2e@example.com")


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_credentials_of_the_wrong_kind_are_refused(atrium, api_key, signed_in, operation_id):
    """No credentials, or the other kind (a key for /api, a session for /v1): 401, and documented."""
    method, path, operation, _ = OPERATIONS[operation_id]
    access = security_of(operation)
    if access == "public":
        return
    url = fill(path)
    body = {} if "requestBody" in operation else None
    wrong = {
        "nothing": httpx.Client(base_url=atrium.url, timeout=20),
        "the other kind": signed_in if access == "api_key"
        else httpx.Client(base_url=atrium.url, timeout=20, headers={"authorization": f"Bearer {api_key}"}),
    }
    for what, client in wrong.items():
        answer = client.request(method, url, json=body)
        assert answer.status_code == 401, f"{method} {url} with {what}: {answer.status_code} {answer.text}"
        assert documented(operation_id, 401), f"{operation_id} answers 401, which its contract does not document"
