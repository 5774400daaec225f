"""The touchpoint command, run as a real process the way scripts and make run call it."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from app import cli, create_app
from app.access import users
from app.core import settings
from app.storage import migrations

from . import backends
from .conftest import BROWSER_UA, api_for, make_app

pytestmark = pytest.mark.slow

TOUCHPOINT = str(Path(sys.executable).parent / "touchpoint")
ROOT = Path(__file__).resolve().parent.parent
SECRET = "cli-test-secret-key-0123456789-abcdef"


# The database of the app a_season built in a folder, for the commands run there (under
# PostgreSQL a URL: TOUCHPOINT_DATABASE_URL wins over TOUCHPOINT_DATABASE).
SEASONS: dict[str, dict[str, str]] = {}


def run(tmp_path, *args, check=True, database="cli.db", **env_vars):
    env = {
        **os.environ,
        "TOUCHPOINT_DATABASE": str(tmp_path / database),
        "TOUCHPOINT_SECRET_KEY": SECRET,
        **(SEASONS.get(str(tmp_path), {}) if database == "cli.db" else {}),
    }
    env.pop("FLASK_APP", None)
    env.pop("TOUCHPOINT_PUBLIC_BASE_URL", None)
    env.update(env_vars)
    result = subprocess.run(
        [TOUCHPOINT, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def fresh(tmp_path) -> dict[str, str]:
    """The environment naming an empty database: a file in tmp_path, or a PostgreSQL one."""
    if backends.POSTGRES:
        return {"TOUCHPOINT_DATABASE_URL": backends.empty_database_url()}
    return {}


def test_migrate_then_token_lifecycle(tmp_path, fresh):
    assert "Applied" in run(tmp_path, "migrate", **fresh).stdout
    assert "up to date" in run(tmp_path, "migrate", **fresh).stdout
    created = run(tmp_path, "token", "create", "--name", "CRM sync", **fresh).stdout
    # Only the token on stdout, so `T=$(touchpoint token create --name x)` works.
    assert created.count("\n") == 1 and created.startswith("tpa_")
    listing = run(tmp_path, "token", "list", **fresh).stdout
    assert "CRM sync" in listing and "active" in listing and created.strip() not in listing
    assert "revoked" in run(tmp_path, "token", "revoke", "1", **fresh).stdout
    assert "revoked 20" in run(tmp_path, "token", "list", **fresh).stdout
    failed = run(tmp_path, "token", "revoke", "1", check=False, **fresh)
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


def test_token_create_makes_marketer_tokens_unless_admin_is_asked_for(tmp_path):
    run(tmp_path, "migrate")
    run(tmp_path, "token", "create", "--name", "plain")
    run(tmp_path, "token", "create", "--name", "boss", "--role", "admin")
    lines = run(tmp_path, "token", "list").stdout.splitlines()
    assert [line.split()[3] for line in lines] == ["marketer", "admin"]
    bad = run(tmp_path, "token", "create", "--name", "x", "--role", "root", check=False)
    assert bad.returncode == 2 and "root" in bad.stderr


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
        ["recipients", "import"],
        ["links", "import"],
        ["report", "attribution"],
        ["report", "refresh"],
        ["demo"],
    ],
)
def test_every_command_has_help(tmp_path, command):
    result = run(tmp_path, *command, "--help")
    assert "Usage: touchpoint" in result.stdout
    assert len(result.stdout.strip().splitlines()) >= 3


def test_touchpoint_help_lists_touchpoint_commands_and_no_flask_ones(tmp_path):
    """Flask's own commands and options belong to `flask --app wsgi`, not to touchpoint."""
    shown = run(tmp_path, "--help").stdout
    listed = shown.split("\nCommands:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines()] == sorted(cli.cli.commands)
    options = shown.split("\nOptions:\n", 1)[1].split("\nCommands:\n")[0]
    assert options.split() == ["--help", "Show", "this", "message", "and", "exit."]
    for flask_command in ("run", "shell", "routes"):
        refused = run(tmp_path, flask_command, check=False)
        assert refused.returncode == 2, refused.stderr
        assert f"No such command '{flask_command}'" in refused.stderr
    for flask_option in (["--app", "wsgi"], ["--debug"], ["-e", ".env"]):
        refused = run(tmp_path, *flask_option, "migrate", check=False)
        assert refused.returncode == 2 and "No such option" in refused.stderr
        assert not (tmp_path / "cli.db").exists()


def test_help_works_when_the_settings_do_not(tmp_path):
    """--help builds no app, so a bad setting does not hide the help that would explain it."""
    broken = {"TOUCHPOINT_BUSY_TIMEOUT_MS": "soon"}
    for command in ([], ["migrate"], ["report", "attribution"]):
        assert "Usage: touchpoint" in run(tmp_path, *command, "--help", **broken).stdout
    refused = run(tmp_path, "migrate", check=False, **broken)
    assert refused.returncode == 1 and "TOUCHPOINT_BUSY_TIMEOUT_MS" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_report_choices_and_defaults_are_the_apis():
    """`--model`, `--group-by`, `--format` offer exactly what the API accepts."""
    from app.reports import attribution
    from app.reports import params as report_params

    command = cli.cli.commands["report"].commands["attribution"]
    options = {param.name: param for param in command.params}
    assert options["model"].type.choices == attribution.MODELS
    assert options["group_by"].type.choices == report_params.GROUP_BYS
    assert options["fmt"].type.choices == report_params.FORMATS
    defaults = report_params.attribution_params(Database(memory=True), {}, datetime.now(UTC))
    assert options["model"].default == defaults.model.name
    assert options["group_by"].default == defaults.group_by
    assert options["window"].default == attribution.format_duration(defaults.window_s)


# Which database, and a missing one --------------------------------------------------------


def a_season(tmp_path, database="cli.db"):
    """A database with one campaign, one link and one human click, built by the app."""
    app = make_app(tmp_path, DATABASE=str(tmp_path / database), SECRET_KEY=SECRET)
    if backends.POSTGRES:
        SEASONS[str(tmp_path)] = backends.environment(app)
    api = api_for(app)
    link = api.link(api.campaign(cost="100.00")["id"])
    api.client.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    return app, api, link


def test_report_names_the_database_it_read_on_stderr_and_keeps_stdout_clean(tmp_path):
    app, _, _ = a_season(tmp_path)
    label = app.extensions["touchpoint"].database_label  # the URL without its password
    result = run(tmp_path, "report", "attribution", "--format", "json")
    assert json.loads(result.stdout)["totals"]["human_clicks"] == 1
    assert result.stderr == f"Read {label} (1 event).\n"
    written = run(tmp_path, "report", "attribution", "-o", "table.csv")
    assert written.stdout == "" and "Read " in written.stderr
    assert (tmp_path / "table.csv").read_text().startswith("key,label,")
    refreshed = run(tmp_path, "report", "refresh")
    assert "up to date" in refreshed.stdout
    assert refreshed.stderr == f"Refreshed {label} (1 event).\n"


@backends.sqlite_only
def test_a_relative_database_path_is_named_absolutely(tmp_path):
    a_season(tmp_path)
    result = run(tmp_path, "report", "attribution", TOUCHPOINT_DATABASE="cli.db")
    assert result.stderr.startswith(f"Read {tmp_path / 'cli.db'} (")


@pytest.mark.parametrize("command", [["report", "attribution"], ["report", "refresh"]])
@backends.sqlite_only
def test_a_missing_database_is_an_error_and_is_not_created(tmp_path, command):
    result = run(tmp_path, *command, check=False, database="typo.db")
    assert result.returncode == 1 and result.stdout == ""
    assert f"No database at {tmp_path / 'typo.db'} (TOUCHPOINT_DATABASE)" in result.stderr
    assert "touchpoint migrate" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "typo.db").exists()
    help_text = " ".join(run(tmp_path, *command, "--help").stdout.split())
    assert "instance/touchpoint.db, or the file TOUCHPOINT_DATABASE names" in help_text
    assert "a missing database is an error" in help_text


