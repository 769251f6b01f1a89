"""The benchmark's server handling: a wrong HTTP answer is named at once, not waited out."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.processes import BenchError, Request, Served
from tests.integration.emulators import free_port


def test_an_http_error_at_start_is_named_with_its_status(tmp_path: Path) -> None:
    port = free_port()
    served = Served("http.server", [sys.executable, "-m", "http.server", str(port),
                                    "--bind", "127.0.0.1"], dict(os.environ), tmp_path,
                    tmp_path / "server.log")  # fmt: skip
    request = Request(f"http://127.0.0.1:{port}/predict", b"{}", {}, lambda _: True)
    started = served.start()
    try:
        with pytest.raises(BenchError, match="answered HTTP 501"):  # POST is not implemented
            served.first_answer(request, started)
        assert any("http.server" in name for name in served.peak_rss_mb())
    finally:
        served.stop()
    assert served.process is None
