"""Who is looking at the dashboards: the signed-in `Viewer` (core/access.py) of this session.

streamlit_app.py signs the user in before any page runs and keeps the `Viewer` in the session;
every page and export asks `viewer()` what to show and what its user may do.
"""

import streamlit as st

from core.access import Viewer

# The session-state entry holding the signed-in Viewer (tests may set it on an AppTest, see
# docs/security.md "Sign-in and roles").
SESSION_KEY = "o2c_viewer"


def viewer() -> Viewer:
    """The signed-in viewer of this session; stops the page when nobody is signed in."""
    found = st.session_state.get(SESSION_KEY)
    if isinstance(found, Viewer):
        return found
    st.warning("Please sign in to see this page.")
    st.stop()