@backends.sqlite_only
def test_a_file_that_is_not_a_touchpoint_database_is_named(tmp_path):
    (tmp_path / "notes.db").write_text("not a database")
    (tmp_path / "empty.db").write_bytes(b"")
    app = make_app(tmp_path, DATABASE=str(tmp_path / "old.db"))
    db = app.extensions["touchpoint"].db()
    db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [migrations.applied(db)[-1]])
    for database, says in [
        ("notes.db", "is not a SQLite database"),
        ("empty.db", "holds no Touchpoint tables"),
        ("old.db", "needs 1 migration(s) first: run touchpoint migrate"),
    ]:
        result = run(tmp_path, "report", "attribution", check=False, database=database)
        assert result.returncode == 1, result.stderr
        assert f"{tmp_path / database} {says}" in result.stderr
        assert "Traceback" not in result.stderr


# Errors in the words of the command line ---------------------------------------------------


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """One database shared by the error cases: two sales in two currencies."""
    tmp_path = tmp_path_factory.mktemp("season")
    app, api, link = a_season(tmp_path)
    for value, currency in (("10.00", "USD"), ("20.00", "EUR")):
        body = {"type": "sale", "email": f"{currency}@example.com", "value": value}
        response = api.post("/api/v1/conversions", json={**body, "currency": currency})
        assert response.status_code == 201
    return tmp_path


