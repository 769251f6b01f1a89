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


class DriftGauges:
    """The latest monitoring report's numbers (read from the store at most every
    `ttl` seconds): mlfn_drift_share{model}, mlfn_dataset_drift{model},
    mlfn_feature_drift{model,feature}, mlfn_live_metric{model,version,metric} and
    mlfn_live_labels{model,version}."""

    def __init__(self, model: str, latest: Callable[[], dict[str, Any]], ttl: float = 60.0):
        self.model, self.latest, self.ttl = model, latest, ttl
        self._cached: tuple[float, dict[str, Any] | None] = (-ttl, None)

    def describe(self) -> list[Any]:
        return []

    def _report(self) -> dict[str, Any] | None:
        import time

        read_at, report = self._cached
        if time.monotonic() - read_at >= self.ttl:
            try:
                report = self.latest()
            except MlfnError:
                report = None  # no report yet, or the store is down: nothing to show
            self._cached = (time.monotonic(), report)
        return report

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        report = self._report()
        if not report:
            return
        drift = report.get("drift", {})
        if drift.get("status") == "ok":
            share = GaugeMetricFamily(
                "mlfn_drift_share", "Share of features drifted, latest run", labels=["model"]
            )
            share.add_metric([self.model], drift["drift_share"])
            yield share
            dataset = GaugeMetricFamily(
                "mlfn_dataset_drift", "1 when the latest run found dataset drift", labels=["model"]
            )
            dataset.add_metric([self.model], float(drift["dataset_drift"]))
            yield dataset
            features = GaugeMetricFamily(
                "mlfn_feature_drift", "1 when the feature drifted", labels=["model", "feature"]
            )
            for entry in drift.get("features", []):
                features.add_metric([self.model, entry["feature"]], float(entry["drifted"]))
            yield features
        yield from self._live(report.get("live", {}))

    def _live(self, live: dict[str, Any]) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        labels = GaugeMetricFamily(
            "mlfn_live_labels", "Labelled predictions in the window", labels=["model", "version"]
        )
        metrics = GaugeMetricFamily(
            "mlfn_live_metric",
            "Metrics on labelled live predictions",
            labels=["model", "version", "metric"],
        )
        for version, entry in live.items():
            labels.add_metric([self.model, version], entry["labels"])
            for metric, value in (entry.get("metrics") or {}).items():
                metrics.add_metric([self.model, version, metric], value)
        yield labels
        yield metrics
