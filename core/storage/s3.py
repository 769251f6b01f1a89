"""S3 (and S3-compatible emulators via AWS_ENDPOINT_URL_S3): conditional writes with ETags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import (
    AccessDeniedError,
    ConflictError,
    MissingCredentialsError,
    MlfnError,
    NotFoundError,
    UnavailableError,
)
from core.storage.base import Store, retry_attempts, split_uri, translated
from core.storage.lean_http import LeanReads, etag_of
from core.storage.s3_lean import LeanS3Reader

# Provider error code -> our error. Anything else becomes UnavailableError.
ERRORS: dict[str, type[MlfnError]] = {
    "NoSuchKey": NotFoundError,
    "404": NotFoundError,
    "NoSuchBucket": NotFoundError,
    "PreconditionFailed": ConflictError,
    "412": ConflictError,
    "ConditionalRequestConflict": ConflictError,
    "AccessDenied": AccessDeniedError,
    "403": AccessDeniedError,
    "InvalidAccessKeyId": AccessDeniedError,
    "SignatureDoesNotMatch": AccessDeniedError,
}


def _boto3_client() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": retry_attempts(), "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client("s3", config=config)  # honours AWS_ENDPOINT_URL_S3


class S3Store(LeanReads, Store):
    def __init__(self, uri: str, client: Any = None) -> None:
        super().__init__(uri)
        self.bucket, self.prefix = split_uri(uri, "s3")
        # Reads without boto3 where the environment allows (core.storage.s3_lean): a cold
        # start that only serves never imports it.
        self._set_up_reads(client, lambda: LeanS3Reader.from_environment(self.bucket))

    @property
    def client(self) -> Any:
        """boto3's S3 client, made on first use (writes, lists, what the reader declines)."""
        return self._sdk(_boto3_client)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _translate(self, exc: Exception, key: str, action: str) -> MlfnError:
        from botocore.exceptions import ClientError

        where = f"{self.uri}/{key}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            error = ERRORS.get(code) or ERRORS.get(status) or UnavailableError
            return translated(error, where, action, f"S3: {code} {exc}")
        from botocore.exceptions import NoCredentialsError, PartialCredentialsError

        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return MissingCredentialsError(
                f"no AWS credentials to {action} {where}: set AWS_PROFILE (after `aws sso "
                "login` or `aws configure`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        return UnavailableError(f"S3 is unreachable while trying to {action} {where}: {exc}")

    def _call(self, action: str, key: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, key, action) from None

    def read_with_token(self, key: str) -> tuple[bytes, str]:
        reader = self._reader  # once: another thread may stop lean reads meanwhile
        if reader is not None:
            found = self._lean_outcome(lambda: reader.get(self._key(key)), key, etag_of)
            if found is not None:
                return found
        from botocore.exceptions import BotoCoreError, ClientError

        answer = self._call("read", key, "get_object", Key=self._key(key))
        try:
            return answer["Body"].read(), str(answer["ETag"])
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, key, "read") from None

    def read_bytes(self, key: str) -> bytes:
        return self.read_with_token(key)[0]

    def write_bytes(self, key: str, data: bytes) -> None:
        self._call("write", key, "put_object", Key=self._key(key), Body=data)

    def write_new(self, key: str, data: bytes) -> None:
        self._call("create", key, "put_object", Key=self._key(key), Body=data, IfNoneMatch="*")

    def replace(self, key: str, data: bytes, token: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        answer = self._call(
            "replace", key, "put_object", Key=self._key(key), Body=data, **condition
        )
        return str(answer["ETag"])

    def exists(self, key: str) -> bool:
        try:
            self._call("check", key, "head_object", Key=self._key(key))
        except NotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, prefix, "list") from None
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._call("delete", key, "delete_object", Key=self._key(key))

    def upload_file(self, key: str, path: Path) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:  # managed transfer: multipart and streamed for large files
            self.client.upload_file(str(path), self.bucket, self._key(key))
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise UnavailableError(f"upload of {self.uri}/{key} failed: {exc}") from None

    def download_file(self, key: str, path: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self._key(key), str(path))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, key, "read") from None
