"""`o2c docs`: the dbt docs of the published marts, generated read-only and served over HTTP.

dbt's docs are generated against the serving file (the profile's `docs` target opens it
read-only), not the warehouse: that is the file analysts query, it is never locked by the
pipeline, and reading it works while the dashboards are up. What dbt writes goes under
data/dbt_docs/, apart from dbt_project/target/, whose manifest the pipeline's Dagster
definitions load (a docs parse against another target would change it under them).
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import tempfile
from pathlib import Path

from core.settings import Settings

# The profile target (dbt_project/profiles.yml) that opens O2C_SERVING_PATH read-only.
DOCS_TARGET = "docs"
# What a browser needs: index.html reads the manifest and catalog beside it.
DOCS_FILES = ("index.html", "manifest.json", "catalog.json")


class DocsError(RuntimeError):
    """The docs could not be generated; the message says why in one line."""


def docs_dir(settings: Settings) -> Path:
    """Where `o2c docs` writes the site: index.html, manifest.json, catalog.json (and
    static_index.html, one file with both JSON documents inside, to mail or open from disk)."""
    return settings.data_dir / "dbt_docs"


def generate(settings: Settings) -> Path:
    """Run `dbt docs generate` on the serving file, read-only; return the folder of the site.

    The catalog (column types and the descriptions publishing copied as comments) covers what the
    serving file holds: the marts and forecasts schemas; staging views and raw tables stay in the
    warehouse, so the docs show them from the manifest only."""
    from orchestration.dbt_runner import dbt_command

    if not settings.serving.exists():
        raise DocsError(f"no serving file at {settings.serving} (O2C_SERVING_PATH): run `o2c run` first")
    site = docs_dir(settings)
    site.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=site, prefix=".generate-") as work:
        args = ["docs", "generate", "--target", DOCS_TARGET, "--static"]
        command, env = dbt_command(args, settings.warehouse, Path(work))
        env["O2C_SERVING_PATH"] = str(settings.serving)  # the docs target's path
        result = subprocess.run(command, env=env, text=True, capture_output=True, check=False)
        if result.returncode != 0:
            errors = [line for line in result.stdout.splitlines() if "error" in line.lower()]
            raise DocsError(
                f"dbt docs generate failed on {settings.serving}: {(errors or ['see --debug'])[-1].strip()}"
            )
        # Moved in file by file once all are written, so a server already running never serves
        # a manifest of one generation with the catalog of another for longer than a rename.
        for name in (*DOCS_FILES, "static_index.html"):
            (Path(work) / "target" / name).replace(site / name)
    return site


def server(site: Path, address: str, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the generated site (not started: call serve_forever)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    return http.server.ThreadingHTTPServer((address, port), handler)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would bury the URL line
