"""Every page as its users see it: one `streamlit run` on the shared simulated world, one real
Chromium visiting each page of the navigation (so a new page is covered without touching this
test), a full-page screenshot of each, and what a reader meets checked on the rendered DOM:

- no column name left as it is in the marts (snake_case) in a table header, a tile's label, a
  chart's axis title, legend or title;
- money tiles carry the reporting currency's symbol, every figure on a tile its unit;
- no "None" or "nan" in the text, the tiles or the table cells;
- the Excel download under a table has the headers the page shows, holds no formula, and (cash
  forecast) equals the forecast to the cent.

Tables are drawn on a canvas (glide data grid); their headers and visible cells are read from the
grid's accessible DOM (role="columnheader", data-testid="glide-cell-…"). Each page's problems are
collected and reported together, with the screenshot to look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import REPO_ROOT
from tests.test_dashboards import CHROMIUM, SNAKE_CASE, mart, read_xlsx, serve_dashboards

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
VIEWPORT = {"width": 1500, "height": 1100}
SYMBOL = "$"  # the default reporting currency, USD
# A tile about an amount of money, by its label (counts of receipts or items are not).
MONEY_TILE = re.compile(
    r"\b(AR|cash|revenue|amount|collected|written off|credit loss|on account|unidentified|balance|"
    r"expected receipts|next \d+ weeks|forecast|exposure|recoverable)\b",
    re.IGNORECASE,
)
# A currency as a tile shows it: its symbol, or its code where it has none ("CHF 1,200").
CURRENCY_SIGN = r"(\$|€|£|¥|[A-Z]{3}\s)"
# What a tile's value may be: money (in any currency: the collectors' world reports in EUR), a
# percentage, percentage points, days, a whole count, a date (and time, in UTC), or nothing; optionally
# followed by words (", over limit").
TILE_VALUE = re.compile(
    r"^(–|\d{4}-\d\d-\d\d( \d\d:\d\d( UTC)?)?|[-−+]?"
    + CURRENCY_SIGN
    + r"[\d,]+(\.\d\d)?|[-−+]?[\d,]+(\.\d\d?)?%|[-−+]?[\d,.]+ pp|[-−+]?[\d,]+(\.\d)? days?|[\d,]+)"
    r"(,? [a-z ]+)?$"
)
MISSING_WORDS = re.compile(r"\b(None|nan|NaN|NaT)\b")


def pages_in_the_app() -> list[str]:
    """Every page file declared in the app's navigation."""
    return re.findall(r'st\.Page\(\s*"app_pages/(\w+)\.py"', APP.read_text())


def settle(tab) -> None:
    """Wait until the page has finished running and drawing: no status widget, no skeleton
    placeholder, every table with its headers, every chart with its SVG, and nothing added to the
    page for a second (the status widget shows only after a moment, so its absence alone is no
    proof that the run is over)."""
    tab.locator('[data-testid="stMain"] h1').first.wait_for(timeout=30_000)
    drawn = """() => {
      if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')) return -1;
      const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]').length;
      const svgs = document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length;
      // a table in a tab not shown (customer 360) is drawn only when its tab is opened
      const grids = [...document.querySelectorAll('[data-testid="stDataFrame"]')].filter(g => g.getClientRects().length);
      if (svgs < charts || !grids.every(g => g.querySelector('[role="columnheader"]'))) return -1;
      return document.querySelectorAll('[data-testid="stMain"] [data-testid]').length;
    }"""
    last, steady, deadline = -1, 0, time.monotonic() + 30
    while steady < 4:
        assert time.monotonic() < deadline, "the page did not finish drawing in 30 s"
        tab.wait_for_timeout(250)
        now = tab.evaluate(drawn)
        steady = steady + 1 if now == last and now >= 0 else 0
        last = now


def texts(where, selector: str) -> list[str]:
    """The text of every element matching `selector` in `where` (a page or a locator), SVG text
    included."""
    return [t.strip() for t in where.locator(selector).evaluate_all("els => els.map(e => e.textContent)") if t]


