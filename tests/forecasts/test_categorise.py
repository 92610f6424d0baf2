from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forecasts import categorise, evaluation
from ledgerlake.warehouse import Warehouse

# vendor, descriptor templates ({r} = a random reference), category, typical amount
VENDORS = [
    ("Uber", ("UBER *TRIP {r}", "UBER TRIP HELP.UBER.COM"), "travel", 40),
    ("Delta Air Lines", ("DELTA AIR LINES {r}", "DELTA AIR 006{r}"), "travel", 450),
    ("Amazon Marketplace", ("AMZN MKTP US*{r}", "AMAZON.COM*{r} AMZN.COM/BILL"), "office_supplies", 90),
    ("Staples", ("STAPLES STORE {r}", "STAPLES.COM"), "office_supplies", 60),
    ("Slack", ("SLACK TECHNOLOGIES {r}", "SLACK T0{r}"), "software", 300),
    ("Adobe", ("ADOBE *{r}", "ADOBE *CREATIVE CLD"), "software", 80),
    ("WeWork", ("WEWORK {r}", "WEWORK COMPANIES LLC"), "rent", 4500),
    ("Gusto", ("GUSTO PAYROLL {r}", "GUSTO NET PAY {r}"), "payroll", 20000),
]


def labelled(n_per_vendor: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for vendor, templates, category, mean in VENDORS:
        for i in range(n_per_vendor):
            template = templates[i % 2]
            ref = f"{rng.integers(0, 9)}{''.join(rng.choice(list('ABCDEFGHJKLMNPQRSTUVWXYZ'), 3))}"
            amount = round(float(mean * np.exp(rng.normal(0, 0.3))), 2)
            rows.append((f"{vendor}-{i}", template.format(r=ref), vendor, amount, category))
    return pl.DataFrame(rows, schema=["record_id", "text", "vendor", "amount", "label"], orient="row")


def columns(df: pl.DataFrame) -> tuple[list, list, list, list]:
    return df["text"].to_list(), df["vendor"].to_list(), df["amount"].to_list(), df["label"].to_list()


@pytest.fixture(scope="module")
def model() -> categorise.Model:
    return categorise.fit(*columns(labelled(12)))


def test_normalise_text_drops_references_and_punctuation() -> None:
    assert categorise.normalise_text("UBER *TRIP 9QX1") == "UBER TRIP"
    assert categorise.normalise_text("AMAZON.COM*P0D AMZN.COM/BILL") == "AMAZON COM AMZN COM BILL"
    assert categorise.normalise_text(None) == ""


def test_learns_new_descriptors_of_known_vendors(model: categorise.Model) -> None:
    test = labelled(5, seed=99)  # new random references
    labels, conf = categorise.predict(model, *columns(test)[:3])
    assert labels == test["label"].to_list()
    assert min(conf) > 0.5
    assert model.calibrated and model.n_train == 96


def test_unfamiliar_lines_get_lower_confidence_and_go_to_review(model: categorise.Model) -> None:
    known = labelled(3, seed=7)
    strange = pl.DataFrame(
        {
            "record_id": ["s1", "s2"],
            "text": ["XQZ HOLDINGS 4KF2", "PAYMENT REF 99812"],
            "vendor": [None, None],
            "amount": [1234.0, 77.0],
        }
    )
    _, known_conf = categorise.predict(model, *columns(known)[:3])
    _, strange_conf = categorise.predict(
        model, strange["text"].to_list(), strange["vendor"].to_list(), strange["amount"].to_list()
    )
    assert max(strange_conf) < min(known_conf)
    lines = pl.concat([known.drop("label"), strange]).with_columns(source=pl.lit("bank_line"))
    out, summary = categorise.categorise(lines, labelled(12), threshold=min(known_conf))
    status = dict(zip(out["record_id"].to_list(), out["status"].to_list(), strict=True))
    assert status["s1"] == status["s2"] == "review"
    assert all(status[r] == "auto" for r in known["record_id"])
    assert summary["trained_on"] == 96


def test_choose_threshold_reaches_the_target_accuracy_on_auto_lines() -> None:
    conf = [0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    correct = [True, True, True, True, True, True, False, True, False, False]
    threshold, acc, review = categorise.choose_threshold(conf, correct, target=0.95, min_auto=1)
    assert (threshold, acc, review) == (0.7, 1.0, 0.4)
    assert categorise.choose_threshold(conf, correct, target=0.95, min_auto=7)[0] > 1  # too few above 0.7
    threshold, acc, review = categorise.choose_threshold(conf, correct, target=0.85, min_auto=1)
    assert (threshold, round(acc, 3), review) == (0.5, 0.875, pytest.approx(0.2))
    assert categorise.choose_threshold([0.9], [False])[0] > 1  # unreachable: everything to review


def test_grouped_cross_validation_never_sees_the_held_out_descriptor() -> None:
    data = labelled(10)
    texts, vendors, amounts, labels = columns(data)
    groups = [categorise.normalise_text(t) for t in texts]
    result = categorise.evaluate(texts, vendors, amounts, labels, groups)
    assert result["n"] == 80 and result["groups"] == len(set(groups))
    assert result["accuracy_all"] > 0.8
    assert result["auto_accuracy"] >= 0.95 and 0 <= result["review_share"] < 0.5
    by_vendor = categorise.evaluate(texts, vendors, amounts, labels, vendors)  # unseen vendors: much harder
    assert by_vendor["accuracy_all"] < result["accuracy_all"]


def test_labels_the_text_cannot_explain_send_everything_to_review() -> None:
    data = labelled(8)
    rng = np.random.default_rng(0)
    shuffled = data.with_columns(label=pl.Series(rng.permutation(data["label"].to_numpy())))
    out, summary = categorise.categorise(
        data.drop("label").with_columns(source=pl.lit("bank_line")), shuffled
    )
    assert summary["threshold"] > 1
    assert set(out["status"]) == {"review"}


# ---------------------------------------------------------------- warehouse


def bank_lines(data: pl.DataFrame) -> pl.DataFrame:
    n = data.height
    return pl.DataFrame(
        {
            "bank_transaction_id": [f"b-{r}" for r in data["record_id"]] + ["pay-1"],
            "account_id": ["acc-1"] * (n + 1),
            "booking_date": [date(2025, 1, 1) + timedelta(days=i) for i in range(n + 1)],
            "amount": [-a for a in data["amount"].to_list()] + [5000.0],  # one inflow: not categorised
            "currency": ["USD"] * (n + 1),
            "counterparty_name": data["vendor"].to_list() + ["Customer"],
            "remittance_info": data["text"].to_list() + ["INV-1 PAYMENT"],
        }
    ).with_columns(pl.col("amount").cast(pl.Decimal(18, 2)))


def test_run_categorise_without_labels_sends_everything_to_review(tmp_path: Path) -> None:
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    wh.write_table("marts", "fct_bank_transactions", bank_lines(labelled(3)))
    summary = categorise.run_categorise(wh)
    out = wh.query("select * from marts.expense_categories")
    assert summary["model"] == "none" and summary["training_source"] == "none"
    assert out.height == 24 and set(out["status"]) == {"review"} and set(out["model"]) == {"none"}
    assert out["predicted_category"].null_count() == 24


def test_run_categorise_trains_on_ledger_bill_lines_and_a_rerun_replaces(tmp_path: Path) -> None:
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    truth = labelled(4, seed=5)
    wh.write_table("marts", "fct_bank_transactions", bank_lines(truth))
    bills = labelled(12, seed=2).select(
        bill_line_id="record_id",
        description="text",
        vendor_name="vendor",
        amount="amount",
        expense_account_name="label",
    )
    unlabelled = bills.head(2).with_columns(
        bill_line_id=pl.Series(["new-1", "new-2"]), expense_account_name=pl.lit(None, dtype=pl.Utf8)
    )
    wh.write_table("marts", "fct_bill_lines", pl.concat([bills, unlabelled]))
    first = categorise.run_categorise(wh)
    out = wh.query("select * from marts.expense_categories")
    second = categorise.run_categorise(wh)
    again = wh.query("select * from marts.expense_categories")
    assert first["training_source"] == "marts.fct_bill_lines" and first["trained_on"] == 96
    assert first["rows_written"] == second["rows_written"] == {"expense_categories": 34}
    assert again.height == out.height == 34
    assert out.columns == list(categorise.OUTPUT_SCHEMA)
    assert sorted(out.filter(pl.col("source") == "bill_line")["record_id"]) == ["new-1", "new-2"]
    bank = out.filter(pl.col("source") == "bank_line").join(
        truth.select(record_id="b-" + pl.col("record_id"), true="label"), on="record_id"
    )
    assert bank.height == 32
    assert (bank["predicted_category"] == bank["true"]).mean() >= 0.9
    truth_dir = tmp_path / "truth"
    truth_dir.mkdir()
    truth.select(bank_transaction_id="b-" + pl.col("record_id"), category="label").write_parquet(
        truth_dir / "expense_categories.parquet"
    )
    metrics = evaluation.categorisation_metrics(out, truth_dir)
    assert metrics["n"] == 32 and metrics["coverage"] == 1.0
    auto = bank.filter(pl.col("status") == "auto")
    assert metrics["accuracy"] == pytest.approx((auto["predicted_category"] == auto["true"]).mean())
    assert metrics["review_share"] == pytest.approx((bank["status"] == "review").mean())


def test_categorisation_metrics_maps_quickbooks_account_names(tmp_path: Path) -> None:
    pl.DataFrame(
        {"bank_transaction_id": ["a", "b", "c", "d"], "category": ["rent", "travel", "bank_fees", "payroll"]}
    ).write_parquet(tmp_path / "expense_categories.parquet")
    cats = pl.DataFrame(
        {
            "record_id": ["a", "b", "c", "x"],
            "predicted_category": ["Rent or Lease", "Office Supplies", "Bank Charges", "Travel"],
            "status": ["auto", "auto", "review", "auto"],
        }
    )
    m = evaluation.categorisation_metrics(cats, tmp_path)
    assert m == {"accuracy": 0.5, "review_share": 1 / 3, "n": 3, "n_auto": 2, "coverage": 0.75}


@pytest.mark.postgres
def test_run_categorise_on_postgres_trains_on_gl_entries_joined_to_expense_accounts(pg_dsn: str) -> None:
    wh = Warehouse("postgres", pg_dsn=pg_dsn)
    wh.write_table("marts", "fct_bank_transactions", bank_lines(labelled(2, seed=4)))
    gl = labelled(6, seed=8).with_row_index("i")
    expense = gl.select(
        entry_id="Bill:" + pl.col("i").cast(pl.Utf8), line_id=pl.lit(0), account_id="label",
        description="text", amount="amount",
    )  # fmt: skip
    payable = expense.with_columns(line_id=pl.lit(1), account_id=pl.lit("ap"))
    wh.write_table("marts", "fct_gl_entries", pl.concat([expense, payable]))
    categories = sorted(set(gl["label"]))
    accounts = pl.DataFrame(
        {
            "account_id": [*categories, "ap"],
            "account_name": [*categories, "Accounts Payable"],
            "classification": ["Expense"] * len(categories) + ["Liability"],
        }
    )
    wh.write_table("marts", "dim_accounts", accounts)
    summary = categorise.run_categorise(wh)
    assert summary["training_source"] == "marts.fct_gl_entries"
    assert summary["trained_on"] == 48  # the expense side only, not the A/P lines
    out = wh.query("select * from marts.expense_categories")
    assert out.height == 16 and set(out["model"]) == {categorise.MODEL_NAME}
    assert set(out["predicted_category"]) <= set(categories)
