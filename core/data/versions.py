"""The dataset versions a store holds: each `mlfn ingest` of new data writes a
content-addressed Parquet file and its manifest (rows, column types, source, raw copy, time)
under the environment's processed path. Listed newest first, named by sha256 or a unique
prefix of it, and compared two at a time."""

from __future__ import annotations

from typing import Any

from core.config import Settings
from core.data.ingest import DatasetVersion
from core.errors import NotFoundError, ValidationError
from core.storage import Store, join_key

MIN_PREFIX = 6
HEX = frozenset("0123456789abcdef")


def list_datasets(settings: Settings, store: Store) -> list[dict[str, Any]]:
    prefix = settings.environment.processed_path
    manifests = []
    for key in store.list(prefix):
        name = key.rsplit("/", 1)[-1]
        stem = name.removesuffix(".json")
        if name.endswith(".json") and len(stem) == 64 and set(stem) <= HEX:
            manifests.append(store.read_json(key))
    return sorted(
        manifests, key=lambda m: (str(m.get("created_at", "")), m["sha256"]), reverse=True
    )


def dataset_manifest(settings: Settings, store: Store, dataset: DatasetVersion) -> dict[str, Any]:
    """A dataset's manifest (with its raw copy's key), or what the version itself knows."""
    key = join_key(settings.environment.processed_path, f"{dataset.sha256}.json")
    try:
        return {**dataset.to_dict(), "key": dataset.key, **dict(store.read_json(key))}
    except NotFoundError:
        return {**dataset.to_dict(), "key": dataset.key}


def find_dataset(settings: Settings, store: Store, name: str) -> dict[str, Any]:
    """A dataset's manifest by its sha256 or a unique prefix of at least 6 characters."""
    wanted = name.strip().lower()
    if len(wanted) < MIN_PREFIX or not set(wanted) <= HEX:
        raise ValidationError(
            f"'{name}' is not a dataset id: give its sha256 or the first {MIN_PREFIX}+ hex "
            "characters (mlfn datasets lists them)"
        )
    if len(wanted) == 64:
        key = join_key(settings.environment.processed_path, f"{wanted}.json")
        if store.exists(key):
            return dict(store.read_json(key))
    found = [m for m in list_datasets(settings, store) if m["sha256"].startswith(wanted)]
    if not found:
        raise NotFoundError(f"no dataset {name} in {store.uri} (mlfn datasets lists them)")
    if len(found) > 1:
        raise ValidationError(f"'{name}' names {len(found)} datasets: give more characters")
    return found[0]


def diff_datasets(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from dataset A to dataset B: rows, columns added or removed, types."""
    columns_a, columns_b = a.get("columns", {}), b.get("columns", {})
    return {
        "a": a["sha256"], "b": b["sha256"],
        "rows": {"a": a.get("rows"), "b": b.get("rows"),
                 "change": (b.get("rows") or 0) - (a.get("rows") or 0)},
        "columns_added": sorted(set(columns_b) - set(columns_a)),
        "columns_removed": sorted(set(columns_a) - set(columns_b)),
        "types_changed": {
            name: {"a": columns_a[name], "b": columns_b[name]}
            for name in sorted(set(columns_a) & set(columns_b))
            if columns_a[name] != columns_b[name]
        },
        "source": {"a": a.get("source"), "b": b.get("source")},
        "created_at": {"a": a.get("created_at"), "b": b.get("created_at")},
    }  # fmt: skip
