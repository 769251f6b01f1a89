"""Ingestion from files and HTTP JSON APIs: raw copy, mapped fields, content-addressed, errors."""

from __future__ import annotations

import csv
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from core.data.ingest import ingest, load_dataset
from core.errors import DataError, SourceError
from tests.conftest import EXAMPLES, project_settings

IRIS_CSV = EXAMPLES / "iris" / "iris.csv"


def iris_records() -> list[dict]:
    with IRIS_CSV.open() as handle:
        return [
            {k: (v if k == "species" else float(v)) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


class JsonApi(BaseHTTPRequestHandler):
    """/flat: all records; /wrapped?page=N: 50 records a page under 'items' with a 'next' link;
    /linked?page=N: pages announced by a Link header."""

    records: list[dict] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        page = int(query.split("=")[1]) if query else 0
        chunk = self.records[page * 50 : (page + 1) * 50]
        more = (page + 1) * 50 < len(self.records)
        headers = {}
        if path == "/flat":
            body: object = self.records
        elif path == "/wrapped":
            body = {"items": chunk, "next": f"/wrapped?page={page + 1}" if more else None}
        elif path == "/linked":
            body = chunk
            if more:
                headers["Link"] = f'</linked?page={page + 1}>; rel="next"'
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    JsonApi.records = iris_records()
    server = ThreadingHTTPServer(("127.0.0.1", 0), JsonApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_csv_ingest_copies_raw_maps_fields_and_stores_parquet(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    dataset = ingest(settings, store)
    assert dataset.created and dataset.rows == 150
    assert dataset.columns == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "species",
    ]
    raw_keys = store.list("data/raw/iris/")
    assert len(raw_keys) == 1 and raw_keys[0].endswith(".csv")
    assert store.read_bytes(raw_keys[0]) == IRIS_CSV.read_bytes()
    manifest = store.read_json(f"data/processed/{dataset.sha256}.json")
    assert manifest["rows"] == 150 and manifest["source"].endswith("iris.csv")
    frame = load_dataset(store, settings, dataset.sha256)
    assert list(frame.columns) == dataset.columns and len(frame) == 150


def test_reingesting_identical_data_creates_no_new_version(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    first = ingest(settings, store)
    keys = store.list()
    second = ingest(settings, store)
    assert second.sha256 == first.sha256 and not second.created
    assert store.list() == keys


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "json"])
def test_other_file_formats_give_the_same_dataset(tmp_path: Path, fmt: str) -> None:
    settings, store = project_settings(tmp_path)
    reference = ingest(settings, store)
    frame = pd.read_csv(IRIS_CSV)
    path = tmp_path / f"iris.{fmt}"
    if fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        path.write_text(json.dumps({"records": frame.to_dict(orient="records")}))
    dataset = ingest(settings, store, str(path))
    assert dataset.sha256 == reference.sha256 and not dataset.created


@pytest.mark.parametrize("route", ["/flat", "/wrapped", "/linked"])
def test_http_json_api_with_pagination(tmp_path: Path, api: str, route: str) -> None:
    settings, store = project_settings(tmp_path)
    reference = ingest(settings, store)
    dataset = ingest(settings, store, api + route)
    assert dataset.rows == 150
    assert dataset.sha256 == reference.sha256  # same rows, whichever way they came
    assert store.list("data/raw/127.0.0.1")  # the raw copy of what the API sent


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("/no/such/file.csv", SourceError, "does not exist"),
        ("data.xlsx", DataError, r"a spreadsheet \('\.xlsx'\) is not read; save the sheet as CSV"),
        ("data.bin", DataError, "unknown file type '.bin'"),
    ],
)
def test_unreadable_sources(tmp_path: Path, source: str, error: type, message: str) -> None:
    settings, store = project_settings(tmp_path)
    with pytest.raises(error, match=message):
        ingest(settings, store, source)


