"""The automatic rollout (config `rollout`), run by the monitor schedule or `mlfn rollout
step`: with a challenger in the routing, compare it with the champion on the traffic since
its last step, then hold, step it up, promote it, or roll it back — and say why, in the
audit trail (by `scheduler`) and in reports/rollout/<model>/latest.json."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.config import LOWER_IS_BETTER, RolloutConfig, Settings
from core.errors import ConflictError
from core.registry import ModelRegistry
from core.rollout.actions import mirror_roles
from core.rollout.live import live_comparison
from core.routing import (
    Challenger,
    Change,
    Routing,
    change_routing,
    now_text,
    rollout_report_key,
)
from core.storage import Store, encode_json

SCHEDULER = "scheduler"
LIVE_METRICS = {"classification": ("accuracy", "f1_macro"), "regression": ("rmse", "mae")}


def live_metric(primary: str | None, task: str) -> str:
    """The metric compared on labelled traffic: the primary one when live figures have it."""
    names = LIVE_METRICS[task]
    return primary if primary in names else names[0]


def _metric_verdict(
    challenger: dict[str, Any], champion: dict[str, Any], metric: str, margin: float
) -> str:
    """Why the challenger is worse on labelled traffic ('' if it is not, or no figures)."""
    new, old = (challenger.get("metrics") or {}), (champion.get("metrics") or {})
    if metric not in new or metric not in old:
        return ""
    lower = metric in LOWER_IS_BETTER
    worse = new[metric] > old[metric] + margin if lower else new[metric] < old[metric] - margin
    if not worse:
        return ""
    return (
        f"live {metric} {new[metric]:.4f} is worse than the champion's {old[metric]:.4f} "
        f"by more than the margin {margin:g}"
    )


def _next(challenger: Challenger, steps: list[float]) -> float | None:
    """The weight of the next step (None: the last step is done: promote)."""
    if challenger.mode == "shadow":
        return steps[0]
    higher = [step for step in steps if step > challenger.weight]
    return higher[0] if higher else None


def verdict(
    challenger: Challenger,
    figures: dict[str, Any],
    policy: RolloutConfig,
    metric: str,
) -> tuple[str, str]:
    """(rollback | hold | step | promote, why) for the challenger's figures since its step."""
    mine, theirs = figures["challenger"], figures["champion"]
    enough = mine["requests"] >= policy.min_requests
    if enough and mine["error_rate"] > policy.max_error_rate:
        return "rollback", (
            f"error rate {mine['error_rate']:.2%} over {mine['requests']} requests is above "
            f"max_error_rate {policy.max_error_rate:.2%} ({mine['error_codes']})"
        )
    worse = _metric_verdict(mine, theirs, metric, policy.metric_margin)
    if worse and mine["labels"] >= max(policy.min_labels, 1):
        return "rollback", worse
    if mine["requests"] < policy.min_requests:
        return "hold", f"{mine['requests']} of min_requests {policy.min_requests} requests"
    if mine["labels"] < policy.min_labels:
        return "hold", f"{mine['labels']} of min_labels {policy.min_labels} labels"
    following = _next(challenger, policy.steps)
    healthy = f"error rate {mine['error_rate']:.2%} over {mine['requests']} requests"
    if mine.get("metrics"):
        healthy += f", live {metric} {mine['metrics'].get(metric, float('nan')):.4f}"
    if following is None:
        return "promote", f"last step done: {healthy}"
    return "step", f"{healthy}; next step {following:g}%"


def _apply(
    registry: ModelRegistry, outcome: str, expected: Challenger, policy: RolloutConfig
) -> Any:
    """The routing change of an outcome, made only if the challenger is still as judged."""

    def decide(current: Routing) -> Change:
        if current.challenger != expected:
            raise ConflictError("the routing changed while the rollout decided; next run decides")
        if outcome == "rollback":
            return Change(replace(current, challenger=None), "auto-rollback", "")
        if outcome == "hold":
            return Change(current, "auto-hold", "")
        following = _next(expected, policy.steps)
        if outcome == "step" and following is not None:
            stepped = Challenger(expected.version, following, "canary", now_text())
            return Change(replace(current, challenger=stepped), "auto-step", "")
        to = current.crowned(expected.version, registry.served_sha256(expected.version))
        return Change(to, "auto-promote", "")

    return decide


def rollout_step(settings: Settings, store: Store, now: datetime | None = None) -> dict[str, Any]:
    """One automatic decision for the model's challenger (nothing without one)."""
    policy = settings.config.rollout or RolloutConfig()
    registry = ModelRegistry(store, settings.config.model_name)
    routing = registry.routing()
    challenger = routing.challenger
    if challenger is None or routing.champion is None:
        return {"outcome": "none", "reason": "no challenger in the routing"}
    now = now or datetime.now(UTC)
    metadata = registry.metadata(challenger.version)
    task, metric = metadata["task"], live_metric(metadata.get("primary_metric"), metadata["task"])
    since = datetime.fromisoformat(challenger.since)
    live = live_comparison(
        store, [routing.champion, challenger.version], since, now, task, policy.min_labels
    )
    figures = {"challenger": live[str(challenger.version)], "champion": live[str(routing.champion)]}
    outcome, why = verdict(challenger, figures, policy, metric)
    decide = _apply(registry, outcome, challenger, policy)

    def explained(current: Routing) -> Change:
        change: Change = decide(current)
        return replace(change, reason=why, metrics={"live": figures, "metric": metric})

    record, _ = change_routing(store, registry.name, explained, SCHEDULER)
    if outcome != "hold":
        mirror_roles(registry, record)
    report = {
        "model_name": registry.name, "time": now.isoformat(timespec="seconds"),
        "since": challenger.since, "outcome": outcome, "reason": why,
        "revision": record["revision"], "routing": record["to"], "live": live,
    }  # fmt: skip
    store.write_bytes(rollout_report_key(registry.name), encode_json(report))
    return report
