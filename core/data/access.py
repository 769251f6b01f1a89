"""Which datasets an HTTP caller may name for /train and /retrain.

Allowed: a dataset version already in the store (its sha256), a key under the environment's
raw or processed paths in the store, or a URI under one of the environment's
`data_sources` prefixes. Anything else — another bucket, a local file on the server, the
cloud metadata address — is refused with 422 `source_not_allowed` before a job is queued.
Local paths are for the CLI only.
"""

from __future__ import annotations

import re

from core.config import Settings
from core.data.fetch import FetchGuard
from core.data.ingest import DatasetVersion, ingest
from core.errors import NotFoundError, SourceNotAllowedError
from core.storage import Store, join_key

DATASET_VERSION = re.compile(r"[0-9a-f]{64}")


def _store_key(settings: Settings, dataset: str) -> bool:
    environment = settings.environment
    parts = dataset.split("/")
    return (
        "://" not in dataset
        and not dataset.startswith("/")
        and ".." not in parts
        and dataset.startswith((environment.raw_path, environment.processed_path))
    )


def check_caller_dataset(settings: Settings, dataset: str) -> None:
    """Refuse, before queuing, a dataset a caller may not name."""
    if DATASET_VERSION.fullmatch(dataset) or _store_key(settings, dataset):
        return
    FetchGuard(tuple(settings.environment.data_sources)).check_prefix(dataset)


def check_caller_dataset_found(settings: Settings, store: Store, dataset: str) -> None:
    """`check_caller_dataset`, and a dataset the caller names in the store is there: a 404
    now, not a job that fails later. (A URI under `data_sources` is read by the job.)"""
    check_caller_dataset(settings, dataset)
    if DATASET_VERSION.fullmatch(dataset):
        if not store.exists(join_key(settings.environment.processed_path, f"{dataset}.json")):
            raise NotFoundError(
                f"no dataset {dataset} in the store (`mlfn datasets` lists those there)"
            )
    elif _store_key(settings, dataset) and not (
        store.exists(dataset) or store.list(dataset.rstrip("/") + "/")
    ):
        raise NotFoundError(f"nothing at '{dataset}' in the store: no file, no folder")


def caller_dataset(settings: Settings, store: Store, dataset: str) -> DatasetVersion:
    """The dataset version for what a caller named (see the module docstring)."""
    check_caller_dataset(settings, dataset)
    if DATASET_VERSION.fullmatch(dataset):
        key = join_key(settings.environment.processed_path, f"{dataset}.json")
        try:
            manifest = store.read_json(key)
        except NotFoundError:
            raise SourceNotAllowedError(f"no dataset {dataset} in the store") from None
        return DatasetVersion(
            dataset,
            int(manifest["rows"]),
            list(manifest.get("columns", {})),
            key.removesuffix(".json") + ".parquet",
            str(manifest.get("source", "")),
            False,
            int(manifest.get("dropped_rows", 0)),
            tuple(manifest.get("summary_rows", ())),
        )
    if _store_key(settings, dataset):
        return ingest(settings, store, f"{store.uri.rstrip('/')}/{dataset}")
    guard = FetchGuard(tuple(settings.environment.data_sources))
    return ingest(settings, store, dataset, guard=guard)
