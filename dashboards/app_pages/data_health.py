"""Data health: the last build, freshness per source, check results, quarantined rows, data docs."""

import contextlib
import os
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from dashboards import db, ui

meta = ui.guard()
st.title("Data health")
ui.freshness(meta)

checks = ui.checks(meta)
failed = checks.filter(~pl.col("passed"))
tiles = st.columns(4)
tiles[0].metric("Last build", str(meta["built_at"])[:16])
tiles[1].metric("Checks in the build", checks.height)
tiles[2].metric("Failed (blocking)", failed.filter("blocking").height)  # as the publish step judged them
tiles[3].metric("Warnings", failed.filter(pl.col("severity") == "WARN").height)

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
    st.metric("Stale source tables", stale.height)
    ui.table(freshness)

st.markdown("**Checks that failed in the last build**")
if not ui.empty(failed, "failed checks: every check passed"):
    ui.table(failed)

st.markdown("**Data-quality results by run**")
history = db.query("dq_history")
if history.is_empty():
    ui.not_available("dq_results")
else:
    ui.table(history)
failures = db.query("dq_failures")
if not failures.is_empty():
    st.markdown("**Expectations failing in each suite's latest validation**")
    ui.table(failures)

st.markdown("**Quarantined rows** (held back by ingestion, with the reason)")
quarantine = db.query("quarantine_counts")
if not ui.empty(quarantine, "quarantined rows: nothing was held back"):
    st.metric("Rows in quarantine", int(quarantine["n_rows"].sum()))
    ui.table(quarantine)

docs = db.gx_docs_dir() / "index.html"
st.markdown("**Great Expectations data docs**")
# Served by Streamlit's static file serving: dashboards/static/gx links to the docs folder. A link
# to another data directory's docs goes, whether or not this one has docs: once that directory is
# deleted the link dangles, and Streamlit fails to start with a dangling link in its static folder.
static = Path(__file__).resolve().parent.parent / "static" / "gx"
if static.is_symlink() and Path(os.readlink(static)) != db.gx_docs_dir():
    static.unlink(missing_ok=True)
if docs.exists():
    static.parent.mkdir(exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.symlink(db.gx_docs_dir(), static, target_is_directory=True)
    st.markdown("[Open the data docs](app/static/gx/index.html) — every suite with its expectations and results.")
    st.caption(f"On disk: `{docs}`")
else:
    st.info(f"No data docs yet (they are written to `{docs.parent}` by every build).")
