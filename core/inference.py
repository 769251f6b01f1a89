"""Serve the champion: load its ONNX graph once per process, validate rows, predict.

This is the light path: numpy, onnxruntime and the store's SDK only — never scikit-learn,
torch, pandas, skops or mlflow.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import (
    ConfigError,
    CorruptModelError,
    MlfnError,
    ModelUnavailableError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from core.featurespec import FeatureSpec, row_dicts
from core.logs import PredictionLog
from core.model_cache import GraphRun, SessionCache, graph_runner, new_session
from core.monitoring import ChallengerFailed, ModelLoaded, Predicted, Telemetry
from core.random_ids import random_hex
from core.registry import ONNX_FILE, ModelRegistry
from core.routing import Challenger, assigned
from core.storage import Store

logger = logging.getLogger("mlfn.inference")
CHAMPION_TTL_ENV = "MLFN_CHAMPION_TTL"
DEFAULT_CHAMPION_TTL = 30.0  # seconds between checks of the champion pointer


@dataclass(frozen=True)
class LoadedModel:
    version: int
    metadata: dict[str, Any]
    session: Any  # onnxruntime.InferenceSession
    spec: FeatureSpec
    output_names: tuple[str, ...]  # what `run` returns: the probabilities, or the value
    run: GraphRun  # feeds in, the outputs `output_names` names out

    @property
    def schema(self) -> list[dict[str, Any]]:
        return list(self.metadata["schema"])


_SESSIONS: SessionCache[LoadedModel] = SessionCache()


def _load(registry: ModelRegistry, version: int) -> LoadedModel:
    key = (registry.store.uri, registry.name, version)
    with _SESSIONS.lock:
        cached = _SESSIONS.get(key)
        if cached is not None:
            return cached
        metadata = registry.metadata(version)
        if ONNX_FILE not in metadata["files"]:
            raise ModelUnavailableError(
                f"model '{registry.name}' version {version} has no ONNX graph and needs the "
                "heavy runtime (scikit-learn/torch): install 'mlfn[train]' and load it natively"
            )
        model_bytes = registry.read_file(version, ONNX_FILE, metadata)
        try:
            session = new_session(model_bytes)
            spec = FeatureSpec.of_version(metadata)
            outputs = answer_outputs(metadata, [o.name for o in session.get_outputs()])
        except ConfigError:
            raise  # $MLFN_ONNX_THREADS, named: the environment's fault, not the model's
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise CorruptModelError(
                f"model '{registry.name}' version {version} cannot be loaded "
                f"({type(exc).__name__}); promote a healthy version"
            ) from None
        run = graph_runner(session, outputs)
        loaded = LoadedModel(version, metadata, session, spec, tuple(outputs), run)
        for name, number in (k[1:] for k in _SESSIONS.put(key, loaded, len(model_bytes))):
            logger.info("unloaded model '%s' version %s (MLFN_MODEL_CACHE_MB)", name, number)
        return loaded


def answer_outputs(metadata: dict[str, Any], outputs: list[str]) -> list[str]:
    """The graph's outputs an answer is made of (`probability_k` per class, or `variable`),
    checked against what the graph has (ValueError if it lacks one)."""
    if metadata["task"] == "classification":
        wanted = [f"probability_{k}" for k in range(len(metadata["classes"]))]
    elif metadata["task"] == "regression":
        wanted = ["variable"]
    else:
        raise ValueError(metadata["task"])
    if not wanted or not set(wanted) <= set(outputs):
        raise ValueError("the graph's outputs do not match the metadata")
    return wanted


def validate_rows(rows: Any, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """ONNX feeds for the rows, or a ValidationError naming the row and the feature."""
    return spec.encode_rows(rows)


@dataclass(frozen=True)
class Plan:
    """Who serves right now: the champion, and the challenger with its share when there is
    one (a challenger that cannot be loaded keeps its share: its requests are answered by
    the champion and counted as its errors, so a rollout sees it)."""

    champion: LoadedModel
    challenger: Challenger | None = None
    challenger_model: LoadedModel | None = None
    challenger_error: str = ""


def prediction_ids(base: str, count: int) -> list[str]:
    """Row i's prediction id: f"{base}-{i}"."""
    return [base + "-0"] if count == 1 else [f"{base}-{i}" for i in range(count)]


