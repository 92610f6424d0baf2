"""Expense categorisation of money-out lines: `marts.expense_categories`.

Model: char n-gram (2-4, word-bounded) TF-IDF over the normalised vendor and line text, plus log(1 +
|amount|), into a logistic regression; confidences are sigmoid-calibrated (`CalibratedClassifierCV`) when
every class has enough rows, else the regression's own probabilities. A line is `auto` when its
confidence reaches the threshold, else `review`. The threshold is the lowest confidence at which the
out-of-fold accuracy of the lines at or above it reaches the target (95%), chosen by grouped
cross-validation on the training rows (groups = normalised descriptors, so a descriptor is never in both
train and test and the model cannot just memorise it).

Training labels, in order of preference (`find_training_data`):
1. ledger lines with an expense label: the first of `marts.fct_bill_lines`, `marts.fct_bills`,
   `marts.fct_gl_entries` that has an id, a text (line_description, description, memo), an amount and a
   label column (`LABEL_COLUMNS`: expense_category, category, expense_account_name, ..., account_name);
   for `fct_gl_entries` without one, `marts.dim_accounts.account_name` is joined on `account_id`. When a
   classification / account_type column is there, only expense lines are used. Ledger lines of that
   table without a label are categorised too (`source = 'bill_line'`);
2. lines a person confirmed: rows of the previous `marts.expense_categories` with `status = 'confirmed'`
   (their `predicted_category` is the label; they are kept as confirmed).
With fewer than `MIN_TRAIN` labelled rows or one class, nothing is predicted: every line goes to
`review` with model `none`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from forecasts.anomalies import (
    first_present,
    load_bank_lines,
    normalise_vendor,
    resolve_vendors,
    table_columns,
)
from ledgerlake.warehouse import Warehouse

log = logging.getLogger(__name__)

TABLE = "expense_categories"
MIN_TRAIN = 20
TARGET_ACCURACY = 0.95
MIN_AUTO = 20  # lines the chosen threshold must leave above it in cross-validation
THRESHOLD_FOLDS = 3  # the run's own threshold search; the bench uses 5
MODEL_NAME = "tfidf_char_logreg"
LABEL_TABLES = ("fct_bill_lines", "fct_bills", "fct_gl_entries")
TEXT_COLUMNS = ("line_description", "description", "memo")
LABEL_COLUMNS = (
    "expense_category",
    "category",
    "expense_account_name",
    "expense_account",
    "account_ref_name",
    "account_name",
)
ID_COLUMNS = ("bill_line_id", "line_id", "bill_id", "entry_id")
CLASS_COLUMNS = ("classification", "account_classification", "account_type")
VENDOR_COLUMNS = ("vendor_name", "vendor", "counterparty_name")
AMOUNT_COLUMNS = ("line_amount", "amount", "amount_functional", "debit")
OUTPUT_SCHEMA: dict[str, Any] = {
    "record_id": pl.Utf8,
    "source": pl.Utf8,
    "text": pl.Utf8,
    "vendor": pl.Utf8,
    "amount": pl.Float64,
    "predicted_category": pl.Utf8,
    "confidence": pl.Float64,
    "status": pl.Utf8,
    "model": pl.Utf8,
    "trained_on": pl.Int64,
    "threshold": pl.Float64,
}


@dataclass
class Model:
    """A fitted categoriser: the vectoriser, the classifier and what it was trained on."""

    vectorizer: TfidfVectorizer
    classifier: Any
    classes: list[str]
    n_train: int
    calibrated: bool


def normalise_text(text: str | None) -> str:
    """Upper case, references (tokens with digits) and punctuation removed: `UBER *TRIP 9QX1` -> `UBER TRIP`."""
    s = re.sub(r"[^A-Z0-9 ]+", " ", (text or "").upper())
    return " ".join(t for t in s.split() if not any(c.isdigit() for c in t))


def documents(texts: list[str | None], vendors: list[str | None]) -> list[str]:
    return [f"{normalise_vendor(v)} | {normalise_text(t)}" for t, v in zip(texts, vendors, strict=True)]


def _features(vectorizer: TfidfVectorizer, docs: list[str], amounts: list[float], fit: bool) -> Any:
    text = vectorizer.fit_transform(docs) if fit else vectorizer.transform(docs)
    size = np.array([[math.log1p(abs(a or 0.0)) / 10.0] for a in amounts])
    return sparse.hstack([text, sparse.csr_matrix(size)]).tocsr()


def fit(texts: list[str | None], vendors: list[str | None], amounts: list[float], labels: list[str]) -> Model:
    """Fit the categoriser on labelled lines (at least two classes)."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1)
    x = _features(vectorizer, documents(texts, vendors), amounts, fit=True)
    y = np.array(labels)
    base = LogisticRegression(C=10.0, max_iter=2000)
    counts = np.unique(y, return_counts=True)[1]
    calibrated = bool(counts.min() >= 3)
    clf = CalibratedClassifierCV(base, method="sigmoid", cv=3) if calibrated else base
    clf.fit(x, y)
    return Model(vectorizer, clf, [str(c) for c in clf.classes_], len(labels), calibrated)