@contextmanager
def chromium_tab() -> Iterator:
    """A tab of Debian's Chromium driven by Playwright (headless, downloads accepted), closed after
    the block. Shared by every real-browser test (the CFO overview, the worklist)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        finally:
            browser.close()


def show_whole(tab, url: str, screenshot: Path) -> None:
    """Open `url`, wait until it is drawn and take a full-page screenshot into `screenshot`.

    Streamlit scrolls its main area, not the document: a window as tall as the page makes the
    screenshot whole and draws every table (the grid draws only what is in view)."""
    tab.set_viewport_size(VIEWPORT)
    tab.goto(url)
    settle(tab)
    grow_and_shoot(tab, screenshot)


def grow_and_shoot(tab, screenshot: Path) -> None:
    """The window made as tall as the page, then the full-page screenshot (see show_whole)."""
    height = tab.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": VIEWPORT["width"], "height": min(height + 100, 16_000)})
    settle(tab)
    tab.screenshot(path=str(screenshot), full_page=True)


def tiles(tab) -> dict[str, dict[str, str]]:
    """Every KPI tile (st.metric) as drawn: its label's text -> value, delta, the delta's
    description ("vs Feb 1–2, 2026", "" when none) and the delta's computed CSS colour."""
    return {
        tile["label"]: tile
        for tile in tab.locator('[data-testid="stMetric"]').evaluate_all(
            """els => els.map(e => {
              const text = id => (e.querySelector(`[data-testid="${id}"]`)?.textContent ?? '').trim();
              const delta = e.querySelector('[data-testid="stMetricDelta"]');
              const description = text('stMetricDeltaDescription');
              let change = text('stMetricDelta');
              if (description && change.endsWith(description)) change = change.slice(0, -description.length).trim();
              return {label: text('stMetricLabel'), value: text('stMetricValue'), delta: change,
                      description, colour: delta ? getComputedStyle(delta).color : ''};
            })"""
        )
    }


def grid_rows(table) -> list[dict[str, str]]:
    """The rows a table (a `[data-testid="stDataFrame"]` locator) draws, top to bottom, each as
    header -> cell text, read from the grid's accessible DOM (the canvas itself has no text):
    cells are matched to headers by their aria-colindex. That DOM holds a number's value, not its
    drawn format ("800" for the "800.00" on the canvas): formats are checked on the Excel download
    and the screenshot."""
    return table.evaluate(
        """grid => {
          const headers = {};
          grid.querySelectorAll('[role="columnheader"]').forEach(h => { headers[h.getAttribute('aria-colindex')] = h.textContent.trim(); });
          return [...grid.querySelectorAll('tbody [role="row"]')]
            .sort((a, b) => Number(a.getAttribute('aria-rowindex')) - Number(b.getAttribute('aria-rowindex')))
            .map(row => Object.fromEntries([...row.querySelectorAll('[role="gridcell"]')]
              .filter(c => headers[c.getAttribute('aria-colindex')] !== undefined)
              .map(c => [headers[c.getAttribute('aria-colindex')], c.textContent.trim()])));
        }"""
    )


def read_page(tab) -> dict[str, list[str]]:
    return {
        "table headers": texts(tab, '[data-testid="stDataFrame"] [role="columnheader"]'),
        "table cells": texts(tab, '[data-testid="stDataFrame"] [data-testid^="glide-cell-"]'),
        "tile labels": texts(tab, '[data-testid="stMetricLabel"]'),
        "tile values": texts(tab, '[data-testid="stMetricValue"]'),
        "chart titles": texts(
            tab,
            ".js-plotly-plot .g-xtitle, .js-plotly-plot .g-ytitle, .js-plotly-plot .gtitle, "
            ".js-plotly-plot .legendtitletext",
        ),
        "chart legends": texts(tab, ".js-plotly-plot .legendtext"),
        "text": [tab.locator('[data-testid="stMain"]').inner_text()],
    }


