"""Moving a model version from one environment's store to the next (dev → qa → staging → prod).

The version's files are read with their recorded sha256 checked, written create-only as a new
version of the target store, read back and checked again, and only then does the target's
champion move, by compare-and-swap. Any failure before that leaves the target's champion
serving; a rerun reuses a copy that already landed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core import constants
from core.config import Settings
from core.errors import ConfigError, ConflictError, ValidationError
from core.lineage import actor
from core.progress import NULL_PROGRESS, Progress
from core.registry import ONNX_FILE, ModelRegistry
from core.storage import Store, open_store

COPIED_METADATA_DROPPED = ("version", "model_name", "files")


def check_order(
    source_env: str, target_env: str, configured: Iterable[str] = (), force: bool = False
) -> None:
    """Promotion moves forward, one configured environment at a time unless forced."""
    order = constants.ENVIRONMENTS
    for env in (source_env, target_env):
        if env not in order:
            raise ConfigError(f"environment '{env}' is not one of {list(order)}")
    if order.index(target_env) <= order.index(source_env):
        raise ValidationError(
            f"promotion goes {' → '.join(order)}; '{target_env}' does not come after '{source_env}'"
        )
    between = order[order.index(source_env) + 1 : order.index(target_env)]
    skipped = [env for env in between if env in set(configured)]
    if skipped and not force:
        raise ValidationError(
            f"promoting {source_env} → {target_env} skips {skipped}; promote there first, "
            "or pass --force"
        )


def _origin(metadata: dict[str, Any], env: str, store: Store) -> dict[str, Any]:
    return {
        "env": env,
        "store": store.uri,
        "version": metadata["version"],
        "files": metadata["files"],  # sha256 of each file
    }


def _copy(
    source: ModelRegistry,
    target: ModelRegistry,
    metadata: dict[str, Any],
    origin: dict[str, Any],
    progress: Progress = NULL_PROGRESS,
) -> int:
    version = int(metadata["version"])
    names = sorted(metadata["files"], key=lambda name: name != ONNX_FILE)  # ONNX claims the number
    task_id = progress.start("copy: read, upload, read back", 3)
    files = {name: source.read_file(version, name, metadata) for name in names}
    progress.advance(task_id)
    record = {k: v for k, v in metadata.items() if k not in COPIED_METADATA_DROPPED}
    when = datetime.now(UTC).isoformat(timespec="seconds")
    promoted = {"promoted_from": origin, "promotion": {"at": when, "by": actor()}}
    number = target.create_version(files, {**record, **promoted})
    progress.advance(task_id)
    copied = target.metadata(number)
    for name in names:  # read back: what landed must be what left
        target.read_file(number, name, copied)
    progress.advance(task_id)
    return number


def promote_in_store(
    registry: ModelRegistry, version: int, force: bool = False, by: str = ""
) -> dict[str, Any]:
    """Make `version` the champion, as the CLI and the API both do. Refused: a version that
    needs the heavy runtime, the champion itself, and a version whose recorded primary metric
    is worse than the champion's, unless `force` (e.g. a deliberate rollback)."""
    metadata = registry.metadata(version)
    if metadata.get("needs_heavy_runtime") and not force:
        raise ValidationError(
            f"version {version} has no ONNX graph (parity failed) and would need the heavy "
            "runtime to serve; pass --force (force=true) to promote it"
        )
    before = registry.champion()
    if before is not None and before.version == version:
        raise ConflictError(f"version {version} is already the champion")
    if before is not None and not force:
        worse = _worse(metadata, registry.metadata(before.version), version, before.version)
        if worse:
            raise ConflictError(f"{worse}; pass --force (force=true) to promote it anyway")
    reason = "promoted by hand" + (" (forced)" if force else "")
    pointer = registry.promote(
        version, before, by=by or actor(), reason=reason, metrics=metadata.get("metrics", {})
    )
    _mirror_last_change(registry, version)
    return {
        "model_name": registry.name,
        "champion": pointer.version,
        "previous_champion": before.version if before else None,
    }


def _mirror_last_change(registry: ModelRegistry, version: int) -> None:
    """The promotion's audit record mirrored on the MLflow model versions (tags, aliases)."""
    from core.rollout.actions import mirror_roles
    from core.routing import read_history

    last = read_history(registry.store, registry.name, 1)
    if last and last[-1]["to"]["champion"] == version:
        mirror_roles(registry, last[-1])


def _worse(new: dict[str, Any], old: dict[str, Any], version: int, champion: int) -> str:
    """Why `new` scored worse than the champion on its primary metric ('' if not)."""
    from core.training.metrics import is_better

    metric = new.get("primary_metric")
    new_value = new.get("metrics", {}).get(metric)
    old_value = old.get("metrics", {}).get(metric)
    if metric is None or new_value is None or old_value is None:
        return ""
    if not is_better(metric, old_value, new_value):
        return ""
    return (
        f"version {version}'s {metric} {new_value:.4f} is worse than champion v{champion}'s "
        f"{old_value:.4f} (each on its own held-out rows)"
    )


def promote_to_env(
    settings: Settings,
    version: int,
    target_env: str,
    force: bool = False,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Copy `version` from `settings.env`'s store to `target_env`'s and make it champion there."""
    check_order(settings.env, target_env, settings.config.promotion, force)
    target_settings = settings.for_env(target_env)
    source_store = open_store(settings.store_uri)
    target_store = open_store(target_settings.store_uri)
    if source_store.uri == target_store.uri:
        raise ValidationError(
            f"'{settings.env}' and '{target_env}' share the store {source_store.uri}"
        )
    name = settings.config.model_name
    source, target = ModelRegistry(source_store, name), ModelRegistry(target_store, name)
    metadata = source.metadata(version)
    if metadata.get("needs_heavy_runtime") and not force:
        raise ValidationError(
            f"version {version} has no ONNX graph (parity failed); pass --force to promote it"
        )
    origin = _origin(metadata, settings.env, source_store)
    before = target.champion()
    number = target.newest_with("promoted_from", origin)
    reused = number is not None
    if number is None:
        number = _copy(source, target, metadata, origin, progress)
    if before is not None and before.version == number:
        pointer = before
    else:
        try:
            pointer = target.promote(
                number, before, by=actor(), reason=f"promoted from {settings.env} v{version}",
                metrics=metadata.get("metrics", {}),
            )  # fmt: skip
        except ConflictError:
            raise ConflictError(
                f"the champion of '{name}' in '{target_env}' changed during the promotion; "
                f"version {number} is copied there, rerun to promote it"
            ) from None
    return {
        "model_name": name,
        "from": {"env": settings.env, "store": source_store.uri, "version": version},
        "to": {"env": target_env, "store": target_store.uri, "version": number},
        "copied": not reused,
        "champion": pointer.version,
        "previous_champion": before.version if before else None,
        "verified_files": sorted(metadata["files"]),  # sha256 checked on read and read-back
    }