def new_prediction_base() -> str:
    """128 random bits as 32 hex digits, like uuid4().hex without its object (a few µs of
    every request) or a system call (`random_hex`): row i's prediction id is f"{base}-{i}"."""
    return random_hex()


class Predictor:
    """Predictions from the current champion of one model in one store, and from its
    challenger for the requests the routing sends it (canary) or copies to it (shadow)."""

    def __init__(
        self,
        store: Store,
        model_name: str,
        champion_ttl: float | None = None,
        log: PredictionLog | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.registry = ModelRegistry(store, model_name)
        self.log = log
        self.telemetry = telemetry or Telemetry()
        env_ttl = os.environ.get(CHAMPION_TTL_ENV)
        self.champion_ttl = (
            champion_ttl
            if champion_ttl is not None
            else (float(env_ttl) if env_ttl else DEFAULT_CHAMPION_TTL)
        )
        self._checked_at = -math.inf
        self._plan: Plan | None = None

    def _cached(self, version: int) -> bool:
        """Whether a version is loaded; it counts as used (the cache drops the least used)."""
        return (self.registry.store.uri, self.registry.name, version) in _SESSIONS

    def current(self) -> LoadedModel:
        """The champion's loaded model."""
        return self.plan().champion

    def plan(self) -> Plan:
        """The routing's loaded models; the routing is re-read at most every champion_ttl s.
        When the routing, the metadata or the champion cannot be read (corrupt, or the store
        is down), the plan already loaded keeps serving; with none loaded: 503."""
        now = time.monotonic()
        plan = self._plan
        fresh = plan is not None and now - self._checked_at < self.champion_ttl
        if fresh and plan is not None and self._cached(plan.champion.version):
            return plan
        try:
            plan = self._refresh()
        except (UnavailableError, NotFoundError) as exc:
            self._checked_at = now  # try again after champion_ttl, not on every request
            if self._plan is not None:
                logger.warning(
                    "keeping version %s in service: %s", self._plan.champion.version, exc.message
                )
                return self._plan
            raise ModelUnavailableError(exc.message) from None
        self._plan, self._checked_at = plan, now
        return plan

    def prime(self) -> list[int]:
        """Load the routing's models and run each session once on an example row, off the
        record (no prediction, log line or metric of a prediction): what an instance should
        hold before a SnapStart snapshot or provisioned traffic. The versions primed."""
        plan = self.plan()
        models = [plan.champion, *([plan.challenger_model] if plan.challenger_model else [])]
        for model in models:
            model.run(model.spec.encode_rows([model.spec.example_row()]))
        return [model.version for model in models]

    def recheck(self) -> None:
        """Read the routing again before the next answer (a restored snapshot's time has
        moved on since the routing was read)."""
        self._checked_at = -math.inf

    def _refresh(self) -> Plan:
        routing = self.registry.routing()
        if routing.champion is None:
            raise ModelUnavailableError(
                f"model '{self.registry.name}' has no champion yet (run `mlfn train`)"
            )
        champion = self._timed_load(routing.champion)
        challenger = routing.challenger
        if challenger is None:
            return Plan(champion)
        try:
            return Plan(champion, challenger, self._timed_load(challenger.version))
        except MlfnError as exc:
            logger.warning("challenger v%s cannot serve: %s", challenger.version, exc.message)
            return Plan(champion, challenger, None, exc.code)

    def _timed_load(self, version: int) -> LoadedModel:
        started = time.perf_counter()
        hit = self._cached(version)
        model = _load(self.registry, version)
        seconds = time.perf_counter() - started
        self.telemetry.emit_soon(ModelLoaded(self.registry.name, model.version, seconds, hit))
        return model

    def is_warm(self) -> bool:
        """True when the next predict needs no store I/O: the routing's models are loaded,
        the routing was checked within champion_ttl, and the prediction log will not write
        a batch."""
        plan = self._plan
        fresh = (
            plan is not None
            and time.monotonic() - self._checked_at < self.champion_ttl
            # a look only: the predict that follows uses it (plan)
            and _SESSIONS.holds(
                (self.registry.store.uri, self.registry.name, plan.champion.version)
            )
        )
        return fresh and (self.log is None or not self.log.flush_due())

    def predict(
        self,
        rows: Any,
        request_id: str | None = None,
        routing_key: str | None = None,
        defer: Callable[[Callable[[], None]], None] | None = None,
    ) -> dict[str, Any]:
        """The answer of the version the routing gives this caller (`routing_key`: sticky).
        A shadow challenger scores a copy: handed to `defer` (the HTTP server runs it after
        the answer is sent), or at once without one."""
        started = time.perf_counter()
        plan = self.plan()
        base = new_prediction_base()  # row i's prediction id is f"{base}-{i}" (POST /feedback)
        challenger = plan.challenger
        chosen = challenger is not None and assigned(
            self.registry.name, routing_key or request_id or base, challenger.weight
        )
        if chosen and challenger is not None and challenger.mode == "canary":
            return self._canary(plan, rows, base, request_id, started)
        answer = self._score(plan.champion, rows, base, request_id, started)
        if chosen and challenger is not None:
            if defer is None:
                self._shadow(plan, rows, base, request_id)
            else:
                defer(functools.partial(self._shadow, plan, rows, base, request_id))
        return answer

    def predict_version(
        self, version: int, rows: Any, request_id: str | None = None
    ) -> dict[str, Any]:
        """The answer of one named version, whatever the routing says (a caller that asks
        for `/versions/{v}`); it must be a complete version with an ONNX graph."""
        started = time.perf_counter()
        model = self.predict_version_model(version)
        return self._score(model, rows, new_prediction_base(), request_id, started, "pinned")

    def predict_version_model(self, version: int) -> LoadedModel:
        """One named version's loaded model (404 for a version that does not exist)."""
        return _load(self.registry, version) if self._cached(version) else self._timed_load(version)

    def _canary(
        self, plan: Plan, rows: Any, base: str, request_id: str | None, started: float
    ) -> dict[str, Any]:
        """The challenger answers; when it fails on rows the champion takes, the champion
        answers and the failure counts against the challenger."""
        assert plan.challenger is not None
        if plan.challenger_model is None:
            answer = self._score(plan.champion, rows, base, request_id, started)
            self._failed(plan.challenger, plan.challenger_error, request_id, started)
            return answer
        try:
            return self._score(plan.challenger_model, rows, base, request_id, started, "canary")
        except ValidationError:
            answer = self._score(plan.champion, rows, base, request_id, started)  # 422 if not
            self._failed(plan.challenger, "validation_error", request_id, started)
        except Exception:  # onnxruntime's own errors: the caller is not to see them
            logger.exception("challenger v%s failed", plan.challenger.version)
            answer = self._score(plan.champion, rows, base, request_id, started)
            self._failed(plan.challenger, "inference_error", request_id, started)
        return answer

    def _shadow(self, plan: Plan, rows: Any, base: str, request_id: str | None) -> None:
        assert plan.challenger is not None
        started = time.perf_counter()
        if plan.challenger_model is None:
            self._failed(plan.challenger, plan.challenger_error, request_id, started)
            return
        try:
            self._score(plan.challenger_model, rows, base, request_id, started, "shadow")
        except ValidationError:
            self._failed(plan.challenger, "validation_error", request_id, started)
        except Exception:
            logger.exception("shadow v%s failed", plan.challenger.version)
            self._failed(plan.challenger, "inference_error", request_id, started)

    def _failed(
        self, challenger: Challenger, code: str, request_id: str | None, started: float
    ) -> None:
        self.telemetry.emit_soon(
            ChallengerFailed(self.registry.name, challenger.version, challenger.mode, code)
        )
        if self.log is not None:
            self.log.record_error(
                request_id or "", challenger.version, code,
                (time.perf_counter() - started) * 1000, challenger.mode,
            )  # fmt: skip

    def _score(
        self,
        model: LoadedModel,
        rows: Any,
        base: str,
        request_id: str | None,
        started: float,
        role: str = "champion",
    ) -> dict[str, Any]:
        feeds = model.spec.encode_rows(rows)
        # the answer's outputs, in output_names' order: probability_k of each class in the
        # classes' order, or the one `variable` (answer_outputs)
        outputs = model.run(feeds)
        answer: dict[str, Any] = {"model": {"name": self.registry.name, "version": model.version}}
        if model.metadata["task"] == "classification":
            classes = model.metadata["classes"]
            probabilities, best = class_probabilities(outputs)
            answer["predictions"] = list(map(classes.__getitem__, best))
            answer["probabilities"] = probabilities
            answer["classes"] = classes
            if self.telemetry.sinks:
                confidences = list(map(operator.getitem, probabilities, best))
                self._tell_classes(model.version, answer["predictions"], confidences)
        else:
            answer["predictions"] = np.asarray(outputs[0], dtype=float).tolist()
            if self.telemetry.sinks:
                self.telemetry.emit_soon(
                    Predicted(self.registry.name, model.version, "regression",
                              values=answer["predictions"])
                )  # fmt: skip
        if self.log is not None:
            # the classes are the version's (its metadata): not repeated on every line
            outputs_logged = {k: v for k, v in answer.items() if k not in ("model", "classes")}
            self.log.record(
                request_id or base,
                row_dicts(rows),
                outputs_logged,
                model.version,
                (time.perf_counter() - started) * 1000,
                prediction_id=base,
                role=role,
            )
        answer["prediction_ids"] = prediction_ids(base, len(answer["predictions"]))
        return answer

    def _tell_classes(self, version: int, predicted: list[Any], confidences: list[float]) -> None:
        """`confidences`: each predicted class's probability."""
        if len(predicted) == 1:  # the common request: one row
            counts = {str(predicted[0]): 1}
        else:
            counts = {}
            for label in predicted:
                counts[str(label)] = counts.get(str(label), 0) + 1
        self.telemetry.emit_soon(
            Predicted(self.registry.name, version, "classification", counts, confidences)
        )


SMALL_ANSWER_ROWS = 16  # up to this many rows, the answer is built in Python (numpy's
# per-call cost is more than the work); beyond it, numpy. Both give the same values.


def class_probabilities(columns: list[np.ndarray]) -> tuple[list[list[float]], list[int]]:
    """Each row's class probabilities (one float32 array per class in, Python floats out)
    and its first most probable class, as training scored it (and as the graph's label)."""
    if len(columns[0]) <= SMALL_ANSWER_ROWS:
        rows = _python_rows(columns)
        best = _first_best(rows)
        if best is not None:
            return rows, best
    proba = np.column_stack(columns)
    return proba.astype(float).tolist(), np.argmax(proba, axis=1).tolist()


def _python_rows(columns: list[np.ndarray]) -> list[list[float]]:
    """The probabilities row by row as Python floats (one row, the common request: read
    value by value)."""
    if len(columns[0]) == 1:  # map: no Python frame per value
        return [list(map(np.ndarray.item, columns))]
    return [list(row) for row in zip(*(column.tolist() for column in columns), strict=True)]


def _first_best(rows: list[list[float]]) -> list[int] | None:
    """Each row's first most probable class, as numpy's argmax picks it; None when a row
    holds a NaN (numpy's own rule then decides)."""
    best = []
    for row in rows:
        total = sum(row)
        if total != total:  # a NaN in the row (or infinities of both signs: numpy decides)
            return None
        best.append(row.index(max(row)))
    return best


def clear_cache() -> None:
    _SESSIONS.clear()


BODY_SHAPES = frozenset({"instances", "dataframe_split", "dataframe_records"})


def rows_from_body(body: Any) -> list[dict[str, Any]]:
    """Rows from the JSON shapes /predict accepts: `instances`, MLflow's `dataframe_split`
    and `dataframe_records`, or a bare list of rows."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise ValidationError(
            "expected a JSON object with 'instances', 'dataframe_split' or 'dataframe_records'"
        )
    shapes = BODY_SHAPES.intersection(body)
    if len(shapes) != 1:
        raise ValidationError(
            "give exactly one of 'instances', 'dataframe_split' or "
            f"'dataframe_records' (got {sorted(body)})"
        )
    (shape,) = shapes
    if shape != "dataframe_split":
        rows = body[shape]
        if not isinstance(rows, list):
            raise ValidationError(f"'{shape}' must be a list of rows")
        return rows
    split = body["dataframe_split"]
    if (
        not isinstance(split, dict)
        or not isinstance(split.get("columns"), list)
        or not isinstance(split.get("data"), list)
    ):
        raise ValidationError(
            "'dataframe_split' needs 'columns' (a list) and 'data' (a list of lists)"
        )
    columns = split["columns"]
    rows = []
    for i, values in enumerate(split["data"]):
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValidationError(
                f"dataframe_split.data[{i}] must be a list of {len(columns)} values"
            )
        rows.append(dict(zip(columns, values, strict=True)))
    return rows
