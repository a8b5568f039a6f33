"""The Great Expectations data docs, published where Streamlit serves static files.

Streamlit serves `dashboards/static/` (the folder beside streamlit_app.py; its location is fixed,
not a setting) at `app/static/`, and since it moved to Starlette it answers HTTP 400 for a file
whose real path is outside that folder, so a symbolic link to the docs in the data directory no
longer works. The docs are therefore copied into dashboards/static/gx/ (git-ignored, like all of
dashboards/static/): by `o2c dashboard` when it starts, and again by the data-health page whenever
a build has rewritten them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
PUBLISHED = STATIC / "gx"
# The link the data-health page shows (relative to the app's URL, so it works behind a base path).
LINK = "app/static/gx/index.html"
# Written into the copy: which docs it is and as they were when copied (files and their mtimes).
STAMP = ".copied-from"


def _stamp(site: Path) -> str:
    files = sorted(p for p in site.rglob("*") if p.is_file())
    newest = max((p.stat().st_mtime_ns for p in files), default=0)
    return f"{site.resolve()}\n{len(files)} files, newest {newest}\n"


def publish_data_docs(site: Path, static: Path = STATIC) -> bool:
    """Copy the data docs folder `site` (GX's local_site) to `static`/gx unless that copy is
    already of these docs as they are now. False when there are no docs to publish.

    Copied beside and renamed in, so a reader never gets half a copy; a session that copies at
    the same moment as another keeps whichever copy landed (both are the same docs)."""
    if not (site / "index.html").is_file():
        return False
    stamp = _stamp(site)
    published = static / PUBLISHED.name
    if not published.is_symlink() and (published / STAMP).is_file() and (published / STAMP).read_text() == stamp:
        return True
    static.mkdir(exist_ok=True)
    fresh = static / f".gx-{uuid.uuid4().hex}"
    old = static / f".gx-old-{uuid.uuid4().hex}"
    shutil.copytree(site, fresh)
    (fresh / STAMP).write_text(stamp)
    with contextlib.suppress(FileNotFoundError):
        os.rename(published, old)  # a folder, or the symbolic link an older version made
    try:
        os.rename(fresh, published)
    except OSError:  # another session's copy landed in between: keep it
        shutil.rmtree(fresh, ignore_errors=True)
    if old.is_symlink():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)
    return True
