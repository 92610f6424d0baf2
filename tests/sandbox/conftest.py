from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.generate import generate

SMALL_SCALE = 0.05


@pytest.fixture(scope="session")
def small_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated sandbox (seed 1), shared read-only by the sandbox tests."""
    out = tmp_path_factory.mktemp("sandbox_small")
    generate(seed=1, scale=SMALL_SCALE, out=out)
    return out