def predict(
    model: Model, texts: list[str | None], vendors: list[str | None], amounts: list[float]
) -> tuple[list[str], list[float]]:
    """Most likely category and its (calibrated) probability per line."""
    if not texts:
        return [], []
    x = _features(model.vectorizer, documents(texts, vendors), amounts, fit=False)
    proba = model.classifier.predict_proba(x)
    best = proba.argmax(axis=1)
    return [model.classes[i] for i in best], [float(p) for p in proba.max(axis=1)]


def cross_validate(
    texts: list[str | None],
    vendors: list[str | None],
    amounts: list[float],
    labels: list[str],
    groups: list[str],
    folds: int = 5,
) -> tuple[list[str], list[float]]:
    """Out-of-fold predictions with GroupKFold (a group never in both train and test)."""
    n_groups = len(set(groups))
    k = min(folds, n_groups)
    pred: list[str] = [""] * len(labels)
    conf = [0.0] * len(labels)
    if k < 2:
        return pred, conf
    for train, test in GroupKFold(n_splits=k).split(texts, labels, groups):
        train_labels = [labels[i] for i in train]
        if len(set(train_labels)) < 2:
            continue
        model = fit([texts[i] for i in train], [vendors[i] for i in train], [amounts[i] for i in train],
                    train_labels)  # fmt: skip
        p, c = predict(
            model, [texts[i] for i in test], [vendors[i] for i in test], [amounts[i] for i in test]
        )
        for i, pi, ci in zip(test, p, c, strict=True):
            pred[i], conf[i] = pi, ci
    return pred, conf


def choose_threshold(
    confidences: list[float], correct: list[bool], target: float = TARGET_ACCURACY, min_auto: int = MIN_AUTO
) -> tuple[float, float, float]:
    """Lowest confidence t such that accuracy on lines with confidence >= t reaches `target`.

    A threshold must leave at least `min_auto` lines (all, if fewer) above it, so that one lucky line
    cannot set it. Returns (threshold, accuracy on auto lines, review share); threshold > 1 when no t
    reaches the target.
    """
    if not confidences:
        return 1.01, float("nan"), 1.0
    order = np.argsort(-np.array(confidences), kind="stable")
    conf = np.array(confidences)[order]
    hits = np.cumsum(np.array(correct, dtype=float)[order])
    acc = hits / np.arange(1, len(conf) + 1)
    best = None
    for i in range(len(conf)):
        last_of_tie = i == len(conf) - 1 or conf[i + 1] < conf[i]
        if last_of_tie and acc[i] >= target and i + 1 >= min(min_auto, len(conf)):
            best = i
    if best is None:
        return 1.01, float("nan"), 1.0
    return float(conf[best]), float(acc[best]), 1.0 - (best + 1) / len(conf)


def evaluate(
    texts: list[str | None],
    vendors: list[str | None],
    amounts: list[float],
    labels: list[str],
    groups: list[str],
    target: float = TARGET_ACCURACY,
    folds: int = 5,
) -> dict[str, Any]:
    """Grouped CV: overall accuracy, the threshold for `target` and the auto accuracy / review share."""
    pred, conf = cross_validate(texts, vendors, amounts, labels, groups, folds)
    correct = [p == y for p, y in zip(pred, labels, strict=True)]
    threshold, auto_acc, review = choose_threshold(conf, correct, target)
    return {
        "n": len(labels),
        "groups": len(set(groups)),
        "accuracy_all": float(np.mean(correct)) if correct else float("nan"),
        "threshold": threshold,
        "auto_accuracy": auto_acc,
        "review_share": review,
    }


