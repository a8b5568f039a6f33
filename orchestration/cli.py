"""`o2c`: the single command-line entry point."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from core.settings import Settings, SettingsError, get_settings, hide_password

if TYPE_CHECKING:
    from orchestration.runner import RunSummary, StepResult
    from quality.results import CheckResult

# Tracebacks only under --debug (main below); typer's own pretty printer would show them always.
app = typer.Typer(
    help="o2c: open-source order-to-cash analytics warehouse.", no_args_is_help=True, pretty_exceptions_enable=False
)
# soft_wrap: a message stays one line however narrow the terminal (tables still fit its width).
console = Console(soft_wrap=True)


@dataclass
class Options:
    debug: bool = False


options = Options()


@app.callback()
def start(
    ctx: typer.Context,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback of an error, and the pipeline's own log in `run`; dbt logs at debug level.",
        ),
    ] = False,
) -> None:
    """Every command starts by validating the settings: a bad one stops it before anything is read
    or written."""
    options.debug = debug
    if debug:  # dbt's log file (under data/dbt_runs/) with every statement, as dbt's own default
        os.environ.setdefault("DBT_LOG_LEVEL_FILE", "debug")
    if ctx.invoked_subcommand != "doctor":  # the doctor reports bad settings in its table
        get_settings()


@app.command()
def doctor() -> None:
    """Check the configuration, the ERP, ops store, SMTP and webhook connections, the free disk
    and the serving file; exit 1 if any check fails."""
    from orchestration.doctor import FAIL, run_checks

    checks = run_checks()
    table = Table("check", "status", "detail", title="o2c doctor")
    for check in checks:
        colour = {"ok": "green", FAIL: "red"}.get(check.status, "yellow")
        table.add_row(check.name, f"[{colour}]{check.status}[/{colour}]", check.detail)
    console.print(table)
    if any(check.status == FAIL for check in checks):
        raise typer.Exit(1)


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with one line on stderr (passwords hidden) and exit `code`."""
    print(f"error: {hide_password(message)}", file=sys.stderr)
    raise typer.Exit(code)


# Exit code of a command that found the warehouse in use: "try again later" (sysexits EX_TEMPFAIL).
BUSY = 75


@contextlib.contextmanager
def writing_warehouse(command: str) -> Iterator[None]:
    """Hold the warehouse lock (orchestration/warehouse_lock.py) while a command writes it: one
    writer at a time, across processes. Busy: wait up to O2C_LOCK_WAIT_SECONDS, saying who holds
    it, then end with one line naming the holder and exit BUSY."""
    from orchestration.warehouse_lock import WarehouseBusy, warehouse_lock

    s = get_settings()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(warehouse_lock(s.warehouse, command, s.lock_wait_seconds, on_wait=_say_waiting))
        except WarehouseBusy as error:
            fail(str(error), code=BUSY)
        yield


def _say_waiting(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line(error: BaseException) -> str:
    """What went wrong, in one line (one per setting for bad settings), passwords hidden."""
    from ingestion.pipeline import SourceUnavailable

    if isinstance(error, SettingsError | SourceUnavailable):
        text = str(error)  # already names the setting, source, path or host
    else:
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
        text = f"{type(error).__name__}: {first} (`o2c --debug ...` shows the traceback)"
    return "\n".join(f"error: {hide_password(line)}" for line in text.splitlines())


def main() -> None:
    """The `o2c` entry point: any error ends in one line naming what failed and exit code 1;
    `o2c --debug ...` prints the traceback before it."""
    try:
        app()
    except Exception as error:
        if options.debug:
            traceback.print_exc()
        print(one_line(error), file=sys.stderr)
        sys.exit(1)


def _ingest_config():
    # from ingestion, not orchestration.resources: `o2c ingest` has no use for Dagster's 1.3 s of imports
    from ingestion.pipeline import IngestConfig

    return IngestConfig.from_settings(get_settings())


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical sources.")] = 42,
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 500,
    days: Annotated[int, typer.Option(help="Days of history.")] = 730,
    end_date: Annotated[str | None, typer.Option(help="Last simulated day (YYYY-MM-DD); default yesterday.")] = None,
    advance: Annotated[int | None, typer.Option(help="Move the existing world forward N days instead.")] = None,
    faults: Annotated[bool, typer.Option("--faults", help="Inject bad input (duplicates, bad dates, drift…).")] = False,
) -> None:
    """Generate (or advance) the demo source systems: ERP database, payment and bank files, FX."""
    import simulator

    s = get_settings()
    if advance is not None:
        result = simulator.advance(s.sources, s.erp(), advance)
        console.print(f"Advanced the world by {advance} day(s) to {result.as_of}.")
    else:
        end = dt.date.fromisoformat(end_date) if end_date else dt.date.today() - dt.timedelta(days=1)
        result = simulator.simulate(
            s.sources,
            s.erp(),
            seed=seed,
            customers=customers,
            days=days,
            end_date=end,
            reporting_currency=s.reporting_currency,
            inject_faults=faults,
        )
        console.print(f"Simulated {days} days for {customers} customers, as of {result.as_of}.")
        if result.faults:
            console.print(f"Injected {len(result.faults)} faults (listed in {s.sources / simulator.STATE_FILE}).")
    table = Table("ERP table", "rows written", title=f"Sources in {s.sources}")
    for name, rows in result.erp_rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(f"{result.files_written:,} landing files written under {s.landing}.")


