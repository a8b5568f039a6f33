"""o2c dashboards: `o2c dashboard` (or `make demo`).

Nobody sees a page before signing in (dashboards/auth.py); the navigation holds only the pages the
signed-in role may open (core/access.py): the audit page for those who read the audit trail.

Every page reads the published serving file read-only (dashboards/db.py); the worklist writes
collectors' actions, and the unapplied-cash page manual cash applications, to the ops store (core/ops_store.py), never to the warehouse.
"""

import sys
from pathlib import Path

# Pages import the project's packages; Streamlit puts only this folder on the path.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboards import auth  # noqa: E402

st.set_page_config(page_title="o2c — order to cash", page_icon=":material/payments:", layout="wide")

who = auth.sign_in()  # None, with the sign-in drawn, until someone has signed in
if who is not None:
    auth.sidebar(who)

PAGES = {
    "Finance": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("app_pages/ar_aging.py", title="AR aging", icon=":material/hourglass_bottom:"),
        st.Page("app_pages/ar_bridge.py", title="AR bridge", icon=":material/waterfall_chart:"),
        st.Page("app_pages/cycle_times.py", title="O2C cycle times", icon=":material/autorenew:"),
        st.Page("app_pages/cash_forecast.py", title="Cash forecast", icon=":material/trending_up:"),
    ],
    "Customers": [
        st.Page("app_pages/customers.py", title="Customers", icon=":material/domain:"),
        st.Page("app_pages/customer_360.py", title="Customer 360", icon=":material/person_search:"),
    ],
    "Collections": [
        st.Page("app_pages/worklist.py", title="Collections worklist", icon=":material/call:"),
        st.Page("app_pages/unapplied_cash.py", title="Unapplied cash", icon=":material/account_balance_wallet:"),
    ],
    "Operations": [st.Page("app_pages/data_health.py", title="Data health", icon=":material/monitor_heart:")],
}
if who is None or who.reads_audit:
    PAGES["Operations"].append(st.Page("app_pages/audit.py", title="Audit trail", icon=":material/policy:"))

# Signed out, the pages stay registered but hidden and none runs: a page's URL (a link in an
# email) shows the sign-in, not "page not found", leads to that page once signed in, and no
# navigation of an earlier sign-in stays in the sidebar.
navigation = st.navigation(PAGES, position="sidebar" if who is not None else "hidden")
if who is not None:
    navigation.run()
