"""The app in a real browser (Playwright on the system Chromium): every page renders real content
without an exception; a filter, the drill-down, a query and a refused statement work end to end.
Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.app.conftest import snapshot_query
from tests.conftest import ROOT, Run

ARTIFACTS = ROOT / "test-artifacts"
# url path -> (title, a text only real content produces). A deep link comes first: on a fresh server it
# must still go through the router (navigation, page config), see app/app.py.
PAGES = {
    "cash_forecast": ("Cash forecast", "Balance at the start"),
    "": ("Overview", "Total cash"),
    "statements": ("Financial statements", "Net income"),
    "reconciliation": ("Reconciliation", "Bank transactions"),
    "expense_categories": ("Expense categories", "Review queue"),
    "rollout": ("Rollout scorecard", "Go-live"),
    "data_quality": ("Data quality", "Records seen"),
    "sql_workbench": ("SQL workbench", "marts.fct_bank_transactions"),
}


@pytest.fixture
def page(browser: Any, served_app: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 2600})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def settle(pg: Any) -> None:
    """Wait until the script run is over: the status widget ('Running...') is gone."""
    pg.wait_for_timeout(500)
    pg.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
    pg.wait_for_timeout(300)


def open_page(pg: Any, url: str, path: str) -> None:
    pg.goto(f"{url}/{path}")
    pg.wait_for_selector("h1")
    settle(pg)
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def shot(pg: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pg.mouse.move(0, 0)  # no hover toolbars in the picture
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_real_content(page: Any, served_app: str, path: str) -> None:
    title, content = PAGES[path]
    open_page(page, served_app, path)
    assert page.locator("h1").first.inner_text().strip() == title
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert all(t in nav for t, _ in PAGES.values()), nav  # the router's navigation, not a bare page
    page.get_by_text(content, exact=False).first.wait_for()  # waits for it, fails after the timeout
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    shot(page, path or "overview")


def test_overview_shows_the_warehouses_forecast(page: Any, served_app: str, app_run: Run) -> None:
    open_page(page, served_app, "")
    day, p50 = snapshot_query(
        app_run,
        "select forecast_date, p50 from marts.fct_cash_forecast where account_id = 'total' and as_of_date = "
        "(select max(as_of_date) from marts.fct_cash_forecast) order by forecast_date desc limit 1",
    )[0]
    tile = page.locator('[data-testid="stMetric"]').filter(has_text=f"Cash on {day} (p50)")
    shown = tile.locator('[data-testid="stMetricValue"]').inner_text()
    assert float(shown.split()[0].replace(",", "")) == pytest.approx(p50, abs=0.01)
    total = page.locator('[data-testid="stMetric"]').filter(has_text="Total cash")
    assert any(ch.isdigit() for ch in total.locator('[data-testid="stMetricValue"]').inner_text())


def test_bank_filter_and_drill_down_to_the_raw_payload(page: Any, served_app: str, app_run: Run) -> None:
    currency = snapshot_query(
        app_run, "select currency from marts.fct_bank_transactions group by 1 order by count(*) limit 1"
    )[0][0]
    open_page(page, served_app, "reconciliation")
    page.get_by_role("tab", name="Bank transactions").click()
    settle(page)  # the tabs are lazy: selecting one reruns the page with only its content
    page.locator('[data-testid="stMultiSelect"]').filter(has_text="Currency").click()
    page.get_by_role("option", name=currency, exact=True).click()
    page.keyboard.press("Escape")
    settle(page)
    line = page.locator('[data-testid="stJson"]:visible').first
    expect(line).to_contain_text(f'"currency":"{currency}"', timeout=20_000)  # retried until the rerun is in
    # one raw payload in the bank tab (the other tabs' drill-downs have theirs, hidden)
    assert page.locator("text=matched by >> visible=true").count() == 1
    shot(page, "reconciliation_drill_down")


def test_statements_cash_basis_toggle(page: Any, served_app: str, app_run: Run) -> None:
    """The P&L's basis radio switches the net income tile to the cash basis figure of the warehouse."""
    net = snapshot_query(
        app_run,
        "select sum(case when classification = 'Revenue' then amount else -amount end) "
        "from marts.profit_and_loss where basis = 'cash'",
    )[0][0]
    open_page(page, served_app, "statements")
    page.locator('[data-testid="stRadio"]').filter(has_text="Basis").get_by_text("cash", exact=True).click()
    settle(page)
    tile = page.locator('[data-testid="stMetric"]').filter(has_text="Net income")
    expect(tile.locator('[data-testid="stMetricValue"]')).to_have_text(f"{float(net):,.2f}", timeout=20_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    shot(page, "statements_cash_basis")


def run_sql(pg: Any, sql: str) -> None:
    area = pg.locator('[data-testid="stTextArea"] textarea')
    area.fill(sql)
    area.press("Control+Enter")
    settle(pg)
    pg.get_by_role("button", name="Run query").click()
    settle(pg)


def test_workbench_runs_a_query_and_refuses_a_write(page: Any, served_app: str, app_run: Run) -> None:
    n = snapshot_query(app_run, "select count(*) from marts.fct_bank_transactions")[0][0]
    open_page(page, served_app, "sql_workbench")
    run_sql(page, f"select count(*) as n, {n} as expected from marts.fct_bank_transactions")
    assert page.get_by_text("1 row in").count() == 1
    shot(page, "sql_workbench_result")
    run_sql(page, "drop table marts.fct_bank_transactions")
    assert page.locator('[data-testid="stAlert"]').filter(has_text="Refused").count() == 1
    shot(page, "sql_workbench_refused")