@app.command()
def ingest(
    source: Annotated[
        list[str] | None, typer.Option(help="Source to load (repeatable): erp, processor, bank, fx, files.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any row was quarantined.")] = False,
) -> None:
    """Load the sources into the warehouse: incremental, idempotent, bad rows quarantined."""
    from ingestion.pipeline import SourceUnavailable
    from ingestion.pipeline import ingest as run_ingest

    s = get_settings()
    try:
        with writing_warehouse("o2c ingest"):
            reports = run_ingest(_ingest_config(), source)
    except (ValueError, FileNotFoundError, SourceUnavailable) as error:
        if options.debug:
            traceback.print_exc()
        fail(f"ingest: {error}", code=2)
    table = Table(
        "source",
        "entity",
        "rows in",
        "new",
        "updated",
        "unchanged",
        "quarantined",
        "files",
        "failed files",
        title=f"Load into {s.warehouse}",
    )
    quarantined = 0
    for report in reports:
        for r in report.entities:
            table.add_row(
                report.source,
                r.entity,
                f"{r.rows_in:,}",
                f"{r.rows_new:,}",
                f"{r.rows_updated:,}",
                f"{r.rows_unchanged:,}",
                f"{r.rows_quarantined:,}",
                str(r.files_read),
                str(r.files_failed),
            )
            quarantined += r.rows_quarantined
    console.print(table)
    for report in reports:
        for r in report.entities:
            for message in r.errors:
                console.print(f"[red]error[/red] {message}")
            for message in r.warnings:
                console.print(f"[yellow]warning[/yellow] {message}")
    if quarantined:
        console.print(f"{quarantined:,} row(s) quarantined: see the raw_<source>.quarantine tables.")
    console.print(f"Warehouse: {s.warehouse}")
    if strict and quarantined:
        raise typer.Exit(1)


@app.command()
def build(
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. 'marts' or '+fct_ar_aging'.")] = None,
    exclude: Annotated[
        str | None, typer.Option(help="dbt exclusion, e.g. 'test_name:not_null' (several: space-separated).")
    ] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild incremental models.")] = False,
) -> None:
    """Build and test the dbt models (staging → intermediate → marts) on the warehouse."""
    from orchestration.dbt_runner import BUILD, run_pipeline_dbt

    s = get_settings()
    args = [
        *BUILD,
        *(["--select", select] if select else []),
        *(["--exclude", exclude] if exclude else []),
        *(["--full-refresh"] if full_refresh else []),
    ]
    with writing_warehouse("o2c build"):
        result = run_pipeline_dbt("o2c-build", args)
    if result.returncode != 0:
        console.print(f"[red]dbt build failed[/red] on {s.warehouse}")
        raise typer.Exit(result.returncode)
    console.print(f"Built the marts in {s.warehouse}")


