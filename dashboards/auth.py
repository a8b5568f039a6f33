"""The signed-in user of this Streamlit session (placeholder until helper 19A's sign-in lands).

19A's dashboards/auth.py replaces this file: it signs users in (OpenID Connect or the local user
list) and keeps the `Viewer` in `st.session_state["viewer"]`. Until then, whoever set that entry
(a test) is the viewer, and a session without one sees what every session saw before sign-in
existed: everything, as a controller.
"""

import streamlit as st

from core.access import Viewer

SESSION_KEY = "viewer"
BEFORE_SIGN_IN = Viewer(username="anonymous", display_name="Anonymous", role="controller")


def viewer() -> Viewer:
    """The signed-in user of this session."""
    signed_in = st.session_state.get(SESSION_KEY)
    return signed_in if isinstance(signed_in, Viewer) else BEFORE_SIGN_IN
