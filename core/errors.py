"""What a driver's error means, in the words a run summary uses: `connection refused to
host:port`, `corrupt database file at PATH`, `missing file at PATH`. One home for the translation:
ingestion's connection errors and the run summaries (orchestration/runner.py) both use it."""

from __future__ import annotations

import re

# Each pattern takes the driver's whole phrase, so that it can be replaced in a line in place.
CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (  # psycopg / libpq
        re.compile(
            r'(?:\([\w.]+\) )?(?:connection failed: )?connection to server at "([^"]+)"(?: \([^)]*\))?, '
            r"port (\d+) failed: Connection refused"
        ),
        "connection refused to {0}:{1}",
    ),
    (  # DuckDB
        re.compile(r'(?:IO Error: )?The file "([^"]+)" exists, but it is not a valid DuckDB database file!?'),
        "corrupt database file at {0}",
    ),
    (re.compile(r"(?:\[Errno 2\] )?No such file or directory: '([^']+)'"), "missing file at {0}"),
)


def plain_cause(text: str) -> tuple[str, re.Match[str]] | None:
    """The first known cause in `text` (an error's message and its causes), with where it was found."""
    for pattern, words in CAUSES:
        found = pattern.search(text)
        if found is not None:
            return words.format(*found.groups()), found
    return None


def in_plain_words(line: str) -> str:
    """`line` with a driver's phrase in it replaced by the cause it means."""
    found = plain_cause(line)
    if found is None:
        return line
    cause, where = found
    return line[: where.start()] + cause + line[where.end() :]
