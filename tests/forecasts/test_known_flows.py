from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import forecasts
from forecasts import cash, inputs
from forecasts import known_flows as kf
from ledgerlake.warehouse import Warehouse
from tests.forecasts.test_run import START, synthetic_transactions

AS_OF = date(2025, 3, 31)


def day(n: int) -> date:
    return AS_OF + timedelta(days=n)


def _paid(key: str, delays: list[int]) -> pl.DataFrame:
    due = [date(2025, 1, 10) + timedelta(days=7 * i) for i in range(len(delays))]
    return pl.DataFrame(
        {
            "key": [key] * len(delays),
            "due_date": due,
            "last_paid_date": [d + timedelta(days=x) for d, x in zip(due, delays, strict=True)],
        }
    )


def _docs(rows: list[tuple[str, str | None, date, float, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "doc_id": pl.Utf8,
            "key": pl.Utf8,
            "due_date": pl.Date,
            "amount": pl.Float64,
            "currency": pl.Utf8,
        },
        orient="row",
    )


NO_OPEN = _docs([])


def test_invoice_lands_on_due_date_plus_the_customers_own_lateness() -> None:
    # c1 always pays 5 days late; the company as a whole (c1 + c2) mostly pays on time
    paid = pl.concat([_paid("c1", [5, 5, 5]), _paid("c2", [0, 0, 0, 0, 0])])
    delays = kf.delays_from_history(paid, NO_OPEN, AS_OF, key="key")
    assert delays.by_key == {"c1": [5, 5, 5], "c2": [0, 0, 0, 0, 0]}
    items = kf.document_items(
        _docs([("i1", "c1", day(10), 1000.0, "EUR")]), delays, "receivables", 1.0, AS_OF, 30
    )
    assert items.select("flow_date", "amount", "weight").to_dicts() == [
        {"flow_date": day(15), "amount": 1000.0, "weight": 1.0}
    ]


def test_customer_with_few_paid_invoices_falls_back_to_the_company_delays() -> None:
    paid = pl.concat([_paid("c1", [5, 5]), _paid("c2", [1, 1])])  # c1 has only 2: company-wide
    delays = kf.delays_from_history(paid, NO_OPEN, AS_OF, key="key")
    assert delays.by_key == {} and delays.company == [1, 1, 5, 5]
    items = kf.document_items(
        _docs([("i1", "c1", day(10), 100.0, "EUR")]), delays, "receivables", 1.0, AS_OF, 30
    )
    flows = kf.expected_flows(items.with_columns(account_id=pl.lit("acc")))
    assert flows.select("flow_date", "amount").to_dicts() == [
        {"flow_date": day(11), "amount": 50.0},
        {"flow_date": day(15), "amount": 50.0},
    ]


def test_never_paid_share_and_conditioning_on_not_paid_yet() -> None:
    paid = _paid("c", [0, 10, 20, 30])  # longest delay ever seen: 30 days
    stale = _docs([("old", "c", day(-31), 10.0, "EUR")])  # 31 days late: later than all history
    delays = kf.delays_from_history(paid, stale, AS_OF, key="key")
    assert delays.never_share == pytest.approx(1 / 5)
    # not due yet: each delay (1 - 1/5)/4 = 0.2, the missing 0.2 is "never"
    assert kf.settlement_weights(day(5), delays.company, delays.never_share, AS_OF) == [
        (day(5), pytest.approx(0.2)),
        (day(15), pytest.approx(0.2)),
        (day(25), pytest.approx(0.2)),
        (day(35), pytest.approx(0.2)),
    ]
    # due 15 days ago and unpaid: only delays 20 and 30 remain; each 0.2 / (0.8 * 2/4 + 0.2)
    assert kf.settlement_weights(day(-15), delays.company, delays.never_share, AS_OF) == [
        (day(5), pytest.approx(1 / 3)),
        (day(15), pytest.approx(1 / 3)),
    ]
    # later than every delay seen: nothing
    assert kf.settlement_weights(day(-31), delays.company, delays.never_share, AS_OF) == []


def test_payables_by_the_companys_payment_habit() -> None:
    paid = _paid("v1", [-2, -2, -2]).drop("key")
    delays = kf.delays_from_history(paid, NO_OPEN, AS_OF)
    bills = _docs([("b1", "v9", day(10), 300.0, "EUR"), ("b2", "v9", day(40), 50.0, "EUR")])
    items = kf.document_items(bills, delays, "payables", -1.0, AS_OF, 30)
    flows = kf.expected_flows(items.with_columns(account_id=pl.lit("acc")))
    # b1 paid two days early, b2 (day 38) after the horizon
    assert flows.to_dicts() == [
        {"account_id": "acc", "flow_date": day(8), "amount": -300.0, "component": "payables"}
    ]


def _deals() -> pl.DataFrame:
    closed = [("lost", False)] * 4 + [("won", True)] * 6
    rows = [
        (f"c{i}", "closedwon" if w else "closedlost", True, w, 0.0 if not w else 1.0)
        for i, (_, w) in enumerate(closed)
    ]
    rows += [("o1", "appointmentscheduled", False, False, 0.2), ("o2", "contractsent", False, False, 0.6)]
    return pl.DataFrame(rows, schema=["deal_id", "stage", "is_closed", "is_won", "probability"], orient="row")


def test_stage_probabilities_calibrated_on_won_lost_history() -> None:
    calib = kf.calibrate_stages(_deals())
    # entry stage (lowest HubSpot probability): (6 won + 10 * 0.2) / (10 closed + 10) = 0.4
    assert calib.entry_stage == "appointmentscheduled"
    assert calib.probability["appointmentscheduled"] == pytest.approx(0.4)
    # HubSpot's 0.6 is half the way from 0.2 to 1: half the way from 0.4 to 1
    assert calib.probability["contractsent"] == pytest.approx(0.7)
    # no closed deals: HubSpot's own probabilities
    assert kf.calibrate_stages(_deals().filter(~pl.col("is_closed"))).probability == {
        "appointmentscheduled": pytest.approx(0.2),
        "contractsent": pytest.approx(0.6),
    }


def _history() -> pl.DataFrame:
    """c0-c3 lost, c4-c9 won (as `_deals`). All entered appointmentscheduled; contractsent was reached
    by c2, c3 (lost) and c6-c9 (won); c9 closed only after AS_OF, o2 is still in contractsent."""
    at = lambda n: datetime(2025, 3, 1, 12) + timedelta(days=n)  # noqa: E731 - a tiny date helper
    rows = [(f"c{i}", "appointmentscheduled", at(-60 + i)) for i in range(10)]
    rows += [(f"c{i}", "contractsent", at(-30 + i)) for i in (2, 3, 6, 7, 8, 9)]
    rows += [(f"c{i}", "closedlost", at(-10 + i)) for i in range(4)]
    rows += [(f"c{i}", "closedwon", at(-10 + i)) for i in range(4, 9)]
    rows += [("c9", "closedwon", datetime(2025, 4, 5, 9)), ("o1", "appointmentscheduled", at(0))]
    rows += [("o2", "appointmentscheduled", at(-20)), ("o2", "contractsent", at(-5))]
    return pl.DataFrame(rows, schema=["deal_id", "stage", "entered_at"], orient="row")


def test_stage_probabilities_from_the_stage_history_up_to_as_of() -> None:
    calib = kf.calibrate_stages(_deals(), history=_history(), as_of=AS_OF)
    # c9 closed after AS_OF: of the deals in appointmentscheduled 9 closed by then, 5 won;
    # shrunk to the entry-rate estimate 0.4 with 10 pseudo-deals: (5 + 4) / (9 + 10)
    assert calib.probability["appointmentscheduled"] == pytest.approx(9 / 19)
    # contractsent: c2, c3 lost, c6, c7, c8 won (c9 not closed yet): (3 + 10 * 0.7) / (5 + 10)
    assert calib.probability["contractsent"] == pytest.approx(10 / 15)
    assert calib.by_stage == {
        "appointmentscheduled": {"closed": 9, "won": 5},
        "contractsent": {"closed": 5, "won": 3},
    }
    assert calib.method == kf.STAGE_HISTORY_METHOD
    # a day after c9 closed, it counts too
    later = kf.calibrate_stages(_deals(), history=_history(), as_of=date(2025, 4, 5))
    assert later.by_stage["contractsent"] == {"closed": 6, "won": 4}
    # no history: the entry-rate method
    assert (
        kf.calibrate_stages(_deals(), history=_history().clear(), as_of=AS_OF).method == kf.ENTRY_RATE_METHOD
    )


def test_pipeline_deal_inside_the_horizon_and_one_beyond() -> None:
    deals = pl.DataFrame(
        {
            "deal_id": ["in", "out", "past"],
            "stage": ["s", "s", "s"],
            "amount": [1000.0, 5000.0, 100.0],
            "currency": ["EUR"] * 3,
            "close_date": [day(5), day(10), day(-20)],
        }
    )
    items = kf.pipeline_items(deals, {"s": 0.4}, 7, 30, kf.Delays(company=[0, 0, 0]), AS_OF, 45)
    flows = kf.expected_flows(items.with_columns(account_id=pl.lit("acc")))
    # close 5 + lag 7 + terms 30 = day 42; 'out' lands on day 47 > 45; 'past' closes tomorrow: day 38
    assert flows.select("flow_date", "amount").to_dicts() == [
        {"flow_date": day(38), "amount": pytest.approx(40.0)},
        {"flow_date": day(42), "amount": pytest.approx(400.0)},
    ]


def test_routing_and_variance() -> None:
    items = pl.DataFrame(
        [
            ("receivables", "i1", "EUR", day(2), 100.0, 0.5),
            ("receivables", "i2", "GBP", day(1), 10.0, 1.0),
            ("payables", "b1", "JPY", day(1), -1.0, 1.0),
        ],
        schema=kf.ITEM_SCHEMA,
        orient="row",
    )
    routed, notes = kf.route(items, {"EUR": "eur-1"}, {"EUR": 1.0, "GBP": 1.2})
    assert notes == ["known flows in JPY dropped: no bank account and no FX rate for that currency"]
    assert sorted(routed.select("account_id", "amount").rows()) == [("eur-1", 100.0), ("total", 12.0)]
    var = kf.known_variance(routed, AS_OF, 3, {"eur-1": 2.0})
    eur = var.filter(pl.col("unique_id") == "eur-1")
    assert eur["known_balance_var"].to_list() == [0.0, 2500.0, 2500.0]
    assert eur["known_flow_var"].to_list() == [0.0, 2500.0, 0.0]
    tot = var.filter(pl.col("unique_id") == "total")  # eur-1 at rate 2; the GBP item is certain
    assert tot["known_balance_var"].to_list() == [0.0, 10000.0, 10000.0]


def test_known_spread_widens_the_interval_in_quadrature() -> None:
    baseline = pl.DataFrame(
        {
            "unique_id": ["a", "a"],
            "forecast_date": [day(1), day(2)],
            "horizon_days": [1, 2],
            "model": ["AutoETS"] * 2,
            "baseline_flow": [0.0, 0.0],
        }
    )
    widths = pl.DataFrame(
        {
            "unique_id": ["a", "a"],
            "horizon_days": [1, 2],
            "balance_halfwidth": [3.0, 3.0],
            "flow_halfwidth": [3.0, 3.0],
        }
    )
    known = pl.DataFrame(
        {"account_id": ["a"], "flow_date": [day(2)], "amount": [50.0], "component": ["receivables"]},
        schema=cash.KNOWN_FLOW_SCHEMA,
    )
    var = pl.DataFrame(
        {
            "unique_id": ["a"],
            "horizon_days": [2],
            "known_flow_var": [0.0],
            "known_balance_var": [(4 / cash.Z80) ** 2],
        }
    )
    out = cash.assemble(baseline, widths, {"a": 0.0}, known, {}, var).sort("horizon_days")
    assert out["p50"].to_list() == [0.0, 50.0]
    assert out["known_receivables"].to_list() == [0.0, 50.0]
    assert out["p90"].to_list() == pytest.approx([3.0, 55.0])  # sqrt(3**2 + 4**2) = 5


def _explained_warehouse(path: Path) -> tuple[Warehouse, pl.DataFrame]:
    tx = synthetic_transactions(days=70)
    wh = Warehouse("duckdb", duckdb_path=path)
    wh.write_table("marts", "fct_bank_transactions", tx)
    picked = tx.filter(pl.col("account_id") == "acc-1").head(3)["bank_transaction_id"].to_list()
    other = tx.filter(pl.col("account_id") == "acc-2").head(1)["bank_transaction_id"].to_list()
    wh.write_table(
        "marts",
        "reconciliation_matches",
        pl.DataFrame(
            {
                "bank_transaction_id": [*picked, *other],
                "counterpart_type": ["ledger_entry", "ledger_entry", "ledger_entry", "ledger_entry"],
                "counterpart_id": ["Payment:1", "BillPayment:2", "Payment:1", "JournalEntry:3"],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_gl_entries",
        pl.DataFrame(
            {
                "entry_id": ["Payment:1", "Payment:1", "BillPayment:2", "JournalEntry:3"],
                "source_entity": ["Payment", "Payment", "BillPayment", "JournalEntry"],
            }
        ),
    )
    return wh, tx.filter(pl.col("bank_transaction_id").is_in(picked))


def test_residual_baseline_excludes_the_lines_that_settle_invoices_and_bills(tmp_path: Path) -> None:
    wh, explained_lines = _explained_warehouse(tmp_path / "w.duckdb")
    explained, info = inputs.load_explained(wh)
    assert info["explained_bank_lines"] == 3  # the JournalEntry match is not a document settlement
    tx = inputs.load_transactions(wh)
    flows = cash.daily_flows(tx.select("account_id", "ds", "y"), START, START + timedelta(days=69))
    residual = kf.residual_flows(flows, explained)
    diff = flows.join(residual, on=["account_id", "ds"], suffix="_res").with_columns(
        d=pl.col("y") - pl.col("y_res")
    )
    assert diff["d"].sum() == pytest.approx(float(explained_lines["amount"].cast(pl.Float64).sum()))
    assert diff.filter(pl.col("account_id") == "acc-2")["d"].abs().max() == 0.0


def test_run_fits_on_residual_flows_and_adds_known_flows(tmp_path: Path) -> None:
    wh, _ = _explained_warehouse(tmp_path / "w.duckdb")
    as_of = START + timedelta(days=69)
    wh.write_table(
        "marts",
        "fct_invoices",
        pl.DataFrame(
            {
                "invoice_id": ["i1"],
                "customer_id": ["c1"],
                "due_date": [as_of + timedelta(days=4)],
                "amount_open": [700.0],
                "currency": ["EUR"],
            }
        ),
    )
    summary = forecasts.run(wh, functional_currency="EUR")
    assert summary["baseline_basis"] == "residual" and summary["explained_bank_lines"] == 3
    assert summary["known_flows_total"]["known_receivables"] == 700.0
    fc = wh.query("select * from marts.fct_cash_forecast where account_id = 'acc-1' order by horizon_days")
    assert fc["known_receivables"].to_list()[3] == 700.0 and fc["known_flow"].sum() == 700.0
    # the whole forecast is also scored against all bank flows, next to the all-flow models
    bt = wh.query(
        "select model, is_selected from marts.forecast_backtest where unique_id = 'total_all_flows'"
    )
    assert set(bt["model"]) == {
        "AutoETS",
        "AutoTheta",
        "SeasonalNaive",
        "Naive",
        "baseline+known",
        "residual_baseline",
    }
    assert set(bt.filter(pl.col("is_selected"))["model"]) == {"baseline+known"}
    assert set(summary["backtest_all_flows"]) >= {"before", "after", "residual_only"}
