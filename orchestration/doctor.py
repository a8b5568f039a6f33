"""`o2c doctor`: is this installation ready to run? Configuration, connectivity (ERP, ops store,
SMTP, webhook), disk, the serving file and the engine, each one line with what it found."""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.settings import Settings, SettingsError, get_settings, hide_password

OK, FAIL, SKIPPED = "ok", "FAIL", "skipped"
MIN_FREE_BYTES = 2 * 1024**3  # a first load spills its rows to disk (docs/operations.md: Memory)
TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok / FAIL / skipped
    detail: str


def _database(name: str, source: str, url: str) -> Check:
    # ingestion's own connect: the same check, and the same one-line message, as a load's
    from ingestion.pipeline import SourceUnavailable, connect_sql

    try:
        connect_sql(source, url).dispose()
    except SourceUnavailable as error:
        return Check(name, FAIL, hide_password(str(error)))
    return Check(name, OK, f"connected to {hide_password(url)}")


def check_erp(settings: Settings) -> Check:
    url = settings.erp_if_configured()
    if url is None:
        return Check("ERP", SKIPPED, "not configured (O2C_ERP_URL unset, no erp.sqlite in the sources folder)")
    return _database("ERP", "erp", url)


def check_ops_store(settings: Settings) -> Check:
    default = settings.data_dir / "ops" / "ops.sqlite"
    if settings.ops_url is None and not default.exists():
        return Check("ops store", OK, f"{default} does not exist yet: made on first use")
    return _database("ops store", "ops", settings.ops())


def check_smtp(settings: Settings) -> Check:
    where = f"{settings.smtp_host}:{settings.smtp_port} (O2C_SMTP_HOST, O2C_SMTP_PORT)"
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            code, answer = smtp.ehlo()
            if code != 250:
                return Check("SMTP", FAIL, f"{where} answered EHLO with {code}")
            if settings.smtp_starttls:
                smtp.starttls()
                smtp.ehlo()
    except (OSError, smtplib.SMTPException) as error:
        return Check("SMTP", FAIL, f"cannot reach {where}: {error}")
    greeting = answer.decode(errors="replace").splitlines()[0]
    return Check("SMTP", OK, f"{where} answered EHLO: {greeting}")


def check_webhook(settings: Settings) -> Check:
    if settings.alert_webhook_url is None:
        return Check("webhook", SKIPPED, "O2C_ALERT_WEBHOOK_URL not set")
    parts = urlsplit(settings.alert_webhook_url.get_secret_value())
    # Only scheme, host and port are shown: a webhook's path often is its secret token.
    shown = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    request = urllib.request.Request(settings.alert_webhook_url.get_secret_value(), method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code  # it answered: reachable (a hook may refuse HEAD)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Check("webhook", FAIL, f"cannot reach {shown} (O2C_ALERT_WEBHOOK_URL): {reason}")
    if status >= 500:
        return Check("webhook", FAIL, f"{shown} (O2C_ALERT_WEBHOOK_URL) answered HTTP {status}")
    return Check("webhook", OK, f"{shown} answered HTTP {status}")


def check_disk(settings: Settings) -> Check:
    folder = settings.data_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # not made yet: the disk it will be made on
    free = shutil.disk_usage(folder).free
    detail = f"{free / 1024**3:,.1f} GB free under {settings.data_dir} (O2C_DATA_DIR)"
    if free < MIN_FREE_BYTES:
        return Check("disk", FAIL, f"{detail}, less than {MIN_FREE_BYTES / 1024**3:.0f} GB")
    return Check("disk", OK, detail)


def check_serving(settings: Settings) -> Check:
    from core.serving import open_read_only

    path: Path = settings.serving
    if not path.exists():
        return Check("serving file", FAIL, f"no serving file at {path}: run `o2c run`")
    try:
        con = open_read_only(path)
        try:
            tables = con.execute("select count(*) from duckdb_tables()").fetchone()[0]
        finally:
            con.close()
    except Exception as error:  # duckdb's IOException, a permission error, a corrupt file
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Check("serving file", FAIL, f"cannot read {path}: {first}")
    return Check("serving file", OK, f"{path} readable, {tables} tables")


def check_engine(settings: Settings) -> Check:
    """What builds the dbt project (docs/operations.md "Engines"): nothing to check for DuckDB; a
    local Spark needs Java, a cluster's Thrift server must accept connections."""
    if settings.engine == "duckdb":
        return Check("engine", OK, "duckdb, on this machine (O2C_ENGINE)")
    if settings.spark_host is not None:
        where = f"{settings.spark_host}:{settings.spark_port} (O2C_SPARK_HOST, O2C_SPARK_PORT)"
        try:
            socket.create_connection((settings.spark_host, settings.spark_port), timeout=TIMEOUT_SECONDS).close()
        except OSError as error:
            return Check("engine", FAIL, f"cannot reach the Spark Thrift server at {where}: {error}")
        return Check("engine", OK, f"spark: the Thrift server at {where} accepts connections")
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).exists():
        return Check(
            "engine",
            FAIL,
            "O2C_ENGINE=spark runs a local Spark, which needs Java 17: no java in JAVA_HOME or on PATH "
            "(`make system-deps` installs default-jre-headless)",
        )
    version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    first = version.splitlines()[0] if version else "version unknown"
    return Check("engine", OK, f"spark, local ({settings.spark_master}, O2C_SPARK_MASTER): {first} at {java}")


CHECKS = (check_erp, check_ops_store, check_smtp, check_webhook, check_disk, check_serving, check_engine)


def run_checks() -> list[Check]:
    """Every check; with invalid settings, only that (the others would read them)."""
    try:
        settings = get_settings()
    except SettingsError as error:
        return [Check("configuration", FAIL, line) for line in str(error).splitlines()]
    return [Check("configuration", OK, "all settings valid"), *(check(settings) for check in CHECKS)]
