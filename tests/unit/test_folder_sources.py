"""A folder or bucket prefix of part files as a source — GIVEN the rows of one file split
into parts as Spark, Athena or a daily export writes them WHEN ingested THEN they give the
same dataset version as the one file, and parts that do not fit are named."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.data.ingest import ingest
from core.errors import DataError
from tests.conftest import EXAMPLES, project_settings
from tests.robustness.datasets import encode

SUFFIX = {"csv": "csv", "tsv": "tsv", "json": "json", "jsonl": "jsonl", "parquet": "parquet"}


def _frame() -> pd.DataFrame:
    return pd.read_csv(EXAMPLES / "iris" / "iris.csv")


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings, store = project_settings(tmp_path, feature_types={})
    parser = settings.parser.model_copy(update={"selected_fields": []})
    return settings.__class__(settings.config, parser, settings.config_path, "dev",
                              settings.store_uri), store  # fmt: skip


def _whole(tmp_path: Path, settings: Any, store: Any) -> str:
    """The dataset version of the rows as one CSV file."""
    whole = tmp_path / "iris.csv"
    whole.write_bytes(encode(_frame(), "csv"))
    return ingest(settings, store, str(whole)).sha256


def _split(folder: Path, fmt: str, pieces: int = 3) -> Path:
    folder.mkdir(parents=True)
    frame = _frame()
    size = -(-len(frame) // pieces)
    for number in range(pieces):
        data = encode(frame.iloc[number * size : (number + 1) * size], fmt)
        name = f"part-{number:05d}.{SUFFIX[fmt]}"
        if number == 1:  # one part compressed, as exports often are
            data, name = gzip.compress(data), name + ".gz"
        (folder / name).write_bytes(data)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-00000.crc").write_bytes(b"\x00\x01")
    (folder / "README.md").write_text("exported nightly\n")
    return folder


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_parts_give_the_dataset_of_the_one_file(tmp_path: Path, fmt: str) -> None:
    settings, store = _settings(tmp_path)
    expected = _whole(tmp_path, settings, store)
    folder = _split(tmp_path / "exports", fmt)
    got = ingest(settings, store, str(folder))
    assert (got.sha256, got.rows) == (expected, 150)
    by_uri = ingest(settings, store, f"file://{folder}/")  # a bucket prefix, read alike
    assert by_uri.sha256 == expected


def test_parts_with_bom_and_crlf_join_under_one_header(tmp_path: Path) -> None:
    settings, store = _settings(tmp_path)
    folder = tmp_path / "daily"
    folder.mkdir()
    for number, piece in enumerate((_frame().iloc[:70], _frame().iloc[70:])):
        text = piece.to_csv(index=False, lineterminator="\r\n").rstrip("\r\n")  # no last newline
        (folder / f"2024-05-0{number + 1}.csv").write_bytes(("\ufeff" + text).encode())
    assert ingest(settings, store, str(folder)).sha256 == _whole(tmp_path, settings, store)


def test_a_part_with_other_columns_is_named(tmp_path: Path) -> None:
    settings, store = _settings(tmp_path)
    folder = _split(tmp_path / "exports", "csv")
    renamed = _frame().iloc[:5].rename(columns={"species": "label"})
    (folder / "part-00009.csv").write_bytes(encode(renamed, "csv"))
    with pytest.raises(DataError, match=r"part 'part-00009\.csv' has another header"):
        ingest(settings, store, str(folder))


@pytest.mark.parametrize(
    ("files", "message"),
    [({"a.csv": b"x\n1\n", "b.parquet": b"PAR1"}, r"mix formats \(csv, parquet\)"),
     ({"notes.md": b"hi", "_SUCCESS": b""}, "holds no data file")],
)  # fmt: skip
def test_a_folder_without_one_kind_of_data_is_refused(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    settings, store = _settings(tmp_path)
    folder = tmp_path / "odd"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with pytest.raises(DataError, match=rf"source folder '.*odd': .*{message}"):
        ingest(settings, store, str(folder))


def test_an_s3_prefix_reads_the_objects_directly_under_it(
    tmp_path: Path, s3_env: dict[str, str]
) -> None:
    from core.storage import open_store
    from tests.emulator_fixtures import make_s3_bucket

    settings, store = _settings(tmp_path)
    expected = _whole(tmp_path, settings, store)
    bucket = make_s3_bucket()
    exports = open_store(f"s3://{bucket}/exports")
    for number, piece in enumerate((_frame().iloc[:100], _frame().iloc[100:])):
        exports.write_bytes(f"part-{number}.csv", encode(piece, "csv"))
    exports.write_bytes("_SUCCESS", b"")
    exports.write_bytes("2023/part-0.csv", encode(_frame().iloc[:3], "csv"))  # not read
    got = ingest(settings, store, f"s3://{bucket}/exports/")
    assert (got.sha256, got.rows) == (expected, 150)


def test_a_file_name_pattern_picks_the_parts(tmp_path: Path) -> None:
    settings, store = _settings(tmp_path)
    expected = _whole(tmp_path, settings, store)
    folder = _split(tmp_path / "exports", "csv")
    (folder / "other.csv").write_bytes(encode(_frame().iloc[:3], "csv"))  # not a part
    assert ingest(settings, store, f"{folder}/part-*.csv*").sha256 == expected
    assert ingest(settings, store, f"file://{folder}/part-0000[0-2].csv*").sha256 == expected
    with pytest.raises(DataError, match=r"no file matches 'day-\*\.csv'"):
        ingest(settings, store, f"{folder}/day-*.csv")


def test_parts_saved_in_utf16_and_utf8_join(tmp_path: Path) -> None:
    settings, store = _settings(tmp_path)
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.csv").write_bytes(_frame().iloc[:75].to_csv(index=False).encode("utf-16"))
    (folder / "b.csv").write_bytes(_frame().iloc[75:].to_csv(index=False).encode())
    assert ingest(settings, store, str(folder)).sha256 == _whole(tmp_path, settings, store)


def test_a_folder_of_too_many_parts_is_refused_before_reading_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.data import parts

    monkeypatch.setattr(parts, "MAX_PARTS", 3)
    names = [f"part-{n}.csv" for n in range(4)]
    with pytest.raises(DataError, match="holds 4 data files; the limit is 3"):
        parts.data_parts(names, lambda name: "csv")
    assert parts.data_parts(names[:3], lambda name: "csv") == (names[:3], "csv")
