"""Layout helpers shared by the pages: the "not built yet" message, formatted tables with a CSV download,
money formatting and the house look of charts. No SQL here (that is `queries.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import plotly.graph_objects as go
import polars as pl
import queries as q
import streamlit as st

BAND = "rgba(31, 119, 180, 0.18)"
ACTUAL = "#222222"
FORECAST = "#1f77b4"


def require(*marts: str) -> bool:
    """True when every mart exists; otherwise an info naming the first missing one and its command."""
    missing_file = q.snapshot_missing()
    if missing_file:
        st.info(
            f"The warehouse snapshot `{missing_file}` does not exist yet. Build it with `ledgerlake run` "
            "(the app reads the snapshot a run publishes, never the file being written)."
        )
        return False
    for mart in marts:
        if not q.has_table("marts", mart):
            st.info(
                f"`marts.{mart}` is not in the warehouse yet. It is built by `{q.built_by(mart)}` "
                "(or the whole job: `ledgerlake run`)."
            )
            return False
    return True


def _when(iso: str | None) -> str:
    return (iso or "?").replace("T", " ").replace("+00:00", " UTC")


def run_banner() -> None:
    """On every page: when the last run did not finish, what the page shows and why it is not newer."""
    status = q.last_run()
    last = status.get("last") or {}
    if not last or last.get("ok", True):
        return
    as_of = q.snapshot_time() or status.get("published_at")
    published = last.get("published_at")
    shown = (
        f"Data as of {_when(published)} (published by this run before it failed)"
        if published
        else f"Data as of {_when(as_of)}"
        if as_of
        else "No data published yet"
    )
    st.error(
        f"{shown}; the last run (`ledgerlake {last.get('command', '?')}`, started {_when(last.get('started_at'))}) "
        f"failed at {last.get('failed_step') or '?'}: {last.get('reason') or 'no reason recorded'}. "
        "The data-quality page lists the failing tests.",
        icon=":material/error:",
    )


def auth_configured() -> bool:
    """True when Streamlit's login is configured (an `[auth]` section in the app's secrets)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError):  # no secrets file at all
        return False
    except Exception:  # noqa: BLE001 - an unreadable secrets file: Streamlit reports it itself
        return False


def require_login() -> None:
    """With login configured, nothing but the sign-in prompt until the user is logged in."""
    if not auth_configured():
        return
    if getattr(st.user, "is_logged_in", False):
        with st.sidebar:
            st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'user'}")
            st.button("Log out", on_click=st.logout, key="ll_logout")
        return
    st.title("ledgerlake")
    st.write("Sign in to see the company's financials.")
    st.button("Log in", on_click=st.login, key="ll_login", type="primary")
    st.stop()


def money(value: float | None, currency: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.2f} {currency}".strip()


def runway_text(months: float | None, daily_net: float) -> str:
    if months is not None:
        return f"{months:,.1f} months"
    return "Cash-flow positive" if daily_net >= 0 else "No cash left"


def table(
    df: pl.DataFrame,
    key: str,
    money_cols: Iterable[str] = (),
    count_cols: Iterable[str] = (),
    pct_cols: Iterable[str] = (),
    ratio_cols: Iterable[str] = (),
    labels: dict[str, str] | None = None,
    height: int | None = None,
    empty: str = "No rows.",
) -> None:
    """A formatted table and, under it, a CSV download of exactly what it shows (a caption when empty)."""
    if df.is_empty():
        st.caption(empty)
        return
    config: dict[str, object] = {}
    for col in money_cols:
        config[col] = st.column_config.NumberColumn(_label(col, labels), format="accounting")
    for col in count_cols:
        config[col] = st.column_config.NumberColumn(_label(col, labels), format="localized")
    for col in pct_cols:
        config[col] = st.column_config.NumberColumn(_label(col, labels), format="percent")
    for col in ratio_cols:
        config[col] = st.column_config.NumberColumn(_label(col, labels), format="%.3f")
    for col, dtype in df.schema.items():
        if dtype == pl.Date:
            config.setdefault(col, st.column_config.DateColumn(_label(col, labels), format="YYYY-MM-DD"))
        elif isinstance(dtype, pl.Datetime):
            config.setdefault(
                col, st.column_config.DatetimeColumn(_label(col, labels), format="YYYY-MM-DD HH:mm")
            )
        config.setdefault(col, st.column_config.Column(_label(col, labels)))
    rows_height = 35 * (df.height + 1) + 3  # no empty rows under a short table
    fit = min(height, rows_height) if height else "auto"
    st.dataframe(df, key=key, hide_index=True, column_config=config, width="stretch", height=fit)
    st.download_button(
        "Download CSV",
        df.write_csv(),
        file_name=f"{key}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        icon=":material/download:",
    )


def _label(col: str, labels: dict[str, str] | None) -> str:
    return (labels or {}).get(col, col.replace("_", " "))


def style(
    fig: go.Figure,
    title: str,
    y_title: str,
    x_title: str = "date",
    height: int = 420,
    y_format: str = ",.0f",
) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        hovermode="x unified",
    )
    fig.update_yaxes(tickformat=y_format)
    return fig