@app.command()
def run(
    select: Annotated[str | None, typer.Option(help="Assets to run, e.g. 'group:sources' or 'key:marts/*'.")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild incremental dbt models.")] = False,
) -> None:
    """Run the whole pipeline (ingest → dbt build with its checks → publish) in this process."""
    s = get_settings()
    command = f"o2c run{' --select ' + select if select else ''}{' --full-refresh' if full_refresh else ''}"
    with writing_warehouse(command):  # first: a busy warehouse is said at once, before the slow imports
        from orchestration.dbt_runner import prepare_manifest_if_stale
        from orchestration.resources import ensure_dagster_home

        ensure_dagster_home(s)
        prepare_manifest_if_stale()  # the graph follows the dbt models as they are now
        _run(s, select, full_refresh)


@app.command()
def rebuild() -> None:
    """Recover from a corrupt warehouse: move it aside (kept, named with the time), rebuild it from
    the sources (every row read again, every dbt model fully refreshed) and publish. The serving
    file stays served until the new one replaces it."""
    s = get_settings()
    with writing_warehouse("o2c rebuild"):
        from orchestration.dbt_runner import prepare_manifest_if_stale
        from orchestration.rebuild import move_aside
        from orchestration.resources import ensure_dagster_home

        for old, kept in move_aside(s):
            console.print(f"Moved {old} aside to {kept}")
        ensure_dagster_home(s)
        prepare_manifest_if_stale()
        _run(s, None, full_refresh=True)


def _run(s: Settings, select: str | None, full_refresh: bool) -> None:
    """The pipeline, under the warehouse lock, and its summary (`o2c run`, `o2c rebuild`)."""
    from core.db import CorruptDatabase
    from orchestration.runner import run_pipeline

    console.print(f"Running the pipeline on {s.warehouse} ...")
    # Without --debug, what Dagster and dbt write themselves (dbt's log lines, Dagster's warnings)
    # goes to a log file, and the terminal shows one line per finished step.
    log_path = s.data_dir / "logs" / "last_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress = Console(file=sys.stdout, soft_wrap=True)
    try:
        with contextlib.ExitStack() as stack:
            if not options.debug:
                log = stack.enter_context(log_path.open("w"))
                stack.enter_context(contextlib.redirect_stdout(log))
                stack.enter_context(contextlib.redirect_stderr(log))
            summary = run_pipeline(
                s,
                select=select,
                full_refresh=full_refresh,
                on_step=lambda step: _print_step(progress, step),
                on_start=lambda step: progress.print(f"  [dim]  started {step}[/dim]"),
            )
    except CorruptDatabase as error:  # named before any step ran; the serving file stays
        fail(str(error))
    console.print(run_table(summary))
    if not options.debug:
        console.print(f"dbt's and Dagster's own output: {log_path}")
    for check in summary.failed_checks:
        console.print(f"[red]failed check[/red] {check}")
    for check in summary.warned_checks:
        console.print(f"[yellow]check warning[/yellow] {check} (recorded in quality.dq_results; blocks nothing)")
    for source in summary.stale_sources:
        console.print(f"[yellow]stale source[/yellow] {source} (published anyway; shown on data health)")
    for failure in summary.failures:
        console.print(f"[red]failed[/red] {failure}")
    if not summary.success:
        console.print(f"[red]Run failed.[/red] The serving file {s.serving} was not replaced.")
        raise typer.Exit(1)
    console.print(f"Published {s.serving}")


_COLOURS = {"succeeded": "green", "failed": "red"}


def _print_step(out: Console, step: StepResult) -> None:
    colour = _COLOURS.get(step.status, "yellow")
    rows = f", {step.rows:,} rows" if step.rows is not None else ""
    out.print(f"  [{colour}]{step.status:>9}[/{colour}] {step.step} ({step.seconds:.1f} s{rows})")


def run_table(summary: RunSummary) -> Table:
    """The closing summary: one row per step in the order they finished."""
    table = Table("step", "status", "seconds", "rows", title=f"Run {summary.run_id}")
    for step in summary.steps:
        colour = _COLOURS.get(step.status, "yellow")
        rows = f"{step.rows:,}" if step.rows is not None else ""
        table.add_row(step.step, f"[{colour}]{step.status}[/{colour}]", f"{step.seconds:.1f}", rows)
    return table


@app.command()
def ui(port: Annotated[int, typer.Option(help="Port of the web UI.")] = 3000) -> None:
    """Start the Dagster UI on the pipeline (DAGSTER_HOME under data/)."""
    import os
    import subprocess
    import sys

    from orchestration.resources import ensure_dagster_home

    # Steps read the other settings when they run; `dagster dev` parses dbt when it loads the code.
    ensure_dagster_home(get_settings())
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    command = [dagster, "dev", "-m", "orchestration.definitions", "-p", str(port)]
    raise typer.Exit(subprocess.call(command))


@app.command()
def check(
    source: Annotated[list[str] | None, typer.Option(help="Source to check (repeatable); all by default.")] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Check every row: not only the latest load's, and in the marts' incremental models not only the rows "
            "written since each test last passed.",
        ),
    ] = False,
    marts: Annotated[bool, typer.Option(help="Also run the marts' dbt tests.")] = True,
    marts_only: Annotated[bool, typer.Option("--marts-only", help="Run only the marts' dbt tests.")] = False,
) -> None:
    """Run the data-quality checks now (GX suites on the raw loads, dbt tests on the marts) and
    print what they found (recorded in quality.dq_results)."""
    from ingestion.pipeline import configured_sources, new_load_id, source_entities
    from quality import checked_loads, suites
    from quality import results as dq

    s = get_settings()
    if not s.warehouse.exists():
        console.print(f"No warehouse at {s.warehouse} yet: run `o2c run` or `o2c ingest`.")
        raise typer.Exit(1)
    chosen = source or configured_sources(_ingest_config())
    run_id = f"cli-{new_load_id()}"
    with writing_warehouse("o2c check"):  # the results are recorded in the warehouse
        if marts_only:
            results = []
        elif full:
            results = suites.check_warehouse(
                s.warehouse, chosen, source_entities, run_id=run_id, full=True, docs_dir=s.quality_dir
            )
        else:
            # Every latest load checked now, and recorded as the check the next run starts from
            # (quality/checked_loads.py).
            results, _ = checked_loads.check_changed(
                s.warehouse,
                {source: source_entities(source) for source in chosen},
                run_id=run_id,
                docs_dir=s.quality_dir,
                recheck=True,
            )
        if marts or marts_only:
            results += _mart_tests(s.warehouse, run_id, every_row=full)
    table = Table("source", "entity", "expectation", "column", "severity", "result", "unexpected", "sample")
    for r in sorted(results, key=lambda r: (r.success, r.severity != dq.ERROR, r.source, r.entity)):
        result = (
            "[green]pass[/green]"
            if r.success
            else ("[red]FAIL[/red]" if r.severity == dq.ERROR else "[yellow]warn[/yellow]")
        )
        if not r.success or len(results) <= 40:
            table.add_row(
                r.source,
                r.entity,
                r.expectation,
                r.column or "",
                r.severity,
                result,
                str(r.unexpected_count),
                ", ".join(r.sample),
            )
    console.print(table)
    errors = [r for r in results if not r.success and r.severity == dq.ERROR]
    warnings = [r for r in results if not r.success and r.severity == dq.WARN]
    console.print(
        f"{len(results)} expectations: {len(results) - len(errors) - len(warnings)} passed, {len(warnings)} warnings, {len(errors)} errors."
    )
    if not marts_only:  # the GX data docs show the raw loads; dbt tests are in quality.dq_results
        console.print(f"Data docs: {dq.data_docs_index(s.quality_dir)}")
    if errors:
        raise typer.Exit(1)


