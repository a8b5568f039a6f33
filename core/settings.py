"""One settings object for the whole stack: `O2C_*` environment variables, defaults under data/."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.db import MEMORY_SIZE

REPO_ROOT = Path(__file__).resolve().parents[1]  # core/settings.py → the repository


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="O2C_", env_file=".env", extra="ignore")

    data_dir: Path = Field(REPO_ROOT / "data", description="Root of all local state.")
    sources_dir: Path | None = Field(None, description="Simulated or landed source systems (default data/sources).")
    erp_url: SecretStr | None = Field(
        None, description="SQLAlchemy URL of the ERP database (default: SQLite file in sources_dir)."
    )
    warehouse_path: Path | None = Field(None, description="DuckDB warehouse (default data/warehouse/warehouse.duckdb).")
    contract_dir: Path | None = Field(
        None, description="Folder of CSV/Parquet files in the source contract ('bring your own data')."
    )
    reporting_currency: str = Field("USD", description="Currency all amounts are also reported in.")
    incremental_lookback_hours: int = Field(
        24, ge=0, description="Re-read rows this much older than the last loaded updated_at (late updates)."
    )
    serving_path: Path | None = Field(
        None, description="The published read-only copy of the marts (default data/warehouse/serving.duckdb)."
    )
    duckdb_memory_limit: str = Field(
        "8GB",
        description="DuckDB memory cap of the dbt build and the forecasts (e.g. 8GB); beyond it DuckDB spills to disk.",
        pattern=rf"^{MEMORY_SIZE}$",
    )
    schedule_cron: str = Field("0 6 * * *", description="When the daily full build runs (cron).")
    schedule_timezone: str = Field("UTC", description="Timezone of schedule_cron.")
    ops_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the ops store the collectors' actions are written to "
        "(default: SQLite file data/ops/ops.sqlite).",
    )
    smtp_host: str = Field("localhost", description="SMTP server the alerts and reports are sent through.")
    smtp_port: int = Field(25, description="SMTP port (587 with STARTTLS, usually).")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_user: str | None = Field(None, description="SMTP login, if the server wants one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (secret: never logged).")
    mail_from: str = Field("o2c collections <o2c@localhost>", description="Sender of every email.")
    cfo_emails: str | None = Field(None, description="Comma-separated recipients of the weekly CFO digest.")
    alert_emails: str | None = Field(None, description="Comma-separated recipients of threshold alerts.")
    alert_webhook_url: SecretStr | None = Field(None, description="Also POST threshold alerts here (JSON).")
    dashboard_url: str = Field("http://localhost:8501", description="Where emails link to (the worklist).")
    alerts_config: Path | None = Field(
        None, description="TOML file overriding the alert thresholds and dunning levels (see docs/alerts.md)."
    )
    credit_hold_target: str = Field(
        "erp", description="Where credit-hold recommendations go: erp (a table in the ERP database) or csv."
    )
    write_off_after_days_past_due: int | None = Field(
        None,
        ge=1,
        description="Write-off policy: propose (never post) open, undisputed invoices more than this many days "
        "past due (marts.fct_write_off_proposals); empty = off.",
    )
    source_freshness_hours: int = Field(
        30, ge=1, description="A source not loaded for this long fails its freshness check."
    )
    collector_daily_items: int = Field(
        25,
        ge=1,
        description="A collector's daily target: the worklist page and the daily email show this many top items "
        "(fct_worklist_items.priority_rank), and the page counts progress against it.",
    )

    @field_validator("write_off_after_days_past_due", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        # O2C_WRITE_OFF_AFTER_DAYS_PAST_DUE= (empty) switches the policy off, as not setting it does
        return None if isinstance(value, str) and not value.strip() else value

    @cached_property
    def sources(self) -> Path:
        return self.sources_dir or self.data_dir / "sources"

    @cached_property
    def landing(self) -> Path:
        return self.sources / "landing"

    @cached_property
    def warehouse(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse" / "warehouse.duckdb"

    @cached_property
    def serving(self) -> Path:
        return self.serving_path or self.warehouse.with_name("serving.duckdb")

    @cached_property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @cached_property
    def quality_dir(self) -> Path:
        """Great Expectations' project: stored suites, results and the data docs (HTML)."""
        return self.data_dir / "gx"

    @cached_property
    def dlt_dir(self) -> Path:
        return self.data_dir / "dlt"

    def erp(self) -> str:
        """The ERP URL; a secret, so never print it."""
        if self.erp_url is not None:
            return self.erp_url.get_secret_value()
        return f"sqlite:///{self.sources / 'erp.sqlite'}"

    def erp_if_configured(self) -> str | None:
        """The ERP URL if there is an ERP: O2C_ERP_URL, or the default SQLite file when it exists
        (a simulated world); None when neither (the ERP source is then skipped)."""
        if self.erp_url is not None or (self.sources / "erp.sqlite").exists():
            return self.erp()
        return None

    @cached_property
    def outbox(self) -> Path:
        """Where `o2c alerts preview` and dry runs write rendered emails."""
        return self.data_dir / "outbox"

    def ops(self) -> str:
        """The ops store URL; may hold a password, so never print it."""
        if self.ops_url is not None:
            return self.ops_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'ops' / 'ops.sqlite'}"

    # Dunning letters (alerts/dunning.py). Multi-line values: real line breaks or a literal \n.
    company_name: str | None = Field(None, description="Sender company named in every dunning letter.")
    company_address: str | None = Field(
        None, description="Sender company's postal address in dunning letters (multi-line)."
    )
    payment_instructions: str | None = Field(
        None, description="How to pay, shown in every dunning letter: bank, IBAN, BIC… (multi-line)."
    )
    payment_url: str | None = Field(
        None, description="Online payment link in dunning letters; {customer_id} is replaced by the customer's ID."
    )
    dunning_locale: str = Field(
        "en_US",
        description="Language and formats of a dunning letter when the customer's language has no templates "
        "(en, de, fr, es have), e.g. en_US, de_DE.",
    )


def get_settings() -> Settings:
    return Settings()
