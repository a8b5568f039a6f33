"""CLV correctness on public data: the CDNOW sample of Fader, Hardie & Lee (2005).

The `lifetimes` package ships the CDNOW transaction log; it is only a test data source here.
The project's own RFM summary and fits must reproduce the published maximum-likelihood estimates.
"""

import datetime as dt
import os
from pathlib import Path

import numpy as np
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


def test_the_log_likelihoods_are_the_published_ones_as_lifetimes_computes_them(rfm: pl.DataFrame):
    """Each customer's log-likelihood the fits maximise, at parameters away from the optimum, against
    the `lifetimes` package's own (FHL 2005 equation 6; Fader & Hardie 2013)."""
    import lifetimes

    x, t_x, T, m = (rfm[c].to_numpy().astype(float) for c in ("frequency", "recency", "T", "monetary_value"))
    weights = np.ones(len(x))
    for parameters in ([0.243, 4.414, 0.793, 2.426], [2.0, 0.5, 0.01, 300.0]):
        ours = clv.bgnbd_log_likelihood(np.array(parameters), x, t_x, T).sum()
        theirs = -lifetimes.BetaGeoFitter._negative_log_likelihood(np.log(parameters), x, t_x, T, weights, 0) * len(x)
        assert ours == pytest.approx(theirs, rel=1e-12)
    repeat = (x > 0) & (m > 0)
    for parameters in ([6.25, 3.74, 15.44], [0.5, 55.0, 366_000.0]):
        ours = clv.gamma_gamma_log_likelihood(np.array(parameters), x[repeat], m[repeat]).sum()
        theirs = (
            -lifetimes.GammaGammaFitter._negative_log_likelihood(
                np.log(parameters), x[repeat], m[repeat], weights[repeat], 0
            )
            * repeat.sum()
        )
        assert ours == pytest.approx(theirs, rel=1e-12)


def _drawn_from_the_models(n: int, bgnbd: dict[str, float], gamma_gamma: dict[str, float], seed: int) -> pl.DataFrame:
    """An RFM summary of `n` customers drawn from BG/NBD and Gamma-Gamma themselves: a purchase
    rate from Gamma(r, α), a drop-out probability after each purchase from Beta(a, b), each over
    their own observation time; a spend scale from Gamma(q, v), each purchase from Gamma(p, that)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(bgnbd["r"], 1 / bgnbd["alpha"], n)
    drop = rng.beta(bgnbd["a"], bgnbd["b"], n)
    T = rng.uniform(20, 80, n)
    frequency, recency = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / rate[i])
            if t > T[i]:
                break
            frequency[i], recency[i] = frequency[i] + 1, t
            if rng.random() < drop[i]:
                break
    scale = rng.gamma(gamma_gamma["q"], 1 / gamma_gamma["v"], n)
    spend = [
        rng.gamma(gamma_gamma["p"], 1 / s, int(k)).mean() if k else 0.0 for s, k in zip(scale, frequency, strict=True)
    ]
    return pl.DataFrame(
        {"customer_id": [f"C{i}" for i in range(n)], "frequency": frequency, "recency": recency, "T": T},
    ).with_columns(pl.Series("monetary_value", spend), pl.col("frequency").cast(pl.Int64))


def test_the_fits_recover_the_parameters_of_customers_drawn_from_the_models():
    """B2B-sized spend (thousands per order) and frequent buyers, unlike CDNOW: the maximum-likelihood
    fits find the parameters the customers were drawn with, and the population's mean spend."""
    bgnbd = {"r": 1.5, "alpha": 4.0, "a": 0.6, "b": 3.0}
    gamma_gamma = {"p": 3.0, "q": 8.0, "v": 28_000.0}  # mean spend per order p·v/(q-1) = 12,000
    rfm = _drawn_from_the_models(4_000, bgnbd, gamma_gamma, seed=3)
    purchases, spend = clv.fit_bgnbd(rfm), clv.fit_gamma_gamma(rfm)
    for name, drawn in bgnbd.items():
        assert purchases.parameters[name] == pytest.approx(drawn, rel=0.2), name
    for name, drawn in gamma_gamma.items():
        assert spend.parameters[name] == pytest.approx(drawn, rel=0.2), name
    p, q, v = (spend.parameters[k] for k in clv.GAMMA_GAMMA_PARAMETERS)
    assert p * v / (q - 1) == pytest.approx(12_000, rel=0.03)
    # The estimates are the maximum: a step away from them in any parameter lowers the likelihood.
    for model, log_likelihood, data in (
        (purchases, clv.bgnbd_log_likelihood, [rfm[c].to_numpy().astype(float) for c in ("frequency", "recency", "T")]),
        (
            spend,
            clv.gamma_gamma_log_likelihood,
            [rfm.filter(pl.col("frequency") > 0)[c].to_numpy().astype(float) for c in ("frequency", "monetary_value")],
        ),
    ):
        best = np.array(list(model.parameters.values()))
        assert log_likelihood(best, *data).sum() == pytest.approx(model.log_likelihood, rel=1e-12)
        for i in range(len(best)):
            for factor in (0.99, 1.01):
                nearby = best.copy()
                nearby[i] *= factor
                assert log_likelihood(nearby, *data).sum() < model.log_likelihood
