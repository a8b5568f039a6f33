"""Credit-hold recommendations written back to the ERP (a table in its database), or a CSV drop.

A customer is recommended for hold when over its credit limit or with more than the configured
amount 91+ days overdue. The table holds one row per customer ever recommended; a customer no
longer meeting the rule gets recommend_hold = false. Rerunning on the same data changes nothing.
"""

import datetime as dt
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from alerts import data
from alerts.config import AlertConfig
from core import formatting

TABLE = "o2c_credit_hold_recommendations"
CANDIDATES = """
select
    customers.customer_id,
    customers.customer_name,
    exposure.currency,
    exposure.credit_limit::double as credit_limit,
    exposure.exposure::double as exposure,
    exposure.is_over_credit_limit,
    coalesce((
        select sum(aging.open_balance_rc) from marts.fct_ar_aging as aging
        where aging.as_of_date = $as_of and aging.customer_id = customers.customer_id and aging.days_past_due > 90
    ), 0)::double as overdue_91_plus_rc
from marts.dim_customers as customers
inner join marts.fct_customer_credit_exposure as exposure on customers.customer_id = exposure.customer_id
order by customers.customer_id
"""

metadata = sa.MetaData()
recommendations = sa.Table(
    TABLE,
    metadata,
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("recommend_hold", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("exposure", sa.Numeric(18, 2)),
    sa.Column("credit_limit", sa.Numeric(18, 2)),
    sa.Column("overdue_91_plus_rc", sa.Numeric(18, 2)),
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


def recommend(snapshot: data.Snapshot, config: AlertConfig) -> pl.DataFrame:
    candidates = snapshot.frame(CANDIDATES)
    over = pl.col("is_over_credit_limit")
    aged = pl.col("overdue_91_plus_rc") >= config.hold_overdue_91_rc
    reason = (
        pl.when(over & aged)
        .then(pl.lit("over credit limit; overdue 91+ days"))
        .when(over)
        .then(pl.lit("over credit limit"))
        .when(aged)
        .then(pl.lit("overdue 91+ days"))
        .otherwise(pl.lit("within limits"))
    )
    return candidates.with_columns((over | aged).alias("recommend_hold"), reason.alias("reason"))


def write_erp(url: str, frame: pl.DataFrame, as_of: dt.date) -> dict[str, int]:
    """Upsert into the ERP table: insert new holds, update rows whose recommendation changed."""
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with engine.begin() as con:
            existing = {r.customer_id: r for r in con.execute(sa.select(recommendations))}
            inserted = updated = 0
            for row in frame.iter_rows(named=True):
                before = existing.get(row["customer_id"])
                if before is None and not row["recommend_hold"]:
                    continue  # never recommended: nothing to tell the ERP
                values = {
                    "recommend_hold": row["recommend_hold"],
                    "reason": row["reason"],
                    "exposure": round(row["exposure"], 2),
                    "credit_limit": round(row["credit_limit"], 2),
                    "overdue_91_plus_rc": round(row["overdue_91_plus_rc"], 2),
                }
                if before is None:
                    con.execute(
                        recommendations.insert().values(
                            customer_id=row["customer_id"], as_of_date=as_of, updated_at=now, **values
                        )
                    )
                    inserted += 1
                elif (before.recommend_hold, before.reason) != (values["recommend_hold"], values["reason"]):
                    con.execute(
                        recommendations.update()
                        .where(recommendations.c.customer_id == row["customer_id"])
                        .values(as_of_date=as_of, updated_at=now, **values)
                    )
                    updated += 1
        return {"inserted": inserted, "updated": updated}
    finally:
        engine.dispose()


def write_csv(folder: Path, frame: pl.DataFrame, as_of: dt.date) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"credit_hold_recommendations_{as_of}.csv"
    # customer names are data: a formula-like one is quoted (core/formatting.spreadsheet_safe)
    formatting.spreadsheet_safe(frame.filter("recommend_hold")).write_csv(path)
    return path
