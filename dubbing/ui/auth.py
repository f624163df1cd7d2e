"""Who may use the app: nobody but this machine, unless a login is configured.

The app binds 127.0.0.1 (`.streamlit/config.toml`, `make run`), so by default only
local users reach it. To serve a team, configure one of:

- OpenID Connect through Streamlit's `st.login`: an ``[auth]`` section in
  `.streamlit/secrets.toml` (redirect_uri, cookie_secret, client_id, client_secret,
  server_metadata_url); optionally ``allowed_emails = [...]`` in it.
- A shared password: ``password = "..."`` in `.streamlit/secrets.toml`, or the
  ``DUBBING_PASSWORD`` environment variable.

`require_login` runs in app.py before any page, so every page enforces it. An app
served beyond loopback without either refuses to show anything.
"""
from __future__ import annotations

import hmac
import ipaddress
import os

import streamlit as st

OIDC, PASSWORD, LOCAL = "oidc", "password", "local"
_SESSION_KEY = "_dubbing_authenticated"


def _secret(name: str, default=None):
    try:
        return st.secrets.get(name, default)
    except Exception:  # noqa: BLE001 - no secrets file at all
        return default


def mode() -> str:
    auth = _secret("auth")
    if auth and (auth.get("client_id") or any(isinstance(v, dict) and v.get("client_id") for v in auth.values())):
        return OIDC
    if _password():
        return PASSWORD
    return LOCAL


def _password() -> str:
    return str(_secret("password") or os.environ.get("DUBBING_PASSWORD") or "")


def served_beyond_loopback() -> bool:
    address = str(st.get_option("server.address") or "")
    if not address:
        return True  # Streamlit's own default listens on every interface
    if address == "localhost":
        return False
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True


def authenticated() -> bool:
    """Whether this session may use the app (and change its settings, such as the stored token)."""
    current = mode()
    if current == OIDC:
        if not st.user.is_logged_in:
            return False
        allowed = _secret("auth", {}).get("allowed_emails")
        return not allowed or str(st.user.get("email", "")).lower() in {str(e).lower() for e in allowed}
    if current == PASSWORD:
        return bool(st.session_state.get(_SESSION_KEY))
    return not served_beyond_loopback()


def require_login() -> None:
    """Show the login and stop the script unless this session is authenticated."""
    if authenticated():
        if mode() == OIDC:
            st.sidebar.button("Log out", on_click=st.logout)
        return
    st.title("Dubbing Studio")
    current = mode()
    if current == OIDC:
        if st.user.is_logged_in:
            st.error("This account may not use Dubbing Studio; ask its owner to add your e-mail.")
            st.button("Log out", on_click=st.logout)
        else:
            st.button("Log in", type="primary", on_click=st.login)
    elif current == PASSWORD:
        with st.form("login"):
            given = st.text_input("Password", type="password")
            if st.form_submit_button("Log in", type="primary"):
                if hmac.compare_digest(given.encode(), _password().encode()):
                    st.session_state[_SESSION_KEY] = True
                    st.rerun()
                st.error("Wrong password.")
    else:
        st.error("This app is served beyond this machine without a login. Set a password (`password` in "
                 ".streamlit/secrets.toml or DUBBING_PASSWORD) or an OpenID Connect login; see the README.")
    st.stop()
