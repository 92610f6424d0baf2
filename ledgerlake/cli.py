"""The `ledgerlake` command line. User errors: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

# dlt reads its runtime settings when it is first imported: quiet by default, and no telemetry
# (the machines ledgerlake runs on may have no internet). LEDGERLAKE_LOG=INFO shows everything.
os.environ.setdefault(
    "RUNTIME__LOG_LEVEL",
    "ERROR" if os.environ.get("LEDGERLAKE_LOG", "WARNING") == "WARNING" else os.environ["LEDGERLAKE_LOG"],
)
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from ledgerlake.config import Settings, load_settings  # noqa: E402
from ledgerlake.errors import LedgerlakeError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
sandbox_app = typer.Typer(no_args_is_help=True, help="The simulated company and its vendor APIs.")
app.add_typer(sandbox_app, name="sandbox")
out = Console()
err = Console(stderr=True)

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", help="DuckDB file (env LEDGERLAKE_WAREHOUSE)", show_default=False),
]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", help="duckdb or postgres (env LEDGERLAKE_TARGET)", show_default=False),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="ledgerlake.toml", show_default=False)]
SandboxOpt = Annotated[Path, typer.Option("--sandbox", help="where the sandbox (and its truth/) goes")]
DEFAULT_HOST = "127.0.0.1"
HostOpt = Annotated[
    str,
    typer.Option(
        "--host",
        help="address to listen on; the default serves this machine only. Another address opens the "
        "company's financials to that network: configure authentication first (README: app login)",
    ),
]


def _settings(warehouse: Path | None, target: str | None, config: Path | None) -> Settings:
    return load_settings(warehouse=warehouse, target=target, config=config)


def print_summary(summary) -> None:  # noqa: ANN001 - RunSummary, imported lazily
    if summary.sources:
        _print_sources(summary)
    if summary.marts:
        m = Table(title="marts")
        m.add_column("table")
        m.add_column("rows", justify="right")
        for name, rows in summary.marts.items():
            m.add_row(name, f"{rows:,}")
        out.print(m)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in summary.steps.items())
    out.print(f"steps: {steps}")
    if summary.forecast:
        f = summary.forecast
        shown = ("as_of_date", "horizon_days", "known_flow_rows", "mase_vs_seasonal_naive", "coverage_80",
                 "anomalies_flags", "categorise_trained_on", "categorise_review_share")  # fmt: skip
        parts = [f"{k}={round(f[k], 3) if isinstance(f[k], float) else f[k]}" for k in shown if k in f]
        out.print(
            "forecast: " + ", ".join(parts) + " (all metrics: ledgerlake eval, marts.forecast_backtest)"
        )
    if summary.forecast.get("not_beating_baseline"):
        _print_baselines(summary.forecast["not_beating_baseline"])
    for w in summary.build_warnings:
        out.print(f"dbt warning: {w}", soft_wrap=True, markup=False, highlight=False)
    for s in summary.failed_sources:
        err.print(f"source {s.source} failed: {s.error}", soft_wrap=True, markup=False, highlight=False)
    for f in summary.build_failures:
        err.print(f"dbt: {f}", soft_wrap=True, markup=False, highlight=False)
    if summary.failed_step and not summary.build_failures and not summary.failed_sources:
        err.print(
            f"stopped at {summary.failed_step}: {summary.failure_reason}",
            soft_wrap=True, markup=False, highlight=False,
        )  # fmt: skip
    if summary.quarantined:
        where = ", ".join(
            sorted(
                {
                    f"raw_{s.source}.quarantine"
                    for s in summary.sources
                    if any(c.quarantined for c in s.objects.values())
                }
            )
        )
        out.print(
            f"{summary.quarantined} input row(s) quarantined: see {where} "
            "(and marts.quarantine after the next build)",
            soft_wrap=True, markup=False, highlight=False,
        )  # fmt: skip


def _print_baselines(entries: list[dict]) -> None:
    """Where the chosen forecast model does not beat a naive baseline: once, as a table."""
    t = Table(title="forecast vs baselines: buckets where the chosen model does not win (backtest MASE)")
    for col in ("series", "horizon", "model", "baseline", "model MASE", "baseline MASE", ""):
        t.add_column(col, justify="right" if "MASE" in col else "left")
    for e in entries:
        mine, theirs = e.get("mase"), e.get("mase_baseline")
        verdict = "tie" if mine is not None and theirs is not None and abs(mine - theirs) < 1e-9 else "worse"
        t.add_row(
            str(e.get("unique_id")), str(e.get("horizon_bucket")), str(e.get("model")), str(e.get("baseline")),
            "–" if mine is None else f"{mine:.3f}", "–" if theirs is None else f"{theirs:.3f}", verdict,
        )  # fmt: skip
    out.print(t)


def _print_sources(summary) -> None:  # noqa: ANN001
    t = Table(title=f"ledgerlake run {summary.run_id}: loads")
    # "changed": new or changed since the last load; "same": re-read, already in the warehouse as it is
    cols = ("source", "object", "seen", "changed", "same", "quarantined", "dupes")
    for col in cols:
        t.add_column(col, justify="right" if col not in ("source", "object") else "left")
    for s in summary.sources:
        if s.error:
            t.add_row(s.source, "[red]failed[/red]", "", "", "", "", "")
        for obj, c in sorted(s.objects.items()):
            written = c.loaded if c.written is None else c.written
            t.add_row(
                s.source, obj, str(c.seen), str(written), str(max(c.loaded - written, 0)),
                str(c.quarantined), str(c.duplicates),
            )  # fmt: skip
    out.print(t)
    if summary.sources and not summary.failed_sources and not summary.written:
        out.print("nothing new: every record read was already in the warehouse")


def _progress_runner():  # noqa: ANN202
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=out)


@contextmanager
def _writing(settings: Settings, summary, command: str):  # noqa: ANN001, ANN202 - RunSummary
    """Hold the warehouse's write lock for the command and record its outcome for the app."""
    from ledgerlake.lock import writer_lock
    from ledgerlake.orchestrate import check_target, record_status

    check_target(settings)
    with writer_lock(settings.lock_path, notify=lambda m: err.print(m, soft_wrap=True, markup=False)):
        try:
            yield
        except Exception as exc:  # recorded for the app, then raised: one line (user error) or a bug
            bug = "" if isinstance(exc, LedgerlakeError) else f"internal error {type(exc).__name__}: "
            summary.fail(command.split()[0], bug + str(exc))
            raise
        finally:
            record_status(settings, summary, command)