def problems_of(shown: dict[str, list[str]], symbol: str = SYMBOL) -> list[str]:
    """What a reader should not meet on a page read by read_page; `symbol` is the reporting
    currency's, which every money tile carries."""
    found = []
    for part in ("table headers", "tile labels", "chart titles", "chart legends"):
        found += [f"{part}: {text!r} is a column name" for text in shown[part] if SNAKE_CASE.search(text)]
    for label, value in zip(shown["tile labels"], shown["tile values"], strict=False):
        if not TILE_VALUE.match(value):
            found.append(f"tile {label!r}: {value!r} is not money, %, pp, days or a count")
        elif MONEY_TILE.search(label) and value != "–" and symbol not in value:
            found.append(f"tile {label!r}: {value!r} is money without the currency symbol {symbol}")
    for part in ("text", "table cells", "tile values"):
        found += [f"{part}: {m.group()!r} shown" for text in shown[part] for m in MISSING_WORDS.finditer(text)]
    return found


@pytest.fixture
def served(dashboard_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`o2c dashboard` on the shared world (read only; its own ops store): the world and the URL."""
    monkeypatch.setenv("O2C_DATA_DIR", str(dashboard_world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)
    with serve_dashboards(tmp_path) as url:
        yield dashboard_world, url


def test_every_page_reads_as_words_with_units_and_downloads_as_excel(served: tuple[Path, str], tmp_path: Path) -> None:
    world, server = served
    declared = pages_in_the_app()
    assert len(declared) >= 9, declared
    problems: dict[str, list[str]] = {}
    screenshots: dict[str, Path] = {}
    with chromium_tab() as tab:
        tab.goto(server)
        settle(tab)
        # The pages as the navigation offers them: each link's path (the default page is "/").
        links = tab.locator('[data-testid="stSidebarNavLink"]').evaluate_all(
            "els => els.map(e => new URL(e.href).pathname)"
        )
        assert len(links) == len(declared), (links, declared)
        for path in links:
            name = path.strip("/") or "overview"
            screenshots[name] = tmp_path / f"{name}.png"
            show_whole(tab, f"{server}{path}", screenshots[name])
            found = problems_of(read_page(tab))
            if tab.locator('[data-testid="stException"]').count():
                found.append("an exception is shown")
            # The first table's Excel download: the page's headers, no formula.
            buttons = tab.locator('[data-testid="stDownloadButton"] button', has_text="Download Excel")
            if tab.locator('[data-testid="stDataFrame"]').count():
                if not buttons.count():
                    found.append("a table without its Excel download")
                else:
                    # the grid draws only the columns in view: those are compared
                    headers = texts(tab.locator('[data-testid="stDataFrame"]').first, '[role="columnheader"]')
                    # the first table of the page (customer 360: of its first tab) is the first
                    # button's
                    with tab.expect_download() as download:
                        buttons.first.click()
                    rows, formulas = read_xlsx(Path(download.value.path()).read_bytes())
                    if formulas:
                        found.append(f"the Excel download holds {formulas} formulas")
                    found += [f"Excel header {h!r} is a column name" for h in rows[0] if SNAKE_CASE.search(h)]
                    if not headers or rows[0][: len(headers)] != headers:
                        found.append(f"Excel headers {rows[0]} are not the page's {headers}")
                    if name == "cash_forecast":
                        found += cash_forecast_to_the_cent(world, rows)
            if found:
                problems[name] = found
    assert not problems, "\n".join(
        f"{name} (see {screenshots[name]}):\n  " + "\n  ".join(found) for name, found in problems.items()
    )
    assert all(shot.stat().st_size > 10_000 for shot in screenshots.values()), screenshots


def cash_forecast_to_the_cent(data: Path, rows: list[list[object]]) -> list[str]:
    """The downloaded weekly forecast against forecasts.cash_forecast, week by week, to the cent."""
    expected = mart(data, "select expected_collections_rc from forecasts.cash_forecast order by week")
    column = rows[0].index("Expected receipts (USD)")
    shown = [Decimal(str(row[column])).quantize(Decimal("0.01")) for row in rows[1:]]
    wanted = [Decimal(str(v)).quantize(Decimal("0.01")) for v in expected["expected_collections_rc"]]
    return [] if shown == wanted else [f"Excel expected receipts {shown} are not the forecast's {wanted}"]
