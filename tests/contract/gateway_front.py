"""An HTTP front for the doors that have none here: what API Gateway does for the Lambda
function (an HTTP request becomes an HTTP API v2 event, the function's answer becomes the
response) and what the Functions host does for the Azure app. Real HTTP clients (Triton's,
KServe's, MLflow's) then talk to the real handler through it, on 127.0.0.1."""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

# (method, path, query, headers, body) -> (status, headers, body)
Invoke = Callable[[str, str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def _handler_class(invoke: Invoke, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {name: value for name, value in self.headers.items()}
            with lock:  # one invocation at a time, as one warm instance serves
                status, answer_headers, answer = invoke(self.command, parts.path, parts.query,
                                                        headers, body)  # fmt: skip
            self.send_response(status)
            for name, value in answer_headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_HEAD = _forward

        def log_message(self, *_: Any) -> None:
            return None

    return Front


@contextmanager
def gateway_front(invoke: Invoke) -> Iterator[int]:
    """Serve `invoke` over HTTP on 127.0.0.1; yields the port."""
    server = HTTPServer(("127.0.0.1", 0), _handler_class(invoke, threading.Lock()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def lambda_http_v2(runtime: Any, template: dict[str, Any]) -> Invoke:
    """API Gateway's HTTP API v2 payload to the function in the real Lambda runtime."""

    def invoke(method: str, path: str, query: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        event = copy.deepcopy(template)
        event.update(rawPath=path, rawQueryString=query,
                     headers={k.lower(): v for k, v in headers.items()},
                     body=base64.b64encode(body).decode() if body else None,
                     isBase64Encoded=bool(body))  # fmt: skip
        event.pop("queryStringParameters", None)
        if query:
            pairs = [p.partition("=") for p in query.split("&") if p]
            event["queryStringParameters"] = {k: v for k, _, v in pairs}
        event["requestContext"]["http"].update(method=method, path=path)
        answer = runtime.invoke(event)
        raw = answer.get("body") or ""
        data = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        return int(answer["statusCode"]), dict(answer.get("headers") or {}), data

    return invoke


def azure_http(functions: dict[str, Any], loop: Any, root: str) -> Invoke:
    """The Functions host's HTTP trigger to the Azure app's ASGI function, on its loop."""
    import azure.functions as func

    http = functions["http_app_func"].get_user_function()

    def invoke(method: str, path: str, query: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        url = f"http://localhost{path}" + (f"?{query}" if query else "")
        request = func.HttpRequest(method=method, url=url, headers=headers, body=body)
        context = SimpleNamespace(invocation_id="e7f3c5a2-0000-4000-8000-000000000002",
                                  function_name="http_app_func", function_directory=root,
                                  trace_context=None, retry_context=None)  # fmt: skip
        answer = loop.run_until_complete(http(request, context))
        return answer.status_code, dict(answer.headers), answer.get_body()

    return invoke