def fan(
    fig: go.Figure,
    x: pl.Series,
    low: pl.Series,
    mid: pl.Series,
    high: pl.Series,
    name: str,
    color: str = FORECAST,
) -> None:
    """A p10–p90 band with the p50 line over it."""
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
    )
    fig.add_trace(
        go.Scatter(
            x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=BAND, name="p10–p90"
        )
    )
    fig.add_trace(go.Scatter(x=x, y=mid, mode="lines", line={"color": color, "dash": "dash"}, name=name))


BASELINE_NAMES = {"SeasonalNaive": "SeasonalNaive(7)", "Naive": "Naive"}


def backtest_sentence(bt: pl.DataFrame, account: str) -> str:
    """One plain sentence: does the selected model beat SeasonalNaive(7) and Naive over all horizons, and
    in which horizon buckets it does not."""
    chosen = bt.filter(pl.col("is_selected"))
    if chosen.is_empty():
        return "No model is flagged as selected in this backtest."
    model = chosen["model"][0]

    def mase(m: str, bucket: str) -> float | None:
        row = bt.filter((pl.col("model") == m) & (pl.col("horizon_bucket") == bucket))
        return None if row.is_empty() else row["mase"][0]

    mine = mase(model, "all")
    losses, wins = [], []
    for base, label in BASELINE_NAMES.items():
        theirs = mase(base, "all")
        if mine is None or theirs is None or base == model:
            continue
        (wins if mine < theirs else losses).append(f"{label} (MASE {mine:.2f} vs {theirs:.2f})")
    buckets = sorted(
        {
            b
            for b in bt["horizon_bucket"].unique().to_list()
            if b != "all"
            and any(
                (x := mase(model, b)) is not None and (y := mase(base, b)) is not None and x >= y
                for base in BASELINE_NAMES
                if base != model
            )
        }
    )
    if losses:
        sentence = f"**The forecast for {account} ({model}) does not beat {' or '.join(losses)}.**"
    elif wins:
        sentence = f"The forecast for {account} ({model}) beats {' and '.join(wins)} over all horizons."
    else:
        sentence = f"The forecast for {account} uses {model}, itself a naive baseline."
    if buckets:
        sentence += f" In the {', '.join(buckets)} day horizon(s) a naive baseline does as well or better."
    return sentence


def record_ids(value: object) -> list[str]:
    """The ids in a `record_ids` cell, whether stored as a list or as text like "[a, b]" or "a,b"."""
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value or "").strip().strip("[]{}")
    return [p.strip().strip("'\"") for p in text.split(",") if p.strip()]


def date_range(period: object, last_day: date) -> tuple[date, date]:
    """The (start, end) of a date_input range; a half-picked range ends at `last_day`."""
    if isinstance(period, tuple | list):
        if len(period) == 2:
            return period[0], period[1]
        if len(period) == 1:
            return period[0], last_day
    if isinstance(period, date):
        return period, period
    return last_day, last_day


def jsonable(row: dict[str, object]) -> dict[str, object]:
    def plain(v: object) -> object:
        if isinstance(v, Decimal):
            return float(v)
        return v if isinstance(v, str | int | float | bool | None) else str(v)

    return {k: plain(v) for k, v in row.items()}


def raw_payload(raw: dict[str, object] | None) -> None:
    if raw is None:
        st.info("The line is no longer in the warehouse.")
    elif raw.get("missing_table"):
        st.info(
            f"`{raw['table']}` is not in the warehouse: this line's source was loaded without raw tables."
        )
    elif raw["payload"] is None:
        st.warning(f"No row in `{raw['table']}` matches this line (by id, or by account, date and amount).")
    else:
        st.caption(f"matched by {raw['matched_by']}")
        st.json(raw["payload"], expanded=True)


def run_sql(sql: str) -> None:
    """Run the workbench query and show the result, a refusal, a timeout or the engine's error."""
    import workbench

    try:
        res = workbench.run(q.warehouse(), sql)
    except workbench.Refused as exc:
        st.error(f"Refused: {exc}", icon=":material/block:")
        return
    except TimeoutError as exc:
        st.error(str(exc), icon=":material/timer_off:")
        return
    except Exception as exc:  # noqa: BLE001 - the engine's message is what the user needs
        st.error(f"The warehouse said: {exc}", icon=":material/error:")
        return
    n = res.frame.height
    more = f" — truncated: the query returns more than {n:,} rows" if res.truncated else ""
    st.success(f"{n:,} row{'' if n == 1 else 's'} in {res.seconds:.2f} s{more}.")
    table(res.frame, key="sql_result", height=400)