@app.command()
def run(
    warehouse: WarehouseOpt = None,
    target: TargetOpt = None,
    sandbox: SandboxOpt = Path("data/sandbox"),
    scale: Annotated[float, typer.Option(help="sandbox size; 1 ≈ one company-year")] = 0.2,
    seed: Annotated[int, typer.Option(help="sandbox seed")] = 42,
    config: ConfigOpt = None,
) -> None:
    """sandbox -> ingest -> build -> forecast, headless; prints the run summary."""
    from ledgerlake.orchestrate import RunSummary, run_all

    _check_scale(scale)
    settings = _settings(warehouse, target, config)
    summary = RunSummary()
    with _writing(settings, summary, "run"), _progress_runner() as progress:
        task = progress.add_task("starting", total=None)
        run_all(
            settings, sandbox.resolve(), seed, scale,
            progress=lambda s: progress.update(task, description=s), summary=summary,
        )  # fmt: skip
    print_summary(summary)
    out.print(f"warehouse: {settings.warehouse_path if settings.target == 'duckdb' else 'postgres'}")
    raise typer.Exit(summary.exit_code())


@app.command()
def demo(
    warehouse: WarehouseOpt = None,
    sandbox: SandboxOpt = Path("data/sandbox"),
    scale: Annotated[float, typer.Option()] = 0.2,
    seed: Annotated[int, typer.Option()] = 42,
    port: Annotated[int, typer.Option()] = 8501,
    host: HostOpt = DEFAULT_HOST,
    config: ConfigOpt = None,
) -> None:
    """`run`, then serve the app on http://localhost:PORT."""
    _check_scale(scale)
    settings = _settings(warehouse, None, config)
    _check_port(port)
    # The run is a child process: when it exits, every handle on the warehouse goes with it, so the
    # demo serves only the published snapshot and another terminal's `ledgerlake run` can write.
    cmd = [
        sys.executable, "-m", "ledgerlake.cli", "run", "--warehouse", str(settings.warehouse_path),
        "--sandbox", str(sandbox), "--scale", str(scale), "--seed", str(seed), "--target", "duckdb",
    ]  # fmt: skip
    if config is not None:
        cmd += ["--config", str(config)]
    code = subprocess.call(cmd)
    if code not in (0, 1):
        raise typer.Exit(code)
    _serve_app(settings, port, host)


