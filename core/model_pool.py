"""Every model in the store, servable by name: `NAME` (its routing: champion, canary,
shadow) or `NAME@VERSION` (that version). One Predictor per model name, made on its first
request; the sessions they load share the process's bounded LRU (core/model_cache.py)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from core.errors import NotFoundError, ValidationError
from core.inference import Predictor
from core.monitoring import Telemetry
from core.registry import ModelRegistry
from core.storage import Store

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # as config.json's model_name
MAX_PREDICTORS = 1_000  # distinct model names one process keeps a Predictor for
MISSING_TTL_SECONDS = 30.0  # an unknown name is looked up again after this long


@dataclass(frozen=True)
class ModelRef:
    """A model by name, and optionally one of its versions."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_model_ref(text: str) -> ModelRef:
    """`NAME` or `NAME@VERSION`, or a ValidationError saying what a reference looks like."""
    name, at, version = text.partition("@")
    if not MODEL_NAME.match(name):
        raise ValidationError(
            f"'{text}' is not a model reference: give NAME or NAME@VERSION, where NAME is "
            "lowercase letters, digits, '-' and '_' (as config.json's model_name)"
        )
    if not at:
        return ModelRef(name)
    if not version.isdigit() or int(version) < 1:
        raise ValidationError(
            f"'{text}': the version after '@' must be a positive whole number, e.g. {name}@3"
        )
    return ModelRef(name, int(version))


def model_names(store: Store) -> list[str]:
    """The names of the models that have at least one complete version in the store."""
    found = set()
    for key in store.list("models/"):
        parts = key.split("/")
        if len(parts) >= 5 and parts[2] == "versions" and parts[4] == "metadata.json":
            found.add(parts[1])
    return sorted(found)


def missing_model(store: Store, name: str) -> str:
    """Why NAME cannot be served: not in the store, and which models are."""
    names = model_names(store)
    shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    return f"model '{name}' is not in this deployment's store; " + (
        f"models there: {shown}" if names else "it holds no model yet (run `mlfn train`)"
    )


class ModelPool:
    """The Predictor of each model name; the deployment's own model is `default`."""

    def __init__(self, store: Store, default: Predictor, telemetry: Telemetry) -> None:
        self.store, self.default, self.telemetry = store, default, telemetry
        self._predictors: dict[str, Predictor] = {default.registry.name: default}
        self._missing: dict[str, tuple[float, str]] = {}  # name -> (when found missing, why)
        self._lock = threading.Lock()

    def predictor(self, name: str) -> Predictor:
        """The model's Predictor (store I/O on a name's first request: call off the loop
        unless `known(name)`); 404 naming the models there are for an unknown name."""
        known = self._predictors.get(name)
        if known is not None:
            return known
        missing_since, why = self._missing.get(name, (-MISSING_TTL_SECONDS, ""))
        if time.monotonic() - missing_since < MISSING_TTL_SECONDS:
            raise NotFoundError(why)
        if not ModelRegistry(self.store, name).versions():
            why = missing_model(self.store, name)
            with self._lock:
                if len(self._missing) >= MAX_PREDICTORS:
                    self._missing.clear()
                self._missing[name] = (time.monotonic(), why)
            raise NotFoundError(why)
        with self._lock:
            if name not in self._predictors and len(self._predictors) >= MAX_PREDICTORS:
                raise ValidationError(f"this process serves at most {MAX_PREDICTORS} models")
            # Other models are served with their routing, without the prediction log:
            # monitoring and rollout reports cover the deployment's own model.
            made = Predictor(self.store, name, telemetry=self.telemetry)
            return self._predictors.setdefault(name, made)

    def known(self, name: str) -> bool:
        return name in self._predictors
