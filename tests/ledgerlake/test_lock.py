"""Writers queue behind one lock: a second writer waits (saying for whom) or refuses with one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledgerlake.errors import LedgerlakeError
from ledgerlake.lock import read_holder, writer_lock
from tests.ledgerlake.test_cli import ROOT, ledgerlake

OFX = ROOT / "tests" / "fixtures" / "real" / "bank_ofx" / "checking.ofx"


def hold_lock(path: Path, seconds: float, command: str = "ledgerlake run") -> subprocess.Popen:
    """Another process holding the lock for `seconds`; returns once it holds it."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ledgerlake.lock import writer_lock\n"
        f"with writer_lock(Path({str(path)!r}), command={command!r}, timeout=0):\n"
        "    print('held', flush=True)\n"
        f"    time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    lock = tmp_path / "w.duckdb.lock"
    holder = hold_lock(lock, 30)
    try:
        assert read_holder(lock)["pid"] == holder.pid
        with (
            pytest.raises(LedgerlakeError, match=rf"pid {holder.pid} \(`ledgerlake run`"),
            writer_lock(lock, timeout=0),
        ):
            pytest.fail("got a lock another process holds")
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_writer_says_so_and_gets_the_lock_when_it_is_released(tmp_path: Path) -> None:
    lock = tmp_path / "w.duckdb.lock"
    holder = hold_lock(lock, 1.5)
    said: list[str] = []
    started = time.monotonic()
    with writer_lock(lock, command="ledgerlake ingest files x", timeout=30, notify=said.append):
        waited = time.monotonic() - started
        assert read_holder(lock)["command"] == "ledgerlake ingest files x"
    holder.wait()
    assert waited >= 1.0
    assert any("waiting for the warehouse lock held by pid" in m for m in said), said
    assert read_holder(lock) is None  # released: the file no longer names a holder


def test_the_lock_goes_with_a_holder_that_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / "w.duckdb.lock"
    holder = hold_lock(lock, 60)
    holder.kill()
    holder.wait()
    with writer_lock(lock, timeout=1):
        pass


def test_ingest_refuses_while_another_command_writes(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    holder = hold_lock(warehouse.with_name("w.duckdb.lock"), 60)
    try:
        res = ledgerlake(
            "ingest", "files", str(OFX),
            env={"LEDGERLAKE_WAREHOUSE": str(warehouse), "LEDGERLAKE_LOCK_TIMEOUT": "0"},
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"the warehouse is being written by pid {holder.pid} (`ledgerlake run`" in res.stderr
    assert not warehouse.exists()  # nothing was written


def test_ingest_waits_for_the_writer_then_loads(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    holder = hold_lock(warehouse.with_name("w.duckdb.lock"), 3)
    res = ledgerlake("ingest", "files", str(OFX), env={"LEDGERLAKE_WAREHOUSE": str(warehouse)})
    holder.wait()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "waiting for the warehouse lock held by pid" in res.stderr
    assert "Traceback" not in res.stderr
