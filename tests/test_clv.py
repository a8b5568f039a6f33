"""CLV correctness on public data: the CDNOW sample of Fader, Hardie & Lee (2005).

The `lifetimes` package ships the CDNOW transaction log; it is only a test data source here.
The project's own RFM summary and fits must reproduce the published maximum-likelihood estimates.
"""

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from forecasting import clv

CALIBRATION_END = dt.date(1997, 9, 30)  # 39 weeks after 1 January 1997
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    import lifetimes

    path = os.path.join(os.path.dirname(lifetimes.__file__), "datasets", "CDNOW_sample.txt")
    # Whitespace-separated: customer id, customer index, yyyymmdd, CDs bought, dollar value.
    lines = pl.Series("line", Path(path).read_text().splitlines())
    parts = lines.to_frame().select(pl.col("line").str.extract_all(r"\S+").alias("f"))
    return parts.select(
        pl.col("f").list.get(0).alias("customer_id"),
        pl.col("f").list.get(2).str.to_date("%Y%m%d").alias("purchase_date"),
        pl.col("f").list.get(4).cast(pl.Float64).alias("amount"),
    )


@pytest.fixture(scope="module")
def rfm(cdnow: pl.DataFrame) -> pl.DataFrame:
    return clv.rfm_summary(cdnow, CALIBRATION_END)


def test_rfm_summary_matches_the_published_calibration_data(rfm: pl.DataFrame):
    # 2,357 customers, 946 of whom made a repeat purchase in the 39-week calibration period;
    # customer 1 (id 00004): 2 repeat purchases, t_x 30.43, T 38.86, mean repeat spend 22.35.
    assert rfm.height == 2357
    assert rfm.filter(pl.col("frequency") > 0).height == 946
    first = rfm.filter(pl.col("customer_id") == "00004").row(0, named=True)
    assert first["frequency"] == 2
    assert first["recency"] == pytest.approx(30.43, abs=0.006)
    assert first["T"] == pytest.approx(38.86, abs=0.006)
    assert first["monetary_value"] == pytest.approx(22.35, abs=0.006)


def test_bgnbd_and_gamma_gamma_reproduce_the_published_parameters(rfm: pl.DataFrame):
    purchases = clv.fit_bgnbd(rfm)
    spend = clv.fit_gamma_gamma(rfm)
    print("BG/NBD", purchases.parameters, "LL", purchases.log_likelihood)
    print("Gamma-Gamma", spend.parameters, "n", spend.n_customers)
    for name, published in PUBLISHED_BGNBD.items():
        assert purchases.parameters[name] == pytest.approx(published, rel=0.01), name
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert spend.parameters[name] == pytest.approx(published, rel=0.01), name
    assert purchases.log_likelihood == pytest.approx(-9582.4, abs=0.5)  # FHL (2005), table 1
    assert spend.n_customers == 946

    predicted = clv.predict(rfm, purchases.parameters, spend.parameters, horizon_weeks=39)
    assert predicted.height == rfm.height
    assert predicted["probability_alive"].is_between(0, 1).all()
    # A customer with no repeat purchase is alive with certainty under BG/NBD.
    one_timer = rfm.join(predicted, on="customer_id").filter(pl.col("frequency") == 0)
    assert (one_timer["probability_alive"] == 1.0).all()
    # Spend per purchase shrinks each repeat customer's observed mean towards the population
    # mean p·v/(q-1) (about 35.2 here), never past it.
    population = spend.parameters["p"] * spend.parameters["v"] / (spend.parameters["q"] - 1)
    assert population == pytest.approx(35.2, rel=0.02)
    repeaters = rfm.join(predicted, on="customer_id").filter(pl.col("frequency") > 0)
    low = pl.min_horizontal(pl.col("monetary_value"), pl.lit(population))
    high = pl.max_horizontal(pl.col("monetary_value"), pl.lit(population))
    assert repeaters.select(pl.col("expected_spend_per_purchase").is_between(low - 1e-9, high + 1e-9).all()).item()


def test_bgnbd_predictions_match_the_published_example_and_lifetimes(rfm: pl.DataFrame):
    """The closed-form predictions (which the daily run uses with stored parameters) against FHL
    (2005)'s worked example and against the `lifetimes` package's own implementation."""
    import lifetimes
    import numpy as np

    # FHL (2005): a customer with 2 repeat purchases, t_x = 30.43 and T = 38.86 weeks is expected
    # to make 1.226 purchases in the next 39 weeks, at the published estimates.
    one = np.array([2.0]), np.array([30.43]), np.array([38.86])
    assert clv.expected_purchases(PUBLISHED_BGNBD, *one, 39)[0] == pytest.approx(1.226, abs=5e-4)

    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(PUBLISHED_BGNBD)
    x, t_x, T = (rfm[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    ours = clv.expected_purchases(PUBLISHED_BGNBD, x, t_x, T, 39)
    theirs = fitter.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T)
    assert np.asarray(ours) == pytest.approx(np.asarray(theirs), rel=1e-9)
    alive = clv.probability_alive(PUBLISHED_BGNBD, x, t_x, T)
    assert alive == pytest.approx(np.asarray(fitter.conditional_probability_alive(x, t_x, T)), rel=1e-9)
    assert alive[x == 0] == pytest.approx(1.0)
    # A frequent buyer silent for a long time: the odds overflow, P(alive) is 0, not NaN.
    silent = np.array([300.0]), np.array([1.0]), np.array([500.0])
    assert clv.probability_alive(PUBLISHED_BGNBD, *silent)[0] == 0.0
    assert clv.expected_purchases(PUBLISHED_BGNBD, *silent, 39)[0] == pytest.approx(0.0, abs=1e-12)