def test_every_bad_report_option_is_named_at_once(season):
    result = run(
        season,
        "report",
        "attribution",
        "--window",
        "7x",
        "--from",
        "soon",
        "--type",
        ",,",
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "--window is a number and a unit" in result.stderr
    assert "--from is not an ISO 8601 time or date" in result.stderr
    assert "--type must be a comma-separated list" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--window", "7x"], "--window is a number and a unit, such as 90s, 30m, 12h or 7d."),
        (["--window", "400d"], "--window is at most 365d."),
        (["--from", "last week"], "--from is not an ISO 8601 time or date"),
        (["--to", "soon"], "--to is not an ISO 8601 time or date"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "--from must be before --to."),
        (
            ["--weights", "30,0,70"],
            "--weights apply to the position-based and W-shaped models only.",
        ),
        (
            ["--model", "position_based", "--weights", "50,50"],
            "--weights must be three whole percentages for first, middle and last touches",
        ),
        (["--model", "position_based", "--weights", "50,0,0"], "--weights must add up to 100"),
        (["--half-life", "3d"], "--half-life applies to the time-decay model only."),
        (["--model", "time_decay", "--half-life", "x"], "--half-life is a number and a unit"),
        (["--type", ",,"], "--type must be a comma-separated list such as sale,redemption"),
        (["--campaign-id", "99"], "--campaign-id: No campaign with id 99."),
        (["--currency", "euro"], "--currency must be a three-letter ISO 4217 code"),
        ([], "choose one with --currency (the others are then left out)."),
        (["--group-by", "store"], "Invalid value for '--group-by'"),
        (["--model", "best"], "Invalid value for '--model'"),
    ],
)
def test_report_errors_name_the_cli_options(season, options, message):
    result = run(season, "report", "attribution", *options, check=False)
    assert result.returncode == 2 and result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and message in error, error
    for parameter in cli.CLI_OPTIONS:
        if "_" in parameter or parameter in ("from", "to"):
            assert f"'{parameter}'" not in error and f"{parameter}=" not in error, error
    assert "Traceback" not in result.stderr


