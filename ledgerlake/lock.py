"""One writer at a time: the warehouse's write lock.

DuckDB lets one process write a file and then no other process open it, and a PostgreSQL target is
no better off with two loads merging the same tables at once. Every command that writes (`run`,
`ingest`, `build`, `forecast`, the run half of `demo`) holds this lock for its whole length, so two
commands never interleave their steps. The lock is an advisory `flock` on a file beside the warehouse
(`<warehouse>.lock`), which the kernel releases when the holder exits, however it exits; the file
names the holder (pid, command, since) so the one waiting can say whom it waits for.

A second writer waits, printing who holds the lock every few seconds, for at most
`LEDGERLAKE_LOCK_TIMEOUT` seconds (default 1800; 0 refuses at once), then gives up with one line
naming the holder (exit 2).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ledgerlake.errors import LedgerlakeError

DEFAULT_TIMEOUT_SECONDS = 1800.0
POLL_SECONDS = 0.25
REPORT_EVERY_SECONDS = 10.0


def lock_timeout() -> float:
    raw = os.environ.get("LEDGERLAKE_LOCK_TIMEOUT")
    if raw is None or raw == "":
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise LedgerlakeError(f"LEDGERLAKE_LOCK_TIMEOUT '{raw}' is not a number of seconds") from None
    if value < 0:
        raise LedgerlakeError(f"LEDGERLAKE_LOCK_TIMEOUT must be 0 or more seconds, got {raw}")
    return value


def read_holder(path: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock, from the lock file; None when unknown."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another ledgerlake command"
    return f"pid {holder.get('pid')} (`{holder.get('command', '?')}`, since {holder.get('since', '?')})"


def _command_line() -> str:
    args = [Path(sys.argv[0]).name if sys.argv else "ledgerlake", *sys.argv[1:]]
    if args and args[0] in ("cli.py", "__main__.py", "-m"):
        args[0] = "ledgerlake"
    return " ".join(args)


@contextmanager
def writer_lock(
    path: Path,
    command: str | None = None,
    timeout: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the write lock at `path` for the body; wait for it (up to `timeout` s) when another has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    timeout = lock_timeout() if timeout is None else timeout
    notify = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
    handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the body
    try:
        _acquire(handle, path, timeout, notify)
        handle.seek(0)
        handle.truncate()
        holder = {
            "pid": os.getpid(),
            "command": command or _command_line(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
        }
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _acquire(handle: IO[str], path: Path, timeout: float, notify: Callable[[str], None]) -> None:
    started = time.monotonic()
    reported = None
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if reported is not None:
                notify(f"ledgerlake: got the warehouse lock after {time.monotonic() - started:.0f} s")
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - started
        holder = describe(read_holder(path))
        if waited >= timeout:
            raise LedgerlakeError(
                f"the warehouse is being written by {holder}; "
                + (
                    f"gave up after waiting {waited:.0f} s (LEDGERLAKE_LOCK_TIMEOUT)"
                    if timeout
                    else "try again when it has finished (or set LEDGERLAKE_LOCK_TIMEOUT to wait)"
                )
                + f"; lock file {path}"
            )
        if reported is None or time.monotonic() - reported >= REPORT_EVERY_SECONDS:
            notify(f"ledgerlake: waiting for the warehouse lock held by {holder} ({waited:.0f} s so far)")
            reported = time.monotonic()
        time.sleep(POLL_SECONDS)