def _mart_tests(warehouse: Path, run_id: str, every_row: bool) -> list[CheckResult]:
    """The data tests on the marts as they are now (`dbt test`, no rebuild; unit tests are logic
    tests and stay with `dbt build`), recorded like the GX results. With `every_row`, the
    row-level tests of the incremental models read every row, not only those written since they
    last passed (dbt_project/macros/data_tests_on_new_rows.sql)."""
    import tempfile

    import duckdb

    from orchestration.dbt_runner import run_dbt
    from quality.dbt_results import record_dbt_results

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        built = con.execute("select count(*) from information_schema.tables where table_schema = 'marts'").fetchall()
    finally:
        con.close()
    if not built[0][0]:
        return []  # no marts built yet (`o2c ingest` alone): nothing to test
    with tempfile.TemporaryDirectory(prefix="o2c-dbt-test-") as work:
        select = ["--select", "path:models/marts", "--exclude", "test_type:unit"]
        every = ["--vars", "{test_every_row: true}"] if every_row else []
        result = run_dbt(["test", *select, *every], warehouse, Path(work), capture=True)
        recorded = record_dbt_results(warehouse, Path(work) / "target", run_id)
    if not recorded and result.returncode != 0:
        # dbt could not run the tests at all (no marts built yet, a broken project): say why.
        console.print(f"[red]dbt test failed[/red]:\n{result.stdout[-2000:]}")
        raise typer.Exit(1)
    return recorded


alerts_app = typer.Typer(help="Exception reports, CFO digest, dunning, threshold alerts, credit-hold write-back.")
app.add_typer(alerts_app, name="alerts")
KindOption = Annotated[
    list[str] | None,
    typer.Option(
        "--kind", help="collector_reports, cfo_digest, dunning or threshold_alerts (repeatable; all by default)."
    ),
]


