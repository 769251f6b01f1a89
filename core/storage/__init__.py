"""Stores by URI scheme. Each backend's SDK is imported only when its scheme is used."""

from __future__ import annotations

import importlib
import os

from core.errors import ConfigError
from core.storage.base import Store, encode_json, join_key

# scheme -> (module, class, extra that installs its SDK)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "file": ("core.storage.local", "LocalStore", None),
    "s3": ("core.storage.s3", "S3Store", "aws"),
    "gs": ("core.storage.gcs", "GCSStore", "gcp"),
    "az": ("core.storage.azure", "AzureBlobStore", "azure"),
}


def open_store(uri: str) -> Store:
    """The store for file://DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX."""
    scheme, sep, _ = uri.partition("://")
    if not sep or scheme not in BACKENDS:
        raise ConfigError(
            f"store URI '{uri}' has no known scheme; expected one of "
            + ", ".join(f"{name}://" for name in BACKENDS)
        )
    module_name, class_name, extra = BACKENDS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install 'mlfn[{extra}]'" if extra else "reinstall mlfn"
        raise ConfigError(
            f"the {scheme}:// store needs a missing package ({exc.name}): {hint}"
        ) from exc
    store: Store = getattr(module, class_name)(uri)
    return store


def store_uri_of(location: str) -> str:
    """A store URI for a folder given as a path or a URI."""
    if "://" in location:
        return location
    return "file://" + os.path.abspath(location or ".")


__all__ = ["BACKENDS", "Store", "encode_json", "join_key", "open_store", "store_uri_of"]