@app.command()
def ingest(
    args: Annotated[list[str] | None, typer.Argument(help="source names, or `files PATH...`")] = None,
    warehouse: WarehouseOpt = None,
    target: TargetOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Load the API sources (all by default), or `ingest files PATH...` for statement/export files."""
    from ledgerlake.orchestrate import RunSummary, ingest_api, ingest_files, record_load_runs

    settings = _settings(warehouse, target, config)
    summary = RunSummary()
    args = args or []
    if args and args[0] == "files" and len(args) == 1:
        raise LedgerlakeError("`ingest files` needs at least one file or folder")
    with _writing(settings, summary, "ingest " + " ".join(args)):
        if args and args[0] == "files":
            ingest_files(settings, [Path(p) for p in args[1:]], summary)
        else:
            ingest_api(settings, args or None, summary)
        record_load_runs(settings, summary)
    print_summary(summary)
    raise typer.Exit(summary.exit_code())


@app.command()
def build(warehouse: WarehouseOpt = None, target: TargetOpt = None, config: ConfigOpt = None) -> None:
    """`dbt build` of the project against the chosen target."""
    from ledgerlake.orchestrate import RunSummary, publish_snapshot
    from ledgerlake.orchestrate import build as build_step

    settings = _settings(warehouse, target, config)
    summary = RunSummary()
    with _writing(settings, summary, "build"):
        build_step(settings, summary)
        if not summary.build_failures:
            publish_snapshot(settings, summary)
    print_summary(summary)
    raise typer.Exit(summary.exit_code())


@app.command()
def forecast(warehouse: WarehouseOpt = None, target: TargetOpt = None, config: ConfigOpt = None) -> None:
    """Forecasts, anomaly flags, categorisation; writes back to the warehouse."""
    from ledgerlake.orchestrate import RunSummary, publish_snapshot
    from ledgerlake.orchestrate import forecast as forecast_step

    settings = _settings(warehouse, target, config)
    summary = RunSummary()
    with _writing(settings, summary, "forecast"):
        forecast_step(settings, summary)
        publish_snapshot(settings, summary)
    print_summary(summary)
    raise typer.Exit(summary.exit_code())


@app.command("eval")
def eval_(
    truth: Annotated[Path, typer.Option("--truth", help="a sandbox truth folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    warehouse: WarehouseOpt = None,
    target: TargetOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Measure the warehouse against a sandbox truth folder; prints the metrics."""
    from ledgerlake.evaluate import evaluate
    from ledgerlake.lock import writer_lock

    settings = _settings(warehouse, target, config)
    # DuckDB lets no other process open the file while one writes it: wait for the writer like a writer
    with writer_lock(settings.lock_path, notify=lambda m: err.print(m, soft_wrap=True, markup=False)):
        metrics = evaluate(settings, truth)
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=None, default=str) + "\n")
        return
    t = Table(title=f"ledgerlake eval against {truth}")
    t.add_column("layer")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for layer, values in metrics.items():
        for k, v in values.items():
            if isinstance(v, dict):
                continue  # the breakdowns (by object, by rule, by KPI) are in --json
            t.add_row(layer, k, json.dumps(v, default=str) if isinstance(v, list) else str(v))
    out.print(t)
    out.print("breakdowns by object, rule and KPI: --json")