def _run_alerts(kinds: list[str] | None, preview: bool) -> None:
    from alerts import runner
    from alerts.mail import SmtpError
    from alerts.sendlog import SendingHeld

    s = get_settings()
    failed = False
    for kind in kinds or runner.KINDS:
        try:
            outcome = runner.run(kind, s, preview=preview)
        except SendingHeld as held:
            # the same cause for every kind: one line, nothing sent
            console.print(f"[red]sending held[/red] — {held}")
            raise typer.Exit(1) from None
        except SmtpError as error:
            console.print(f"[red]{kind}: not sent[/red] — {error}. Nothing unsent was recorded; run again to send it.")
            failed = True
            continue
        for warning in outcome.warnings + outcome.skipped + outcome.refused:
            console.print(warning, style="yellow", markup=False, highlight=False)  # data: never markup
        if preview:
            console.print(f"{kind}: {len(outcome.previews)} rendered to {s.outbox / kind} (not sent)")
        else:
            console.print(outcome.summary(), markup=False, highlight=False)
            failed |= bool(outcome.refused)  # tried again next run, but an operator should know now
    if failed:
        raise typer.Exit(1)


@alerts_app.command("preview")
def alerts_preview(kind: KindOption = None) -> None:
    """Render what would be sent now into data/outbox/<kind>/ (.eml and .html); send nothing."""
    _run_alerts(kind, preview=True)


@alerts_app.command("send")
def alerts_send(
    kind: KindOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Render to the outbox instead of sending.")] = False,
) -> None:
    """Send what is due now over SMTP (O2C_SMTP_*); the send log keeps anything from going twice."""
    _run_alerts(kind, preview=dry_run)


@alerts_app.command("unconfirmed")
def alerts_unconfirmed() -> None:
    """Messages whose SMTP transaction broke off after their content went out: the server may have them."""
    from alerts import runner, sendlog

    rows = sendlog.unconfirmed(sendlog.location(get_settings()))
    for row in rows:
        console.print(runner.held_line(row), soft_wrap=True)
    console.print(f"{len(rows)} unconfirmed")


MessageIdArgument = Annotated[str, typer.Argument(help="The Message-ID, as `o2c alerts unconfirmed` shows it.")]


@alerts_app.command("confirm")
def alerts_confirm(message_id: MessageIdArgument) -> None:
    """The mail server's log shows the unconfirmed message was delivered: record it as sent."""
    _settle(message_id, resend=False)


@alerts_app.command("resend")
def alerts_resend(message_id: MessageIdArgument) -> None:
    """The mail server's log shows the unconfirmed message was not delivered: send it again (same Message-ID)."""
    _settle(message_id, resend=True)


def _settle(message_id: str, resend: bool) -> None:
    from alerts import runner
    from alerts.mail import SmtpError
    from alerts.sendlog import SendingHeld

    try:
        console.print(runner.settle(get_settings(), message_id, resend=resend), soft_wrap=True)
    except (ValueError, SendingHeld, SmtpError) as error:
        console.print(f"[red]{error}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None


@alerts_app.command("acknowledge")
def alerts_acknowledge() -> None:
    """Settle a hold on sending: pair the send log with the ops store as it is now; if the send log
    was lost, start a new one in which everything due now counts as sent (docs/alerts.md)."""
    from alerts import runner

    for line in runner.acknowledge(get_settings()):
        console.print(line, soft_wrap=True)


@alerts_app.command("write-back")
def alerts_write_back() -> None:
    """Write credit-hold recommendations to the ERP (or a CSV, O2C_CREDIT_HOLD_TARGET=csv)."""
    from alerts import runner

    console.print(runner.write_back(get_settings()))


def _dashboard_sign_in(s: Settings) -> Path | None:
    """Prepare sign-in before the dashboards start: Streamlit's secrets.toml for the identity
    provider (its path), or, with the local user list still empty, a first admin whose password is
    printed once (so `make demo` on a fresh machine can sign in)."""
    from core import users
    from dashboards import auth

    if os.environ.get(auth.TEST_VIEWER_ENV):
        console.print(f"[red]{auth.TEST_VIEWER_ENV} is set: every visitor is signed in without a password.[/red]")
        return None
    if s.oidc_configured:
        try:
            return auth.write_streamlit_secrets(s)
        except ValueError as problem:
            fail(str(problem))
    if not users.all_users(s.ops()):
        password = users.generate_password()
        users.add(s.ops(), "admin", "admin", created_by=_operator(), display_name="Administrator", password=password)
        console.print(
            f"No users yet: created user admin (role admin), password (shown once): {password}\n"
            "Add the others with `o2c users add NAME --role cfo|controller|collector|analyst|admin`.",
            markup=False,
        )
    return None


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "localhost",
) -> None:
    """Serve the Streamlit dashboards on the published serving file (http://localhost:8501)."""
    import os
    import subprocess
    import sys

    from core.settings import REPO_ROOT
    from dashboards.static_docs import publish_data_docs
    from quality.results import data_docs_index

    s = get_settings()
    # The GX data docs where Streamlit serves static files, so the data-health page's link works
    # from the start (the page copies them again after a build rewrites them). This also replaces
    # the symbolic link older versions made there, which Streamlit refuses to serve.
    publish_data_docs(data_docs_index(s.quality_dir).parent)
    if not s.serving.exists():
        console.print(f"No serving file at {s.serving} yet: the pages will say so until `o2c run` publishes one.")
    secrets = _dashboard_sign_in(s)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "dashboards" / "streamlit_app.py"),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.enableStaticServing",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        *(["--secrets.files", str(secrets)] if secrets else []),
    ]
    console.print(f"Dashboards on http://{address}:{port}")
    raise typer.Exit(subprocess.call(command, env=os.environ.copy()))


