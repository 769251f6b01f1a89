"""Google Cloud Storage reads without google-cloud-storage: its JSON API over http.client.

Importing google-cloud-storage (with google-auth, api-core and requests) and building its
client take a quarter of a second or more of a Cloud Functions cold start, before the first
model byte arrives, although serving only reads. This reader does those reads
- against an emulator named by STORAGE_EMULATOR_HOST (no credentials, as the SDK's
  AnonymousCredentials there), or
- on Google Cloud's serverless runtimes (K_SERVICE or FUNCTION_TARGET set) when
  GOOGLE_APPLICATION_CREDENTIALS names no key file: the access token comes from the
  metadata server (GCE_METADATA_HOST, else metadata.google.internal), as google-auth's
  own would, and is kept until a minute before it expires.
It takes only a 200 or a 404; any other answer and any network failure are left to the SDK.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from core.storage.lean_http import Answer, KeptConnections

API_HOST = "storage.googleapis.com"
METADATA_HOST = "metadata.google.internal"
SERVICE_ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
EXPIRY_MARGIN_S = 60.0


class MetadataToken:
    """The runtime service account's access token, from the metadata server."""

    def __init__(self, host: str) -> None:
        self.connections = KeptConnections("http", host, timeout=5.0)
        self._lock = threading.Lock()
        self._token, self._expires = "", 0.0

    def __repr__(self) -> str:  # never the token
        return f"MetadataToken(host={self.connections.host!r})"

    def header(self) -> dict[str, str]:
        """{"authorization": "Bearer …"}; raises OSError when no token can be had."""
        with self._lock:
            if time.monotonic() >= self._expires:
                self._token, self._expires = self._fetch()
            return {"authorization": f"Bearer {self._token}"}

    def _fetch(self) -> tuple[str, float]:
        answer = self.connections.get(SERVICE_ACCOUNT_PATH, {"metadata-flavor": "Google"})
        try:
            found = json.loads(answer.body) if answer.status == 200 else {}
            token, lifetime = str(found["access_token"]), float(found.get("expires_in", 0))
        except (ValueError, KeyError, TypeError):
            raise OSError(f"the metadata server gave no token (HTTP {answer.status})") from None
        return token, time.monotonic() + max(lifetime - EXPIRY_MARGIN_S, 0.0)


class LeanGCSReader:
    """GETs of objects' metadata and media through the JSON API."""

    def __init__(self, scheme: str, host: str, token: MetadataToken | None) -> None:
        self.connections = KeptConnections(scheme, host)
        self.token = token

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> LeanGCSReader | None:
        emulator = environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            parts = urlsplit(emulator if "://" in emulator else f"http://{emulator}")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return None
            return cls(parts.scheme, parts.netloc, None)
        serverless = environ.get("K_SERVICE") or environ.get("FUNCTION_TARGET")
        if not serverless or environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            return None
        metadata = environ.get("GCE_METADATA_HOST") or METADATA_HOST
        return cls("https", API_HOST, MetadataToken(metadata))

    def generation(self, bucket: str, name: str) -> Answer:
        """The object's resource (its "generation" field)."""
        return self._get(f"{_object_path(bucket, name)}?fields=generation")

    def media(self, bucket: str, name: str, generation: str | None = None) -> Answer:
        """The object's bytes (of `generation` only, when given)."""
        condition = f"&ifGenerationMatch={generation}" if generation else ""
        return self._get(f"{_object_path(bucket, name)}?alt=media{condition}")

    def _get(self, path: str) -> Answer:
        headers = self.token.header() if self.token is not None else {}
        return self.connections.get(path, headers)


def _object_path(bucket: str, name: str) -> str:
    return f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
