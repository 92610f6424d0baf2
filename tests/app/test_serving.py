"""How the app is served: this machine only unless asked, a warning when opened without login, the
Streamlit child stopped with its parent, and a login wall when Streamlit auth is configured."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at `port`, from /proc/net/tcp (state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(host_hex)[::-1]))
    return found


def _start_app(
    tmp_path: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERLAKE_", "SOURCES__"))}
    env |= {"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb"), "HOME": str(tmp_path)} | (env_extra or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerlake.cli", "app", "--port", str(port), *extra],
        cwd=tmp_path, env=env | {"PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"the app did not come up: {proc.communicate()[1][-2000:]}")


def test_the_app_listens_on_loopback_only_and_stops_with_sigterm(tmp_path: Path) -> None:
    proc, port = _start_app(tmp_path)
    try:
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.send_signal(signal.SIGTERM)  # to `ledgerlake app` only, not to its process group
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    deadline = time.time() + 10
    while listening_addresses(port) and time.time() < deadline:
        time.sleep(0.2)
    assert not listening_addresses(port), "the Streamlit child outlived `ledgerlake app`"


def test_opening_the_app_to_the_network_without_login_warns(tmp_path: Path) -> None:
    proc, port = _start_app(tmp_path, "--host", "0.0.0.0")
    try:
        assert listening_addresses(port) == {"0.0.0.0"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert "no login configured" in stderr
    assert "[auth]" in stderr


def test_with_login_configured_no_opening_warning(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "x"\n'
        'client_id = "id"\nclient_secret = "s"\n'
        'server_metadata_url = "https://accounts.example.com/.well-known/openid-configuration"\n'
    )
    proc, _port = _start_app(
        tmp_path, "--host", "0.0.0.0", env_extra={"LEDGERLAKE_APP_SECRETS": str(secrets)}
    )
    os.killpg(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert "no login configured" not in stderr
    assert "with login" in stdout


def test_pages_require_a_logged_in_user_when_auth_is_configured(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app" / "app.py"), default_timeout=60)
    at.secrets["auth"] = {"client_id": "id", "client_secret": "s", "cookie_secret": "x"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button] == ["Log in"]
    assert [t.value for t in at.title] == ["ledgerlake"]  # no page ran: no Overview, no numbers
    assert not at.metric and not at.dataframe


def test_without_auth_the_pages_run(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app" / "app.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Overview" in [t.value for t in at.title]
