"""Serving the Streamlit app: on this machine only by default, behind Streamlit's login when opened up.

The app shows the company's financials and an SQL workbench, so `ledgerlake app` listens on
127.0.0.1 unless `--host` names another address. Authentication is Streamlit's own (OpenID Connect,
`[auth]` in a `secrets.toml`; README "App login"): when an `[auth]` section is configured the pages
require a logged-in user (app/app.py). Opening the app to a network without it gets a warning.

Streamlit runs as a child process; SIGTERM or SIGINT to `ledgerlake app` stops it too.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from ledgerlake.config import Settings
from ledgerlake.errors import LedgerlakeError

APP_PY = Path(__file__).resolve().parent.parent / "app" / "app.py"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def secrets_files() -> list[Path]:
    """Where Streamlit looks for secrets: LEDGERLAKE_APP_SECRETS (paths separated by `:`), else its two
    default places."""
    given = os.environ.get("LEDGERLAKE_APP_SECRETS")
    if given:
        return [Path(p) for p in given.split(os.pathsep) if p]
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def auth_configured(files: list[Path] | None = None) -> bool:
    """True when a secrets file has an `[auth]` section (Streamlit's OIDC login)."""
    for path in files if files is not None else secrets_files():
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LedgerlakeError(f"{path}: cannot read the app's secrets ({exc})") from None
        if isinstance(data.get("auth"), dict):
            return True
    return False


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """One clear line when the port is taken, instead of Streamlit's own failure."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LedgerlakeError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): another program uses the port, "
                "or the address is not this machine's; choose --port/--host"
            ) from None


def streamlit_command(port: int, host: str) -> list[str]:
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP_PY),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    for path in secrets_files() if os.environ.get("LEDGERLAKE_APP_SECRETS") else []:
        cmd += ["--secrets.files", str(path)]
    return cmd


def serve_app(settings: Settings, port: int, host: str, out: Any, err: Any) -> int:
    """Run Streamlit in the foreground until it exits or this process is told to stop."""
    check_port_free(host, port)
    secured = auth_configured()
    if not is_loopback(host) and not secured:
        err.print(
            f"ledgerlake: warning: the app listens on {host}:{port} with no login configured: anyone who "
            "can reach this address sees the company's financials and the SQL workbench. Configure [auth] "
            "in .streamlit/secrets.toml (README: App login).",
            soft_wrap=True, markup=False, highlight=False,
        )  # fmt: skip
    env = os.environ | {
        "LEDGERLAKE_WAREHOUSE": str(settings.warehouse_path),
        "LEDGERLAKE_TARGET": settings.target,
    }
    if settings.config_path is not None:
        env["LEDGERLAKE_CONFIG"] = str(settings.config_path.resolve())
    shown = "localhost" if is_loopback(host) else host
    out.print(
        f"serving the app on http://{shown}:{port} (Ctrl+C to stop)" + (" with login" if secured else "")
    )
    child = subprocess.Popen(streamlit_command(port, host), env=env)

    def stop(signum: int, _frame: Any) -> None:
        if child.poll() is None:
            child.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # Ctrl+C reaches the child too (same process group); wait for it
                stop(signal.SIGINT, None)
        return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
