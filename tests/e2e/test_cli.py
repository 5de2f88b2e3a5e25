"""The command line answers bad input with a readable message and a non-zero exit, never a crash."""
import subprocess
import tempfile

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