def test_the_mapping_turns_every_kind_of_mention_into_an_option():
    """Domain errors the commands above cannot reach (click checks choices first) too."""
    from app.core.errors import ValidationError

    for message, field, expected in [
        (
            "'group_by' must be one of: campaign, channel.",
            "group_by",
            "--group-by must be one of: campaign, channel.",
        ),
        (
            "Fix them, or import the good rows with ?skip_invalid=true.",
            "recipients",
            "Fix them, or import the good rows with --skip-invalid.",
        ),
        (
            "'weights' applies to model=position_based only.",
            "weights",
            "--weights applies to --model position_based only.",
        ),
        ("No campaign with id 9.", "campaign_id", "--campaign-id: No campaign with id 9."),
        ("invalid email 'from'", "email", "invalid email 'from'"),
        ("'limit' must be a whole number.", "limit", "'limit' must be a whole number."),
    ]:
        assert cli.cli_message(ValidationError(message, field=field)) == expected


# recipients import -----------------------------------------------------------------------


def import_list(tmp_path, link, *options, **env_vars):
    return run(tmp_path, "recipients", "import", str(link["id"]), "list.csv", *options, **env_vars)


def test_recipients_import_defaults_to_the_make_run_address_and_says_so(tmp_path):
    app, _, link = a_season(tmp_path)
    (tmp_path / "list.csv").write_text("email,name\nann@example.com,Ann\n")
    result = import_list(tmp_path, link, "-o", "merge.csv")
    with (tmp_path / "merge.csv").open() as handle:
        [row] = list(csv.DictReader(handle))
    assert row["tracked_url"].startswith("http://127.0.0.1:8000/r/")
    label = app.extensions["touchpoint"].database_label
    assert f"1 imported, 0 invalid, into {label}." in result.stderr
    assert (
        "Tracked URLs minted with base URL http://127.0.0.1:8000 (where make run listens; "
        "--base-url or TOUCHPOINT_PUBLIC_BASE_URL sets another)." in result.stderr
    )
    public = {"TOUCHPOINT_PUBLIC_BASE_URL": "https://go.example.com"}
    named = import_list(tmp_path, link, **public)
    assert "https://go.example.com/r/" in named.stdout
    assert "base URL https://go.example.com (the PUBLIC_BASE_URL setting)" in named.stderr
    given = import_list(tmp_path, link, "--base-url", "https://mail.example.com/", **public)
    assert "https://mail.example.com/r/" in given.stdout
    assert "base URL https://mail.example.com (--base-url)" in given.stderr


def test_make_run_listens_where_the_cli_mints_urls_by_default():
    makefile = (ROOT / "Makefile").read_text()
    host = re.search(r"^HOST \?= (\S+)$", makefile, re.MULTILINE).group(1)
    port = re.search(r"^PORT \?= (\S+)$", makefile, re.MULTILINE).group(1)
    assert f"http://{host}:{port}" == settings.LOCAL_BASE_URL
    assert "--url http://$(HOST):$(PORT)" in makefile
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"else {settings.LOCAL_BASE_URL} (where make run listens)" in readme


def test_recipients_import_help_names_the_default_base_url(tmp_path):
    text = " ".join(run(tmp_path, "recipients", "import", "--help").stdout.split())
    assert (
        "TOUCHPOINT_PUBLIC_BASE_URL), else http://127.0.0.1:8000 (where make run listens)" in text
    )


def test_recipients_import_errors_name_the_cli_options(tmp_path):
    _, _, link = a_season(tmp_path)
    (tmp_path / "list.csv").write_text("email\nann@example.com\nnope\n")
    refused = import_list(tmp_path, link, "-o", "m.csv", check=False)
    assert refused.returncode == 1 and not (tmp_path / "m.csv").exists()
    assert "line 3: invalid email 'nope'" in refused.stderr
    assert "import the good rows with --skip-invalid." in refused.stderr
    assert "skip_invalid" not in refused.stderr
    bad_url = import_list(tmp_path, link, "--base-url", "go.example.com", check=False)
    assert bad_url.returncode == 2
    wanted = "Error: --base-url must be a full web address starting with https:// or http://."
    assert wanted in bad_url.stderr
    missing = import_list(tmp_path, link, check=False, database="typo.db")
    assert missing.returncode == 1 and "No database at" in missing.stderr
    assert not (tmp_path / "typo.db").exists()