users_app = typer.Typer(help="Who may sign in to the dashboards, with which role (docs/security.md).")
app.add_typer(users_app, name="users")


def _operator() -> str:
    """Who ran the command, for the user list's created_by: the operating-system account."""
    import getpass

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # a container without a passwd entry for the uid
        return "os:unknown"


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name, or the email an identity-provider user signs in with.")],
    role: Annotated[str, typer.Option(help="cfo, controller, collector, analyst or admin.")],
    collector: Annotated[
        str | None, typer.Option(help="The collector id (e.g. COL01) whose customers a collector sees.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the user name).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (scripts).")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Signs in through the identity provider only (O2C_OIDC_*).")
    ] = False,
) -> None:
    """Add a user. Without --password-stdin or --no-password, a random password is made and
    printed once."""
    from core import users

    generated = None
    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = generated = users.generate_password()
    try:
        user = users.add(
            get_settings().ops(),
            username,
            role,
            created_by=_operator(),
            display_name=name,
            collector_id=collector,
            password=password,
        )
    except ValueError as problem:
        fail(str(problem))
    scope = f" of collector {user.collector_id}" if user.collector_id else ""
    console.print(f"Added {user.username} ({user.role}{scope}).", markup=False)
    if generated:
        console.print(f"Password (shown once): {generated}", markup=False)


@users_app.command("list")
def users_list() -> None:
    """The users, their roles and how they sign in (never their password hashes)."""
    from core import users

    table = Table("user", "name", "role", "collector", "signs in with", "created", title="o2c users")
    for user in users.all_users(get_settings().ops()):
        table.add_row(
            user.username,
            user.display_name,
            user.role,
            user.collector_id or "",
            "password" if user.has_password else "identity provider",
            f"{user.created_at:%Y-%m-%d %H:%M} by {user.created_by}",
        )
    console.print(table, markup=False)  # names come from people: text, never rich markup


@users_app.command("remove")
def users_remove(username: Annotated[str, typer.Argument(help="The user to remove.")]) -> None:
    """Remove a user: they cannot sign in any more (a signed-in session ends on its next click);
    what they recorded keeps their name."""
    from core import users

    if not users.remove(get_settings().ops(), username):
        fail(f"no user {username!r} (see `o2c users list`)")
    console.print(f"Removed {users.normalise(username)}.", markup=False)


@app.command()
def docs(
    port: Annotated[int | None, typer.Option(help="Port to serve on (default O2C_DOCS_PORT, 8580).")] = None,
    address: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "localhost",
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the docs after generating them.")] = True,
) -> None:
    """Generate the dbt docs of the published marts (read-only on the serving file, so it runs
    while the dashboards are up) and serve them until Ctrl-C."""
    from orchestration import docs as dbt_docs

    s = get_settings()
    try:
        site = dbt_docs.generate(s)
    except dbt_docs.DocsError as error:
        fail(f"docs: {error}")
    console.print(f"dbt docs generated in {site} (static_index.html is the whole site in one file)")
    if not serve:
        return
    chosen = port or s.docs_port
    try:
        httpd = dbt_docs.server(site, address, chosen)
    except OSError as error:
        fail(f"docs: cannot serve on {address}:{chosen} (O2C_DOCS_PORT or --port): {error.strerror}")
    console.print(f"dbt docs on http://{address}:{chosen} (Ctrl-C stops)")
    sys.stdout.flush()  # the URL line shows at once, also when stdout is a pipe
    with httpd:
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            console.print("dbt docs stopped.")


