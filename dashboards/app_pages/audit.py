"""Audit trail: who signed in to the dashboards (and who failed to), and who recorded which
worklist action and manual cash application; newest first, filterable by user.

Read from the ops store (core/ops_store.py), where sign-in and the pages write them; shown only to
the roles that read the audit trail (core/access.py), which the navigation also enforces.
"""

import polars as pl
import streamlit as st

from core import ops_store
from core.settings import get_settings
from dashboards import auth, ui

who = auth.viewer()
st.title("Audit trail")
if not who.reads_audit:  # the navigation does not offer the page; a URL must not reach it either
    st.error(f"The {who.role} role does not read the audit trail.")
    st.stop()
ops_url = get_settings().ops()
sign_ins = ops_store.sign_in_events(ops_url)
recorded = ops_store.recorded_actions(ops_url)
people = sorted(set(sign_ins["username"].to_list()) | set(recorded["entered_by"].drop_nulls().to_list()), key=str.lower)
chosen = st.selectbox("User", ["(everyone)", *people], help="Sign-ins and records of one user.")
if chosen != "(everyone)":
    sign_ins = sign_ins.filter(sign_ins["username"] == chosen)
    recorded = recorded.filter(recorded["entered_by"] == chosen)

st.subheader("Sign-ins")
st.caption("Every attempt, in UTC: the user name typed or the identity provider's claim, and whether it succeeded.")
if not ui.empty(sign_ins, "sign-ins recorded"):
    shown = sign_ins.select(pl.col("at").alias("signed_in_at"), "username", "method", "succeeded", "detail")
    ui.table(shown.head(1000), key="audit_sign_ins")

st.subheader("Actions and manual cash applications")
st.caption(
    "Recorded in the ops store (UTC), by the signed-in user who entered them; empty for rows from before sign-in."
)
if not ui.empty(recorded, "actions recorded"):
    ui.table(recorded.head(1000), key="audit_recorded")
