"""Fills an Atrium SQLite database (already migrated, with the bench user made by the CLI) to the size
the portal benchmark asks for: 1,000 organizations with their owners, and 100,000 usage rows over the
last 30 days. The bench user's organization is a busy one (a fifth of the rows), so its dashboard and
staff page are the heavy case, not the average one.
    python3 bench/portal/seed.py DB BENCH_EMAIL"""
import random
import sqlite3
import sys
import time
import uuid

ORGANIZATIONS = 1_000
USAGE_ROWS = 100_000
MODELS = [("chat-large", 2_000_000), ("chat-small", 150_000), ("embed", 20_000), ("instruct", 500_000)]


def upper_uuid():
    return str(uuid.uuid4()).upper()


def main(path, bench_email):
    random.seed(7)
    db = sqlite3.connect(path)
    bench_org = db.execute(
        "SELECT m.organization_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = ?", (bench_email,)).fetchone()[0]
    now = time.time()
    hash_ = db.execute("SELECT password_hash FROM users WHERE email = ?", (bench_email,)).fetchone()[0]
    organizations = [bench_org]
    users, orgs, memberships, accounts = [], [], [], []
    for index in range(ORGANIZATIONS - 1):
        user, org = upper_uuid(), upper_uuid()
        created = now - random.uniform(0, 90 * 86400)
        users.append((user, f"developer{index:04d}@bench.example", f"Developer {index:04d}", hash_, created, created))
        orgs.append((org, f"Developer {index:04d}'s organization", 1, created))
        memberships.append((upper_uuid(), org, user, "owner", created))
        accounts.append((org, random.randint(0, 50_000_000), None, created))
        organizations.append(org)
    db.executemany("INSERT INTO users (id, email, name, password_hash, created_at, email_verified_at) VALUES (?, ?, ?, ?, ?, ?)", users)
    db.executemany("INSERT INTO organizations (id, name, is_personal, created_at) VALUES (?, ?, ?, ?)", orgs)
    db.executemany("INSERT INTO memberships (id, organization_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)", memberships)
    db.executemany("INSERT INTO billing_accounts (id, balance_micros, plan, created_at) VALUES (?, ?, ?, ?)", accounts)

    keys = {org: upper_uuid() for org in organizations}
    rows = []
    for index in range(USAGE_ROWS):
        org = bench_org if index % 5 == 0 else random.choice(organizations)
        model, price = random.choice(MODELS)
        created = now - random.uniform(0, 30 * 86400)
        prompt, completion = random.randint(5, 2000), (0 if model == "embed" else random.randint(1, 800))
        status = random.choices([200, 429, 400, 502], weights=[94, 3, 2, 1])[0]
        cost = (prompt + completion) * price // 1_000_000 if status == 200 else 0
        rows.append((
            upper_uuid(), f"req_bench{index:08d}", org, keys[org], model, "bench-gpu", prompt, completion, prompt + completion, cost, None,
            status, "stop", index % 3 == 0, 0, random.randint(20, 3000), time.strftime("%Y-%m-%d", time.gmtime(created)), created))
    db.executemany(
        "INSERT INTO usage_records (id, request_id, organization_id, api_key_id, model, provider, prompt_tokens, completion_tokens,"
        " total_tokens, cost_micros, price_id, status, finish_reason, streamed, estimated, latency_ms, day, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    # The daily totals the ledger's group commit keeps beside its records.
    db.execute(
        "INSERT INTO usage_daily (organization_id, day, model, api_key_id, requests, prompt_tokens, completion_tokens, cost_micros)"
        " SELECT organization_id, day, model, api_key_id, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micros)"
        " FROM usage_records GROUP BY organization_id, day, model, api_key_id"
        " ON CONFLICT (organization_id, day, model, api_key_id) DO UPDATE SET requests = excluded.requests")
    db.commit()
    counts = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("organizations", "usage_records")}
    print(f"seeded: {counts['organizations']} organizations, {counts['usage_records']} usage rows "
          f"({sum(1 for r in rows if r[2] == bench_org)} in the bench organization)")
    return bench_org


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
