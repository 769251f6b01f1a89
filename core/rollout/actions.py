"""The hand-made changes of the routing: canary, shadow and rollback (`mlfn canary`,
`POST /models/{version}/canary`, ...). Each writes one audit record and mirrors the
version's role on its MLflow model version as tags."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from core.errors import ConflictError, ValidationError, shown
from core.registry import ONNX_FILE, ModelRegistry
from core.routing import (
    MODES,
    Challenger,
    Change,
    Routing,
    change_routing,
    now_text,
    read_history,
)

logger = logging.getLogger("mlfn.rollout")


def check_weight(weight: float) -> float:
    if not isinstance(weight, int | float) or not 0.0 <= float(weight) <= 100.0:
        raise ValidationError(f"weight must be a percentage from 0 to 100 (got {shown(weight)})")
    return round(float(weight), 2)


def set_challenger(
    registry: ModelRegistry, version: int, weight: float, mode: str, by: str, reason: str = ""
) -> dict[str, Any]:
    """Route `weight` percent of the requests to `version` (canary: it answers them;
    shadow: it scores a copy). Refused for the champion, a version without an ONNX graph,
    and while there is no champion."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {list(MODES)} (got {shown(mode)})")
    weight = check_weight(weight)
    metadata = registry.metadata(version)  # 404 for a version that does not exist
    if ONNX_FILE not in metadata["files"]:
        raise ValidationError(
            f"version {version} has no ONNX graph (parity failed) and cannot serve on the light "
            "runtime; it cannot be a challenger"
        )

    def decide(current: Routing) -> Change:
        if current.champion is None:
            raise ConflictError(f"model '{registry.name}' has no champion yet; promote one first")
        if current.champion == version:
            raise ConflictError(f"version {version} is the champion; pick another version")
        challenger = Challenger(version, weight, mode, now_text())
        why = reason or f"{mode} v{version} at {weight:g}% by hand"
        return Change(replace(current, challenger=challenger), mode, why)

    record, _ = change_routing(registry.store, registry.name, decide, by)
    mirror_roles(registry, record)
    return record


def rollback(registry: ModelRegistry, by: str, reason: str = "") -> dict[str, Any]:
    """Take the challenger out (all traffic to the champion); with no challenger, put the
    previous champion back."""

    def decide(current: Routing) -> Change:
        if current.challenger is not None:
            why = reason or f"challenger v{current.challenger.version} taken out by hand"
            return Change(replace(current, challenger=None), "rollback", why)
        previous = current.previous_champion
        if previous is None or current.champion is None:
            raise ConflictError(
                f"nothing to roll back: '{registry.name}' has no challenger and no previous "
                "champion"
            )
        to = current.crowned(previous, registry.served_sha256(previous))
        why = reason or f"champion v{current.champion} replaced by the previous v{previous}"
        return Change(to, "rollback", why)

    record, _ = change_routing(registry.store, registry.name, decide, by)
    mirror_roles(registry, record)
    return record


def routing_view(registry: ModelRegistry) -> dict[str, Any]:
    return {"model_name": registry.name, **registry.routing().view()}


def history_view(registry: ModelRegistry, limit: int | None = 100) -> dict[str, Any]:
    records = read_history(registry.store, registry.name, limit)
    return {"model_name": registry.name, "records": records}


def mirror_roles(registry: ModelRegistry, record: dict[str, Any]) -> None:
    """The MLflow model versions of the versions this change touched get its tags; never
    fails the change (MLflow may be off, absent, or down)."""
    try:
        from core.tracking import mirror_routing

        mirror_routing(registry.store, registry.name, record)
    except Exception as exc:  # the routing changed; its mirror is best effort
        logger.warning("MLflow tags not set for revision %s: %s", record["revision"], exc)
