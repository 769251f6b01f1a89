"""Numbers read from the store (or the serving process) when /metrics is scraped, not
counted as events: jobs by status, the queue's depth, and whether a champion is loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core.errors import MlfnError

logger = logging.getLogger("mlfn.monitoring")


class JobGauges:
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only: registering must not read the store

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        try:
            counts = self.counts()
        except MlfnError as exc:
            logger.warning("could not count jobs for /metrics: %s", exc.message)
            return
        by_status = GaugeMetricFamily("mlfn_jobs", "Jobs in the store by status", labels=["status"])
        for status, count in counts.items():
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily(
            "mlfn_job_queue_depth", "Jobs queued and not yet running", value=counts.get("queued", 0)
        )


class ChampionGauge:
    """mlfn_model_loaded{model} is 1 when this server can serve the champion (it loads it if
    it must), else 0; mlfn_champion_version{model} is the version it serves."""

    def __init__(self, model: str, champion_version: Callable[[], int]) -> None:
        self.model, self.champion_version = model, champion_version

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        try:
            version: int | None = self.champion_version()
        except MlfnError:
            version = None
        loaded = GaugeMetricFamily(
            "mlfn_model_loaded", "1 when a champion is loaded and serving", labels=["model"]
        )
        loaded.add_metric([self.model], 0 if version is None else 1)
        yield loaded
        if version is not None:
            serving = GaugeMetricFamily(
                "mlfn_champion_version", "The version being served", labels=["model"]
            )
            serving.add_metric([self.model], version)
            yield serving
