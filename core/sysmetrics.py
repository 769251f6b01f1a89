"""System metrics while training: CPU and memory via psutil, GPU when torch sees one."""

from __future__ import annotations

import resource
import sys
import threading
from types import TracebackType
from typing import Any

SAMPLE_SECONDS = 0.5


class SystemMonitor:
    """Samples this process in a background thread; `summary()` after the block ends."""

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="mlfn-sysmetrics")
        self._cpu: list[float] = []
        self._peak_rss = 0

    def _sample(self) -> None:
        """CPU, and the resident memory of this process and all its children together."""
        import psutil

        self._cpu.append(self._process.cpu_percent(None))
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # the child ended between listing and reading
                continue
        self._peak_rss = max(self._peak_rss, total)

    @staticmethod
    def high_water_rss() -> int:
        """The kernel's peak resident set of this program, in bytes: exact, where sampling
        can miss a short spike. Linux's VmHWM starts at exec; getrusage's ru_maxrss would
        also count the memory of the parent this process was forked from."""
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> SystemMonitor:
        self._process.cpu_percent(None)  # the first call only starts the measurement
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def summary(self) -> dict[str, Any]:
        cpu = self._cpu or [0.0]
        result: dict[str, Any] = {
            "cpu_percent_mean": round(sum(cpu) / len(cpu), 1),
            "cpu_percent_max": round(max(cpu), 1),
            # The process's lifetime high-water mark, or the sampled tree total if higher.
            "peak_rss_mb": round(max(self._peak_rss, self.high_water_rss()) / 2**20, 1),
            "samples": len(self._cpu) + 1,
        }
        torch = sys.modules.get("torch")  # only when training already imported it
        if torch is not None and torch.cuda.is_available():
            result["gpu_name"] = torch.cuda.get_device_name(0)
            result["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return result
