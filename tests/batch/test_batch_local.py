"""Batch scoring on the local store: every input row is scored once or rejected with a
reason, the predictions are /predict's, parts are deterministic, and an interrupted or
repeated batch continues without writing anything twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from core.batch import sinks
from core.batch.plan import BatchRequest, chunk_records
from core.batch.run import plan_batch, score_chunk, score_locally
from core.batch.status import batch_status
from core.errors import NotFoundError, ValidationError
from core.inference import Predictor
from tests.batch.conftest import FEATURES, feature_table


def _inputs(folder: Path) -> int:
    """Three files in three formats (4,000 + 3,000 + 2,500 rows) with bad rows among them."""
    folder.mkdir(parents=True, exist_ok=True)
    first = feature_table(4_000, seed=1).to_pydict()
    first["petal_width"][7] = float("inf")  # out of range: rejected
    first["sepal_length"][11] = None  # missing: imputed, scored
    pq.write_table(pa.table(first), folder / "a.parquet", row_group_size=1_500)
    second = feature_table(3_000, seed=2, first_id=4_000).to_pydict()
    second["sepal_width"] = [str(v) for v in second["sepal_width"]]
    second["sepal_width"][5] = "not a number"  # rejected
    pcsv.write_csv(pa.table(second), folder / "b.csv")
    third = feature_table(2_500, seed=3, first_id=7_000).to_pandas()
    third.to_json(folder / "c.jsonl", orient="records", lines=True)
    return 9_500


def _read_parts(folder: Path) -> Any:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("part-*.parquet"))])


def test_a_batch_scores_every_row_once_or_rejects_it_with_a_reason(
    iris_project: Any, tmp_path: Path
) -> None:
    _, store, _ = iris_project
    total = _inputs(tmp_path / "in")
    request = BatchRequest(str(tmp_path / "in" / "*"), str(tmp_path / "out"),
                           id_column="customer", chunk_rows=1_000)  # fmt: skip
    plan = plan_batch(store, request, "iris")
    assert plan.rows == total and len(plan.chunks) == 4 + 3 + 3
    manifest = score_locally(store, plan, workers=1)
    assert manifest["rows_in"] == total and manifest["rows_out"] == total - 2
    assert manifest["rejected"]["rows"] == 2
    assert any("petal_width" in r for r in manifest["rejected"]["reasons"])
    assert any("sepal_width" in r for r in manifest["rejected"]["reasons"])
    assert manifest["model"]["version"] == 1 and len(manifest["model"]["sha256"]) == 64
    written = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert written == manifest
    parts = _read_parts(tmp_path / "out")
    rows = parts.column("row").to_pylist()
    assert len(rows) == len(set(rows)) == total - 2
    assert sorted(set(range(total)) - set(rows)) == [7, 4_000 + 5]
    assert parts.column("customer").to_pylist()[:3] == ["c0", "c1", "c2"]
    rejected = pq.read_table(tmp_path / "out" / "rejected" / "part-00000.parquet").to_pylist()
    assert rejected[0]["row"] == 7 and "out of range" in rejected[0]["reason"]
    _same_as_predict(store, tmp_path / "in" / "a.parquet", parts)


def _same_as_predict(store: Any, source: Path, parts: Any) -> None:
    table = pq.read_table(source).slice(20, 50)
    rows = [{name: row[name] for name in FEATURES} for row in table.to_pylist()]
    answer = Predictor(store, "iris").predict(rows)
    scored = parts.filter(pa.compute.is_in(parts.column("row"), pa.array(range(20, 70))))
    assert scored.column("prediction").to_pylist() == answer["predictions"]
    classes = answer["classes"]
    mine = np.column_stack([scored.column(f"probability_{c}").to_numpy() for c in classes])
    np.testing.assert_allclose(mine, np.asarray(answer["probabilities"]), rtol=1e-6)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_other_output_formats(iris_project: Any, tmp_path: Path, fmt: str) -> None:
    _, store, _ = iris_project
    pq.write_table(feature_table(2_000), tmp_path / "in.parquet")
    request = BatchRequest(str(tmp_path / "in.parquet"), str(tmp_path / "out"), format=fmt)
    manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
    assert manifest["parts"][0]["part"] == f"part-00000.{fmt}"
    text = (tmp_path / "out" / f"part-00000.{fmt}").read_text().splitlines()
    if fmt == "jsonl":
        assert len(text) == 2_000
        assert json.loads(text[0])["prediction"] in ("setosa", "versicolor", "virginica")
    else:
        assert len(text) == 2_001 and text[0].startswith('"row","prediction"')


def test_a_spreadsheet_csv_scores_as_its_plain_twin(iris_project: Any, tmp_path: Path) -> None:
    """Semicolons and decimal commas (a European spreadsheet's CSV) give the same answers
    as the same rows written comma-separated with decimal points."""
    _, store, _ = iris_project
    table = feature_table(300).select(FEATURES)
    pcsv.write_csv(table, tmp_path / "plain.csv")
    lines = (tmp_path / "plain.csv").read_text().splitlines()
    european = [lines[0].replace(",", ";")] + [
        line.replace(",", ";").replace(".", ",") for line in lines[1:]
    ]
    (tmp_path / "eu.csv").write_text("\n".join(european) + "\n")
    assert ";" in european[1] and "," in european[1]
    answers = []
    for name in ("plain", "eu"):
        request = BatchRequest(str(tmp_path / f"{name}.csv"), str(tmp_path / f"out-{name}"))
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        assert manifest["rows_out"] == 300 and manifest["rejected"]["rows"] == 0
        answers.append(_read_parts(tmp_path / f"out-{name}").drop(["row"]))
    assert answers[0].equals(answers[1])


def test_the_parser_configs_reading_applies_to_batch_inputs(
    iris_project: Any, tmp_path: Path
) -> None:
    """The parser config's missing values ("unknown") and decimal mark read a batch's CSV as
    ingest read the training data: the rows score as their plain twins (missing as empty)."""
    _, store, _ = iris_project
    table = feature_table(200).select(FEATURES)
    pcsv.write_csv(table, tmp_path / "plain.csv")
    lines = (tmp_path / "plain.csv").read_text().splitlines()
    blanked = [lines[0]] + [",".join(["", *line.split(",")[1:]]) for line in lines[1:3]]
    marked = [lines[0]] + [",".join(["unknown", *line.split(",")[1:]]) for line in lines[1:3]]
    (tmp_path / "blank.csv").write_text("\n".join(blanked + lines[3:]) + "\n")
    (tmp_path / "marked.csv").write_text("\n".join(marked + lines[3:]) + "\n")
    answers = []
    for name, missing in (("blank", []), ("marked", ["unknown"]), ("marked", [])):
        out = tmp_path / f"out-{name}-{len(missing)}"
        request = BatchRequest(str(tmp_path / f"{name}.csv"), str(out), missing_values=missing)
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        answers.append((manifest["rejected"]["rows"], _read_parts(out).drop(["row"])))
    (blank_rejected, blank), (marked_rejected, marked), (unread_rejected, _) = answers
    assert blank_rejected == marked_rejected == 0 and blank.equals(marked)
    assert unread_rejected == 2  # without missing_values, "unknown" is not a number


def test_an_interrupted_batch_continues_and_writes_nothing_twice(
    iris_project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store, _ = iris_project
    pq.write_table(feature_table(6_000), tmp_path / "in.parquet")
    request = BatchRequest(str(tmp_path / "in.parquet"), str(tmp_path / "out"), chunk_rows=1_000)
    plan = plan_batch(store, request, "iris")
    writes: list[int] = []
    original = sinks.FolderSink.write

    def failing(self: Any, chunk: int, predictions: Any, meta: Any) -> Any:
        writes.append(chunk)
        if chunk == 3 and writes.count(3) == 1:
            raise OSError("the disk went away")
        return original(self, chunk, predictions, meta)

    monkeypatch.setattr(sinks.FolderSink, "write", failing)
    with pytest.raises(OSError):
        score_locally(store, plan, workers=1)
    assert sorted(chunk_records(store, plan)) == [0, 1, 2]
    assert batch_status(store, plan.batch_id)["state"] == "running"
    again = plan_batch(store, request, "iris")  # the same command again: the same batch
    assert again.batch_id == plan.batch_id
    manifest = score_locally(store, again, workers=1)
    assert writes == [0, 1, 2, 3, 3, 4, 5]  # chunks 0-2 were not scored again
    assert manifest["rows_out"] == 6_000
    rows = _read_parts(tmp_path / "out").column("row").to_pylist()
    assert sorted(rows) == list(range(6_000))
    score_locally(store, again, workers=1)  # finished: nothing is redone
    assert writes == [0, 1, 2, 3, 3, 4, 5]
    assert batch_status(store, plan.batch_id)["state"] == "succeeded"


def test_a_redelivered_chunk_writes_the_same_part(iris_project: Any, tmp_path: Path) -> None:
    _, store, _ = iris_project
    pq.write_table(feature_table(3_000), tmp_path / "in.parquet")
    request = BatchRequest(str(tmp_path / "in.parquet"), str(tmp_path / "out"), chunk_rows=1_000)
    plan = plan_batch(store, request, "iris")
    first = score_chunk(store.uri, plan.batch_id, 1)
    part = (tmp_path / "out" / "part-00001.parquet").read_bytes()
    store.delete(f"batches/{plan.batch_id}/chunks/00001.json")  # as if its record was lost
    second = score_chunk(store.uri, plan.batch_id, 1)
    assert second["sha256"] == first["sha256"]
    assert (tmp_path / "out" / "part-00001.parquet").read_bytes() == part
    assert score_chunk(store.uri, plan.batch_id, 1) == second  # recorded: returned as it is


def test_a_process_pool_gives_the_same_parts(iris_project: Any, tmp_path: Path) -> None:
    _, store, _ = iris_project
    pq.write_table(feature_table(4_000), tmp_path / "in.parquet")

    def scored(output: str, workers: int) -> dict[str, Any]:
        request = BatchRequest(
            str(tmp_path / "in.parquet"), str(tmp_path / output), chunk_rows=1_000
        )
        return score_locally(store, plan_batch(store, request, "iris"), workers)

    alone, pooled = scored("one", 1), scored("two", 2)
    assert [p["sha256"] for p in pooled["parts"]] == [p["sha256"] for p in alone["parts"]]


def test_bad_batches_are_refused_before_any_work(iris_project: Any, tmp_path: Path) -> None:
    _, store, _ = iris_project
    table = feature_table(1_000).drop(["petal_width"])
    pq.write_table(table, tmp_path / "short.parquet")
    with pytest.raises(
        ValidationError, match=r"lacks the model's feature column\(s\) \['petal_width'\]"
    ):
        plan_batch(
            store, BatchRequest(str(tmp_path / "short.parquet"), str(tmp_path / "o")), "iris"
        )
    pq.write_table(feature_table(1_000), tmp_path / "ok.parquet")
    with pytest.raises(NotFoundError, match="no id column 'order'"):
        plan_batch(store, BatchRequest(str(tmp_path / "ok.parquet"), str(tmp_path / "o"),
                                       id_column="order"), "iris")  # fmt: skip
    with pytest.raises(NotFoundError, match="matches no Parquet, CSV or JSON-lines file"):
        plan_batch(store, BatchRequest(str(tmp_path / "*.orc"), str(tmp_path / "o")), "iris")
    with pytest.raises(
        NotFoundError, match=r"model 'tulips' is not in this deployment's store; models there: iris"
    ):
        plan_batch(store, BatchRequest(str(tmp_path / "ok.parquet"), str(tmp_path / "o"),
                                       model="tulips"), "iris")  # fmt: skip
    with pytest.raises(ValidationError, match="format 'xml'"):
        plan_batch(store, BatchRequest(str(tmp_path / "ok.parquet"), "o", format="xml"), "iris")


def test_inputs_in_the_sources_own_column_names_are_mapped(
    iris_project: Any, tmp_path: Path
) -> None:
    """project_parser_config.json's field_mappings apply: the raw iris CSV scores as is."""
    settings, store, _ = iris_project
    source = Path(__file__).parents[2] / "examples" / "iris" / "iris.csv"
    request = BatchRequest(str(source), str(tmp_path / "out"),
                           field_mappings=dict(settings.parser.field_mappings))  # fmt: skip
    manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
    assert manifest["rows_out"] == 150 and manifest["rejected"]["rows"] == 0
    with pytest.raises(ValidationError, match="lacks the model's feature column"):
        plan_batch(store, BatchRequest(str(source), str(tmp_path / "unmapped")), "iris")


def test_missing_values_are_read_in_dictionary_encoded_parquet_text(
    iris_project: Any, tmp_path: Path
) -> None:
    """A Parquet text column written dictionary-encoded (as pandas writes a category column,
    or Spark a column of few values) has its marked cells read as missing too."""
    import pyarrow.compute as pc

    _, store, _ = iris_project
    table = feature_table(50).select(FEATURES)
    first = pc.cast(table.column(0), pa.string()).to_pylist()
    blank, marked = [None, None, *first[2:]], ["unknown", " unknown", *first[2:]]
    answers = []
    for name, values in (("blank", blank), ("marked", marked)):
        column = pa.array(values, pa.string()).dictionary_encode()
        pq.write_table(table.set_column(0, FEATURES[0], column), tmp_path / f"{name}.parquet")
        out = tmp_path / f"out-{name}"
        request = BatchRequest(str(tmp_path / f"{name}.parquet"), str(out),
                               missing_values=["unknown"])  # fmt: skip
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        answers.append((manifest["rejected"]["rows"], _read_parts(out).drop(["row"])))
    (blank_rejected, blank_scored), (marked_rejected, marked_scored) = answers
    assert blank_rejected == marked_rejected == 0 and blank_scored.equals(marked_scored)


def test_parts_gone_from_the_output_are_scored_again(iris_project: Any, tmp_path: Path) -> None:
    """A finished batch whose output lost parts (deleted, a folder wiped) is not taken as
    done: the same command scores the lost chunks again, to the same bytes, and only them."""
    _, store, _ = iris_project
    pq.write_table(feature_table(4_000), tmp_path / "in.parquet")
    out = tmp_path / "out"
    request = BatchRequest(str(tmp_path / "in.parquet"), str(out), chunk_rows=1_000)
    first = score_locally(store, plan_batch(store, request, "iris"), workers=1)
    written = {path.name: path.read_bytes() for path in out.glob("part-*")}
    (out / "part-00002.parquet").unlink()
    (out / "_manifest.json").unlink()
    before = {path.name: path.stat().st_mtime_ns for path in out.glob("part-*")}
    again = score_locally(store, plan_batch(store, request, "iris"), workers=1)
    assert {path.name: path.read_bytes() for path in out.glob("part-*")} == written
    assert all(out.joinpath(n).stat().st_mtime_ns == t for n, t in before.items())  # untouched
    assert again["rows_out"] == first["rows_out"] == 4_000 and (out / "_manifest.json").exists()


def test_a_unicode_text_csv_input_scores_as_its_utf8_twin(
    iris_project: Any, tmp_path: Path
) -> None:
    """A CSV saved as a spreadsheet's "Unicode text" (UTF-16 with a byte-order mark)."""
    _, store, _ = iris_project
    pcsv.write_csv(feature_table(300).select(FEATURES), tmp_path / "utf8.csv")
    text = (tmp_path / "utf8.csv").read_text()
    (tmp_path / "utf16.csv").write_bytes(text.encode("utf-16"))
    _assert_scored_alike(store, tmp_path, ("utf8", "utf16"), 300)


def test_a_csv_input_with_excels_separator_line_scores_as_its_plain_twin(
    iris_project: Any, tmp_path: Path
) -> None:
    _, store, _ = iris_project
    pcsv.write_csv(feature_table(100).select(FEATURES), tmp_path / "plain.csv")
    lines = (tmp_path / "plain.csv").read_text().splitlines()
    (tmp_path / "excel.csv").write_text("sep=;\n" + "\n".join(x.replace(",", ";") for x in lines))
    _assert_scored_alike(store, tmp_path, ("plain", "excel"), 100)


def test_a_csv_input_with_a_space_after_every_separator_scores_as_its_plain_twin(
    iris_project: Any, tmp_path: Path
) -> None:
    """`5.1, 3.5, ...` under `"sepal_length", "sepal_width", ...` (quoted names after the
    spaces): the names and numbers are the plain file's, as ingest reads them."""
    _, store, _ = iris_project
    pcsv.write_csv(feature_table(100).select(FEATURES), tmp_path / "plain.csv")
    lines = (tmp_path / "plain.csv").read_text().splitlines()
    (tmp_path / "spaced.csv").write_text("\n".join(x.replace(",", ", ") for x in lines))
    _assert_scored_alike(store, tmp_path, ("plain", "spaced"), 100)


def test_a_parquet_input_with_decimal_columns_scores_as_its_float_twin(
    iris_project: Any, tmp_path: Path
) -> None:
    """A database's NUMERIC columns, exported as Parquet decimals: numbers, not refusals
    of each row ("must be a number, got Decimal")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, store, _ = iris_project
    table = feature_table(100).select(FEATURES)
    rounded = pa.table({name: pa.array(table[name].to_numpy().round(2)) for name in FEATURES})
    decimals = pa.table({name: rounded[name].cast(pa.decimal128(6, 2)) for name in FEATURES})
    answers = []
    for name, data in (("floats", rounded), ("decimals", decimals)):
        pq.write_table(data, tmp_path / f"{name}.parquet")
        request = BatchRequest(str(tmp_path / f"{name}.parquet"), str(tmp_path / f"out-{name}"))
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        assert manifest["rows_out"] == 100, manifest
        answers.append(_read_parts(tmp_path / f"out-{name}").drop(["row"]))
    assert answers[0].equals(answers[1])


def _assert_scored_alike(store: Any, folder: Path, names: tuple[str, str], rows: int) -> None:
    """`<name>.csv` of each name, batch-scored: every row scored, the same answers."""
    answers = []
    for name in names:
        request = BatchRequest(str(folder / f"{name}.csv"), str(folder / f"out-{name}"))
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        assert manifest["rows_out"] == rows, name
        answers.append(_read_parts(folder / f"out-{name}").drop(["row"]))
    assert answers[0].equals(answers[1])
