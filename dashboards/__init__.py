"""Streamlit dashboards over the published serving file (read-only) and the ops store."""
