"""The sandbox's vendor APIs over HTTP: Stripe v1 lists and Plaid-style transactions sync.

`create_app(data_dir, faults)` builds the Starlette app over a generated sandbox folder;
`serve(...)` runs it with uvicorn (blocking); `serve_in_thread(...)` runs it in a background
thread for tests and the CLI's one-shot runs, yielding the base URL.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerlake.errors import LedgerlakeError
from sandbox.server import hubspot_api, plaid_api, quickbooks_api, shopify_api, stripe_api
from sandbox.server.faults import RETRY_AFTER_SECONDS, SLOW_SECONDS, FaultInjector, parse_faults
from sandbox.server.mid_page import MidPageUpdates
from sandbox.server.store import StateHolder

Handler = Callable[[Request], Awaitable[Response]]
# `mid_page_update`: changes one record before a next-page request is served; the change, or None
Mutator = Callable[[Request], Awaitable[dict | None]]


class _Faults:
    """Applies one drawn fault per request.

    For `dup_page` it remembers, per endpoint and query, the last good page and the continuation
    token that page handed out (Stripe: its last id; Plaid: `next_cursor`). A request that presents
    that token while the fault fires gets the same page again, as a flaky API or proxy would do.
    For `mid_page_update` it runs the route's mutator (`sandbox.server.mid_page`) before the page
    is built, and counts the fault when a record was changed.
    """

    def __init__(self, injector: FaultInjector) -> None:
        self.injector = injector
        self.last_page: dict[str, tuple[str, Response]] = {}

    @staticmethod
    async def _page_key(api: str, request: Request) -> tuple[str, str | None]:
        """(which walk the request belongs to, the continuation token it presents)."""
        if api == "plaid":
            try:
                body = json.loads(await request.body() or b"{}")
            except json.JSONDecodeError:
                return request.url.path, None
            token = body.get("cursor") if isinstance(body, dict) else None
            return f"{request.url.path}|{body.get('access_token') if isinstance(body, dict) else ''}", token
        if api == "shopify":  # Shopify's continuation token is page_info (alone, or with limit/fields)
            params = sorted((k, v) for k, v in request.query_params.multi_items() if k != "page_info")
            return f"{request.url.path}|{params}", request.query_params.get("page_info")
        if api == "hubspot" and request.method == "GET":  # HubSpot lists: the `after` cursor
            params = sorted((k, v) for k, v in request.query_params.multi_items() if k != "after")
            return f"{request.url.path}|{params}", request.query_params.get("after")
        if api in ("hubspot", "quickbooks"):  # search bodies and QBO query text: no page replay
            return request.url.path, None
        params = sorted((k, v) for k, v in request.query_params.multi_items() if k != "starting_after")
        return f"{request.url.path}|{params}", request.query_params.get("starting_after")

    def error(self, api: str, kind: str) -> Response:
        status = int(kind)
        if api == "plaid":
            err_type = "RATE_LIMIT_EXCEEDED" if status == 429 else "API_ERROR"
            code = "TRANSACTIONS_SYNC_LIMIT" if status == 429 else "INTERNAL_SERVER_ERROR"
            resp: Response = plaid_api.plaid_error(status, err_type, code, f"sandbox injected fault {kind}")
        elif api == "quickbooks":
            resp = quickbooks_api.fault(
                status, "message=ThrottleExceeded" if status == 429 else "message=InternalServerError",
                f"sandbox injected fault {kind}", "003001" if status == 429 else "10000", "SERVICE",
            )  # fmt: skip
        elif api == "hubspot":
            category = "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR"
            resp = hubspot_api.hs_error(status, f"sandbox injected fault {kind}", category)
        elif api == "shopify":
            message = shopify_api.RATE_LIMIT_ERROR if status == 429 else "Internal Server Error"
            resp = shopify_api.shopify_error(status, message)
        elif status == 429:
            resp = stripe_api.stripe_error(
                429, "Too many requests hit the API too quickly.", code="rate_limit"
            )
        else:
            resp = stripe_api.stripe_error(
                status, "An unknown error occurred (sandbox injected fault).", "api_error"
            )
        if status == 429:
            resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return resp

    def wrap(self, api: str, handler: Handler, mutate: Mutator | None = None) -> Handler:
        async def wrapped(request: Request) -> Response:
            kind = self.injector.draw()
            if kind in ("429", "500", "503"):
                return self.error(api, kind)
            if kind == "slow":
                await asyncio.sleep(SLOW_SECONDS)
            if kind == "mid_page_update" and mutate is not None and await mutate(request) is not None:
                self.injector.count(kind)
            key, token = await self._page_key(api, request)
            cached = self.last_page.get(key)
            if kind == "dup_page" and cached is not None and token and cached[0] == token:
                return cached[1]
            resp = await handler(request)
            continuation = getattr(request.state, "continuation", None)
            if resp.status_code == 200 and continuation:
                self.last_page[key] = (continuation, resp)
            return resp

        return wrapped


def _stripe_handler(holder: StateHolder, name: str) -> Handler:
    async def handler(request: Request) -> Response:
        denied = stripe_api.check_auth(request)
        if denied is not None:
            return denied
        state = holder.get()
        objs = state.stripe.get(name)
        if objs is None:
            return stripe_api.stripe_error(404, f"Unrecognized request URL (GET: /v1/{name}).")
        return stripe_api.list_response(request, objs, state.stripe_payout_members)

    return handler


def _plaid_handler(holder: StateHolder, endpoint: str) -> Handler:
    async def handler(request: Request) -> Response:
        body = await plaid_api.parse_body(request)
        if isinstance(body, Response):
            return body
        if endpoint == "sync":
            return plaid_api.transactions_sync(holder.get(), body, request)
        return plaid_api.accounts_get(holder.get())

    return handler


def _shopify_handler(holder: StateHolder, name: str) -> Handler:
    async def handler(request: Request) -> Response:
        return shopify_api.handle(request, holder.get().shopify, name)

    return handler


def _quickbooks_routes(
    holder: StateHolder, wrap: Callable[..., Handler], updates: MidPageUpdates
) -> list[Route]:
    store = quickbooks_api.QboStore(holder.data_dir)

    async def mutate(request: Request) -> dict | None:
        state = holder.get()
        return updates.quickbooks(store.get(state), request, sandbox_now(state.meta))

    def endpoint(fn: Callable[..., Response]) -> Handler:
        async def handler(request: Request) -> Response:
            denied = quickbooks_api.check_auth(request)
            return denied if denied is not None else fn(store.get(holder.get()), request)

        return wrap("quickbooks", handler, mutate if fn is quickbooks_api.query else None)

    base = "/v3/company/{realm}"
    return [
        Route(f"{base}/query", endpoint(quickbooks_api.query), methods=["GET", "POST"]),
        Route(f"{base}/cdc", endpoint(quickbooks_api.cdc)),
        Route(f"{base}/reports/{{report}}", endpoint(quickbooks_api.report)),
    ]


def _hubspot_routes(
    holder: StateHolder, wrap: Callable[..., Handler], updates: MidPageUpdates
) -> list[Route]:
    store = hubspot_api.HubspotStore(holder.data_dir)

    async def mutate(request: Request) -> dict | None:
        state = holder.get()
        return await updates.hubspot(store.get(state), store.lock, request, sandbox_now(state.meta))

    async def objects(request: Request) -> Response:
        denied = hubspot_api.check_auth(request)
        return denied if denied is not None else hubspot_api.list_objects(store.get(holder.get()), request)

    async def search(request: Request) -> Response:
        denied = hubspot_api.check_auth(request)
        return denied if denied is not None else await hubspot_api.search(store.get(holder.get()), request)

    async def patch(request: Request) -> Response:
        denied = hubspot_api.check_auth(request)
        state = store.get(holder.get())
        return (
            denied
            if denied is not None
            else await hubspot_api.patch(state, store.lock, request, sandbox_now(holder.get().meta))
        )

    base = "/crm/v3/objects/{object}"
    return [
        Route(base, wrap("hubspot", objects, mutate)),
        Route(f"{base}/search", wrap("hubspot", search, mutate), methods=["POST"]),
        Route(f"{base}/{{object_id}}", wrap("hubspot", patch), methods=["PATCH"]),
    ]


def sandbox_now(meta: dict[str, object]) -> datetime:
    """The simulated company's "now": the last second of its `as_of` day (UTC)."""
    as_of = date.fromisoformat(str(meta["as_of"]))
    return datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=UTC) - timedelta(seconds=1)


