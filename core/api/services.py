"""What the routes need, built once per process (per warm function instance), and the
holder that builds it on first use: free of the web framework, so a door can answer
/predict before (or without) importing it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from core.auth import Authenticator
from core.config import Settings, load_settings
from core.drift.records import latest_report
from core.inference import Predictor
from core.jobs.local import LocalDispatcher
from core.jobs.manage import JobCensus
from core.jobs.record import JobStore
from core.jobs.submit import Dispatcher
from core.logs import PredictionLog, prediction_log_sample
from core.model_cache import cache_budget_bytes, session_threads
from core.model_pool import ModelPool
from core.monitoring import Sink, Telemetry
from core.monitoring.jobs import report_job
from core.monitoring.prometheus import PrometheusSink
from core.monitoring.scrape import ChampionGauge, DriftGauges, JobGauges
from core.monitoring.telemetry import door_sinks
from core.registry import ModelRegistry
from core.storage import Store, open_store

MAX_ROWS_ENV = "MLFN_MAX_ROWS"
DEFAULT_MAX_ROWS = 10_000


@dataclass
class Services:
    """What the routes need, built once per process (per warm function instance)."""

    settings: Settings
    store: Store
    dispatcher: Dispatcher
    auth: Authenticator = field(default_factory=Authenticator)
    prometheus: PrometheusSink = field(default_factory=PrometheusSink)
    extra_sinks: tuple[Sink, ...] = ()  # beyond Prometheus and the door's own
    max_rows: int = field(
        default_factory=lambda: int(os.environ.get(MAX_ROWS_ENV, DEFAULT_MAX_ROWS))
    )

    def __post_init__(self) -> None:
        from core.gateway_trust import GatewayTrust

        cache_budget_bytes(), session_threads()  # a bad value stops the start, named
        if self.auth.gateway is None:
            self.auth.gateway = GatewayTrust.from_env(self.auth.settings)
        self.telemetry = Telemetry([self.prometheus, *door_sinks(), *self.extra_sinks])
        log = None
        logging_wanted = os.environ.get("MLFN_PREDICTION_LOG", "")
        operated = self.settings.config.monitoring or self.settings.config.rollout
        if logging_wanted == "on" or (operated and logging_wanted != "off"):
            log = PredictionLog(self.store, sample=prediction_log_sample())
        model_name = self.settings.config.model_name
        self.prometheus.expect(model_name)
        self.predictor = Predictor(self.store, model_name, log=log, telemetry=self.telemetry)
        self.registry = ModelRegistry(self.store, model_name)
        self.models = ModelPool(self.store, self.predictor, self.telemetry)
        self.jobs = JobStore(self.store)
        self.prometheus.read_at_scrape(JobGauges(JobCensus(self.jobs).counts))
        self.prometheus.read_at_scrape(
            ChampionGauge(model_name, lambda: self.predictor.current().version)
        )
        if self.settings.config.monitoring is not None:
            self.prometheus.read_at_scrape(
                DriftGauges(model_name, lambda: latest_report(self.store, model_name))
            )
        if isinstance(self.dispatcher, LocalDispatcher):  # outcomes are seen in this process
            self.dispatcher.on_finished = lambda job: report_job(self.telemetry, job)

    @classmethod
    def from_env(cls, dispatcher: Dispatcher | None = None) -> Services:
        settings = load_settings()
        store = open_store(settings.store_uri)
        from core.jobs.queues import dispatcher_from_env

        return cls(settings, store, dispatcher or dispatcher_from_env(settings, store))


class ServicesHolder:
    """Builds the Services once, on first use (importing a handler stays cheap), and hands
    the same instance to every layer of the app: the middleware, the routes, the hooks."""

    def __init__(self, services: Services | None = None) -> None:
        self.built: dict[str, Services] = {}  # {"services": ...} once built
        self._given = services

    def build(self) -> Services:
        if "services" not in self.built:
            self.built.setdefault("services", self._given or Services.from_env())
        return self.built["services"]

    async def get(self) -> Services:
        """The services from a coroutine: reading config and opening the store go to the
        thread pool the first time."""
        if "services" in self.built:
            return self.built["services"]
        from core.api.offload import in_thread

        return await in_thread(self.build)