@app.command("app")
def app_cmd(
    port: Annotated[int, typer.Option()] = 8501,
    host: HostOpt = DEFAULT_HOST,
    warehouse: WarehouseOpt = None,
    target: TargetOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The Streamlit app (on 127.0.0.1 unless --host says otherwise)."""
    settings = _settings(warehouse, target, config)
    _check_port(port)
    _serve_app(settings, port, host)


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise LedgerlakeError(f"--port {port} is out of range (1-65535)")


def _check_scale(scale: float) -> None:
    if not scale > 0 or scale > 1000:
        raise LedgerlakeError(f"--scale {scale:g} must be above 0 (1 ≈ one company-year) and at most 1000")


def _serve_app(settings: Settings, port: int, host: str) -> None:
    from ledgerlake.appserver import serve_app

    raise typer.Exit(serve_app(settings, port, host, out=out, err=err))


@sandbox_app.command("generate")
def sandbox_generate(
    out_dir: Annotated[Path, typer.Option("--out", help="output folder")],
    seed: Annotated[int, typer.Option()] = 42,
    scale: Annotated[float, typer.Option()] = 1.0,
) -> None:
    """Write the simulated company: file exports, API state and DIR/truth/."""
    from sandbox.generate import generate

    _check_scale(scale)

    summary = generate(seed=seed, scale=scale, out=out_dir)
    out.print_json(json.dumps(summary, default=str))


@sandbox_app.command("serve")
def sandbox_serve(
    data: Annotated[Path, typer.Option("--data", help="a generated sandbox folder")],
    port: Annotated[int, typer.Option()] = 8765,
    faults: Annotated[
        str | None,
        typer.Option(help="e.g. 429=0.05,500=0.02,503=0.01,slow=0.01,dup_page=0.01,mid_page_update=0.01"),
    ] = None,
) -> None:
    """Serve the vendor APIs on 127.0.0.1."""
    if not (data / "sandbox.json").exists():
        raise LedgerlakeError(
            f"{data} is not a sandbox folder (no sandbox.json): run `ledgerlake sandbox generate`"
        )
    from ledgerlake.appserver import check_port_free
    from sandbox.server import serve

    _check_port(port)
    check_port_free("127.0.0.1", port)
    serve(data, port, faults)


@sandbox_app.command("advance")
def sandbox_advance(
    data: Annotated[Path, typer.Option("--data")],
    days: Annotated[int, typer.Option()] = 7,
) -> None:
    """Move the simulated clock: new, updated and deleted records."""
    from sandbox.advance import advance

    if not (data / "sandbox.json").exists():
        raise LedgerlakeError(f"{data} is not a sandbox folder (no sandbox.json)")
    if days < 1:
        raise LedgerlakeError(f"--days {days} must be 1 or more")
    out.print_json(json.dumps(advance(data, days), default=str))


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LEDGERLAKE_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s"
    )
    sys.exit(_invoke())


def _invoke() -> int:
    """Runs the app and maps the outcome to the contract's exit codes (0, 1, 2; else a bug)."""
    try:
        # without standalone mode click returns the code of `raise typer.Exit(n)` instead of exiting
        code = app(standalone_mode=False)
    except LedgerlakeError as exc:
        err.print(f"ledgerlake: {' '.join(str(exc).split())}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("ledgerlake: aborted")
        return 130
    except typer.TyperException as exc:  # usage errors (typer's bundled click's ClickException)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"ledgerlake: {exc}")
        return 2
    except Exception:  # anything else is a bug: the traceback, and a code that is not 0, 1 or 2
        import traceback

        traceback.print_exc()
        return 3
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
