"""Data quality: Great Expectations suites on every raw load and on the marts, with their results."""
