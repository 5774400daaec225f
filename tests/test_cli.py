"""The touchpoint command, run as a real process the way scripts and make run call it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app, users

TOUCHPOINT = str(Path(sys.executable).parent / "touchpoint")


def run(tmp_path, *args, check=True):
    env = {
        **os.environ,
        "TOUCHPOINT_DATABASE": str(tmp_path / "cli.db"),
        "TOUCHPOINT_SECRET_KEY": "cli-test-secret-key-0123456789-abcdef",
    }
    env.pop("FLASK_APP", None)
    result = subprocess.run(
        [TOUCHPOINT, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_migrate_then_token_lifecycle(tmp_path):
    assert "Applied" in run(tmp_path, "migrate").stdout
    assert "up to date" in run(tmp_path, "migrate").stdout
    created = run(tmp_path, "token", "create", "--name", "CRM sync").stdout
    # Only the token on stdout, so `T=$(touchpoint token create --name x)` works.
    assert created.count("\n") == 1 and created.startswith("tpa_")
    listing = run(tmp_path, "token", "list").stdout
    assert "CRM sync" in listing and "active" in listing and created.strip() not in listing
    assert "revoked" in run(tmp_path, "token", "revoke", "1").stdout
    assert "revoked 20" in run(tmp_path, "token", "list").stdout
    failed = run(tmp_path, "token", "revoke", "1", check=False)
    assert failed.returncode != 0 and "No active token" in failed.stderr


def test_bootstrap_prints_the_first_token_once(tmp_path):
    first = run(tmp_path, "bootstrap", "--url", "http://127.0.0.1:9999").stdout
    assert "tpa_" in first and "http://127.0.0.1:9999" in first
    second = run(tmp_path, "bootstrap").stdout
    assert "tpa_" not in second


def test_bootstrap_prints_the_first_admin_password_once_and_it_signs_in(tmp_path):
    first = run(tmp_path, "bootstrap", "--admin-email", "boss@example.com").stdout
    assert "http://127.0.0.1:8000/dashboard/" in first
    email = re.search(r"Email +(\S+)", first).group(1)
    password = re.search(r"Password +(\S+)", first).group(1)
    assert email == "boss@example.com" and len(password) >= 16
    assert "Password" not in run(tmp_path, "bootstrap").stdout
    app = create_app(
        {"DATABASE": str(tmp_path / "cli.db")}, instance_path=tmp_path / "instance", environ={}
    )
    db = app.extensions["touchpoint"].db()
    assert users.authenticate(db, email, password)["role"] == "admin"
    (tmp_path / "other").mkdir()
    bad = run(tmp_path / "other", "bootstrap", "--admin-email", "nope", check=False)
    assert bad.returncode == 2 and "--admin-email" in bad.stderr and "Traceback" not in bad.stderr


def test_user_create_list_and_reset_password(tmp_path):
    run(tmp_path, "migrate")
    password = run(tmp_path, "user", "create", "--email", "m@example.com").stdout.strip()
    assert len(password) >= 16 and "\n" not in password
    listed = run(tmp_path, "user", "list").stdout
    assert "m@example.com" in listed and "marketer" in listed and "active" in listed
    taken = run(tmp_path, "user", "create", "--email", "M@example.com", check=False)
    assert taken.returncode == 2 and "already an account" in taken.stderr
    new = run(tmp_path, "user", "reset-password", "m@example.com").stdout.strip()
    assert new != password and len(new) >= 16
    missing = run(tmp_path, "user", "reset-password", "x@example.com", check=False)
    assert missing.returncode == 1 and "No account" in missing.stderr


def test_token_create_requires_a_name(tmp_path):
    run(tmp_path, "migrate")
    result = run(tmp_path, "token", "create", "--name", "  ", check=False)
    assert result.returncode == 2 and "Name is required" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["migrate"],
        ["bootstrap"],
        ["token"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["user"],
        ["user", "create"],
        ["user", "list"],
        ["user", "reset-password"],
        ["demo"],
    ],
)
def test_every_command_has_help(tmp_path, command):
    result = run(tmp_path, *command, "--help")
    assert "Usage: touchpoint" in result.stdout
    assert len(result.stdout.strip().splitlines()) >= 3
