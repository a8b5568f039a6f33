"""One settings object for the whole stack: `O2C_*` environment variables, defaults under data/."""

from __future__ import annotations

import re
import typing
import zoneinfo
from email.utils import getaddresses
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
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
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 with STARTTLS, usually).")
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
    credit_hold_target: Literal["erp", "csv"] = Field(
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
    lock_wait_seconds: int = Field(
        600,
        ge=0,
        description="A run, load or rebuild that finds the warehouse in use by another waits this long for it, "
        "then stops with a message naming the holder (0: stop at once).",
    )
    collector_daily_items: int = Field(
        25,
        ge=1,
        description="A collector's daily target: the worklist page and the daily email show this many top items "
        "(fct_worklist_items.priority_rank), and the page counts progress against it.",
    )

    # The engine the dbt project builds on (docs/operations.md "Engines"). DuckDB is one machine;
    # Spark runs the same project through dbt-spark, on a local Spark in this process or on a
    # cluster's Thrift server, reading the raw tables as Parquet files from the lake folder.
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="What builds the dbt models: duckdb (this machine) or spark (Apache Spark)."
    )
    spark_master: str = Field(
        "local[2]", description="Spark master of the in-process Spark (engine spark, no spark_host): local[N] or a URL."
    )
    spark_host: str | None = Field(
        None, description="A Spark Thrift server to build on instead of an in-process Spark (engine spark)."
    )
    spark_port: int = Field(10000, ge=1, le=65535, description="Port of the Spark Thrift server.")
    lake_dir: Path | None = Field(
        None,
        description="Where engine spark reads the raw tables and forecasts as Parquet (default data/lake); "
        "with a Thrift server, a path the cluster reads too.",
    )

    # Sign-in to the dashboards (docs/security.md "Sign-in and roles"). Without an identity
    # provider the dashboards ask for a user name and password from the local user list.
    oidc_server_metadata_url: str | None = Field(
        None,
        description="OpenID Connect discovery URL of the company's identity provider "
        "(…/.well-known/openid-configuration); empty = local user list with passwords.",
    )
    oidc_client_id: str | None = Field(None, description="The dashboards' client id at the identity provider.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="The dashboards' client secret at the identity provider (secret: never logged)."
    )
    oidc_user_claim: str = Field(
        "email", description="ID-token claim naming the user in the user list (email, preferred_username, sub)."
    )
    oidc_roles_claim: str | None = Field(
        None,
        description="ID-token claim with the user's groups/roles; a value equal to a role (cfo, controller, "
        "analyst, admin) gives it to a user not in the list (collectors must be in the list).",
    )
    oidc_prompt: Literal["login", "select_account", "consent"] = Field(
        "login",
        description="OIDC prompt sent to the identity provider: login (ask for the credentials at each "
        "dashboard sign-in), select_account (Google, Entra) or consent.",
    )
    auth_cookie_secret: SecretStr | None = Field(
        None, description="Secret signing the sign-in cookie (32+ random characters; needed with an identity provider)."
    )

    @field_validator("write_off_after_days_past_due", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        # O2C_WRITE_OFF_AFTER_DAYS_PAST_DUE= (empty) switches the policy off, as not setting it does
        return None if isinstance(value, str) and not value.strip() else value

    # Checked when the settings load, so a typo stops everything before anything is read or
    # written (a mistyped write-back target once wrote into the ERP). Each error names the value
    # and what is allowed; `describe_errors` turns them into one line per setting.

    @field_validator("schedule_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a timezone of the IANA database (e.g. UTC, Europe/Berlin)") from None
        return value

    @field_validator("schedule_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        # croniter, a direct dependency (pyproject.toml): the parser Dagster's own check uses.
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError("is not a cron expression of 5 fields (minute hour day month weekday, e.g. 0 6 * * *)")
        return value

    @field_validator("reporting_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        from babel.numbers import list_currencies

        if value not in list_currencies():
            raise ValueError("is not an ISO 4217 currency code (e.g. USD, EUR, GBP)")
        return value

    @field_validator("erp_url", "ops_url")
    @classmethod
    def _sqlalchemy_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            import sqlalchemy as sa

            try:
                sa.engine.make_url(value.get_secret_value())
            except Exception:  # sqlalchemy raises ArgumentError, or ValueError for a bad port
                raise ValueError("is not a SQLAlchemy URL (e.g. postgresql+psycopg://user@host/erp)") from None
        return value

    @field_validator("alert_webhook_url", "dashboard_url", "oidc_server_metadata_url")
    @classmethod
    def _http_url(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("is not an http(s) URL (e.g. https://hooks.example.com/o2c)")
        return value

    @field_validator("mail_from", "cfo_emails", "alert_emails")
    @classmethod
    def _email_addresses(cls, value: str | None) -> str | None:
        if value is not None:
            addresses = [address for _, address in getaddresses([value])]
            if not addresses or not all(re.fullmatch(r"[^@\s]+@[^@\s]+", a) for a in addresses):
                raise ValueError("is not a comma-separated list of email addresses (e.g. cfo@example.com)")
        return value

    @field_validator("alerts_config")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("is not a file (the TOML of alert thresholds, see docs/alerts.md)")
        return value

    @property
    def oidc_configured(self) -> bool:
        return self.oidc_server_metadata_url is not None

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
    def lake(self) -> Path:
        return self.lake_dir or self.data_dir / "lake"

    @cached_property
    def spark_dir(self) -> Path:
        """The in-process Spark's own state: its managed tables (the models) and its metastore."""
        return self.data_dir / "spark"

    @property
    def dbt_target(self) -> str:
        """The profile's output dbt builds with (dbt_project/profiles.yml)."""
        if self.engine == "duckdb":
            return "dev"
        return "spark" if self.spark_host is None else "spark_thrift"

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
    docs_port: int = Field(
        8580, ge=1, le=65535, description="Port `o2c docs` serves the dbt docs on (http://localhost:8580)."
    )

    # Targets of the CFO's KPIs (core/kpi_definitions.py): shown on the overview's tiles and as a
    # line on its trend charts, and in the CFO digest. Optional: unset (or empty) shows no target.
    target_dso_days: float | None = Field(
        None, gt=0, le=365, description="Target simple DSO in days (e.g. 45); empty = no target."
    )
    target_cei_pct: float | None = Field(
        None, gt=0, le=100, description="Target collection effectiveness index in percent (e.g. 80); empty = no target."
    )
    target_pct_current: float | None = Field(
        None, gt=0, le=100, description="Target share of open AR not yet due, in percent (e.g. 85); empty = no target."
    )

    @field_validator("target_dso_days", "target_cei_pct", "target_pct_current", mode="before")
    @classmethod
    def _empty_is_no_target(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


SECRET_FIELDS = frozenset(
    {"erp_url", "ops_url", "smtp_password", "alert_webhook_url", "oidc_client_secret", "auth_cookie_secret"}
)


class SettingsError(ValueError):
    """Settings that do not validate: one line per bad setting, naming the variable, the value
    (secrets hidden) and what is allowed."""


def hide_password(text: str) -> str:
    """A URL (or a text holding URLs) with the password of each replaced by ***."""
    return re.sub(r"(://[^/:@\s]*:)[^@/\s]+@", r"\1***@", text)


def _shown(field: str, value: object) -> str:
    if field in SECRET_FIELDS:
        return (
            "'***'"
            if field in ("smtp_password", "oidc_client_secret", "auth_cookie_secret")
            else repr(hide_password(str(value)))
        )
    return repr(value)


def describe_errors(error: ValidationError) -> str:
    """`O2C_CREDIT_HOLD_TARGET: 'sheets' is not one of erp, csv`, one line per setting."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        variable = f"O2C_{field.upper()}"
        shown = _shown(field, item["input"])
        if item["type"] == "literal_error":
            allowed = ", ".join(str(a) for a in typing.get_args(Settings.model_fields[field].annotation))
            lines.append(f"{variable}: {shown} is not one of {allowed}")
        elif item["type"] == "string_pattern_mismatch" and field == "duckdb_memory_limit":
            lines.append(f"{variable}: {shown} is not a memory size (e.g. 8GB, 512MB)")
        elif item["type"] == "value_error":
            lines.append(f"{variable}: {shown} {item['ctx']['error']}")
        else:  # pydantic's own wording: "Input should be a valid integer, ..."
            lines.append(f"{variable}: {shown}: {item['msg'][0].lower()}{item['msg'][1:]}")
    return "\n".join(lines)


def get_settings() -> Settings:
    """The settings from the environment (and .env); SettingsError names every bad one."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None