def test_unreachable_url(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings, store = project_settings(tmp_path)
    with pytest.raises(SourceError, match="unreachable"):
        ingest(settings, store, f"http://127.0.0.1:{port}/records")


def test_http_error_status(tmp_path: Path, api: str) -> None:
    settings, store = project_settings(tmp_path)
    with pytest.raises(SourceError, match="HTTP 404"):
        ingest(settings, store, api + "/missing")


def write_csv(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_missing_target_column(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path, "diabetes")
    frame = pd.read_csv(EXAMPLES / "diabetes" / "diabetes.csv").drop(columns=["progression"])
    with pytest.raises(DataError, match=r"lacks the target column \['disease_progression'\]"):
        ingest(settings, store, write_csv(tmp_path / "d.csv", frame))


def test_missing_feature_column(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path, "diabetes")
    frame = pd.read_csv(EXAMPLES / "diabetes" / "diabetes.csv").drop(columns=["bmi"])
    with pytest.raises(DataError, match=r"lacks the columns \['bmi'\]"):
        ingest(settings, store, write_csv(tmp_path / "d.csv", frame))


def test_missing_selected_field(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    frame = pd.read_csv(IRIS_CSV).drop(columns=["sepal width (cm)"])
    with pytest.raises(DataError, match=r"lacks the selected fields \['sepal width \(cm\)'\]"):
        ingest(settings, store, write_csv(tmp_path / "i.csv", frame))


def test_a_second_header_line_is_named_with_the_lines_to_skip(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    text = IRIS_CSV.read_text()
    grouped = tmp_path / "grouped.csv"
    grouped.write_text("sepal,,petal,,\n" + text)
    with pytest.raises(DataError, match=r'line 2 holds the names .*"skip_lines": 1 in the'):
        ingest(settings, store, str(grouped))


def test_empty_data(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        ingest(settings, store, str(empty))
    header_only = tmp_path / "header.csv"
    header_only.write_text(IRIS_CSV.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="no rows with a value for 'species'"):
        ingest(settings, store, str(header_only))


def test_single_class(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    frame = pd.read_csv(IRIS_CSV)
    frame = frame[frame["species"] == "setosa"]
    with pytest.raises(DataError, match="single class; classification needs"):
        ingest(settings, store, write_csv(tmp_path / "one.csv", frame))


def test_regression_target_must_be_numeric(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path, "diabetes")
    frame = pd.read_csv(EXAMPLES / "diabetes" / "diabetes.csv")
    frame["progression"] = "high"
    with pytest.raises(DataError, match="is not numeric"):
        ingest(settings, store, write_csv(tmp_path / "d.csv", frame))


def test_rows_without_target_are_dropped(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    frame = pd.read_csv(IRIS_CSV)
    frame.loc[:9, "species"] = None
    dataset = ingest(settings, store, write_csv(tmp_path / "gaps.csv", frame))
    assert dataset.rows == 140


def test_object_uri_source(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    reference = ingest(settings, store)
    bucket = tmp_path / "bucket" / "incoming"
    bucket.mkdir(parents=True)
    (bucket / "iris.csv").write_bytes(IRIS_CSV.read_bytes())
    dataset = ingest(settings, store, f"file://{bucket}/iris.csv")
    assert dataset.sha256 == reference.sha256 and dataset.source.startswith("file://")
    with pytest.raises(SourceError, match=r"could not be read: .*does not exist"):
        ingest(settings, store, f"file://{bucket}/absent.csv")


def test_dataset_hash_depends_on_content_only() -> None:
    from core.data.ingest import dataset_sha256

    base = pd.DataFrame({"x": [1, 2, None], "y": ["a", None, "c"]})
    same = pd.DataFrame({"x": [1.0, 2.0, float("nan")], "y": ["a", None, "c"]})
    assert dataset_sha256(base) == dataset_sha256(same)
    assert dataset_sha256(base) != dataset_sha256(base.assign(y=["a", "", "c"]))
    assert dataset_sha256(base) != dataset_sha256(base.rename(columns={"x": "z"}))
    assert dataset_sha256(base) != dataset_sha256(base.iloc[[1, 0, 2]])


def test_the_dataset_hash_reads_text_as_written_and_missing_as_nul() -> None:
    import hashlib

    import numpy as np
    import pandas as pd

    from core.data.ingest import dataset_sha256

    column = pd.Series(["a", None, np.nan, 3, True, 2.5, "ü"], dtype=object)
    frame = pd.DataFrame({"t": column})
    digest = hashlib.sha256(json.dumps(["t", "text"]).encode())
    digest.update("a\x1e\x00\x1e\x00\x1e3\x1eTrue\x1e2.5\x1eü".encode())
    assert dataset_sha256(frame) == digest.hexdigest()


class _RawWriteFails:
    """A store whose raw-copy writes fail (its other calls go to the real store)."""

    def __init__(self, store: object) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def write_bytes(self, key: str, data: bytes) -> None:
        if key.startswith("data/raw/"):
            raise OSError("disk full")
        self._store.write_bytes(key, data)  # type: ignore[attr-defined]


def test_the_raw_copy_written_beside_the_parse_fails_the_ingest_and_a_bad_file_keeps_it(
    tmp_path: Path,
) -> None:
    """The raw copy is hashed and written on a thread while the rows are parsed: its failure
    still fails the ingest (with the dataset already stored, it is not hidden), and a file
    whose rows are refused still leaves its raw copy, as before."""
    settings, store = project_settings(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        ingest(settings, _RawWriteFails(store))  # type: ignore[arg-type]
    assert not store.list("data/raw/")
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,species\n1,a\n")  # the configured features are missing
    with pytest.raises(DataError):
        ingest(settings, store, source=str(bad))
    assert [key.rsplit("/", 1)[0] for key in store.list("data/raw/")] == ["data/raw/bad"]


def test_the_rows_trained_on_at_once_are_those_the_stored_dataset_gives_back(
    tmp_path: Path,
) -> None:
    """`mlfn train` without a dataset trains on the staged rows while their Parquet is
    written: they must be exactly what load_dataset reads later (a retrain), for every kind
    of column coercion makes — floats, integers, nullable booleans, text with leading-zero
    ids, missing values and dates as text."""
    from core.data.ingest import stage_ingest

    source = tmp_path / "mixed.csv"
    source.write_text(
        "x,n,flag,zip,when,note,species\n"
        "1.5,3,yes,02139,2024-01-02,a b,setosa\n"
        ",4,no,10001,2024-02-03,,versicolor\n"
        '2.25,,yes,00501,,"c, d",virginica\n'
        "-0.5,7,,94105,2024-03-04,e,setosa\n"
    )
    settings, store = project_settings(
        tmp_path, features=["x", "n", "flag", "zip", "when", "note"], feature_types={}
    )
    parser = settings.parser.model_copy(update={"selected_fields": []})  # every column
    settings = settings.__class__(settings.config, parser, settings.config_path, "dev",
                                  settings.store_uri)  # fmt: skip
    staged = stage_ingest(settings, store, str(source))
    staged.stored.result()
    stored = load_dataset(store, settings, staged.version.sha256)
    pd.testing.assert_frame_equal(staged.frame, stored, check_exact=True)
    assert {str(t) for t in stored.dtypes} >= {"float64", "boolean"}
    assert stored["zip"].tolist()[:3] == ["02139", "10001", "00501"]


def test_a_failed_dataset_write_stops_training_before_anything_is_registered(
    tmp_path: Path,
) -> None:
    """The Parquet is written while the candidates fit; its failure is raised before the
    registry changes, so no version refers to a dataset that is not stored."""
    from core.training.run import train

    settings, store = project_settings(tmp_path)

    class ParquetFails(_RawWriteFails):
        def write_bytes(self, key: str, data: bytes) -> None:
            if key.endswith(".parquet"):
                raise OSError("disk full")
            self._store.write_bytes(key, data)  # type: ignore[attr-defined]

    with pytest.raises(OSError, match="disk full"):
        train(settings, ParquetFails(store), model_types=["logistic_regression"])  # type: ignore[arg-type]
    assert not store.list("models/")
