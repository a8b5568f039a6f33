"""Data health: the last build, freshness per source, check results, quarantined rows, data docs."""

import datetime as dt

import duckdb
import polars as pl
import streamlit as st

from core import formatting
from dashboards import db, static_docs, ui
from dashboards.auth import viewer

# Headers that the generic labels (core/formatting.label: the name in words) would say badly.
# Timestamps are UTC, as the pipeline records them.
HEADERS = {
    "last_loaded_at": "last_loaded_(UTC)",
    "age_hours": "hours_since_last_load",
    "checked_at": "checked_(UTC)",
    "run_id": "run",
    "validated_at": "validated_(UTC)",
    "column_name": "column",
    "unexpected_count": "unexpected_rows",
    "sample_unexpected": "sample_of_unexpected_values",
    "n_rows": "rows",
    "last_quarantined_at": "last_quarantined_(UTC)",
}


def readable(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps to the minute (UTC) and the columns under the headers above."""
    minutes = frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M"))
    return minutes.rename({name: header for name, header in HEADERS.items() if name in frame.columns})


def built_at(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if isinstance(value, dt.datetime) else str(value)


meta = ui.guard()
st.title("Data health")
ui.freshness(meta)

checks = ui.checks(meta)
failed = checks.filter(~pl.col("passed"))
tiles = st.columns(4)
tiles[0].metric("Last build", built_at(meta["built_at"]))
tiles[1].metric("Checks in the build", formatting.count(checks.height))
# as the publish step judged them
tiles[2].metric("Failed (blocking)", formatting.count(failed.filter("blocking").height))
tiles[3].metric("Warnings", formatting.count(failed.filter(pl.col("severity") == "WARN").height))

st.markdown(
    "**Freshness per source table** (dbt source freshness, as the build's `source_freshness` check recorded it; "
    "the bounds are in the dbt sources YAML)"
)
try:
    freshness = db.query("source_freshness")
except duckdb.CatalogException:  # a serving file built before freshness was published
    freshness = None
if freshness is None or freshness.is_empty():
    st.info("No freshness results in this build: `o2c run` records them with every build.")
else:
    stale = freshness.filter(pl.col("stale").fill_null(False))
    st.metric("Stale source tables", formatting.count(stale.height))
    ui.table(readable(freshness), key="freshness")

st.markdown("**Checks that failed in the last build**")
if not ui.empty(failed, "failed checks: every check passed"):
    ui.table(failed, key="failed_checks")

st.markdown("**Data-quality results by run**")
history = db.query("dq_history")
if history.is_empty():
    ui.not_available("dq_results")
else:
    ui.table(readable(history), key="dq_history")
failures = db.query("dq_failures")
if not failures.is_empty():
    st.markdown("**Expectations failing in each suite's latest validation**")
    ui.table(readable(failures), key="dq_failures")

st.markdown("**Quarantined rows** (held back by ingestion, with the reason)")
quarantine = db.query("quarantine_counts")
if not ui.empty(quarantine, "quarantined rows: nothing was held back"):
    st.metric("Rows in quarantine", formatting.count(quarantine["n_rows"].sum()))
    ui.table(readable(quarantine), key="quarantine")

site = db.gx_docs_dir()
st.markdown("**Great Expectations data docs**")
if not viewer().sees_all_customers:  # the docs quote unexpected values of every customer
    st.info("The data docs show sample values of every customer's rows: they are not shown to collectors.")
    st.stop()
# Copied where Streamlit serves static files when a build has rewritten them (dashboards/static_docs.py).
if static_docs.publish_data_docs(site):
    st.markdown(f"[Open the data docs]({static_docs.LINK}) — every suite with its expectations and results.")
    st.caption(f"On disk: `{site / 'index.html'}`")
else:
    st.info(f"No data docs yet (they are written to `{site}` by every build).")
