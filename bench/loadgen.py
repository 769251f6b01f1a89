"""A constant-concurrency load on loopback: wrk (Debian's package) when it is installed, else an
asynchronous httpx client. Both report requests/s, p50, p99 and errors."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.processes import Request

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
{headers}
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str, seconds: float) -> dict[str, Any]:
    """requests/s, p50/p99 (ms) and errors from `wrk --latency` output."""
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE))
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return {
        "tool": "wrk",
        "seconds": seconds,
        "requests": total,
        "requests_per_s": round(rate, 1),
        "p50_ms": round(_ms(percentiles["50"]), 3),
        "p75_ms": round(_ms(percentiles["75"]), 3),
        "p90_ms": round(_ms(percentiles["90"]), 3),
        "p99_ms": round(_ms(percentiles["99"]), 3),
        "errors": errors,
    }


def run_wrk(request: Request, concurrency: int, seconds: float, threads: int = 1) -> dict[str, Any]:
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in request.headers.items()
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=_lua_string(request.body.decode()), headers=headers))
    try:
        command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency",
                   "-s", script.name, request.url]  # fmt: skip
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        Path(script.name).unlink()
    return parse_wrk(result.stdout, seconds)


def _percentile(ordered: list[float], q: int) -> float:
    return round(ordered[int(q / 100 * (len(ordered) - 1))], 3)


async def _httpx_load(request: Request, concurrency: int, seconds: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        stop_at = time.perf_counter() + seconds

        async def user() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    answer = await client.post(
                        request.url, content=request.body, headers=request.headers
                    )
                    ok = answer.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "tool": "httpx (async)",
        "seconds": seconds,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        **{f"p{q}_ms": _percentile(latencies, q) for q in (50, 75, 90, 99)},
        "errors": errors,
    }


def load(request: Request, concurrency: int, seconds: int) -> dict[str, Any]:
    if shutil.which("wrk"):
        return run_wrk(request, concurrency, seconds)
    return asyncio.run(_httpx_load(request, concurrency, seconds))
