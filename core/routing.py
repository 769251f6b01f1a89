"""Who serves a model: the champion and at most one challenger (models/<name>/routing.json),
and the audit trail of every change (models/<name>/history/<time>-<revision>.json).

routing.json changes only by compare-and-swap. Each change raises its `revision` by one and
carries its own audit record (`last_change`); the record is then written create-only to the
history. A writer that died between the two is repaired by the next change, which writes the
missing record first, so the history is the complete, gap-free list of revisions.

Stores made before routing.json have a bare champion pointer (champion.json); it is read as
revision 0 until the first change writes routing.json.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from core.errors import AlreadyExistsError, ConflictError, CorruptModelError, NotFoundError
from core.storage import Store, encode_json, join_key

ROUTING_FILE = "routing.json"
LEGACY_CHAMPION_FILE = "champion.json"
HISTORY = "history"
MAX_ATTEMPTS = 24  # compare-and-swap rounds before a change gives up (409)
Mode = Literal["canary", "shadow"]
MODES: tuple[str, ...] = ("canary", "shadow")
BUCKETS = 10_000


@dataclass(frozen=True)
class Challenger:
    version: int
    weight: float  # percent of requests: served (canary) or copied (shadow)
    mode: str
    since: str  # when this version got this weight (its live figures count from here)

    def view(self) -> dict[str, Any]:
        return {"version": self.version, "weight": self.weight, "mode": self.mode,
                "since": self.since}  # fmt: skip


@dataclass(frozen=True)
class Routing:
    champion: int | None
    champion_sha256: str = ""
    previous_champion: int | None = None
    promoted_at: str | None = None
    challenger: Challenger | None = None
    revision: int = 0
    token: str | None = None  # the store's version token, for the next compare-and-swap
    last_change: dict[str, Any] | None = field(default=None, compare=False)

    def crowned(self, version: int, sha256: str) -> Routing:
        """This routing with `version` as the champion (the old one becomes the previous);
        a challenger that is `version` leaves, another keeps its share."""
        challenger = self.challenger
        if challenger is not None and challenger.version == version:
            challenger = None
        return replace(
            self, champion=version, champion_sha256=sha256, previous_champion=self.champion,
            promoted_at=datetime.now(UTC).isoformat(timespec="seconds"), challenger=challenger,
        )  # fmt: skip

    def view(self) -> dict[str, Any]:
        """The routing as the API and the CLI show it (no store token)."""
        return {
            "champion": self.champion,
            "previous_champion": self.previous_champion,
            "challenger": self.challenger.view() if self.challenger else None,
            "revision": self.revision,
        }


def bucket(model: str, key: str) -> int:
    """Where a routing key falls, 0 to 9,999: the same key always falls in the same place,
    whichever instance answers."""
    digest = hashlib.blake2b(f"{model}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def assigned(model: str, key: str, weight: float) -> bool:
    """Whether the caller with `key` is in the challenger's `weight` percent. Raising the
    weight keeps everyone already in (sticky through a rollout's steps)."""
    return bucket(model, key) < weight * (BUCKETS // 100)


def default_actor() -> str:
    """Who acts from this process: $MLFN_ACTOR, the pipeline's $GITHUB_ACTOR, or the user."""
    for variable in ("MLFN_ACTOR", "GITHUB_ACTOR"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def rollout_report_key(model: str) -> str:
    """The latest automatic rollout decision with its live figures."""
    return join_key("reports", "rollout", model, "latest.json")


def routing_key(model: str) -> str:
    return join_key("models", model, ROUTING_FILE)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _challenger(data: Any) -> Challenger | None:
    if data is None:
        return None
    mode = str(data["mode"])
    if mode not in MODES:
        raise ValueError(mode)
    return Challenger(int(data["version"]), float(data["weight"]), mode, str(data["since"]))


def parse_routing(data: bytes, token: str | None, legacy: bool = False) -> Routing:
    document = json.loads(data)
    if legacy:  # champion.json: {version, sha256, previous_version, promoted_at}
        return Routing(
            int(document["version"]), str(document["sha256"]),
            document.get("previous_version"), document.get("promoted_at"),
        )  # fmt: skip
    champion = document.get("champion")
    return Routing(
        champion=int(champion["version"]) if champion else None,
        champion_sha256=str(champion["sha256"]) if champion else "",
        previous_champion=champion.get("previous_version") if champion else None,
        promoted_at=champion.get("promoted_at") if champion else None,
        challenger=_challenger(document.get("challenger")),
        revision=int(document["revision"]),
        token=token,
        last_change=document.get("last_change"),
    )


def read_routing(store: Store, model: str) -> Routing:
    """The current routing (revision 0 and no champion for a model never promoted)."""
    key, legacy = routing_key(model), False
    try:
        data, token = store.read_with_token(key)
    except NotFoundError:
        try:
            data, token = store.read_bytes(join_key("models", model, LEGACY_CHAMPION_FILE)), None
        except NotFoundError:
            return Routing(None)
        legacy = True
    try:
        return parse_routing(data, token, legacy)
    except (ValueError, KeyError, TypeError, AttributeError):
        name = LEGACY_CHAMPION_FILE if legacy else ROUTING_FILE
        raise CorruptModelError(
            f"the {name} of '{model}' is unreadable; promote a version again to repair it"
        ) from None


def encode_routing(model: str, routing: Routing) -> bytes:
    champion = None
    if routing.champion is not None:
        champion = {
            "version": routing.champion,
            "sha256": routing.champion_sha256,
            "previous_version": routing.previous_champion,
            "promoted_at": routing.promoted_at,
        }
    return encode_json(
        {
            "model_name": model,
            "revision": routing.revision,
            "champion": champion,
            "challenger": routing.challenger.view() if routing.challenger else None,
            "last_change": routing.last_change,
        }
    )


@dataclass(frozen=True)
class Change:
    """What a decision does to the routing, and why (the audit record's words)."""

    to: Routing
    action: str
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def history_key(model: str, record: dict[str, Any]) -> str:
    stamp = record["at"].replace("-", "").replace(":", "").replace("+0000", "Z")
    return join_key("models", model, HISTORY, f"{stamp}-{int(record['revision']):08d}.json")


def _write_history(store: Store, model: str, record: dict[str, Any]) -> None:
    with contextlib.suppress(AlreadyExistsError):  # written by the change, or a repair
        store.write_new(history_key(model, record), encode_json(record))


def change_routing(
    store: Store, model: str, decide: Callable[[Routing], Change], by: str
) -> tuple[dict[str, Any], str]:
    """Apply `decide(current)` by compare-and-swap, re-deciding on the newest routing when
    another writer got there first; returns the audit record and the routing's new store
    token. `decide` raises to refuse."""
    for attempt in range(MAX_ATTEMPTS):
        current = read_routing(store, model)
        if current.last_change is not None:
            _write_history(store, model, current.last_change)  # repair a writer that died
        change = decide(current)
        record = {
            "revision": current.revision + 1,
            "at": now_text(),
            "by": by,
            "action": change.action,
            "model_name": model,
            "from": current.view(),
            "to": {**replace(change.to, revision=current.revision + 1).view()},
            "reason": change.reason,
            "metrics": change.metrics,
            **change.details,
        }
        after = replace(change.to, revision=current.revision + 1, last_change=record)
        try:
            token = store.replace(routing_key(model), encode_routing(model, after), current.token)
        except ConflictError:
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
            continue
        _write_history(store, model, record)
        return record, token
    raise ConflictError(
        f"the routing of '{model}' kept changing while this change was made; read it again "
        "and retry"
    )


def read_history(store: Store, model: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit records, oldest first (the newest `limit` of them, when given)."""
    keys = store.list(join_key("models", model, HISTORY) + "/")
    keys.sort(key=lambda key: key.rsplit("-", 1)[-1])  # by revision, whatever the clocks said
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    return [store.read_json(key) for key in keys]