# ---------------------------------------------------------------- warehouse


def _columns(wh: Warehouse, table: str) -> list[str]:
    return table_columns(wh, "marts", table)


def _record_id_sql(cols: list[str]) -> str | None:
    if "entry_id" in cols and "line_id" in cols:
        return "cast(t.entry_id as varchar) || ':' || cast(t.line_id as varchar)"
    rid = first_present(cols, ID_COLUMNS)
    return f"cast(t.{rid} as varchar)" if rid else None


def _label_sql(wh: Warehouse, table: str, cols: list[str]) -> tuple[str, str, str | None] | None:
    """(label expression, join clause, expense-filter column expression) for a ledger table."""
    label = first_present(cols, LABEL_COLUMNS)
    if label:
        kind = first_present(cols, CLASS_COLUMNS)
        return f"t.{label}", "", f"t.{kind}" if kind else None
    if table != "fct_gl_entries" or "account_id" not in cols or not wh.table_exists("marts", "dim_accounts"):
        return None
    acols = _columns(wh, "dim_accounts")
    if "account_name" not in acols:
        return None
    kind = first_present(acols, CLASS_COLUMNS)
    return (
        "a.account_name",
        " join marts.dim_accounts a on a.account_id = t.account_id",
        f"a.{kind}" if kind else None,
    )


def _ledger_sql(wh: Warehouse, table: str) -> str | None:
    """SQL giving `record_id, text, vendor, amount, label` (expense lines only) from a ledger table, or None."""
    if not wh.table_exists("marts", table):
        return None
    cols = _columns(wh, table)
    text, amount, rid = (
        first_present(cols, TEXT_COLUMNS),
        first_present(cols, AMOUNT_COLUMNS),
        _record_id_sql(cols),
    )
    labelled = _label_sql(wh, table, cols)
    if not (text and amount and rid and labelled):
        return None
    label, join, kind = labelled
    vendor = first_present(cols, VENDOR_COLUMNS)
    vendor_sql = f"cast(t.{vendor} as varchar)" if vendor else "cast(null as varchar)"
    where = f" where lower({kind}) like '%expense%'" if kind else ""
    return (
        f"select {rid} as record_id, cast(t.{text} as varchar) as text, {vendor_sql} as vendor, "
        f"abs(cast(t.{amount} as double precision)) as amount, cast({label} as varchar) as label "
        f"from marts.{table} t{join}{where}"
    )


def find_training_data(wh: Warehouse) -> tuple[pl.DataFrame, str]:
    """Ledger or confirmed lines `record_id, text, vendor, amount, label` and where they came from.

    Ledger lines without a label are returned too (label null): they are categorised as `bill_line`s.
    """
    for table in LABEL_TABLES:
        sql = _ledger_sql(wh, table)
        if sql is None:
            continue
        df = wh.query(sql).filter(pl.col("text").is_not_null())
        if df["label"].drop_nulls().len():
            return df, f"marts.{table}"
    if wh.table_exists("marts", TABLE) and "status" in _columns(wh, TABLE):
        sql = (
            "select record_id, text, vendor, cast(amount as double precision) as amount, "
            f"predicted_category as label from marts.{TABLE} where status = 'confirmed'"
        )
        df = wh.query(sql)
        if df.height:
            return df, "confirmed"
    empty = {"record_id": pl.Utf8, "text": pl.Utf8, "vendor": pl.Utf8, "amount": pl.Float64, "label": pl.Utf8}
    return pl.DataFrame(schema=empty), "none"


def bank_lines_to_categorise(wh: Warehouse) -> pl.DataFrame:
    """Every money-out bank line: `record_id, source, text, vendor, amount` (amount positive)."""
    lines = resolve_vendors(load_bank_lines(wh))
    return lines.filter(pl.col("amount") < 0).select(
        record_id=pl.col("bank_transaction_id").cast(pl.Utf8),
        source=pl.lit("bank_line"),
        text=pl.coalesce("remittance_info", "counterparty_name").cast(pl.Utf8),
        vendor=pl.col("vendor"),
        amount=-pl.col("amount"),
    )


