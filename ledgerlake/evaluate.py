"""`ledgerlake eval`: measures the warehouse against a sandbox truth folder.

Each layer's metrics appear only when both its truth files and its marts exist, so the output grows
as layers land (see CONTRACTS.md for the keys). The pipeline never reads truth; only this does.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ledgerlake.config import Settings
from ledgerlake.errors import LedgerlakeError
from ledgerlake.warehouse import Warehouse

# the column that holds a raw record's vendor id, by raw table
ID_COLUMNS = ("id", "transaction_id", "account_id", "Id", "fingerprint")


def evaluate(settings: Settings, truth: Path) -> dict[str, Any]:
    if not truth.is_dir():
        raise LedgerlakeError(f"truth folder {truth} does not exist (it is DIR/truth of a generated sandbox)")
    if not (truth / "summary.json").exists():
        raise LedgerlakeError(f"{truth} is not a sandbox truth folder (no summary.json)")
    wh = settings.warehouse(read_only=True)
    metrics: dict[str, Any] = {}
    for name, fn in (
        ("ingestion", _ingestion),
        ("cash", _cash),
        ("reconciliation", _reconciliation),
        ("payout_members", _payout_members),
        ("entities", _entities),
        ("crm", _crm),
        ("shop_ledger", shop_ledger_metrics),
        ("parallel_run", _parallel_run),
        ("statements", _statements),
        ("kpis", _kpis),
        ("forecast", _forecast),
        ("pipeline", _pipeline),
        ("anomalies", _anomalies),
        ("duplicate_payments", _duplicate_payments),
        ("categorisation", _categorisation),
    ):
        result = fn(wh, truth)
        if result is not None:
            metrics[name] = result
    return metrics


def _read(truth: Path, name: str) -> pl.DataFrame | None:
    path = truth / f"{name}.parquet"
    return pl.read_parquet(path) if path.exists() else None


def _raw_ids(wh: Warehouse, source: str, obj: str) -> set[str] | None:
    schema = f"raw_{source}"
    if not wh.table_exists(schema, obj):
        return None
    cols = set(
        wh.query(
            "select column_name from information_schema.columns "
            f"where table_schema = {wh.param} and table_name = {wh.param}",
            [schema, obj],
        )["column_name"].to_list()
    )
    id_col = next((c for c in ID_COLUMNS if c in cols), None)
    if id_col is None:
        return None
    where = "where not coalesce(_is_deleted, false)" if "_is_deleted" in cols else ""
    return set(
        wh.query(f'select cast("{id_col}" as varchar) as id from {schema}.{obj} {where}')["id"].to_list()
    )


def _ingestion(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    records = _read(truth, "records")
    if records is None:
        return None
    expected = loaded = missing = extra = 0
    by_object: dict[str, dict[str, int]] = {}
    for (source, obj), group in records.group_by(["source", "object"], maintain_order=True):
        want = set(group["record_id"].to_list())
        have = _raw_ids(wh, str(source), str(obj)) or set()
        counts = {
            "expected": len(want),
            "loaded": len(want & have),
            "missing": len(want - have),
            "extra": len(have - want),
        }
        by_object[f"{source}.{obj}"] = counts
        expected += counts["expected"]
        loaded += counts["loaded"]
        missing += counts["missing"]
        extra += counts["extra"]
    return {
        "records_expected": expected,
        "records_loaded": loaded,
        "records_missing": missing,
        "records_extra": extra,
        "by_object": by_object,
    }


def _cash(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    balances = _read(truth, "daily_balances")
    if balances is None or not wh.table_exists("marts", "bank_balances_daily"):
        return None
    ours = wh.query(
        "select account_id, balance_date, cast(balance as double) as balance from marts.bank_balances_daily"
    )
    joined = balances.rename({"date": "balance_date"}).join(
        ours, on=["account_id", "balance_date"], how="inner", suffix="_ours"
    )
    if joined.is_empty():
        return {"account_days_compared": 0}
    diff = (joined["balance"] - joined["balance_ours"]).abs()
    return {"account_days_compared": joined.height, "balance_max_abs_diff": round(float(diff.max()), 2)}


# truth's match_type -> the counterpart_type reconciliation_matches uses for it
MATCH_TYPES = {
    "stripe_payout": "stripe_payout",
    "shopify_payout": "shopify_payout",
    "fx_transfer": "bank_transaction",
    "invoice_payment": "ledger_entry",
    "vendor_payment": "ledger_entry",
}


def _pair(a: str, b: str) -> tuple[str, str]:
    """A match as an unordered pair (a transfer's two lines may be named in either order)."""
    return (a, b) if a <= b else (b, a)


def _true_ledger_pairs(truth: Path) -> set[tuple[str, str]]:
    """(bank line, ledger document) pairs the sandbox booked: its gl_lines name the bank line(s),
    the payout (whose bank line bank_matches gives) or the transfer reference a document books."""
    gl, matches, lines = _read(truth, "gl_lines"), _read(truth, "bank_matches"), _read(truth, "bank_lines")
    if gl is None or matches is None or lines is None:
        return set()
    links = (
        gl.unique("entry_id")
        .select("entry_id", pl.col("source_link").str.split(","))
        .explode("source_link")
        .filter(pl.col("source_link").is_not_null())
    )
    to_bank = pl.concat(
        [
            lines.select(pl.col("bank_transaction_id").alias("source_link"), "bank_transaction_id"),
            matches.select(pl.col("counterpart_id").alias("source_link"), "bank_transaction_id"),
            lines.filter(pl.col("ref").is_not_null()).select(
                pl.col("ref").alias("source_link"), "bank_transaction_id"
            ),
        ]
    ).unique()
    pairs = links.join(to_bank, on="source_link").select("bank_transaction_id", "entry_id").unique()
    return {(r[0], r[1]) for r in pairs.iter_rows()}


def _reconciliation(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    true_matches = _read(truth, "bank_matches")
    if true_matches is None or not wh.table_exists("marts", "reconciliation_matches"):
        return None
    ours = wh.query(
        "select rule, counterpart_type, bank_transaction_id, counterpart_id from marts.reconciliation_matches "
        "where bank_transaction_id is not null and counterpart_id is not null"
    )
    ledger_truth = _true_ledger_pairs(truth)
    direct_truth = {
        _pair(r["bank_transaction_id"], r["counterpart_id"]) for r in true_matches.iter_rows(named=True)
    }

    def correct(r: dict[str, Any]) -> bool:
        if r["counterpart_type"] == "ledger_entry":
            return (r["bank_transaction_id"], r["counterpart_id"]) in ledger_truth
        return _pair(r["bank_transaction_id"], r["counterpart_id"]) in direct_truth

    rows = list(ours.iter_rows(named=True))
    verdicts = [correct(r) for r in rows]
    # recall: every true bank-line match of a kind the warehouse makes is found: payouts and
    # transfers as the same pair; invoice and vendor payments as the ledger document that books the line
    produced = set(ours["counterpart_type"].unique().to_list())
    in_scope = [t for t, ct in MATCH_TYPES.items() if ct in produced]
    found_direct = {
        _pair(r["bank_transaction_id"], r["counterpart_id"])
        for r, ok in zip(rows, verdicts, strict=True)
        if ok
    }
    booked_ok = {
        r["bank_transaction_id"]
        for r, ok in zip(rows, verdicts, strict=True)
        if ok and r["counterpart_type"] == "ledger_entry"
    }
    hits = total = 0
    by_type: dict[str, Any] = {}
    for (mtype,), g in true_matches.filter(pl.col("match_type").is_in(in_scope)).group_by("match_type"):
        if MATCH_TYPES[str(mtype)] == "ledger_entry":
            ids = set(g["bank_transaction_id"].to_list()) & {p[0] for p in ledger_truth}
            n_hit = len(ids & booked_ok)
            n = len(ids)
        else:
            pairs = {_pair(a, b) for a, b in g.select("bank_transaction_id", "counterpart_id").iter_rows()}
            n_hit, n = len(pairs & found_direct), len(pairs)
        by_type[str(mtype)] = {"true": n, "found": n_hit, "recall": round(n_hit / n, 4) if n else None}
        hits, total = hits + n_hit, total + n
    by_rule: dict[str, Any] = {}
    for rule in sorted({r["rule"] for r in rows}):
        v = [ok for r, ok in zip(rows, verdicts, strict=True) if r["rule"] == rule]
        by_rule[rule] = {"matches": len(v), "precision": round(sum(v) / len(v), 4)}
    ledger_rows = [
        ok for r, ok in zip(rows, verdicts, strict=True) if r["counterpart_type"] == "ledger_entry"
    ]
    ledger_bank_ids = {p[0] for p in ledger_truth}
    return {
        "precision": round(sum(verdicts) / len(verdicts), 4) if verdicts else None,
        "recall": round(hits / total, 4) if total else None,
        "matches": len(rows),
        "true_matches_in_scope": total,
        "match_types_in_scope": in_scope,
        "match_types_not_built": sorted(set(true_matches["match_type"].unique().to_list()) - set(in_scope)),
        "bank_to_ledger": {
            "precision": round(sum(ledger_rows) / len(ledger_rows), 4) if ledger_rows else None,
            "recall": round(len(booked_ok & ledger_bank_ids) / len(ledger_bank_ids), 4)
            if ledger_bank_ids
            else None,
        },
        "by_type": by_type,
        "by_rule": by_rule,
    }


# processor -> (truth table of payout members, the warehouse's members query)
_MEMBERS = {
    "stripe": (
        "stripe_payout_members",
        "staging", "stg_stripe__payout_balance_transactions",
        "select payout_id, balance_transaction_id from staging.stg_stripe__payout_balance_transactions",
    ),
    "shopify": (
        "shopify_payout_members",
        "staging", "stg_shopify__balance_transactions",
        "select payout_id, balance_transaction_id from staging.stg_shopify__balance_transactions "
        "where payout_id is not null and type <> 'payout'",
    ),
}  # fmt: skip


def _payout_members(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    """Payout ↔ the balance transactions it settles (charges − fees − refunds ...), per processor:
    precision/recall of (payout, transaction) pairs against the truth, and how many paid payouts
    the warehouse finds equal to the net of their transactions (int_payouts_reconciled)."""
    out: dict[str, Any] = {}
    for processor, (table, schema, model, query) in _MEMBERS.items():
        true = _read(truth, table)
        if true is None or not wh.table_exists(schema, model):
            continue
        want = set(true.select(pl.col("payout_id").cast(pl.Utf8), "balance_transaction_id").iter_rows())
        ours = wh.query(query)
        got = {(str(a), str(b)) for a, b in ours.iter_rows()}
        hit = len(want & got)
        entry: dict[str, Any] = {
            "true_pairs": len(want),
            "found_pairs": len(got),
            "precision": _ratio(hit, len(got)),
            "recall": _ratio(hit, len(want)),
        }
        reconciled = wh.table_exists("intermediate", "int_payouts_reconciled") and "processor" in set(
            wh.query("select * from intermediate.int_payouts_reconciled limit 0").columns
        )  # a warehouse built before Shopify payouts has no processor column: no payout totals then
        if reconciled:
            rec = wh.query(
                "select count(*) as n, sum(case when has_members and abs(difference) <= 0.01 then 1 else 0 end) as ok "
                f"from intermediate.int_payouts_reconciled where processor = '{processor}'"
            ).row(0, named=True)
            entry["paid_payouts"] = int(rec["n"] or 0)
            entry["payouts_equal_to_their_net"] = int(rec["ok"] or 0)
        out[processor] = entry
    return out or None


def _forecast(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    """The latest backtest on the company's total cash: the whole forecast (residual baseline +
    known flows, `total_all_flows`) when it was scored, else the baseline on all flows (`total`),
    against SeasonalNaive(7) on the same series and windows."""
    if not wh.table_exists("marts", "forecast_backtest"):
        return None
    bt = wh.query(
        "select unique_id, model, cast(mase as double precision) as mase, "
        "cast(coverage_80 as double precision) as coverage_80, is_selected from marts.forecast_backtest "
        "where as_of_date = (select max(as_of_date) from marts.forecast_backtest) "
        "and unique_id in ('total', 'total_all_flows') and horizon_bucket = 'all'"
    )
    out: dict[str, Any] = {}
    for series in ("total_all_flows", "total"):
        rows = bt.filter(pl.col("unique_id") == series)
        selected = rows.filter(pl.col("is_selected"))
        snaive = rows.filter(pl.col("model") == "SeasonalNaive")
        if selected.is_empty() or snaive.is_empty() or not snaive["mase"][0]:
            continue
        metrics = {
            "model": selected["model"][0],
            "mase_vs_seasonal_naive": round(selected["mase"][0] / snaive["mase"][0], 4),
            "coverage_80": round(selected["coverage_80"][0], 4),
        }
        if not out:
            out = {**metrics, "series": series}
        else:
            out[f"{series}_baseline"] = metrics
    if out:
        out["note"] = "rolling-origin backtest on the warehouse's daily cash (equal to the truth's: see cash)"
    return out or None


def _pipeline(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    """How well the forecast's stage probabilities predict how the open deals really ended."""
    from forecasts import inputs
    from forecasts.evaluation import pipeline_calibration_metrics
    from ledgerlake.crm_eval import truth_as_of

    functional = json.loads((truth / "summary.json").read_text()).get("functional_currency", "USD")
    outcomes, deals, as_of = _read(truth, "crm_deals"), inputs.read_deals(wh, functional), truth_as_of(truth)
    if outcomes is None or deals is None or as_of is None:
        return None
    return pipeline_calibration_metrics(deals, inputs.read_stage_history(wh), outcomes, as_of)


def _entities(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    from ledgerlake.entity_eval import entity_metrics

    if not wh.table_exists("marts", "dim_vendors"):
        return None
    return entity_metrics(wh, truth) or None


def _crm(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    from ledgerlake.crm_eval import crm_metrics

    if not wh.table_exists("marts", "fct_deals"):
        return None
    return crm_metrics(wh, truth) or None


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _shop_truth(truth: Path) -> tuple[set[tuple[str, str]], set[str]] | None:
    """The sandbox's order day ↔ ledger summary pairs and the days a defect makes disagree.

    There is no truth file of these matches: the ledger's lines name the shop day each summary
    books (`source_link` = `shopify:<YYYY-MM-DD>`, hand-keyed ones too), so a true pair is
    (`shopify:<date>`, entry_id). A `shopify_refund_not_booked` refund leaves its refund day's
    summary short (or the day without one): those days, up to `as_of`, are the true exceptions.
    """
    gl, orders, defects = _read(truth, "gl_lines"), _read(truth, "shopify_orders"), _read(truth, "defects")
    if gl is None or orders is None:
        return None
    summary = truth / "summary.json"
    clock = json.loads(summary.read_text()).get("clock", {}) if summary.exists() else {}
    if "start" not in clock or "as_of" not in clock:
        return None
    start, as_of = date.fromisoformat(clock["start"]), date.fromisoformat(clock["as_of"])

    def day_id(offset: int) -> str:
        return f"shopify:{(start + timedelta(days=int(offset))).isoformat()}"

    links = gl.filter(pl.col("source_link").str.starts_with("shopify:")).unique("entry_id")
    pairs = set(links.select("source_link", "entry_id").iter_rows())
    bad_days: set[str] = set()
    if defects is not None:
        unbooked = defects.filter(pl.col("defect_type") == "shopify_refund_not_booked")
        order_ids = [int(r.split(",")[0]) for r in unbooked["record_ids"].to_list()]
        refunds = orders.filter(pl.col("order_id").is_in(order_ids) & pl.col("refund_day").is_not_null())
        bad_days = {
            day_id(d) for d in refunds["refund_day"].to_list() if start + timedelta(days=int(d)) <= as_of
        }
    return pairs, bad_days


def shop_ledger_metrics(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    """Shopify order day ↔ the ledger's daily sales summary (`int_orders_booked`, in
    `marts.reconciliation_matches` as record_type `shopify_order_day`), and the order-day
    exceptions (`missing_ledger_entry`, `amount_mismatch` with record_ids `shopify:<date>...`)
    against the days the sandbox's unbooked refunds make disagree."""
    known = _shop_truth(truth)
    if known is None or not wh.table_exists("marts", "reconciliation_matches"):
        return None
    true_pairs, bad_days = known
    ours = wh.query(
        "select rule, record_id, counterpart_id from marts.reconciliation_matches "
        "where record_type = 'shopify_order_day'"
    )
    if ours.is_empty() and not true_pairs:
        return None
    our_pairs = {(d, e) for _, d, e in ours.iter_rows()}
    by_rule = {
        str(rule): {
            "matches": g.height,
            "precision": _ratio(sum((d, e) in true_pairs for _, d, e in g.iter_rows()), g.height),
        }
        for (rule,), g in ours.group_by("rule")
    }
    flagged: set[str] = set()
    if wh.table_exists("marts", "reconciliation_exceptions"):
        exc = wh.query(
            "select record_ids from marts.reconciliation_exceptions "
            "where exception_type in ('missing_ledger_entry', 'amount_mismatch') and record_ids like 'shopify:%'"
        )
        flagged = {r.split(",")[0] for r in exc["record_ids"].to_list()}
    tp = len(our_pairs & true_pairs)
    return {
        "precision": _ratio(tp, len(our_pairs)),
        "recall": _ratio(tp, len(true_pairs)),
        "matches": len(our_pairs),
        "true_matches": len(true_pairs),
        "by_rule": dict(sorted(by_rule.items())),
        "exceptions": {
            "precision": _ratio(len(flagged & bad_days), len(flagged)),
            "recall": _ratio(len(flagged & bad_days), len(bad_days)),
            "flagged_days": len(flagged),
            "true_days": len(bad_days),
        },
    }


def _parallel_run(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    from ledgerlake.parallel_eval import parallel_run_metrics

    return parallel_run_metrics(wh, truth) or None


def _statements(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    """The warehouse's P&L (accrual) and balance sheet against the sandbox's own, per month and account."""
    pl_truth, bs_truth = _read(truth, "pl_monthly"), _read(truth, "bs_monthly")
    if pl_truth is None or bs_truth is None or not wh.table_exists("marts", "profit_and_loss"):
        return None
    ours_pl = wh.query(
        "select month, account_id, cast(amount as double precision) as ours from marts.profit_and_loss "
        "where basis = 'accrual'"
    )
    ours_bs = wh.query(
        "select month, account_id, cast(balance as double precision) as ours from marts.balance_sheet"
    )
    diffs = {}
    for name, t, ours, col in (("pl", pl_truth, ours_pl, "amount"), ("bs", bs_truth, ours_bs, "balance")):
        joined = t.select("month", "account_id", col).join(
            ours, on=["month", "account_id"], how="full", coalesce=True
        )
        joined = joined.with_columns(pl.col(col).fill_null(0.0), pl.col("ours").fill_null(0.0))
        diffs[name] = round(float((joined[col] - joined["ours"]).abs().max() or 0.0), 2)
    tb = wh.scalar(
        "select max(abs(total)) from (select balance_date, sum(balance) as total "
        "from marts.trial_balance group by balance_date) as t"
    )
    return {
        "max_abs_diff": max(diffs.values()),
        "pl_max_abs_diff": diffs["pl"],
        "bs_max_abs_diff": diffs["bs"],
        "trial_balance_max_abs_total": round(float(tb or 0.0), 2),
    }


RATE_UNITS = ("ratio", "share")


def _kpis(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    """kpi_monthly against the truth's: rates within 0.1 pp, counts exactly (the issue's bar)."""
    t = _read(truth, "kpi_monthly")
    if t is None or not wh.table_exists("marts", "kpi_monthly"):
        return None
    ours = wh.query("select month, kpi, cast(value as double precision) as ours from marts.kpi_monthly")
    joined = t.join(ours, on=["month", "kpi"], how="left")
    by_kpi: dict[str, Any] = {}
    rate_diff = count_diff = 0.0
    for (kpi,), g in joined.group_by("kpi", maintain_order=True):
        missing = int(g["ours"].null_count())
        diff = float((g["value"] - g["ours"]).abs().max() or 0.0)
        by_kpi[str(kpi)] = {"months": g.height, "missing": missing, "max_abs_diff": round(diff, 4)}
        if str(g["unit"][0]) in RATE_UNITS:
            rate_diff = max(rate_diff, diff)
        else:
            count_diff = max(count_diff, diff)
    return {
        "max_abs_diff_rate": round(rate_diff, 4),
        "max_abs_diff_count": round(count_diff, 4),
        "by_kpi": by_kpi,
    }


def _flags(wh: Warehouse) -> pl.DataFrame | None:
    return (
        wh.query("select * from marts.anomaly_flags") if wh.table_exists("marts", "anomaly_flags") else None
    )


def _anomalies(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    from forecasts.evaluation import anomaly_metrics

    flags = _flags(wh)
    return None if flags is None else anomaly_metrics(flags, truth)


def _duplicate_payments(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    from forecasts.evaluation import duplicate_payment_metrics

    flags = _flags(wh)
    return None if flags is None else duplicate_payment_metrics(flags, truth)


def _categorisation(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    from forecasts.evaluation import categorisation_metrics

    if not wh.table_exists("marts", "expense_categories"):
        return None
    return categorisation_metrics(wh.query("select * from marts.expense_categories"), truth)
