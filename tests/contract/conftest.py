"""Fixtures of the door contract tests."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py

from core.inference import clear_cache
from tests.conftest import project_settings

SECRET = "snapstart-secret-0123456789abcdefghij"


@pytest.fixture
def cold_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler module imported cold in a project, with the hooks it registered."""
    from core.training.run import train

    settings, store = project_settings(tmp_path)
    train(settings, store, model_types=["logistic_regression"])
    monkeypatch.setenv("MLFN_CONFIG", str(settings.config_path))
    monkeypatch.setenv("MLFN_JWT_SECRET", SECRET)
    monkeypatch.setenv("MLFN_TRACKING", "off")
    snapshot_restore_py._before_snapshot_registry.clear()
    snapshot_restore_py._after_restore_registry.clear()
    clear_cache()  # no session left over from the training in this process
    import functions.aws.handler as handler

    loop = asyncio.new_event_loop()  # Mangum runs on the current loop; an earlier test's is closed
    asyncio.set_event_loop(loop)
    yield importlib.reload(handler)
    loop.close()
    snapshot_restore_py._before_snapshot_registry.clear()
    snapshot_restore_py._after_restore_registry.clear()
