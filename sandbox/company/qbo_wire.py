"""The ledger at `as_of` -> QuickBooks Online v3 entity JSON (as the query and CDC endpoints return it)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from sandbox.company.ledger import INVOICE_ITEM, ITEMS
from sandbox.company.ledger_truth import LedgerView, is_void

ENTITIES = (
    "Account",
    "Customer",
    "Vendor",
    "Item",
    "Invoice",
    "Payment",
    "Bill",
    "BillPayment",
    "Deposit",
    "JournalEntry",
)
CURRENCY_NAMES = {"USD": "United States Dollar", "EUR": "Euro"}
INTEGRATION_NOTE = "ledgerlake-sync"


STREETS = (
    "Main St.",
    "Market St.",
    "Oak Ave.",
    "Harbor Blvd.",
    "Pine St.",
    "Mission St.",
    "Elm St.",
    "Lake Dr.",
)
CITIES = (
    ("Palo Alto", "CA", "94303", 37.44, -122.14),
    ("Austin", "TX", "78701", 30.27, -97.74),
    ("Seattle", "WA", "98101", 47.61, -122.33),
    ("Boston", "MA", "02108", 42.36, -71.06),
    ("Denver", "CO", "80202", 39.74, -104.99),
    ("Chicago", "IL", "60601", 41.88, -87.63),
)
GIVEN = ("Maria", "James", "Anna", "David", "Laura", "Peter", "Sofia", "Daniel", "Emma", "Lukas")
FAMILY = ("Johnson", "Williams", "Brown", "Schmidt", "Garcia", "Miller", "Davis", "Wagner", "Lopez", "Clark")


@lru_cache(maxsize=8192)
def _contact(key: str, addr_id: str) -> dict[str, Any]:
    """A stable postal address, phone and contact person for a customer or vendor (seeded by its key)."""
    rng = np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:12], 16))
    city, state, postal, lat, lon = CITIES[int(rng.integers(0, len(CITIES)))]
    return {
        "addr": {
            "Id": addr_id,
            "Line1": f"{int(rng.integers(1, 9999))} {STREETS[int(rng.integers(0, len(STREETS)))]}",
            "City": city,
            "CountrySubDivisionCode": state,
            "PostalCode": postal,
            "Lat": f"{lat + rng.uniform(-0.05, 0.05):.6f}",
            "Long": f"{lon + rng.uniform(-0.05, 0.05):.6f}",
        },
        "phone": {"FreeFormNumber": f"({int(rng.integers(200, 999))}) 555-{int(rng.integers(0, 10000)):04d}"},
        "given": GIVEN[int(rng.integers(0, len(GIVEN)))],
        "family": FAMILY[int(rng.integers(0, len(FAMILY)))],
    }


def qbo_time(unix: int) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def _meta(created: int, updated: int) -> dict[str, str]:
    return {"CreateTime": qbo_time(created), "LastUpdatedTime": qbo_time(updated)}


def _cur(code: str) -> dict[str, str]:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def _day(view: LedgerView, day: int) -> str:
    return str(np.datetime64(view.clock.start, "D") + int(day))


def _base(view: LedgerView, t: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "domain": "QBO",
        "sparse": False,
        "Id": t.id,
        "SyncToken": str(view.sync[t.key]),
        "MetaData": _meta(t.created, view.updated[t.key]),
        "TxnDate": _day(view, t.day),
        "CurrencyRef": _cur(t.currency),
        "PrivateNote": t.note if t.manual else f"{INTEGRATION_NOTE}: {t.source}",
    }
    if t.currency != "USD":
        obj["ExchangeRate"] = t.rate
    return obj


def _names(
    view: LedgerView,
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    d = view.data
    acc = {k: (i, n) for k, i, n in d.accounts.select("key", "id", "name").iter_rows()}
    cust = {k: (i, n) for k, i, n in d.customers.select("customer_key", "id", "name").iter_rows()}
    ven = {k: (i, n) for k, i, n in d.vendors.select("key", "id", "name").iter_rows()}
    return acc, cust, ven


def _ref(pair: tuple[str, str]) -> dict[str, str]:
    return {"value": pair[0], "name": pair[1]}


def _invoice(view: LedgerView, t: Any, names: tuple, payments: dict[str, list[str]]) -> dict[str, Any]:
    acc, cust, _ = names
    void = is_void(view, t)
    amount = 0.0 if void else t.total
    obj = _base(view, t)
    addr = _contact(t.party, str(int(cust[t.party][0]) % 997))["addr"]
    obj.update(
        {
            "AllowIPNPayment": False,
            "AllowOnlinePayment": False,
            "AllowOnlineCreditCardPayment": False,
            "AllowOnlineACHPayment": True,
            "CustomField": [],
            "BillAddr": addr,
            "ShipAddr": addr,
            "DocNumber": t.doc,
            "LinkedTxn": [{"TxnId": pid, "TxnType": "Payment"} for pid in payments.get(t.key, [])],
            "Line": [
                {
                    "Id": "1",
                    "LineNum": 1,
                    "Amount": amount,
                    "Description": "Services",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": ITEMS[INVOICE_ITEM][0], "name": ITEMS[INVOICE_ITEM][1]},
                        "TaxCodeRef": {"value": "NON"},
                    },
                },
                {"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
            ],
            "TxnTaxDetail": {"TotalTax": 0},
            "CustomerRef": _ref(cust[t.party]),
            "DueDate": _day(view, int(t.note)) if t.note.lstrip("-").isdigit() else _day(view, t.day + 30),
            "TotalAmt": amount,
            "Balance": 0.0 if void else round(t.total - view.paid.get(t.key, 0.0), 2),
            "ApplyTaxAfterDiscount": False,
            "PrintStatus": "NotSet",
            "EmailStatus": "EmailSent",
            "DepositToAccountRef": _ref(acc["ar"]),
        }
    )
    obj["PrivateNote"] = "Voided" if void else (f"{INTEGRATION_NOTE}: deal" if not t.manual else "")
    return obj


def _payment(view: LedgerView, t: Any, names: tuple, by_key: dict) -> dict[str, Any]:
    acc, cust, _ = names
    inv = by_key[t.linked]
    bank = t.lines[0][0]
    obj = _base(view, t)
    obj.update(
        {
            "CustomerRef": _ref(cust[t.party]),
            "DepositToAccountRef": _ref(acc[bank]),
            "TotalAmt": t.total,
            "UnappliedAmt": 0,
            "ProcessPayment": False,
            "PaymentRefNum": inv.doc,
            "Line": [{"Amount": t.total, "LinkedTxn": [{"TxnId": inv.id, "TxnType": "Invoice"}]}],
        }
    )
    return obj


def _bill(view: LedgerView, t: Any, names: tuple, by_key: dict, pay_of: dict) -> dict[str, Any]:
    acc, _, ven = names
    exp_key = t.lines[0][0]
    obj = _base(view, t)
    linked = [{"TxnId": pay_of[t.key], "TxnType": "BillPaymentCheck"}] if t.key in pay_of else []
    obj.update(
        {
            "APAccountRef": _ref(acc["ap"]),
            "VendorRef": _ref(ven[t.party]),
            "TotalAmt": t.total,
            "LinkedTxn": linked,
            "DueDate": _day(view, t.day + 14),
            "SalesTermRef": {"value": "3"},
            "Balance": round(t.total - view.paid.get(t.key, 0.0), 2),
            "Line": [
                {
                    "Id": "1",
                    "LineNum": 1,
                    "Description": t.note,
                    "Amount": t.total,
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {
                        "AccountRef": _ref(acc[exp_key]),
                        "BillableStatus": "NotBillable",
                        "TaxCodeRef": {"value": "NON"},
                    },
                },
            ],
        }
    )
    return obj


def _bill_payment(view: LedgerView, t: Any, names: tuple, by_key: dict) -> dict[str, Any]:
    acc, _, ven = names
    bill = by_key.get(t.linked)
    obj = _base(view, t)
    obj.update(
        {
            "VendorRef": _ref(ven[t.party]),
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": _ref(acc[t.lines[1][0]]), "PrintStatus": "NotSet"},
            "TotalAmt": t.total,
            "Line": [
                {"Amount": t.total, "LinkedTxn": [{"TxnId": bill.id, "TxnType": "Bill"}] if bill else []}
            ],
        }
    )
    return obj


def _deposit(view: LedgerView, t: Any, names: tuple) -> dict[str, Any]:
    acc, _, _ = names
    obj = _base(view, t)
    obj.update(
        {
            "DepositToAccountRef": _ref(acc["bank_usd"]),
            "TotalAmt": t.total,
            "Line": [
                {
                    "Id": str(i),
                    "LineNum": i,
                    "Amount": round(credit - debit, 2),  # a fee the processor kept is a negative line
                    "Description": t.note if i == 1 else text,
                    "DetailType": "DepositLineDetail",
                    "DepositLineDetail": {"AccountRef": _ref(acc[key])},
                }
                for i, (key, debit, credit, _amount, text) in enumerate(
                    sorted((ln for ln in t.lines if ln[0] != "bank_usd"), key=lambda ln: ln[1]), start=1
                )
            ],
        }
    )
    return obj


def _journal(view: LedgerView, t: Any, names: tuple) -> dict[str, Any]:
    acc, _, _ = names
    obj = _base(view, t)
    lines = []
    for i, (key, debit, credit, _amount, text) in enumerate(t.lines):
        lines.append(
            {
                "Id": str(i),
                "Description": text,
                "Amount": debit or credit,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {
                    "PostingType": "Debit" if debit else "Credit",
                    "AccountRef": _ref(acc[key]),
                },
            }
        )
    obj.update(
        {
            "DocNumber": f"JE-{t.id}",
            "Adjustment": t.kind in ("accrual", "reversal"),
            "Line": lines,
            "TxnTaxDetail": {},
        }
    )
    return obj


def _accounts(view: LedgerView, balances: dict[str, float]) -> list[dict[str, Any]]:
    created = view.clock.to_unix(view.clock.day(np.array([-200])))[0]
    # a posting changes the account's CurrentBalance, so its LastUpdatedTime follows the latest posting
    touched: dict[str, int] = {}
    for t in view.visible:
        for key, *_ in t.lines:
            touched[key] = max(touched.get(key, 0), view.updated[t.key])
    out = []
    for key, acc_id, name, typ, sub, cls, cur in view.data.accounts.iter_rows():
        bal = balances.get(key, 0.0)
        out.append(
            {
                "Name": name,
                "SubAccount": False,
                "FullyQualifiedName": name,
                "Active": True,
                "Classification": cls,
                "AccountType": typ,
                "AccountSubType": sub,
                "CurrentBalance": bal,
                "CurrentBalanceWithSubAccounts": bal,
                "CurrencyRef": _cur(cur),
                "domain": "QBO",
                "sparse": False,
                "Id": acc_id,
                "SyncToken": "0",
                "MetaData": _meta(int(created), max(int(created), touched.get(key, 0))),
            }
        )
    return out


def _items(view: LedgerView, acc: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """The products and services (`ledger.ITEMS`), set up with the chart of accounts; a service item
    that is only sold has an IncomeAccountRef and no ExpenseAccountRef."""
    created = int(view.clock.to_unix(view.clock.day(np.array([-200])))[0])
    out = []
    for item_id, name, typ, income in sorted(ITEMS.values(), key=lambda x: int(x[0])):
        out.append(
            {
                "Name": name,
                "Active": True,
                "FullyQualifiedName": name,
                "Taxable": False,
                "UnitPrice": 0,
                "Type": typ,
                "IncomeAccountRef": _ref(acc[income]),
                "PurchaseCost": 0,
                "TrackQtyOnHand": False,
                "domain": "QBO",
                "sparse": False,
                "Id": item_id,
                "SyncToken": "0",
                "MetaData": _meta(created, created),
            }
        )
    return out


def _parties(view: LedgerView) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    clock = view.clock
    end = clock.as_of_unix()
    customers = []
    for cid, key, name, email, country, created_day in view.data.customers.iter_rows():
        created = int(clock.to_unix(clock.day(np.array([created_day])), 9 * 3600)[0])
        if created > end:
            continue
        c = _contact(key, str(int(cid) % 997))
        customers.append(
            {
                "Taxable": False,
                "Job": False,
                "BillWithParent": False,
                "Balance": 0,
                "BalanceWithJobs": 0,
                "CurrencyRef": _cur("EUR" if country == "DE" else "USD"),
                "PreferredDeliveryMethod": "Email",
                "domain": "QBO",
                "sparse": False,
                "Id": cid,
                "SyncToken": "0",
                "MetaData": _meta(created, created),
                "FullyQualifiedName": name,
                "CompanyName": name,
                "DisplayName": name,
                "PrintOnCheckName": name,
                "Active": True,
                "PrimaryEmailAddr": {"Address": email},
                "BillAddr": c["addr"],
                "ShipAddr": c["addr"],
                "GivenName": c["given"],
                "FamilyName": c["family"],
                "PrimaryPhone": c["phone"],
                "DefaultTaxCodeRef": {"value": "NON"},
            }
        )
    vendors = []
    for key, name, _vid, _alias, created_day, vid in view.data.vendors.iter_rows():
        created = int(clock.to_unix(clock.day(np.array([created_day])), 10 * 3600)[0])
        c = _contact(key, str(int(vid) % 997))
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:16]
        vendors.append(
            {
                "Vendor1099": False,
                "domain": "QBO",
                "DisplayName": name,
                "SyncToken": "0",
                "PrintOnCheckName": name,
                "CompanyName": name,
                "sparse": False,
                "Active": True,
                "Balance": 0,
                "Id": vid,
                "MetaData": _meta(created, created),
                "CurrencyRef": _cur("USD"),
                "PrimaryEmailAddr": {"Address": f"billing@{slug}.example"},
                "BillAddr": c["addr"],
                "GivenName": c["given"],
                "FamilyName": c["family"],
                "PrimaryPhone": c["phone"],
                "AcctNum": str(1000 + int(vid)),
                "WebAddr": {"URI": f"https://www.{slug}.example"},
            }
        )
    return customers, vendors


def qbo_objects(view: LedgerView, gl: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Entity name -> QBO objects at as_of, ordered by Id."""
    names = _names(view)
    by_key = {t.key: t for t in view.visible}
    pay_of = {t.linked: t.id for t in view.visible if t.entity == "BillPayment" and t.linked}
    inv_payments: dict[str, list[str]] = {}
    for t in view.visible:
        if t.entity == "Payment" and t.linked:
            inv_payments.setdefault(t.linked, []).append(t.id)
    bal = gl.group_by("account_id").agg((pl.col("debit") - pl.col("credit")).sum().round(2))
    id_bal = dict(bal.iter_rows())
    balances = {k: float(id_bal.get(i, 0.0)) for k, i in view.data.accounts.select("key", "id").iter_rows()}
    out: dict[str, list[dict[str, Any]]] = {e: [] for e in ENTITIES}
    out["Account"] = _accounts(view, balances)
    out["Customer"], out["Vendor"] = _parties(view)
    out["Item"] = _items(view, names[0])
    for t in view.visible:
        if t.entity == "Invoice":
            out["Invoice"].append(_invoice(view, t, names, inv_payments))
        elif t.entity == "Payment":
            out["Payment"].append(_payment(view, t, names, by_key))
        elif t.entity == "Bill":
            out["Bill"].append(_bill(view, t, names, by_key, pay_of))
        elif t.entity == "BillPayment":
            out["BillPayment"].append(_bill_payment(view, t, names, by_key))
        elif t.entity == "Deposit":
            out["Deposit"].append(_deposit(view, t, names))
        else:
            out["JournalEntry"].append(_journal(view, t, names))
    return out


def qbo_deleted(view: LedgerView) -> list[dict[str, Any]]:
    """Deleted entities as CDC reports them (`status: Deleted`), with the deletion time."""
    return [
        {
            "entity": t.entity,
            "object": {
                "domain": "QBO",
                "status": "Deleted",
                "Id": t.id,
                "MetaData": {"LastUpdatedTime": qbo_time(t.deleted_at)},
            },
        }
        for t in view.deleted
    ]
