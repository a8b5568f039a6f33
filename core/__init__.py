"""What every stage shares and nothing else: the settings, the DuckDB helpers, the read-only
connection to the serving file, and the ops store. core imports no other package of the project,
so any package may import it without making a cycle (tests/test_layout.py holds it to that)."""
