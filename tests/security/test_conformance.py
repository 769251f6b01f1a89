"""GIVEN the live app (a trained iris champion, the local job worker) WHEN Schemathesis
generates requests from /openapi.json and runs every check on the answers (no server
errors, documented statuses, content types, headers and schemas, negative data refused)
THEN it finds nothing. Also: 405 with Allow, HEAD on GET routes, CORS when configured."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient

from core.api import create_app
from tests.unit.test_api import token

EXAMPLES = 50  # generated cases per operation


class AcceptOnly:
    """A queue that takes jobs and runs none: the test is about HTTP, not training."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)


def test_schemathesis_finds_nothing(api: Any) -> None:
    from hypothesis import HealthCheck, given, settings

    _, services = api
    services = dataclasses.replace(services, dispatcher=AcceptOnly())
    app = create_app(services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = token("predict", "train", "admin")
    failures: list[str] = []
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            # A fresh Idempotency-Key per case: a key reused with another body is a 422 by
            # design (tests/integration/test_job_lifecycle.py), not a schema finding.
            fresh = {**headers, "Idempotency-Key": uuid.uuid4().hex}
            try:
                case.call_and_validate(headers=fresh)
            except Exception as exc:  # schemathesis reports its findings as exception groups
                failures.append(f"{case.method} {case.path}: {exc!s:.300}")

        run()
    print(f"schemathesis: {cases} cases, {len(failures)} failures")
    assert cases > 250
    assert failures == [], failures[:10]


def test_unsupported_method_is_405_with_allow(api: Any) -> None:
    client, _ = api
    answer = client.put("/predict", json={}, headers=token("predict"))
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_head_works_on_get_routes(api: Any) -> None:
    client, _ = api
    for path, headers in (("/health", {}), ("/models", token("predict")), ("/metrics", {})):
        answer = client.head(path, headers=headers)
        assert answer.status_code == 200 and answer.content == b"", path


def test_cors_only_when_configured(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, services = api
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    closed = TestClient(create_app(services)).options("/predict", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    monkeypatch.setenv("MLFN_CORS_ORIGINS", "https://app.example")
    opened = TestClient(create_app(services)).options("/predict", headers=preflight)
    assert opened.headers["access-control-allow-origin"] == "https://app.example"


def test_api_docs_work_offline(api: Any) -> None:
    """Swagger UI and ReDoc load their files from this server, not from a CDN, and those
    files need no token."""
    import re

    client, _ = api
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources), (
            page, sources)  # fmt: skip
        for source in sources:
            if source.startswith("/docs/static/"):
                assert client.get(source).status_code == 200, source
    assert client.get("/docs/static/../app.py").status_code == 404
