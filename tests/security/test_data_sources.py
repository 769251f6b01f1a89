"""GIVEN a caller with a valid `train` token WHEN it names a dataset for /train or /retrain
THEN only the store and the environment's data_sources are reachable: local files, other
buckets, the metadata address, internal hosts, redirects and `next` links that leave the
allowed prefixes are refused, sizes are bounded, and nothing fetched is echoed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import create_app
from core.auth import mint_token
from core.data.fetch import FetchGuard
from core.errors import SourceNotAllowedError
from core.training.run import train
from tests.conftest import project_settings
from tests.unit.test_api import local_services

SECRET = "data-sources-secret-0123456789abcdef"
ROWS = [
    {
        "sepal length (cm)": 5.1 + i / 10,
        "sepal width (cm)": 3.5,
        "petal length (cm)": 1.4,
        "petal width (cm)": 0.2 + (i % 3),
        "species": ["setosa", "versicolor", "virginica"][i % 3],
    }
    for i in range(60)
]


# The same rows with every label moved to the next class: a model of them scores perfectly
# on held-out rows of the same kind, and badly on real flowers.
POISONED = [
    {**row, "species": ["versicolor", "virginica", "setosa"][i % 3]} for i, row in enumerate(ROWS)
]


class Attacker(BaseHTTPRequestHandler):
    """Plays a partner API, its redirects, its `next` links and a secret it must not leak."""

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_port}"
        routes: dict[str, Any] = {
            "/ok/data": (200, {"records": ROWS}),
            "/ok/poisoned": (200, {"records": POISONED}),
            "/ok/to-metadata": (302, "http://169.254.169.254/latest/meta-data/iam/"),
            "/ok/to-outside": (302, f"{base}/secret/keys"),
            "/ok/next-outside": (200, {"records": ROWS, "next": f"{base}/secret/keys"}),
            "/ok/endless": (200, {"records": ROWS[:1], "next": "/ok/endless"}),
            "/ok/big": (200, {"records": ROWS * 2000}),
            "/ok/secret-columns": (200, {"records": [{"SECRET_TOKEN_abc123": 1}] * 10}),
            "/secret/keys": (200, {"records": [{"aws_secret": "SECRET_TOKEN_abc123"}]}),
        }
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        status, body = routes.get(self.path, (404, {}))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", body)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def attacker() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def client(tmp_path: Path, attacker: ThreadingHTTPServer) -> Iterator[tuple[TestClient, Any]]:
    allowed = f"http://127.0.0.1:{attacker.server_port}/ok/"
    settings, store = project_settings(tmp_path)
    environment = settings.config.promotion["dev"].model_copy(update={"data_sources": [allowed]})
    config = settings.config.model_copy(
        update={"promotion": {**settings.config.promotion, "dev": environment}}
    )
    settings = settings.__class__(
        config, settings.parser, settings.config_path, "dev", settings.store_uri
    )
    train(settings, store)
    services = local_services(settings, store, SECRET)
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client, services


def headers(*scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, list(scopes))}"}


REFUSED_AT_ONCE = [
    "/etc/passwd",
    "local.settings.json",
    "examples/iris/iris.csv",
    "file:///etc/passwd",
    "s3://another-bucket/data.csv",
    "gs://another/x.csv",
    "az://other/x.csv",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:22/",
    "ftp://x/y.csv",
    "https://evil.example/ok/data",
    "data/raw/../../../etc/passwd",
    "0" * 63,
]


@pytest.mark.parametrize("dataset", REFUSED_AT_ONCE)
def test_sources_outside_the_allowlist_are_422_before_queuing(client: Any, dataset: str) -> None:
    test_client, services = client
    for route, body in (("/train", {"dataset": dataset}), ("/retrain", {"dataset": dataset})):
        answer = test_client.post(route, json=body, headers=headers("train"))
        assert answer.status_code == 422, (route, answer.text)
        assert answer.json()["error"]["code"] == "source_not_allowed"
    assert services.store.list("jobs/") == []


@pytest.mark.parametrize(
    ("dataset", "said"),
    [("0" * 64, "no dataset 000"), ("data/raw/absent.csv", "nothing at 'data/raw/absent.csv'"),
     ("data/raw/no-folder/", "nothing at 'data/raw/no-folder/'")],
)  # fmt: skip
def test_a_store_dataset_that_is_not_there_is_404_before_queuing(
    client: Any, dataset: str, said: str
) -> None:
    """Its job would only have failed later (a sha256 of no dataset, a key of no file): a
    404, the status of a request well formed but naming what is not there."""
    test_client, services = client
    for route in ("/train", "/retrain"):
        answer = test_client.post(route, json={"dataset": dataset}, headers=headers("train"))
        assert answer.status_code == 404, (route, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
        assert said in answer.json()["error"]["message"]
    assert services.store.list("jobs/") == []


def _job(test_client: TestClient, services: Any, dataset: str, *scopes: str) -> dict:
    answer = test_client.post("/train", json={"dataset": dataset}, headers=headers(*scopes))
    assert answer.status_code == 202, answer.text
    services.dispatcher.wait()
    return test_client.get(f"/jobs/{answer.json()['job_id']}", headers=headers("train")).json()


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("to-metadata", "source_not_allowed", "not allowed"),
        ("to-outside", "source_not_allowed", "not allowed"),
        ("next-outside", "source_not_allowed", "not allowed"),
        ("endless", "source_unreadable", "more than 100 pages"),
        ("big", "source_unreadable", "larger than MLFN_SOURCE_MAX_BYTES"),
        ("secret-columns", "invalid_data", "lacks the selected fields"),
    ],
)
def test_fetches_that_leave_the_allowlist_or_their_bounds_fail_the_job(
    client: Any,
    attacker: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    code: str,
    message: str,
) -> None:
    monkeypatch.setenv("MLFN_SOURCE_MAX_BYTES", str(2 * 2**20))
    test_client, services = client
    attacker.hits.clear()  # type: ignore[attr-defined]
    job = _job(test_client, services, f"http://127.0.0.1:{attacker.server_port}/ok/{path}", "train")
    assert job["status"] == "failed" and job["error"]["code"] == code, job
    assert message in job["error"]["message"]
    assert "SECRET_TOKEN" not in json.dumps(job)
    assert not any(hit.startswith("/secret") for hit in attacker.hits)  # type: ignore[attr-defined]


def test_an_allowed_source_trains_but_a_train_caller_cannot_promote(
    client: Any, attacker: ThreadingHTTPServer
) -> None:
    test_client, services = client
    url = f"http://127.0.0.1:{attacker.server_port}/ok/data"
    job = _job(test_client, services, url, "train")
    assert job["status"] == "succeeded", job
    assert job["result"]["promoted"] is False
    assert services.registry.champion().version == 1
    records = {
        "records": [
            {
                "sepal_length": 5.0,
                "sepal_width": 3.0,
                "petal_length": 1.0,
                "petal_width": 0.1,
                "species": "setosa",
            }
        ]
        * 5
    }
    answer = test_client.post("/retrain", json=records, headers=headers("train"))
    services.dispatcher.wait()
    result = test_client.get(f"/jobs/{answer.json()['job_id']}", headers=headers("train")).json()
    assert result["result"]["promoted"] is False
    assert services.registry.champion().version == 1  # the champion was never replaced


@pytest.mark.parametrize(
    ("addresses", "allowed"),
    [
        (["10.0.0.5"], False),
        (["169.254.169.254"], False),
        (["127.0.0.1"], False),
        (["::1"], False),
        (["fd00::1"], False),
        (["::ffff:10.1.2.3"], False),
        (["0.0.0.0"], False),
        (["224.0.0.1"], False),
        (["93.184.216.34", "10.0.0.5"], False),
        (["93.184.216.34"], True),
    ],
)
def test_a_host_resolving_to_an_internal_address_is_refused(
    addresses: list[str], allowed: bool
) -> None:
    guard = FetchGuard(("https://api.partner.test/v1/",), resolve=lambda host, port: addresses)
    if allowed:
        assert guard.address("https://api.partner.test/v1/rows") == addresses[0]
    else:
        with pytest.raises(SourceNotAllowedError, match="internal address"):
            guard.address("https://api.partner.test/v1/rows")


def test_a_prefix_naming_an_internal_ip_allows_it() -> None:
    guard = FetchGuard(("http://10.0.0.5:8080/",), resolve=lambda host, port: ["10.0.0.5"])
    assert guard.address("http://10.0.0.5:8080/rows") == "10.0.0.5"


def test_poisoned_data_cannot_win_on_rows_it_chose(
    client: Any, attacker: ThreadingHTTPServer
) -> None:
    """Even an admin's job is compared on the champion's reference rows (from the
    configured source), not on held-out rows cut from the data the caller sent."""
    test_client, services = client
    url = f"http://127.0.0.1:{attacker.server_port}/ok/poisoned"
    job = _job(test_client, services, url, "train", "admin")
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["metrics"]["accuracy"] > 0.9  # perfect on its own held-out rows...
    assert result["promoted"] is False  # ...yet it loses on the reference rows
    assert "on champion v1's reference rows" in result["reason"]
    assert services.registry.champion().version == 1


def test_a_version_that_would_win_is_only_registered(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    summary = train(settings, store, may_promote=False)  # no champion: it would be promoted
    assert summary["promoted"] is False and summary["reason"].startswith("registered only")
    assert summary["champion"] is None


ALLOWED_PREFIXES = ("file:///srv/data/", "https://api.example.com", "s3://bucket/exports")


@pytest.mark.parametrize(
    "source",
    [
        "file:///srv/data/../secrets/keys.csv",
        "file:///srv/data/%2e%2e/secrets/keys.csv",
        "file:///srv/data/%252E%252E/secrets/keys.csv",
        "file:///srv/data/sub\\..\\..\\secrets.csv",
        "https://api.example.com/v1/../../admin/export",
        "https://api.example.com.evil.net/data",
        "https://api.example.com@evil.net/data",
        "https://api.example.com:8443@evil.net/data",
        "s3://bucket/exports/../private/x.csv",
    ],
)
def test_a_source_cannot_climb_out_of_or_disguise_its_prefix(source: str) -> None:
    with pytest.raises(SourceNotAllowedError):
        FetchGuard(ALLOWED_PREFIXES).check_prefix(source)


@pytest.mark.parametrize(
    "source",
    ["file:///srv/data/2024/x.csv", "https://api.example.com/v1/items?page=2",
     "https://api.example.com", "s3://bucket/exports-2024/x.csv", "file:///srv/data/a..b.csv"],
)  # fmt: skip
def test_sources_under_a_prefix_stay_allowed(source: str) -> None:
    assert FetchGuard(ALLOWED_PREFIXES).check_prefix(source) in ALLOWED_PREFIXES


def test_a_climbing_source_is_422_before_anything_is_fetched(
    client: Any, attacker: ThreadingHTTPServer
) -> None:
    test_client, services = client
    allowed = f"http://127.0.0.1:{attacker.server_port}/ok/"
    hits = len(attacker.hits)  # type: ignore[attr-defined]
    for dataset in (f"{allowed}../secret", f"{allowed}%2e%2e/secret"):
        answer = test_client.post("/train", json={"dataset": dataset}, headers=headers("train"))
        assert answer.status_code == 422 and "'..'" in answer.json()["error"]["message"]
    assert len(attacker.hits) == hits and services.store.list("jobs/") == []  # type: ignore[attr-defined]
