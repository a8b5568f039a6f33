"""Who is looking at the dashboards: sign-in, sign-out and the signed-in `Viewer` (core/access.py).

streamlit_app.py calls `sign_in()` before any page runs: it returns the session's viewer, or draws
the way to sign in and returns None (the app then runs no page). Two ways, chosen by the settings (docs/security.md):

- the company's identity provider (OpenID Connect, O2C_OIDC_*): Streamlit's built-in `st.login`;
  the provider vouches for who the user is, the user list (core/users.py) for their role;
- otherwise the local user list: user name and password, checked against the salted hash.

Every attempt, failed or not, is written to the ops store for the audit page. Pages ask
`viewer()` what to show and what the user may do.
"""

import datetime as dt
import json
import os
from pathlib import Path

import streamlit as st

from core import ops_store, users
from core.access import Viewer
from core.settings import Settings, get_settings
from dashboards.plain_text import plain

# The session-state entries: the signed-in Viewer, and how they signed in ("password", "oidc").
# Only code running in the server can set session state (a browser cannot), so tests sign an
# AppTest in by setting SESSION_KEY to a Viewer before its first run (docs/security.md).
SESSION_KEY = "o2c_viewer"
METHOD_KEY = "o2c_sign_in_method"

# Tests of a whole server (`o2c dashboard` in a subprocess, a real browser) sign every session in
# as this viewer: "role:username[:collector_id]". Read from the process environment only (never
# from .env or the settings, so no settings file can switch it on), refused when an identity
# provider is configured, and every page then says so in red. Documented in docs/security.md.
TEST_VIEWER_ENV = "O2C_INSECURE_TEST_VIEWER"

# Failed password sign-ins for one user name within this window lock the form for that name
# until the window has passed (counted from the audit trail, so it holds across sessions).
MAX_FAILURES, FAILURE_WINDOW = 5, dt.timedelta(minutes=15)
WRONG = "Wrong user name or password."


def viewer() -> Viewer:
    """The signed-in viewer of this session; stops the page when nobody is signed in."""
    found = st.session_state.get(SESSION_KEY)
    if isinstance(found, Viewer):
        return found
    st.warning("Please sign in to see this page.")
    st.stop()


def test_viewer() -> Viewer | None:
    """The viewer O2C_INSECURE_TEST_VIEWER names, if set."""
    value = os.environ.get(TEST_VIEWER_ENV)
    if not value:
        return None
    role, username, *collector = value.split(":")
    return Viewer(username, f"{username} (test sign-in)", role, collector[0] if collector else None)


def sign_in() -> Viewer | None:
    """The session's viewer; otherwise None, with the sign-in form (or button) drawn."""
    settings = get_settings()
    url = settings.ops()
    test = test_viewer()
    if test is not None:
        if settings.oidc_configured:
            st.error(f"{TEST_VIEWER_ENV} is set together with an identity provider: refusing to serve.")
            st.stop()
        st.sidebar.warning(f"Test sign-in ({TEST_VIEWER_ENV}): every visitor is {test.username}. Never in production.")
        st.session_state.setdefault(SESSION_KEY, test)
        return st.session_state[SESSION_KEY]
    found = st.session_state.get(SESSION_KEY)
    method = st.session_state.get(METHOD_KEY)
    if isinstance(found, Viewer) and method is None:
        return found  # set by a test on its AppTest (no browser can set session state)
    if settings.oidc_configured:
        return _oidc(settings, url)
    if isinstance(found, Viewer):
        current = users.find(url, found.username)
        if current is not None and current.viewer() == found:
            return found
        _forget()  # removed, or their role changed, since they signed in: sign in again
    return _password_form(url)


def _forget() -> None:
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(METHOD_KEY, None)


def _password_form(url: str) -> None:
    st.title("o2c — sign in")
    if not users.all_users(url):
        st.info(
            "There are no users yet. An operator creates the first admin with "
            "`o2c users add NAME --role admin` (the first `o2c dashboard` creates one and prints its password)."
        )
    with st.form("sign_in"):
        username = st.text_input("User name", max_chars=128)
        password = st.text_input("Password", type="password", max_chars=200)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - FAILURE_WINDOW
        attempts = ops_store.sign_in_events(url, users.normalise(username))
        recent_failures = attempts.filter((attempts["at"] >= since) & ~attempts["succeeded"]).height
        if recent_failures >= MAX_FAILURES:
            ops_store.record_sign_in(url, users.normalise(username), "password", False, "locked: too many failures")
            st.error(
                f"Too many failed sign-ins for this user name: try again in {FAILURE_WINDOW.seconds // 60} minutes."
            )
            return None
        user = users.check_password(url, username, password)
        ops_store.record_sign_in(
            url,
            users.normalise(username),
            "password",
            user is not None,
            None if user else "wrong user name or password",
        )
        if user is not None:
            st.session_state[SESSION_KEY] = user.viewer()
            st.session_state[METHOD_KEY] = "password"
            st.rerun()
        st.error(WRONG)
    return None