class _SimulatedDate:
    """Sets every response's HTTP `Date` header to the simulated clock, as a vendor's server sets it
    to its own clock: a client that reads the source's time (sync lag) then sees the sandbox's day,
    not the wall clock. uvicorn's own `date` header is switched off (`date_header=False`)."""

    def __init__(self, app: Callable[..., Awaitable[None]], holder: StateHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stamp = format_datetime(sandbox_now(self.holder.get().meta), usegmt=True).encode()

        async def send_with_date(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self.app(scope, receive, send_with_date)


def create_app(data_dir: Path, faults: str | None = None, seed: int | None = None) -> Starlette:
    """The Starlette app serving the sandbox at `data_dir`; `faults` like `429=0.05,dup_page=0.01`."""
    holder = StateHolder(Path(data_dir))
    state = holder.get()
    injector = FaultInjector(
        parse_faults(faults), seed if seed is not None else int(state.meta.get("seed", 0))
    )
    wrap = _Faults(injector).wrap
    updates = MidPageUpdates(injector.seed)

    async def health(_: Request) -> Response:
        meta = holder.get().meta
        return JSONResponse(
            {
                "status": "ok",
                "sandbox": meta,
                "faults_injected": injector.injected,
                "mid_page_updates": updates.log,
            }
        )

    def stripe_mutator(name: str) -> Mutator:
        async def mutate(request: Request) -> dict | None:
            state = holder.get()
            return updates.stripe(state, request, name, sandbox_now(state.meta))

        return mutate

    def shopify_mutator(name: str) -> Mutator:
        async def mutate(request: Request) -> dict | None:
            state = holder.get()
            return updates.shopify(state.shopify, request, name, sandbox_now(state.meta))

        return mutate

    routes = [Route("/", health), Route("/health", health)]
    routes += [
        Route(f"/v1/{name}", wrap("stripe", _stripe_handler(holder, name), stripe_mutator(name)))
        for name in stripe_api.SINGULAR
    ]
    routes += [
        Route("/transactions/sync", wrap("plaid", _plaid_handler(holder, "sync")), methods=["POST"]),
        Route("/accounts/get", wrap("plaid", _plaid_handler(holder, "accounts")), methods=["POST"]),
    ]
    routes += [
        Route(
            f"/admin/api/{{version}}/{name}.json",
            wrap("shopify", _shopify_handler(holder, name), shopify_mutator(name)),
        )
        for name in shopify_api.OBJECTS
    ]
    routes += [
        Route(f"/admin/api/{{version}}/{path}.json", wrap("shopify", _shopify_handler(holder, name)))
        for name, (path, _key) in shopify_api.PAYMENTS.items()
    ]
    routes += _quickbooks_routes(holder, wrap, updates) + _hubspot_routes(holder, wrap, updates)
    app = Starlette(routes=routes)
    app.add_middleware(_SimulatedDate, holder=holder)
    app.state.injector = injector
    app.state.mid_page_updates = updates
    app.state.sandbox = holder
    return app


def serve(data_dir: Path, port: int, faults: str | None = None) -> None:
    """Serve the sandbox on 127.0.0.1:`port` until interrupted (blocking)."""
    uvicorn.run(
        create_app(data_dir, faults), host="127.0.0.1", port=port, log_level="warning", date_header=False
    )


@contextmanager
def serve_in_thread(data_dir: Path, port: int = 0, faults: str | None = None) -> Iterator[str]:
    """Run the sandbox in a background thread; yields `http://127.0.0.1:<port>`; stops on exit."""
    with serve_app_in_thread(create_app(data_dir, faults), port) as url:
        yield url


@contextmanager
def serve_app_in_thread(app: Starlette, port: int = 0) -> Iterator[str]:
    """`serve_in_thread` for an app built with `create_app`, e.g. to switch its faults while it runs
    (`app.state.injector.configure(...)`)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", date_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sandbox-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise LedgerlakeError(f"sandbox server did not start on 127.0.0.1:{port} (port in use?)")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = ["create_app", "serve", "serve_app_in_thread", "serve_in_thread"]
