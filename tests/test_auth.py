"""Sign-in and roles (issue 19): the local user list and its passwords, `o2c users`, the secrets
handed to Streamlit for an identity provider, the ops store's actor column and audit trail, role
gates on the pages (AppTest), and two real browsers: one signing in through a real OpenID Connect
provider (the certified Node package `oidc-provider`, tests/oidc_provider), one through the local
form, recording an action the audit page then names.

The other dashboard tests are signed in as a test CFO (tests/conftest.py); here the variable that
does it is removed wherever sign-in itself is under test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import stat
import subprocess
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from core.access import Viewer
from core.settings import REPO_ROOT, Settings
from dashboards.auth import SESSION_KEY, TEST_VIEWER_ENV, WRONG
from dashboards.plain_text import WORD_JOINER
from tests.test_dashboards import CHROMIUM, _free_port, _wait_for_app, serve_dashboards

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
PROVIDER = REPO_ROOT / "tests" / "oidc_provider"
PASSWORD = "correct horse battery"


def signed_in(viewer: Viewer, page: str | None = None) -> AppTest:
    """The app (and then `page`, e.g. "worklist") as `viewer` sees it: how an AppTest signs in
    (docs/security.md); only server code can set session state, no browser can."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[SESSION_KEY] = viewer
    at.run()
    return at.switch_page(f"app_pages/{page}.py").run() if page else at


@pytest.fixture
def ops_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ops' / 'ops.sqlite'}"
    monkeypatch.setenv("O2C_OPS_URL", url)
    return url


@pytest.mark.check
def test_passwords_are_salted_scrypt_hashes_and_every_failure_looks_the_same(ops_url: str) -> None:
    from core import users

    users.add(ops_url, "Ann.Clerk", "controller", created_by="test", display_name="Ann Clerk", password=PASSWORD)
    users.add(ops_url, "bob", "controller", created_by="test", password=PASSWORD)
    users.add(ops_url, "sso@example.com", "analyst", created_by="test")  # identity provider only
    con = sqlite3.connect(ops_url.removeprefix("sqlite:///"))
    hashes = dict(con.execute("select username, password_hash from users").fetchall())
    con.close()
    assert hashes["ann.clerk"].startswith("scrypt$16384$8$1$") and PASSWORD not in hashes["ann.clerk"]
    assert hashes["ann.clerk"] != hashes["bob"]  # the same password, two salts
    assert hashes["sso@example.com"] is None
    assert stat.S_IMODE(Path(ops_url.removeprefix("sqlite:///")).stat().st_mode) == 0o600

    ann = users.check_password(ops_url, " ANN.clerk ", PASSWORD)  # names compare without case
    assert ann is not None and ann.viewer() == Viewer("ann.clerk", "Ann Clerk", "controller")
    assert users.check_password(ops_url, "ann.clerk", PASSWORD.upper()) is None
    assert users.check_password(ops_url, "nobody", PASSWORD) is None
    assert users.check_password(ops_url, "sso@example.com", "") is None  # no password: the provider's user

    for bad, message in (
        (dict(username="ann.clerk", role="cfo", password=PASSWORD), "exists already"),
        (dict(username="x y", role="cfo", password=PASSWORD), "user name 'x y'"),
        (dict(username="carl", role="auditor", password=PASSWORD), "unknown role 'auditor'"),
        (dict(username="carl", role="collector", password=PASSWORD), "a collector_id is required"),
        (dict(username="carl", role="cfo", password="short"), "shorter than 12 characters"),
        (dict(username="carl", role="cfo", display_name="Carl\r\nBcc: x@evil", password=PASSWORD), "display name"),
    ):
        with pytest.raises(ValueError, match=message):
            users.add(ops_url, created_by="test", **bad)
    assert [u.username for u in users.all_users(ops_url)] == ["ann.clerk", "bob", "sso@example.com"]
    assert users.remove(ops_url, "BOB") and not users.remove(ops_url, "bob")
    assert users.check_password(ops_url, "bob", PASSWORD) is None


@pytest.mark.check
def test_an_ops_store_from_before_sign_in_gains_the_actor_column_and_keeps_its_rows(tmp_path: Path) -> None:
    from core import ops_store

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute(  # collection_actions as the first release made it: no entered_by
        "create table collection_actions (action_id varchar(64) primary key, customer_id varchar(64) not null, "
        "invoice_id varchar(64), collector_id varchar(64) not null, action_type varchar(32) not null, "
        "action_date date not null, promised_date date, promised_amount numeric(18, 2), note text, "
        "dispute_reason varchar(32), updated_at datetime not null)"
    )
    con.execute(
        "insert into collection_actions values ('ACT-old', 'C1', 'I1', 'COL01', 'call', '2026-06-01', "
        "null, null, 'called', null, '2026-06-01 09:00:00')"
    )
    con.commit()
    con.close()
    url = f"sqlite:///{path}"
    new_id = ops_store.record(
        url, ops_store.Action("C2", "COL01", "note", dt.date(2026, 6, 2), note="n", entered_by="ann.clerk")
    )
    actions = ops_store.actions(url).sort("updated_at")
    assert actions.select("action_id", "entered_by").rows() == [("ACT-old", None), (new_id, "ann.clerk")]
    recorded = ops_store.recorded_actions(url, "ann.clerk")
    assert recorded.select("entered_by", "what", "customer_id").rows() == [("ann.clerk", "note", "C2")]