def categorise(
    lines: pl.DataFrame, training: pl.DataFrame, threshold: float | None = None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Predict a category per line from labelled `training`; the output frame and a summary."""
    labels = training["label"].to_list()
    if training.height < MIN_TRAIN or len(set(labels)) < 2:
        out = lines.with_columns(
            predicted_category=pl.lit(None, dtype=pl.Utf8),
            confidence=pl.lit(None, dtype=pl.Float64),
            status=pl.lit("review"),
            model=pl.lit("none"),
            trained_on=pl.lit(training.height, dtype=pl.Int64),
            threshold=pl.lit(None, dtype=pl.Float64),
        )
        return out.select(list(OUTPUT_SCHEMA)), {"model": "none", "trained_on": training.height}
    texts, vendors = training["text"].to_list(), training["vendor"].to_list()
    amounts = training["amount"].fill_null(0.0).to_list()
    cv: dict[str, Any] = {}
    if threshold is None:
        groups = [normalise_text(t) for t in texts]  # held-out descriptors, not just one string
        cv = evaluate(texts, vendors, amounts, labels, groups, folds=THRESHOLD_FOLDS)
        threshold = cv["threshold"]  # > 1 when no confidence reaches the target: everything to review
    model = fit(texts, vendors, amounts, labels)
    pred, conf = predict(model, lines["text"].to_list(), lines["vendor"].to_list(), lines["amount"].to_list())
    out = lines.with_columns(
        predicted_category=pl.Series(pred, dtype=pl.Utf8),
        confidence=pl.Series(conf, dtype=pl.Float64),
        trained_on=pl.lit(model.n_train, dtype=pl.Int64),
        model=pl.lit(MODEL_NAME),
        threshold=pl.lit(threshold, dtype=pl.Float64),
    ).with_columns(
        status=pl.when(pl.col("confidence") >= threshold).then(pl.lit("auto")).otherwise(pl.lit("review"))
    )
    summary = {"model": MODEL_NAME, "trained_on": model.n_train, "threshold": threshold, "cv": cv}
    return out.select(list(OUTPUT_SCHEMA)), summary


def _keep_confirmed(out: pl.DataFrame, training: pl.DataFrame, source: str) -> pl.DataFrame:
    """Lines a person confirmed keep their label and status."""
    if source != "confirmed" or training.is_empty():
        return out
    confirmed = training.select("record_id", confirmed_label="label")
    return (
        out.join(confirmed, on="record_id", how="left")
        .with_columns(
            predicted_category=pl.coalesce("confirmed_label", "predicted_category"),
            confidence=pl.when(pl.col("confirmed_label").is_not_null())
            .then(1.0)
            .otherwise(pl.col("confidence")),
            status=pl.when(pl.col("confirmed_label").is_not_null())
            .then(pl.lit("confirmed"))
            .otherwise("status"),
        )
        .select(list(OUTPUT_SCHEMA))
    )


def run_categorise(warehouse: Warehouse, threshold: float | None = None) -> dict[str, Any]:
    """Categorise every money-out bank line and replace `marts.expense_categories`; return a summary."""
    started = time.perf_counter()
    ledger, source = find_training_data(warehouse)
    training = ledger.filter(pl.col("label").is_not_null())
    unlabelled = ledger.filter(pl.col("label").is_null()).select(
        "record_id", source=pl.lit("bill_line"), text="text", vendor="vendor", amount="amount"
    )
    lines = pl.concat([bank_lines_to_categorise(warehouse), unlabelled], how="vertical_relaxed")
    out, summary = categorise(lines, training, threshold)
    out = _keep_confirmed(out, training, source)
    written = warehouse.write_table("marts", TABLE, out, mode="replace")
    counts = out.group_by("status").len()
    return {
        **summary,
        "training_source": source,
        "rows_written": {TABLE: written},
        "by_status": dict(zip(counts["status"].to_list(), counts["len"].to_list(), strict=True)),
        "review_share": float((out["status"] == "review").mean()) if out.height else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
