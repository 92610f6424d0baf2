"""Shopify: the company's B2C web shop (shop currency USD), paid through Shopify Payments (columnar).

Orders come from the registry's B2C customers. A customer's market decides the presentment currency:
German customers pay in EUR, ~12% of the others shop the UK storefront in GBP, the rest in USD.
Money is simulated in integer cents of the presentment currency, per line item (discount allocation
and tax are per line, as Shopify rounds them); the shop-currency amounts are each presentment amount
converted at the order day's rate and rounded, and every total is the sum of its parts in both
currencies. 6% of orders are refunded 2-30 days later (60% in full incl. shipping, 40% one line).

Shopify Payments is a channel of its own: nothing here touches the Stripe account. Its balance and its
payouts to the bank are simulated from these orders in `sandbox.company.shop_payments`.

Defects (listed in `defects`): a refund the ledger never books (`refund_booked = False`, for the
QuickBooks simulation), an order served twice by the API (`duplicated`), an order edited after it
was first exported (`edit_day`: its `updated_at` moves, tags and note change, totals do not).
All draws come from the registry stream `shopify`, so the shop never shifts other systems' output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sandbox.company.clock import Clock
from sandbox.company.registry import Registry

SHOP_CURRENCY = "USD"
ORDERS_PER_YEAR = 10000
REFUND_RATE = 0.06
FULL_REFUND_SHARE = 0.6
REFUND_NOT_BOOKED_RATE = 0.1
DUPLICATE_ORDER_RATE = 0.005
EDITED_ORDER_RATE = 0.02
GBP_SHARE = 0.12
FREE_SHIPPING_FROM = 7500  # cents, presentment currency
SHIPPING = 695
LOCAL_OFFSET_SECONDS = -5 * 3600  # the shop's timezone (-05:00)
GATEWAY = "shopify_payments"

PRODUCTS: tuple[tuple[str, str, int], ...] = (  # title, sku, price in USD cents
    ("Canvas Tote", "TOTE-CNV", 2400),
    ("Ceramic Mug", "MUG-CER", 1800),
    ("Linen Notebook", "NB-LIN", 1450),
    ("Desk Lamp", "LAMP-DSK", 6900),
    ("Wool Throw", "THROW-WL", 8900),
    ("Leather Wallet", "WAL-LTH", 5400),
    ("Travel Bottle", "BTL-TRV", 2900),
    ("Scented Candle", "CNDL-SC", 2200),
    ("Cotton Hoodie", "HOOD-CTN", 6400),
    ("Wall Print A3", "PRT-A3", 3500),
    ("Plant Pot", "POT-PLT", 1900),
    ("Backpack", "BAG-BCK", 11900),
)
DISCOUNTS: tuple[tuple[str, int], ...] = (("WELCOME10", 10), ("SPRING15", 15), ("VIP20", 20))
US_TAX: tuple[tuple[str, float], ...] = (
    ("NY State Tax", 0.08875),
    ("CA State Tax", 0.0725),
    ("TX State Tax", 0.0625),
    ("WA State Tax", 0.065),
    ("OR State Tax", 0.0),
)
MARKET_TAX = {"DE": ("DE MwSt", 0.19), "GB": ("GB VAT", 0.20)}
MARKET_CURRENCY = {"US": "USD", "DE": "EUR", "GB": "GBP"}


@dataclass
class ShopData:
    """Shopify frames. Money columns are major units (float, 2 dp); `p_*` are presentment amounts.

    orders: order_id, order_number, name, day, created, customer_key, customer_id, email,
      customer_name, market, currency (shop currency, USD), presentment_currency, rate (presentment->USD),
      total_line_items_price, total_discounts, subtotal_price, shipping, total_tax, total_price (USD),
      the same with `p_` (presentment), discount_code, discount_pct, tax_title, tax_rate,
      refund_id, refund_day, refund_created, refund_kind (full/partial), p_refund_amount, refund_amount,
      refund_booked, edit_day, edit_created, duplicated, sale_transaction_id, refund_transaction_id,
      refunded_amount (USD, refunds booked by the cut), financial_status, updated_at (unix).
    line_items: line_item_id, order_id, position, product_id, variant_id, title, sku, quantity,
      p_price, price (unit), p_discount, discount, p_tax, tax (line totals), refunded (bool, by the cut).
    customers: customer_id, customer_key, name, email, market, created (first order), day.
    """

    orders: pl.DataFrame
    line_items: pl.DataFrame
    customers: pl.DataFrame


def _order_days(rng: np.random.Generator, clock: Clock, per_year: int) -> np.ndarray:
    t = np.arange(clock.sim_days)
    days = clock.day(t)
    weekday = np.where(np.is_busday(days), 1.0, 1.3)  # a web shop sells more at weekends
    december = np.where((days.astype("datetime64[M]").astype(int) % 12) == 11, 1.8, 1.0)
    weight = weekday * december * (1.0 + 0.5 * t / 365)
    n = int(round(per_year * weight.sum() / weight[: min(365, clock.sim_days)].sum()))
    return np.sort(rng.choice(t, size=n, p=weight / weight.sum()))


def increasing_ids(rng: np.random.Generator, n: int, base: int, step: int) -> np.ndarray:
    """Shopify-like 13-digit integer ids that grow with time."""
    return base + np.cumsum(rng.integers(step // 2, step * 2, n, dtype=np.int64))


def _shop_customers(reg: Registry, rng: np.random.Generator) -> pl.DataFrame:
    b2c = reg.customers.filter(~pl.col("is_b2b"))
    gb = rng.random(b2c.height) < GBP_SHARE
    market = np.where(b2c["country"].to_numpy() == "DE", "DE", np.where(gb, "GB", "US"))
    return b2c.with_columns(
        market=pl.Series(market),
        customer_id=pl.Series(increasing_ids(rng, b2c.height, 6_100_000_000_000, 40_000)),
    )


def _rates(fx_rates: pl.DataFrame, rng: np.random.Generator, n_days: int) -> dict[str, np.ndarray]:
    eurusd = fx_rates.sort("date")["eurusd"].to_numpy()[:n_days]
    gbp_over_eur = 1.165 * np.exp(np.cumsum(rng.normal(0, 0.002, len(eurusd))))
    return {"USD": np.ones(len(eurusd)), "EUR": eurusd, "GBP": np.round(eurusd * gbp_over_eur, 5)}


def _base_orders(
    reg: Registry, rng: np.random.Generator, customers: pl.DataFrame, scale: float
) -> pl.DataFrame:
    clock = reg.clock
    day = _order_days(rng, clock, max(30, int(ORDERS_PER_YEAR * scale)))
    n = len(day)
    signed_up = np.maximum(1, np.searchsorted(customers["created_day"].to_numpy(), day, side="right"))
    cust = customers[(rng.random(n) * signed_up).astype(np.int64)]
    seconds = rng.integers(7 * 3600, 23 * 3600, n)
    created = clock.to_unix(clock.day(day), seconds) - LOCAL_OFFSET_SECONDS
    has_discount = rng.random(n) < 0.18
    disc = rng.integers(0, len(DISCOUNTS), n)
    us_tax = rng.integers(0, len(US_TAX), n)
    market = cust["market"].to_numpy()
    tax_title = np.array(
        [MARKET_TAX[m][0] if m in MARKET_TAX else US_TAX[t][0] for m, t in zip(market, us_tax, strict=True)]
    )
    tax_rate = np.array(
        [MARKET_TAX[m][1] if m in MARKET_TAX else US_TAX[t][1] for m, t in zip(market, us_tax, strict=True)]
    )
    return pl.DataFrame(
        {
            "order_id": increasing_ids(rng, n, 5_400_000_000_000, 60_000),
            "order_number": np.arange(1001, 1001 + n),
            "day": day,
            "created": created,
            "customer_key": cust["customer_key"],
            "customer_id": cust["customer_id"],
            "email": cust["email"],
            "customer_name": cust["name"],
            "market": market,
            "presentment_currency": [MARKET_CURRENCY[m] for m in market],
            "discount_code": pl.Series(np.array([d[0] for d in DISCOUNTS])[disc]).set(
                pl.Series(~has_discount), None
            ),
            "discount_pct": np.where(has_discount, np.array([d[1] for d in DISCOUNTS])[disc], 0),
            "tax_title": tax_title,
            "tax_rate": tax_rate,
        }
    ).with_columns(name=pl.format("#{}", "order_number"))


def _line_items(rng: np.random.Generator, orders: pl.DataFrame, rates: dict[str, np.ndarray]) -> pl.DataFrame:
    """Line items with per-line discount allocation and tax, in presentment and shop cents."""
    n_lines = rng.choice([1, 2, 3, 4], size=orders.height, p=[0.55, 0.28, 0.12, 0.05])
    order_idx = np.repeat(np.arange(orders.height), n_lines)
    m = len(order_idx)
    product = rng.integers(0, len(PRODUCTS), m)
    qty = rng.choice([1, 2, 3], size=m, p=[0.8, 0.15, 0.05])
    cur = orders["presentment_currency"].to_numpy()[order_idx]
    day = orders["day"].to_numpy()[order_idx]
    rate = np.select([cur == "EUR", cur == "GBP"], [rates["EUR"][day], rates["GBP"][day]], 1.0)
    usd = np.array([p[2] for p in PRODUCTS])[product]
    p_unit = np.where(cur == "USD", usd, np.round(usd / rate / 100) * 100 - 1)  # local price points x.99
    p_line = p_unit * qty
    pct = orders["discount_pct"].to_numpy()[order_idx]
    p_disc = np.floor(p_line * pct / 100).astype(np.int64)
    tax_rate = orders["tax_rate"].to_numpy()[order_idx]
    p_tax = np.round((p_line - p_disc) * tax_rate).astype(np.int64)
    unit = np.round(p_unit * rate).astype(np.int64)
    first = np.r_[0, np.cumsum(n_lines)[:-1]]
    return pl.DataFrame(
        {
            "line_item_id": increasing_ids(rng, m, 13_200_000_000_000, 90_000),
            "order_idx": order_idx,
            "position": np.arange(m) - first[order_idx],
            "product": product,
            "quantity": qty,
            "rate": rate,
            "p_unit": p_unit.astype(np.int64),
            "unit": unit,
            "p_disc": p_disc,
            "disc": np.round(p_disc * rate).astype(np.int64),
            "p_tax": p_tax,
            "tax": np.round(p_tax * rate).astype(np.int64),
        }
    )


def _totals(orders: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    sums = lines.group_by("order_idx").agg(
        rate=pl.col("rate").first(),
        p_items=(pl.col("p_unit") * pl.col("quantity")).sum(),
        items=(pl.col("unit") * pl.col("quantity")).sum(),
        p_disc=pl.col("p_disc").sum(),
        disc=pl.col("disc").sum(),
        p_tax=pl.col("p_tax").sum(),
        tax=pl.col("tax").sum(),
    )
    out = orders.with_row_index("order_idx").with_columns(pl.col("order_idx").cast(pl.Int64))
    out = out.join(sums, on="order_idx", how="left").sort("order_idx")
    p_sub = pl.col("p_items") - pl.col("p_disc")
    return out.with_columns(
        p_ship=pl.when(p_sub >= FREE_SHIPPING_FROM).then(0).otherwise(SHIPPING).cast(pl.Int64),
    ).with_columns(ship=(pl.col("p_ship") * pl.col("rate")).round(0).cast(pl.Int64))


def _refunds(rng: np.random.Generator, orders: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    n = orders.height
    refunded = rng.random(n) < REFUND_RATE
    full = rng.random(n) < FULL_REFUND_SHARE
    lag = rng.integers(2, 31, n)
    booked = rng.random(n) >= REFUND_NOT_BOOKED_RATE
    refund_seconds = rng.integers(8 * 3600, 20 * 3600, n)
    first = lines.filter(pl.col("position") == 0).sort("order_idx")
    p_first = (first["p_unit"] * first["quantity"] - first["p_disc"] + first["p_tax"]).to_numpy()
    s_first = (first["unit"] * first["quantity"] - first["disc"] + first["tax"]).to_numpy()
    p_total = (orders["p_items"] - orders["p_disc"] + orders["p_tax"] + orders["p_ship"]).to_numpy()
    s_total = (orders["items"] - orders["disc"] + orders["tax"] + orders["ship"]).to_numpy()
    single = orders["order_idx"].is_in(lines.filter(pl.col("position") == 1)["order_idx"].implode()).not_()
    full = full | single.to_numpy()  # a one-line order refunded "partially" is refunded in full
    day = orders["day"].to_numpy() + lag
    return pl.DataFrame(
        {
            "refunded": refunded,
            "refund_kind": pl.Series(np.where(full, "full", "partial")).set(pl.Series(~refunded), None),
            "refund_seconds": refund_seconds,
            "p_refund": np.where(refunded, np.where(full, p_total, p_first), 0),
            "s_refund": np.where(refunded, np.where(full, s_total, s_first), 0),
            "refund_booked": np.where(refunded, booked, True),
            "refund_day_raw": day,
        }
    )


def _cents(col: str) -> pl.Expr:
    return (pl.col(col) / 100).round(2)


def _assemble(
    reg: Registry, rng: np.random.Generator, orders: pl.DataFrame, refunds: pl.DataFrame
) -> pl.DataFrame:
    clock = reg.clock
    n = orders.height
    edited = rng.random(n) < EDITED_ORDER_RATE
    edit_lag = rng.integers(5, 41, n)
    duplicated = rng.random(n) < DUPLICATE_ORDER_RATE
    ids = {
        "refund_id": increasing_ids(rng, n, 9_800_000_000_000, 30_000),
        "sale_transaction_id": increasing_ids(rng, n, 7_200_000_000_000, 60_000),
        "refund_transaction_id": increasing_ids(rng, n, 7_900_000_000_000, 60_000),
    }
    o = pl.concat([orders, refunds], how="horizontal")
    refund_day = pl.col("refund_day_raw")
    start_unix = int(clock.to_unix(clock.day(np.array([0])))[0]) - LOCAL_OFFSET_SECONDS
    return o.with_columns(
        currency=pl.lit(SHOP_CURRENCY),
        total_line_items_price=_cents("items"),
        total_discounts=_cents("disc"),
        subtotal_price=((pl.col("items") - pl.col("disc")) / 100).round(2),
        shipping=_cents("ship"),
        total_tax=_cents("tax"),
        total_price=((pl.col("items") - pl.col("disc") + pl.col("tax") + pl.col("ship")) / 100).round(2),
        p_total_line_items_price=_cents("p_items"),
        p_total_discounts=_cents("p_disc"),
        p_subtotal_price=((pl.col("p_items") - pl.col("p_disc")) / 100).round(2),
        p_shipping=_cents("p_ship"),
        p_total_tax=_cents("p_tax"),
        p_total_price=(
            (pl.col("p_items") - pl.col("p_disc") + pl.col("p_tax") + pl.col("p_ship")) / 100
        ).round(2),
        refund_id=pl.when(pl.col("refunded")).then(pl.Series(ids["refund_id"])),
        refund_day=pl.when(pl.col("refunded")).then(refund_day),
        refund_created=pl.when(pl.col("refunded")).then(
            pl.lit(start_unix) + refund_day * 86400 + pl.col("refund_seconds")
        ),
        p_refund_amount=_cents("p_refund"),
        refund_amount=_cents("s_refund"),
        edit_day=pl.when(pl.Series(edited)).then(pl.col("day") + pl.Series(edit_lag)),
        duplicated=pl.Series(duplicated),
        sale_transaction_id=pl.Series(ids["sale_transaction_id"]),
        refund_transaction_id=pl.when(pl.col("refunded")).then(pl.Series(ids["refund_transaction_id"])),
    ).with_columns(
        edit_created=pl.col("created") + (pl.col("edit_day") - pl.col("day")) * 86400 + 3600,
    )


_KEEP = (
    "order_id", "order_number", "name", "day", "created", "customer_key", "customer_id", "email",
    "customer_name", "market", "currency", "presentment_currency", "rate",
    "total_line_items_price", "total_discounts", "subtotal_price", "shipping", "total_tax", "total_price",
    "p_total_line_items_price", "p_total_discounts", "p_subtotal_price", "p_shipping", "p_total_tax",
    "p_total_price", "discount_code", "discount_pct", "tax_title", "tax_rate",
    "refund_id", "refund_day", "refund_created", "refund_kind", "p_refund_amount", "refund_amount",
    "refund_booked", "edit_day", "edit_created", "duplicated", "sale_transaction_id", "refund_transaction_id",
)  # fmt: skip


def _line_frame(lines: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    titles = np.array([p[0] for p in PRODUCTS])
    skus = np.array([p[1] for p in PRODUCTS])
    product = lines["product"].to_numpy()
    return lines.join(orders.select("order_idx", "order_id"), on="order_idx").select(
        "line_item_id",
        "order_id",
        "position",
        product_id=pl.Series(8_100_000_000 + product * 1_013),
        variant_id=pl.Series(44_500_000_000_000 + product * 7_919),
        title=pl.Series(titles[product]),
        sku=pl.Series(skus[product]),
        quantity="quantity",
        p_price=_cents("p_unit"),
        price=_cents("unit"),
        p_discount=_cents("p_disc"),
        discount=_cents("disc"),
        p_tax=_cents("p_tax"),
        tax=_cents("tax"),
    )


def simulate_shop(reg: Registry, fx_rates: pl.DataFrame, scale: float) -> ShopData:
    """Shopify over the whole horizon (`fx_rates`: the bank's `date, eurusd` per day of the horizon).

    `orders.refunded_amount`/`financial_status` are as of the horizon; `cut_shop` gives them at as_of.
    """
    rng = reg.stream("shopify")
    customers = _shop_customers(reg, rng)
    rates = _rates(fx_rates, rng, reg.clock.sim_days)
    base = _base_orders(reg, rng, customers, scale)
    lines = _line_items(rng, base, rates)
    totals = _totals(base, lines)
    orders = _assemble(reg, rng, totals, _refunds(rng, totals, lines))
    line_items = _line_frame(lines, orders)
    first = orders.group_by("customer_id").agg(created=pl.col("created").min(), day=pl.col("day").min())
    shop_customers = customers.join(first, on="customer_id").select(
        "customer_id", "customer_key", "name", "email", "market", "created", "day"
    )
    full = ShopData(orders.select(_KEEP), line_items, shop_customers.sort("customer_id"))
    return _as_of(full, reg.clock.sim_days - 1)


def _as_of(shop: ShopData, last_day: int) -> ShopData:
    orders = shop.orders.filter(pl.col("day") <= last_day)
    refund_in = pl.col("refund_day").is_not_null() & (pl.col("refund_day") <= last_day)
    edit_in = pl.col("edit_day").is_not_null() & (pl.col("edit_day") <= last_day)
    orders = orders.with_columns(
        refunded_amount=pl.when(refund_in).then(pl.col("refund_amount")).otherwise(0.0),
        financial_status=pl.when(refund_in & (pl.col("refund_kind") == "full"))
        .then(pl.lit("refunded"))
        .when(refund_in)
        .then(pl.lit("partially_refunded"))
        .otherwise(pl.lit("paid")),
        updated_at=pl.max_horizontal(
            "created",
            pl.when(refund_in).then(pl.col("refund_created")),
            pl.when(edit_in).then(pl.col("edit_created")),
        ),
        refund_visible=refund_in,
        edit_visible=edit_in,
    )
    refunded_lines = orders.filter(pl.col("refund_visible")).select(
        "order_id", full=pl.col("refund_kind") == "full"
    )
    lines = (
        shop.line_items.join(refunded_lines, on="order_id", how="left")
        .with_columns(
            refunded=pl.col("full").fill_null(False)
            | (pl.col("full").is_not_null() & (pl.col("position") == 0))
        )
        .drop("full")
        .filter(pl.col("order_id").is_in(orders["order_id"].implode()))
    )
    customers = shop.customers.filter(pl.col("day") <= last_day)
    return ShopData(orders, lines, customers)


def cut_shop(shop: ShopData, clock: Clock) -> ShopData:
    """What Shopify shows at `clock.as_of`: orders placed, refunds made and edits done by then."""
    return _as_of(shop, clock.n_days - 1)


def shop_defects(shop: ShopData) -> pl.DataFrame:
    """`defect_type, record_ids, detail` for the shop's planted defects visible at the cut."""
    o = shop.orders
    not_booked = o.filter(pl.col("refund_visible") & ~pl.col("refund_booked")).select(
        defect_type=pl.lit("shopify_refund_not_booked"),
        record_ids=pl.concat_str(
            pl.col("order_id").cast(pl.Utf8), pl.lit(","), pl.col("refund_id").cast(pl.Utf8)
        ),
        detail=pl.format("refund {} USD never booked in the ledger", "refund_amount"),
    )
    dups = o.filter(pl.col("duplicated")).select(
        defect_type=pl.lit("shopify_duplicate_order_row"),
        record_ids=pl.col("order_id").cast(pl.Utf8),
        detail=pl.lit("order served twice by orders.json"),
    )
    edits = o.filter(pl.col("edit_visible")).select(
        defect_type=pl.lit("shopify_order_edited"),
        record_ids=pl.col("order_id").cast(pl.Utf8),
        detail=pl.format("edited on day {}: updated_at moved, tags and note changed", "edit_day"),
    )
    return pl.concat([not_booked, dups, edits])


def shop_truth(shop: ShopData) -> dict[str, pl.DataFrame]:
    """Truth at the cut: `records` rows (shopify/orders, shopify/customers), `defects` rows, and
    `shopify_orders` (one row per order with its true totals in shop and presentment currency)."""
    o = shop.orders
    records = pl.concat(
        [
            pl.DataFrame({"source": "shopify", "object": "orders", "record_id": o["order_id"].cast(pl.Utf8)}),
            pl.DataFrame(
                {
                    "source": "shopify",
                    "object": "customers",
                    "record_id": shop.customers["customer_id"].cast(pl.Utf8),
                }
            ),
        ]
    )
    orders = o.select(
        "order_id", "order_number", "name", "day", "customer_key", "customer_id", "currency",
        "presentment_currency", "rate", "total_line_items_price", "total_discounts", "subtotal_price",
        "shipping", "total_tax", "total_price", "p_total_price", "refunded_amount",
        net_total=(pl.col("total_price") - pl.col("refunded_amount")).round(2),
        financial_status="financial_status", refund_id="refund_id", refund_day="refund_day",
        refund_booked="refund_booked", edited="edit_visible", duplicated="duplicated",
    ).sort("order_id")  # fmt: skip
    return {"records": records, "defects": shop_defects(shop), "shopify_orders": orders}


def ledger_orders(shop: ShopData) -> pl.DataFrame:
    """The orders as the ledger books them: a refund with `refund_booked = False` never reaches the
    books (defect `shopify_refund_not_booked`), so its `refunded_amount` is 0 here."""
    return shop.orders.with_columns(
        refunded_amount=pl.when(pl.col("refund_booked")).then(pl.col("refunded_amount")).otherwise(0.0)
    )
