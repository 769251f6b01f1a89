"""Run by test_aws_tracer.py in a process of its own: the AWS handler module with
MLFN_AWS_TRACER=on, as Lambda runs it (LAMBDA_TASK_ROOT, _X_AMZN_TRACE_ID), invoked with an
API Gateway event; X-Ray's SDK sends the handler's subsegment to AWS_XRAY_DAEMON_ADDRESS."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from tests.unit.test_api import token


def main() -> int:
    import functions.aws.handler as door

    event = json.loads((Path(__file__).parents[1] / "events" / "apigw_http_v2.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/health"
    event["requestContext"]["http"]["method"] = "GET"
    event["headers"] = {
        **event.get("headers", {}),
        **{k.lower(): v for k, v in token("predict").items()},
    }
    event.pop("body", None)
    context = SimpleNamespace(
        function_name="mlfn-iris-dev-api", function_version="$LATEST", memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:mlfn-iris-dev-api",
        aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        get_remaining_time_in_millis=lambda: 29000,
    )  # fmt: skip
    answer = door.handler(event, context)
    assert answer["statusCode"] == 200, answer
    return 0


if __name__ == "__main__":
    sys.exit(main())
