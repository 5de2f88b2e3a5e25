"""The command line answers bad input with a readable message and a non-zero exit, never a crash."""
import os
import subprocess
import tempfile
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import BIN


def run(*args, stdin=""):
    data = tempfile.mkdtemp(prefix="atrium-cli-")
    return subprocess.run([str(BIN), *args, "--data-dir", data], input=stdin, capture_output=True, text=True, timeout=60)


def test_keys_for_an_unknown_user():
    result = run("keys", "create", "--email", "nobody@example.com", "--name", "x")
    assert result.returncode != 0
    assert "No user with email nobody@example.com" in result.stderr


def test_create_user_needs_a_password_on_stdin():
    result = run("admin", "create-user", "--email", "a@example.com", "--name", "A")
    assert result.returncode != 0
    assert "password on standard input" in result.stderr


def test_create_user_refuses_a_short_password_and_a_bad_role():
    short = run("admin", "create-user", "--email", "a@example.com", "--name", "A", stdin="short\n")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr
    role = run("admin", "create-user", "--email", "a@example.com", "--name", "A", "--staff", "king", stdin="long enough\n")
    assert role.returncode != 0 and "king" in role.stderr


def test_usage_refuses_a_day_that_is_not_a_date():
    for flag, day in [("--from", "yesterday"), ("--to", "2026-02-30")]:
        result = run("admin", "usage", "--email", "a@example.com", flag, day)
        assert result.returncode != 0
        assert f"{flag} must be a date like 2026-11-23, not {day}" in result.stderr
        assert "Backtrace" not in result.stderr


def test_a_missing_config_file_is_named():
    result = subprocess.run([str(BIN), "serve", "--config", "/nonexistent/atrium.yaml"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "/nonexistent/atrium.yaml does not exist" in result.stderr
    assert "Backtrace" not in result.stderr


def test_a_bad_database_url_is_explained(tmp_path):
    result = subprocess.run([str(BIN), "migrate", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                            env={"DATABASE_URL": "mysql://nope"})
    assert result.returncode != 0
    assert "Unsupported DATABASE_URL" in result.stderr
    assert "Backtrace" not in result.stderr


POSTGRES = os.environ.get("ATRIUM_TEST_POSTGRES_URL", "")


def postgres_url(user=None, password=None, port=None, database=None):
    """The test server's URL with one part changed."""
    parts = urlsplit(POSTGRES)
    netloc = f"{user or parts.username}:{password}@" if password else f"{user or parts.username}@"
    netloc += f"{parts.hostname}:{port or parts.port}"
    return urlunsplit((parts.scheme, netloc, f"/{database}" if database else parts.path, parts.query, ""))


@pytest.mark.parametrize("case, expected", [
    ("missing database", 'database "atrium_nowhere" does not exist'),
    ("wrong user", 'authentication failed: role "nobody" does not exist'),
    ("nothing listening", "connection refused"),
    ("unknown host", "no-such-host.invalid"),
])
def test_a_database_that_cannot_be_used_is_named_in_one_line(tmp_path, case, expected):
    if not POSTGRES:
        pytest.skip("ATRIUM_TEST_POSTGRES_URL is not set: no PostgreSQL to point at")
    url = {
        "missing database": postgres_url(database="atrium_nowhere"),
        "wrong user": postgres_url(user="nobody", password="s3cret-pw"),
        "nothing listening": postgres_url(password="s3cret-pw", port=1),
        "unknown host": postgres_url(password="s3cret-pw").replace("127.0.0.1", "no-such-host.invalid"),
    }[case]
    for command in (["migrate"], ["keys", "create", "--email", "a@example.com", "--name", "x"]):
        result = subprocess.run([str(BIN), *command, "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                                env={"DATABASE_URL": url})
        assert result.returncode != 0, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and expected in errors[0], result.stderr
        assert "Generic description" not in result.stderr and "s3cret-pw" not in result.stderr
        assert "Backtrace" not in result.stderr