@app.command()
def forecast(
    refit: Annotated[
        bool,
        typer.Option(
            "--refit", help="Refit the CLV and pay-date models and rerun the backtests, however recent their fit."
        ),
    ] = False,
) -> None:
    """Refresh every forecast (CLV, backtests, pay dates, revenue, cash) from the current marts.

    The same steps the build runs after dbt; writes forecasts.* in the warehouse, which the next
    `o2c run` publishes. Like the build, it refits the models once the data is a week newer than
    their last fit. The dbt models that score past forecasts against the actuals are the build's:
    no week of a forecast made today has ended, so only a build on newer data has more to score.
    """
    s = get_settings()
    if not s.warehouse.exists():
        console.print(f"No warehouse at {s.warehouse} yet: run `o2c run` first.")
        raise typer.Exit(1)
    with writing_warehouse("o2c forecast"):
        _forecast(s, refit)


def _forecast(s: Settings, refit: bool) -> None:
    import time

    import duckdb

    from core.db import memory_limited
    from forecasting import run

    con = duckdb.connect(str(s.warehouse))
    try:
        with memory_limited(con, s.duckdb_memory_limit):
            for step in run.STEPS:
                started = time.perf_counter()
                metadata = run.run_step(step, con, refit=refit)
                console.print(f"{step.__name__}: {time.perf_counter() - started:.1f} s {metadata}")
    finally:
        con.close()


@app.command()
def backtest() -> None:
    """Rolling-origin backtests of the pay-date and cash forecasts (also part of every build).

    Writes forecasts.backtest_* in the warehouse; the next `o2c run` publishes them.
    """
    s = get_settings()
    if not s.warehouse.exists():
        console.print(f"No warehouse at {s.warehouse} yet: run `o2c run` first.")
        raise typer.Exit(1)
    with writing_warehouse("o2c backtest"):
        rows = _backtest(s)
    table = Table("evaluation", "method", "metric", "value", "origins", title="Backtest (pooled over origins)")
    for evaluation, method, metric, value, n_origins in rows:
        table.add_row(evaluation, method, metric, f"{value:,.2f}", str(n_origins))
    console.print(table)


def _backtest(s: Settings) -> list[tuple]:
    import duckdb

    from core.db import memory_limited
    from forecasting import run

    con = duckdb.connect(str(s.warehouse))
    try:
        with memory_limited(con, s.duckdb_memory_limit):
            run.backtests(con, force=True)
        rows = con.execute(
            "select evaluation, method, metric, value, n_origins from forecasts.backtest_summary order by all"
        ).fetchall()
    finally:
        con.close()
    return rows


@app.command()
def status() -> None:
    """Row counts of every raw table and the last load of each source."""
    import duckdb

    from core import db
    from ingestion import warehouse

    s = get_settings()
    if not s.warehouse.exists():
        console.print(f"No warehouse at {s.warehouse} yet: run `o2c ingest`.")
        raise typer.Exit(1)
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        table = Table("schema", "table", "rows", title=f"Warehouse {s.warehouse}")
        for schema in warehouse.raw_schemas(con):
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? and table_name not like '\\_dlt%' escape '\\' order by 1",
                [schema],
            ).fetchall():
                count = con.sql(f'select count(*) from "{schema}"."{name}"').fetchall()[0][0]
                table.add_row(schema, name, f"{count:,}")
        console.print(table)
        loads = Table(
            "source", "last load id", "finished at", "rows loaded", "quarantined", title="Last load per source"
        )
        for schema in warehouse.raw_schemas(con):
            if db.table_exists(con, schema, warehouse.LOAD_LOG):
                row = con.sql(
                    f'select source, load_id, max(finished_at), sum(rows_new + rows_updated), sum(rows_quarantined) from "{schema}".{warehouse.LOAD_LOG} '
                    f'where load_id = (select max(load_id) from "{schema}".{warehouse.LOAD_LOG}) group by all'
                ).fetchall()
                for source, load_id, finished, loaded, quarantined in row:
                    loads.add_row(source, load_id, str(finished), f"{loaded:,}", f"{quarantined:,}")
        console.print(loads)
    finally:
        con.close()