def schema_browser(cols: pl.DataFrame, docs: dict[str, dict[str, object]] | None) -> None:
    if docs is None:
        st.caption(
            f"No column descriptions: dbt's manifest (`{q.manifest_path()}`) is missing. "
            "`ledgerlake build` writes it."
        )
    for name in cols["table_name"].unique(maintain_order=True).to_list():
        doc = (docs or {}).get(name, {})
        described = doc.get("columns", {})
        with st.expander(f"marts.{name}"):
            if doc.get("description"):
                st.caption(str(doc["description"]))
            part = cols.filter(pl.col("table_name") == name).select("column_name", "data_type")
            part = part.with_columns(
                description=pl.col("column_name").replace_strict(described, default="", return_dtype=pl.Utf8)
            )
            st.dataframe(part, hide_index=True, width="stretch", key=f"schema_{name}")


STATUS_ORDER = ("met", "on_track", "at_risk", "missed")


def statuses(card: pl.DataFrame) -> list[tuple[str, int]]:
    """(status, count) for the four scorecard statuses, then any other status the mart uses."""
    counts = dict(card.group_by("status").len().iter_rows())
    others = sorted(str(s) for s in counts if s not in STATUS_ORDER)
    return [(s, int(counts.get(s, 0))) for s in (*STATUS_ORDER, *others)]


def readable(value: float | None, unit: str | None, currency: str) -> str:
    """A KPI value in its unit: shares as percent, money in the functional currency, counts whole."""
    if value is None:
        return "–"
    if unit in ("share", "rate", "ratio", "fraction"):
        return f"{value:.1%}"
    if unit in ("functional currency", "money", currency):
        return money(value, currency)
    if unit in ("items", "count"):
        return f"{value:,.0f}"
    return f"{value:,.2f} {unit or ''}".strip()


def with_readable(df: pl.DataFrame, currency: str, col: str = "value") -> pl.DataFrame:
    shown = [readable(v, u, currency) for v, u in zip(df[col].to_list(), df["unit"].to_list(), strict=True)]
    return df.with_columns(pl.Series("reading", shown, dtype=pl.Utf8))


def unit_format(unit: str | None) -> str:
    return ".0%" if unit in ("share", "rate", "ratio", "fraction") else ",.2~f"


LINKED_SECTIONS = {
    "bank_lines": ("Bank lines", ["amount"]),
    "gl_lines": ("Ledger documents (`fct_gl_entries`)", ["debit", "credit"]),
    "matches": ("Reconciliation matches", ["amount_difference"]),
    "payouts": ("Processor payouts (Stripe, Shopify)", ["amount"]),
    "payout_charges": (
        "The payouts' balance transactions (charges, refunds, fees)",
        ["amount", "fee", "net"],
    ),
    "invoices": ("Invoices", ["total_amount", "amount_open"]),
    "deals": ("CRM deals", ["amount"]),
}


def linked_view(linked: dict[str, pl.DataFrame], raws: list[dict[str, object]], key: str) -> None:
    """Every record linked to a drill-down, section by section, then the raw source payloads."""
    if not linked:
        st.info("No bank line, ledger document, payout, invoice or deal in the warehouse carries these ids.")
    for name, (label, money_cols) in LINKED_SECTIONS.items():
        if name in linked:
            st.markdown(f"**{label}** ({linked[name].height})")
            table(linked[name], key=f"{key}_{name}", money_cols=money_cols, height=300)
    if raws:
        st.markdown(f"**Raw source payloads** ({len(raws)})")
        for i, raw in enumerate(raws):
            with st.expander(f"{raw['table']} · {raw.get('matched_by') or 'not found'}", expanded=i == 0):
                raw_payload(raw)  # type: ignore[arg-type]


def tile_number(value: float | None, unit: str | None, signed: bool = False) -> str:
    """A KPI number without its unit (the unit goes in the label): shares as percent, else 2 decimals
    with a whole number shown whole."""
    if value is None:
        return "–"
    sign = "+" if signed else ""
    if unit in ("share", "rate", "ratio", "fraction"):
        return f"{value:{sign}.1%}"
    return f"{value:{sign},.2f}".removesuffix(".00")


def kpi_tiles(tiles: pl.DataFrame, currency: str, per_row: int = 4) -> None:
    """One metric per scorecard KPI: the current value, its change from the baseline (green when it moves
    the right way, grey when flat), target and status in the help."""
    rows = tiles.to_dicts()
    for start in range(0, len(rows), per_row):
        for col, row in zip(st.columns(per_row), rows[start : start + per_row], strict=False):
            unit = row.get("unit")
            shown_unit = currency if unit in ("functional currency", "money") else unit
            said = set(str(row["kpi"]).split("_")) >= set(str(shown_unit).split())  # manual_entry_hours
            in_label = (
                "" if unit in ("share", "rate", "ratio", "fraction", None) or said else f" ({shown_unit})"
            )
            change = row["change"]
            flat = change is None or abs(change) < 1e-9
            lower = row.get("direction") == "lower_is_better"
            col.metric(
                row["kpi"].replace("_", " ").capitalize() + in_label,
                tile_number(row["current"], unit),
                delta=None if flat else tile_number(change, unit, signed=True),
                delta_color="off" if flat else "inverse" if lower else "normal",
                help=f"Baseline {readable(row['baseline'], unit, currency)} · target "
                f"{readable(row['target'], unit, currency)} · status **{row['status']}**",
            )