@pytest.mark.check
def test_o2c_users_adds_lists_and_removes_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from core import users
    from orchestration.cli import app

    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("O2C_OPS_URL", raising=False)
    runner = CliRunner()

    def o2c(*args: str, stdin: str | None = None):  # typer's Result
        return runner.invoke(app, ["users", *args], input=stdin, env={"COLUMNS": "200"})

    made = o2c("add", "Col.One", "--role", "collector", "--collector", "COL01", "--name", "Col One")
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines()[0] == "Added col.one (collector of collector COL01)."
    generated = made.stdout.splitlines()[1].removeprefix("Password (shown once): ")
    assert o2c("add", "sam", "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    refused = o2c("add", "eve", "--role", "collector")
    assert (refused.exit_code, refused.stderr.strip()) == (
        1,
        "error: user 'eve': a collector_id is required for, and only for, role collector",
    )
    listed = o2c("list").stdout
    assert "col.one" in listed and "COL01" in listed and "sam" in listed and "eve" not in listed

    url = f"sqlite:///{tmp_path / 'ops' / 'ops.sqlite'}"
    assert users.check_password(url, "col.one", generated) is not None
    assert users.check_password(url, "sam", PASSWORD) is not None
    assert o2c("remove", "sam").exit_code == 0
    gone = o2c("remove", "sam")
    assert (gone.exit_code, gone.stderr.strip()) == (1, "error: no user 'sam' (see `o2c users list`)")


@pytest.mark.check
def test_the_first_dashboard_start_creates_an_admin_and_prints_the_password_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """How `make demo` on a fresh machine gets a user to sign in with."""
    from core import users
    from core.settings import get_settings
    from orchestration.cli import _dashboard_sign_in

    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("O2C_OPS_URL", raising=False)
    monkeypatch.delenv(TEST_VIEWER_ENV)
    assert _dashboard_sign_in(get_settings()) is None  # no identity provider: no secrets file
    printed = capsys.readouterr().out
    assert "No users yet: created user admin (role admin), password (shown once): " in printed
    password = printed.split("password (shown once): ")[1].split()[0]
    admin = users.check_password(f"sqlite:///{tmp_path / 'ops' / 'ops.sqlite'}", "admin", password)
    assert admin is not None and admin.role == "admin"
    _dashboard_sign_in(get_settings())  # a list with a user: nothing created, nothing printed
    assert capsys.readouterr().out == ""


@pytest.mark.check
def test_the_identity_provider_settings_become_a_private_streamlit_secrets_file(tmp_path: Path) -> None:
    from dashboards.auth import write_streamlit_secrets

    settings = Settings(
        data_dir=tmp_path,
        oidc_server_metadata_url="https://login.example.com/.well-known/openid-configuration",
        oidc_client_id="o2c-dashboards",
        oidc_client_secret='se"cret\nwith = toml',
        auth_cookie_secret="c" * 40,
        dashboard_url="https://o2c.example.com/",
    )
    path = write_streamlit_secrets(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tomllib.loads(path.read_text()) == {
        "auth": {
            "redirect_uri": "https://o2c.example.com/oauth2callback",
            "cookie_secret": "c" * 40,
            "client_id": "o2c-dashboards",
            "client_secret": 'se"cret\nwith = toml',
            "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
            "client_kwargs": {"prompt": "login"},
        }
    }
    with pytest.raises(ValueError, match="O2C_AUTH_COOKIE_SECRET is shorter than 32 characters"):
        write_streamlit_secrets(settings.model_copy(update={"auth_cookie_secret": SecretStr("short")}))
    with pytest.raises(ValueError, match="but O2C_OIDC_CLIENT_ID, O2C_OIDC_CLIENT_SECRET not"):
        write_streamlit_secrets(settings.model_copy(update={"oidc_client_id": None, "oidc_client_secret": None}))


@pytest.mark.check
def test_the_form_refuses_wrong_passwords_in_one_message_and_locks_after_five(
    ops_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import ops_store, users

    monkeypatch.delenv(TEST_VIEWER_ENV)
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    users.add(ops_url, "ann", "controller", created_by="test", display_name="Ann Clerk", password=PASSWORD)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert [t.value for t in at.title] == ["o2c — sign in"] and not at.sidebar.text

    def attempt(name: str, password: str) -> list[str]:
        at.text_input[0].input(name)
        at.text_input[1].input(password)
        next(b for b in at.button if b.label == "Sign in").click().run()
        return [e.value for e in at.error]

    assert attempt("nobody", PASSWORD) == [WRONG]  # an unknown name and a wrong password: one message
    assert attempt("ann", "wrong password!") == [WRONG]
    assert not at.sidebar.text  # still nobody signed in
    signed = attempt("ann", PASSWORD)  # the overview then says there is no data in this empty directory
    assert len(signed) == 1 and signed[0].startswith("No published data yet")
    assert at.sidebar.text[0].value == "Signed in as Ann Clerk\ncontroller"
    # Signed out, four more wrong passwords make five within 15 minutes: the right one is refused too.
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    for _ in range(4):
        attempt("ann", "wrong password!")
    assert attempt("ann", PASSWORD) == ["Too many failed sign-ins for this user name: try again in 15 minutes."]
    events = ops_store.sign_in_events(ops_url)
    assert events.select("username", "succeeded").rows()[::-1] == [
        ("nobody", False),
        ("ann", False),
        ("ann", True),
        *[("ann", False)] * 4,
        ("ann", False),
    ]
    assert events["detail"][0] == "locked: too many failures"


def test_an_analyst_reads_without_forms_and_only_audit_roles_see_the_audit_trail(app_env: Path) -> None:
    analyst = Viewer("sam", "Sam Analyst", "analyst")
    at = signed_in(analyst, "worklist")
    assert not at.exception and not at.error
    assert at.dataframe, "the analyst reads the worklist"
    assert not [b for b in at.button if b.label == "Save action"]
    assert [i.value for i in at.info if "Read-only" in i.value] == [
        "Read-only: the analyst role sees the worklist but does not log actions."
    ]
    # The audit page is not in an analyst's navigation: not even a URL reaches it.
    with pytest.raises(ValueError, match=r"Could not find a navigation page for .*audit\.py"):
        at.switch_page("app_pages/audit.py")
    at.switch_page("app_pages/unapplied_cash.py").run()
    assert [t.value for t in at.title] == ["Unapplied cash"] and not at.exception
    assert not [b for b in at.button if b.label.startswith(("Apply", "Reverse"))]
    assert "Read-only: the analyst role sees unapplied cash but does not apply it." in [i.value for i in at.info]


def test_the_audit_page_names_who_signed_in_and_who_recorded_what(app_env: Path) -> None:
    from core import ops_store
    from core.settings import get_settings

    url = get_settings().ops()
    ops_store.record_sign_in(url, "ann.clerk", "password", True)
    ops_store.record_sign_in(url, "mallory", "password", False, "wrong user name or password")
    ann = Viewer("ann.clerk", "Ann Clerk", "controller")
    at = signed_in(ann, "worklist")
    next(s for s in at.selectbox if s.label == "Action").set_value("note")
    next(t for t in at.text_area if t.label == "Note").input("left a voicemail")
    next(b for b in at.button if b.label == "Save action").click().run()
    assert any("Saved: note" in m.value for m in at.success)
    saved = ops_store.actions(url)
    assert saved.select("action_type", "note", "entered_by").rows() == [("note", "left a voicemail", "ann.clerk")]

    at = signed_in(ann, "audit")
    assert not at.exception and not at.error
    sign_ins, recorded = (d.value for d in at.dataframe)
    assert sign_ins[["username", "succeeded"]].values.tolist() == [["mallory", False], ["ann.clerk", True]]
    assert recorded[["entered_by", "what", "record_id"]].values.tolist() == [
        ["ann.clerk", "note", saved["action_id"][0]]
    ]
    at.selectbox[0].set_value("mallory").run()
    sign_ins = at.dataframe[0].value
    assert sign_ins["username"].tolist() == ["mallory"]
    assert any("No results for actions recorded" in i.value for i in at.info)


# ---- real browsers: the identity provider, the local form ----------------------------------


@contextmanager
def oidc_provider(port: int, redirect_uri: str, accounts: dict[str, dict[str, object]]) -> Iterator[str]:
    """tests/oidc_provider on `port` (installed by `make test`: npm ci); its issuer URL once up."""
    if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OIDC provider is not installed: run `make test` (or npm ci in tests/oidc_provider)")
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT": json.dumps({"client_id": "o2c", "client_secret": "test-client-secret", "redirect_uri": redirect_uri}),
        "ACCOUNTS": json.dumps(accounts),
    }
    process = subprocess.Popen(
        ["node", "server.mjs"], cwd=PROVIDER, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    issuer = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2).read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()  # type: ignore[union-attr]
                time.sleep(0.2)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sign_in_and_out_through_a_real_openid_connect_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign-in needs no data: the pages behind it say there is none yet."""
    from playwright.sync_api import sync_playwright

    from core import ops_store, users

    app_port, idp_port = _free_port(), _free_port()
    app_url = f"http://localhost:{app_port}"
    ops_url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    users.add(ops_url, "ann@example.com", "admin", created_by="test")  # no password: the provider's user
    accounts = {
        "ann": {"email": "ann@example.com", "name": "Ann Example"},
        "eve": {"email": "eve@example.com", "name": "Eve [click](https://evil.example)"},
    }
    with oidc_provider(idp_port, f"{app_url}/oauth2callback", accounts) as issuer:
        monkeypatch.delenv(TEST_VIEWER_ENV)
        for name, value in {
            "O2C_DATA_DIR": str(tmp_path / "data"),
            "O2C_OPS_URL": ops_url,
            "O2C_DASHBOARD_URL": app_url,
            "O2C_OIDC_SERVER_METADATA_URL": f"{issuer}/.well-known/openid-configuration",
            "O2C_OIDC_CLIENT_ID": "o2c",
            "O2C_OIDC_CLIENT_SECRET": "test-client-secret",
            "O2C_AUTH_COOKIE_SECRET": "x" * 40,
        }.items():
            monkeypatch.setenv(name, value)
        with serve_dashboards(tmp_path, port=app_port) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            try:
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})

                def sign_in_at_the_provider(login: str) -> None:
                    tab.goto(url)
                    tab.get_by_role("button", name="Sign in with your company account").click()
                    tab.locator('input[name="login"]').fill(login)
                    tab.locator('input[name="password"]').fill("any password: the provider's dev form")
                    tab.get_by_role("button", name="Sign-in").click()

                sign_in_at_the_provider("ann")
                _wait_for_app(tab, "Signed in as Ann Example")
                assert "Signed in as Ann Example\nadmin" in tab.locator('[data-testid="stSidebar"]').inner_text()
                tab.get_by_role("link", name="Audit trail").wait_for(timeout=10_000)

                tab.get_by_role("button", name="Sign out").click()
                tab.get_by_role("button", name="Yes, sign me out").click()  # the provider's own sign-out
                tab.get_by_role("button", name="Sign in with your company account").wait_for(timeout=30_000)

                # Known to the provider, not to o2c: told to ask an admin, shown no page; the
                # markdown in the name stays text.
                sign_in_at_the_provider("eve")
                _wait_for_app(tab, "have no access to o2c yet")
                # (an invisible word joiner after the @ keeps the address from turning into a link)
                shown = tab.locator("body").inner_text().replace(WORD_JOINER, "")
                assert "You are signed in as eve@example.com, but have no access to o2c yet" in shown
                assert tab.locator('[data-testid="stSidebarNav"]').count() == 0
                assert tab.locator('a[href="https://evil.example"]').count() == 0
            finally:
                browser.close()
    events = ops_store.sign_in_events(ops_url)
    assert events.select("username", "method", "succeeded", "detail").rows() == [
        ("eve@example.com", "oidc", False, "no user 'eve@example.com' in the user list"),
        ("ann@example.com", "oidc", True, None),
    ]


def test_a_local_user_signs_in_and_out_in_the_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The password form in a real browser (sign-in needs no data: the pages behind it say there
    is none yet); the audit page and an action recorded under the signed-in user are the AppTests
    above."""
    from playwright.sync_api import sync_playwright

    from core import ops_store, users

    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("O2C_OPS_URL", url)
    monkeypatch.delenv(TEST_VIEWER_ENV)
    users.add(url, "ann.clerk", "controller", created_by="test", display_name="Ann Clerk", password=PASSWORD)
    with serve_dashboards(tmp_path) as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})

            def sign_in(password: str) -> None:
                tab.get_by_label("User name").fill("ann.clerk")
                tab.get_by_label("Password", exact=True).fill(password)
                tab.get_by_role("button", name="Sign in").click()

            tab.goto(f"{app}/worklist")  # a page's URL leads to the sign-in first
            _wait_for_app(tab, "o2c — sign in")
            assert tab.locator('[data-testid="stSidebarNav"]').count() == 0
            sign_in("not the password")
            _wait_for_app(tab, WRONG)
            sign_in(PASSWORD)
            _wait_for_app(tab, "Signed in as Ann Clerk")
            tab.get_by_role("link", name="Audit trail").wait_for(timeout=10_000)  # a controller's page
            tab.get_by_role("button", name="Sign out").click()
            _wait_for_app(tab, "o2c — sign in")
            tab.locator('[data-testid="stSidebarNav"]').wait_for(state="detached", timeout=10_000)
        finally:
            browser.close()
    assert ops_store.sign_in_events(url).select("username", "method", "succeeded").rows() == [
        ("ann.clerk", "password", True),
        ("ann.clerk", "password", False),
    ]