def _oidc(settings: Settings, url: str) -> Viewer | None:
    if not st.user.is_logged_in:
        _forget()
        st.title("o2c — sign in")
        st.button("Sign in with your company account", type="primary", on_click=st.login)
        return None
    # The provider vouches for who it is (its cookie lasts); the role is looked up again on every
    # run, so a user removed from the list, or whose role changed, loses access on their next click.
    claims = st.user.to_dict()
    identity = str(claims.get(settings.oidc_user_claim) or "")
    user = users.find(url, identity) if identity else None
    if user is not None:
        signed_in: Viewer | None = user.viewer()
        if user.display_name == user.username and claims.get("name"):  # added without --name: the provider's
            signed_in = Viewer(user.username, str(claims["name"]), user.role, user.collector_id)
    else:
        signed_in = _role_from_claim(claims, settings, identity)
    if signed_in is None:
        _forget()
        if not st.session_state.get("o2c_refusal_recorded"):
            detail = f"no user {identity!r} in the user list" if identity else f"no {settings.oidc_user_claim} claim"
            ops_store.record_sign_in(url, identity or "(unknown)", "oidc", False, detail)
            st.session_state["o2c_refusal_recorded"] = True
        st.error(
            f"You are signed in as {plain((identity or '(no ' + settings.oidc_user_claim + ' claim)')[:200])}, but have no "
            "access to o2c yet: ask an admin to add you to the user list."
        )
        st.button("Sign out", on_click=st.logout)
        return None
    if st.session_state.get(SESSION_KEY) != signed_in:  # once per session (and again if the role changed)
        ops_store.record_sign_in(url, signed_in.username, "oidc", True)
    st.session_state[SESSION_KEY] = signed_in
    st.session_state[METHOD_KEY] = "oidc"
    return signed_in


def _role_from_claim(claims: dict[str, object], settings: Settings, identity: str) -> Viewer | None:
    """A user not in the list, with a role the provider's groups/roles claim grants (not collector:
    a collector needs their collector id from the list)."""
    if not settings.oidc_roles_claim or not identity:
        return None
    granted = claims.get(settings.oidc_roles_claim)
    values = [granted] if isinstance(granted, str) else list(granted) if isinstance(granted, list) else []
    for role in ("admin", "cfo", "controller", "analyst"):  # the widest role granted wins
        if role in values:
            name = str(claims.get("name") or identity)
            return Viewer(users.normalise(identity), name, role)
    return None


def sidebar(who: Viewer) -> None:
    """Who is signed in, and the way out."""
    st.sidebar.text(
        f"Signed in as {who.display_name}\n{who.role}" + (f" · {who.collector_id}" if who.collector_id else "")
    )
    method = st.session_state.get(METHOD_KEY)
    if method == "oidc":
        st.sidebar.button("Sign out", on_click=st.logout)
    elif method == "password":
        st.sidebar.button("Sign out", on_click=_forget)


# ---- what `o2c dashboard` hands Streamlit -------------------------------------------------------


def streamlit_secrets(settings: Settings) -> str:
    """The `[auth]` section of Streamlit's secrets.toml for the configured identity provider.
    Raises ValueError naming the settings that are missing."""
    missing = [
        f"O2C_{name.upper()}"
        for name in ("oidc_client_id", "oidc_client_secret", "auth_cookie_secret")
        if getattr(settings, name) is None
    ]
    if missing:
        raise ValueError(f"O2C_OIDC_SERVER_METADATA_URL is set, but {', '.join(missing)} not")
    cookie = settings.auth_cookie_secret.get_secret_value()  # type: ignore[union-attr]
    if len(cookie) < 32:
        raise ValueError("O2C_AUTH_COOKIE_SECRET is shorter than 32 characters (e.g. `openssl rand -hex 32`)")
    values = {
        "redirect_uri": settings.dashboard_url.rstrip("/") + "/oauth2callback",
        "cookie_secret": cookie,
        "client_id": settings.oidc_client_id,
        "client_secret": settings.oidc_client_secret.get_secret_value(),  # type: ignore[union-attr]
        "server_metadata_url": settings.oidc_server_metadata_url,
    }
    # a JSON string is a valid TOML basic string (same escapes), so no value can break the file
    return (
        "[auth]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        + f"[auth.client_kwargs]\nprompt = {json.dumps(settings.oidc_prompt)}\n"
    )


def write_streamlit_secrets(settings: Settings) -> Path:
    """secrets.toml in a private folder under the data directory (0700, file 0600), rewritten on
    each start so it always matches the settings; returns its path."""
    folder = settings.data_dir / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / "secrets.toml"
    text = streamlit_secrets(settings)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)  # an older file keeps its mode on O_CREAT
    return path
