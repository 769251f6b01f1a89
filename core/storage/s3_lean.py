"""S3 reads without boto3: a GET signed with AWS Signature Version 4, over http.client.

Importing boto3 and building its S3 client take about a quarter of a second, and a Lambda
cold start pays them before the first model byte arrives, although serving only reads (the
routing, the metadata, the graph). This reader does those reads when the environment holds
static credentials, as Lambda's always does (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN), and a region, and no profile or shared config file could say otherwise.
It answers only what it understands: 200 (the bytes and their ETag) and 404; any other
answer, and any network failure, is left to boto3 (its retries, its redirects, its error
messages), as is every write.

It contacts the endpoint boto3 would: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (path-style
addressing, as the S3-compatible servers expect), else the bucket's regional endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from core.storage.lean_http import Answer, KeptConnections

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Settings that make boto3 pick another endpoint than the plain regional one: left to it.
ENDPOINT_SETTINGS = (
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never the secret, not even in a traceback
        return f"Credentials(access_key={self.access_key!r}, secret_key='***')"


@dataclass(frozen=True)
class Target:
    """Where a bucket's objects are: scheme, host (with a port if any), path prefix."""

    scheme: str
    host: str
    prefix: str  # "/bucket" (path style) or "" (the bucket in the host name)


def signed_headers(
    host: str, path: str, credentials: Credentials, region: str, now: datetime
) -> dict[str, str]:
    """The headers of a signed GET of `path` (already URI-encoded) from `host`: SigV4 with
    the empty payload's hash, as botocore signs an S3 GetObject."""
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp}
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        ["GET", path, "", *(f"{name}:{headers[name]}" for name in sorted(headers)), "",
         names, EMPTY_SHA256]
    )  # fmt: skip
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + credentials.secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return headers


def bucket_target(bucket: str, region: str, environ: Mapping[str, str]) -> Target | None:
    """The endpoint boto3 would use for `bucket`; None where the rules are boto3's alone."""
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            return None
        return Target(parts.scheme, parts.netloc, f"/{bucket}")
    if "." in bucket or bucket != bucket.lower():  # not a plain host name: boto3 decides
        return None
    return Target("https", f"{bucket}.s3.{region}.amazonaws.com", "")


def _shared_config(environ: Mapping[str, str]) -> Path:
    """The AWS shared config file boto3 would read (its endpoint_url settings included)."""
    return Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()


class LeanS3Reader:
    """Signed GETs of one bucket's objects. The credentials are read from the environment
    at each request: a SnapStart-restored Lambda gets fresh ones in the same variables."""

    def __init__(self, target: Target, region: str, environ: Mapping[str, str]) -> None:
        self.target, self.region, self.environ = target, region, environ
        self.connections = KeptConnections(target.scheme, target.host)

    @classmethod
    def from_environment(
        cls, bucket: str, environ: Mapping[str, str] = os.environ
    ) -> LeanS3Reader | None:
        """A reader when the environment says everything boto3 would use: static keys, a
        region and no endpoint setting of boto3's own; None otherwise (boto3 reads)."""
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if not (environment_credentials(environ) and region):
            return None
        if any(environ.get(k) for k in ENDPOINT_SETTINGS):
            return None
        if environ.get("AWS_PROFILE") or _shared_config(environ).exists():  # may name endpoints
            return None
        target = bucket_target(bucket, region, environ)
        return None if target is None else cls(target, region, environ)

    def get(self, key: str) -> Answer:
        """One signed GET of `key`. Raises OSError when the network fails or the keys have
        left the environment (the caller then asks boto3)."""
        credentials = environment_credentials(self.environ)
        if credentials is None:
            raise OSError("no AWS keys in the environment any more")
        path = f"{self.target.prefix}/{quote(key, safe='/~')}"
        now = datetime.now(UTC)
        return self.connections.get(
            path, signed_headers(self.target.host, path, credentials, self.region, now)
        )


def environment_credentials(environ: Mapping[str, str]) -> Credentials | None:
    access, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not (access and secret):
        return None
    return Credentials(access, secret, environ.get("AWS_SESSION_TOKEN"))