contract_app = typer.Typer(help="The source contract, and checking an export folder against it.")
app.add_typer(contract_app, name="contract")


@contract_app.callback(invoke_without_command=True)
def contract(
    ctx: typer.Context,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the contract tables as Markdown.")] = False,
    write: Annotated[Path | None, typer.Option(help="Rewrite the generated part of this docs file.")] = None,
    write_dbt: Annotated[
        Path | None, typer.Option(help="Rewrite the dbt macro of the contract's columns (macros/contract_columns.sql).")
    ] = None,
) -> None:
    """Show the canonical source contract (entities, columns, keys); `check FOLDER` checks an export."""
    from ingestion import contract as c

    if ctx.invoked_subcommand is not None:
        return
    if write is not None:
        write.write_text(render_sources_doc(write.read_text()))
        console.print(f"Updated {write}.")
    if write_dbt is not None:
        write_dbt.write_text(c.dbt_macro())
        console.print(f"Updated {write_dbt}.")
    if write is not None or write_dbt is not None:
        return
    if markdown:
        print(c.markdown())
    else:
        table = Table("entity", "required", "primary key", "required columns", "optional columns")
        for entity in c.ENTITIES.values():
            table.add_row(
                entity.name,
                "yes" if entity.required else "no",
                ", ".join(entity.primary_key),
                ", ".join(col.name for col in entity.columns if col.required),
                ", ".join(col.name for col in entity.columns if not col.required),
            )
        console.print(table)


@contract_app.command("check")
def contract_check(
    folder: Annotated[Path, typer.Argument(help="The export folder (what O2C_CONTRACT_DIR would point at).")],
) -> None:
    """What FOLDER would load, before anything is loaded: rows, mapped columns, what would be
    quarantined and why, and which marts and pages the data supports. Exit 1 if a required
    entity would have no rows."""
    from ingestion.pipeline import SourceUnavailable
    from ingestion.preview import check_folder

    try:
        preview = check_folder(folder)
    except SourceUnavailable as error:
        if options.debug:
            traceback.print_exc()
        fail(f"contract check: {error}", code=2)
    console.print(
        f"Folder {preview.folder}; mapping file: {preview.mapping_file or 'none (contract names and formats)'}"
    )
    table = Table("entity", "files", "rows", "would load", "quarantined", "columns mapped (contract ← export)")
    for e in preview.entities:
        if e.files or e.rows_in:
            mapped = ", ".join(f"{c} ← {x}" for c, x in e.mapped.items()) or "contract names"
            table.add_row(
                e.entity, str(e.files), f"{e.rows_in:,}", f"{e.rows_valid:,}", f"{e.rows_quarantined:,}", mapped
            )
    console.print(table)
    for e in preview.entities:
        for reason, rows in e.reasons.most_common():
            console.print(f"[yellow]would quarantine[/yellow] {e.entity}: {rows:,} row(s): {reason}")
        for message in e.errors:
            console.print(f"[red]error[/red] {message}")
        for message in e.warnings:
            console.print(f"[yellow]warning[/yellow] {message}")
    support = Table("entity", "what the marts and pages get")
    for e in preview.entities:
        support.add_row(e.entity, e.supports)
    console.print(support)
    if not preview.ready:
        missing = ", ".join(e.entity for e in preview.entities if e.required and not e.present)
        console.print(f"[red]Not ready:[/red] no loadable rows of the required {missing}.")
        raise typer.Exit(1)
    console.print("Ready: `O2C_CONTRACT_DIR=<folder> o2c run` loads it and publishes the dashboards.")


BEGIN, END = "<!-- BEGIN CONTRACT (generated by `o2c contract --write docs/sources.md`) -->", "<!-- END CONTRACT -->"


def render_sources_doc(text: str) -> str:
    """The doc with its generated contract section replaced by the current contract."""
    from ingestion import contract as c

    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{c.markdown()}\n{END}{tail}"


# `o2c metrics list|query`: the dbt metrics through MetricFlow, read-only (orchestration/metrics.py).
def _add_metrics_commands() -> None:
    from orchestration.metrics import app as metrics_app
    from orchestration.metrics import sql_command

    app.add_typer(metrics_app, name="metrics")
    app.command("sql")(sql_command)


_add_metrics_commands()


if __name__ == "__main__":
    main()
