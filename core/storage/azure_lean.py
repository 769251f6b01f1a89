"""Azure Blob reads without azure-storage-blob: a Get Blob signed with the account's
Shared Key, over http.client.

Importing azure-storage-blob (with azure-core) and building its client take about a
quarter of a second of an Azure Functions cold start before the first model byte arrives,
although serving only reads. This reader does those reads when
AZURE_STORAGE_CONNECTION_STRING holds an account name and key (a function app's storage
connection string does; Azurite's too), at its BlobEndpoint or at
https://ACCOUNT.blob.core.windows.net (EndpointSuffix honoured). A connection string with
a SAS or UseDevelopmentStorage is left to the SDK, as is any answer but 200 and 404 and
any network failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from email.utils import formatdate
from urllib.parse import quote, urlsplit

from core.storage.lean_http import Answer, KeptConnections

API_VERSION = "2023-11-03"
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def parse_connection_string(text: str) -> dict[str, str]:
    """`Name=value;…` as a dict (a value may hold "=", as a base64 key does)."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {name.strip(): value.strip() for name, value in pairs}


def shared_key_headers(
    account: str, key: str, path: str, date: str, version: str = API_VERSION
) -> dict[str, str]:
    """The headers of a Get Blob of the URL path `path` (as sent: percent-encoded), signed
    with the account key as the service expects (no Content-*, no conditions, no range)."""
    headers = {"x-ms-date": date, "x-ms-version": version}
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    to_sign = "GET\n" + "\n" * 11 + canonical_headers + f"/{account}{path}"
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    headers["authorization"] = f"SharedKey {account}:{base64.b64encode(digest).decode()}"
    return headers


class LeanBlobReader:
    """Shared Key signed Get Blob of one account's blobs."""

    def __init__(self, account: str, key: str, scheme: str, host: str, base_path: str) -> None:
        self.account, self._key, self.base_path = account, key, base_path.rstrip("/")
        self.connections = KeptConnections(scheme, host)

    def __repr__(self) -> str:  # never the key
        return f"LeanBlobReader(account={self.account!r})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> LeanBlobReader | None:
        fields = parse_connection_string(environ.get(CONNECTION_STRING_ENV, ""))
        account, key = fields.get("AccountName"), fields.get("AccountKey")
        if not account or not key or "SharedAccessSignature" in fields:
            return None
        protocol = fields.get("DefaultEndpointsProtocol", "https")
        suffix = fields.get("EndpointSuffix", "core.windows.net")
        endpoint = urlsplit(fields.get("BlobEndpoint") or f"{protocol}://{account}.blob.{suffix}")
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            return None
        try:
            base64.b64decode(key, validate=True)
        except ValueError:
            return None
        return cls(account, key, endpoint.scheme, endpoint.netloc, endpoint.path)

    def get(self, container: str, name: str) -> Answer:
        """One signed Get Blob. Raises OSError when the network fails."""
        path = f"{self.base_path}/{quote(container, safe='')}/{quote(name, safe='/~')}"
        date = formatdate(usegmt=True)
        return self.connections.get(path, shared_key_headers(self.account, self._key, path, date))
