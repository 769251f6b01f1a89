"""gcp-storage-emulator with the preconditions Cloud Storage enforces and it ignores.

The emulator accepts `ifGenerationMatch` on uploads and downloads and then does not check
it, so two compare-and-swap writers (a job's worker finishing it, a lease heartbeat) can
both win and one update is lost: a race that real Cloud Storage refuses with 412. Its HTTP
server handles one request at a time, so checking the generation just before the write
makes the check and the write one step, as Cloud Storage's is.

    python -m tests.integration.gcs_emulator start --host=127.0.0.1 --port=PORT --in-memory
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

Handler = Callable[..., Any]


def _current_generation(storage: Any, bucket: str, name: str) -> str:
    from gcp_storage_emulator.exceptions import NotFound

    try:
        return str(storage.get_file_obj(bucket, name).get("generation") or "0")
    except NotFound:
        return "0"  # Cloud Storage's "only if absent"


def _refuse(response: Any, expected: str, current: str) -> None:
    response.status = HTTPStatus.PRECONDITION_FAILED
    message = f"ifGenerationMatch={expected}, the object's generation is {current}"
    reason = {"domain": "global", "reason": "conditionNotMet", "message": message}
    response.json({"error": {"code": 412, "message": message, "errors": [reason]}})


def _upload_name(request: Any) -> str | None:
    if "name" in request.query:
        return str(request.query["name"][0])
    data = request.data
    meta = data.get("meta") if isinstance(data, dict) else None
    return str(meta["name"]) if isinstance(meta, dict) and meta.get("name") else None


def checked(handler: Handler, upload: bool) -> Handler:
    """`handler`, answering 412 when the request's ifGenerationMatch is not the object's."""

    def run(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        expected = (request.query.get("ifGenerationMatch") or [None])[0]
        bucket = (request.params or {}).get("bucket_name")
        name = _upload_name(request) if upload else (request.params or {}).get("object_id")
        if expected is not None and bucket and name:
            current = _current_generation(storage, bucket, name)
            if current != str(expected):
                _refuse(response, str(expected), current)
                return None
        return handler(request, response, storage, *args, **kwargs)

    return run


def enforce_preconditions() -> None:
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    insert, download = objects.insert, objects.download
    replaced = {insert: checked(insert, upload=True), download: checked(download, upload=False)}
    server.HANDLERS = tuple(
        (regex, {method: replaced.get(h, h) for method, h in handlers.items()})
        for regex, handlers in server.HANDLERS
    )
    objects.insert = replaced[insert]  # the router's own fallback for uploads names it


def main() -> int:
    enforce_preconditions()
    from gcp_storage_emulator.__main__ import main as emulator_main

    return int(emulator_main(sys.argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
