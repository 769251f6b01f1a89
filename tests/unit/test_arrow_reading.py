"""Delimited files are read by Arrow when it can, by pandas otherwise; either way each
column ends up with the very same type and values (core.data.formats, core.data.coerce)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.data import formats
from core.data.coerce import coerce_frame

TRICKY = {
    "plain numbers": "a,b\n1,2.5\n3,-4e3\n",
    "whole floats become integers": "a,b\n1.0,2\n3.0,4\n",
    "missing values": "a,b\n1,\nNA,2\n3,null\n",
    "leading-zero identifiers": "zip,x\n02139,1\n10001,2\n",
    "padded numbers": "a,b\n 1 ,2\n3, 4\n",
    "booleans": "flag,label\ntrue,yes\nfalse,no\nTRUE,yes\n",
    "infinity stays text": "a,b\ninf,1\n2,2\n",
    "NAN spelled otherwise": "a,b\nNAN,1\n2,2\n",
    "labels": "x,label\n1,setosa\n2,virginica\n3,setosa\n",
    "quoted newline": 'note,x\n"two\nlines",1\nplain,2\n',
    "quoted carriage return": 'note,x\r\n"two\r\nlines",1\r\nplain,2\r\n',
    "windows line ends": "a,b\r\n1,2\r\n3,4\r\n",
    "quoted empty is missing": 'a,b\n"",1\n2,2\n',
    "all missing": "a,b\n,1\n,2\n",
    "semicolons": "a;b\n1,5;2\n3;4\n",
    "unicode": "name,x\nzoë,1\n日本,2\n",
    "signed zero and plus": "a,b\n-0,+1\n+.5,1.\n",
    "huge numbers": "a,b\n1e400,1\n2,2\n",
    "big integers": "a,b\n9007199254740993,1\n2,2\n",
    "signed leading zero": "a,b\n -007,1\n2,2\n",
    "zero point is a number": "a,b\n0.5,1\n-0.25,2\n",
}
FALLBACKS = {
    "duplicate names": "a,a\n1,2\n",
    "blank name": ",a\n1,2\n",
    "ragged rows": "a,b\n1,2,3\n4,5\n",
    "short rows": "a,b,c\n1,2\n3,4,5\n",
    "index column": "a,b\nx,1,2\ny,3,4\n",
    "old mac line ends": "a,b\r1,2\r3,4\r",
}


def _by_pandas(text: str, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    with monkeypatch.context() as patched:
        patched.setattr(formats, "_read_delimited_arrow", lambda *_: None)
        return formats.read_delimited(text, "test.csv", None)


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_arrow_and_pandas_readings_coerce_to_the_same_frame(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = TRICKY[name]
    by_arrow = formats.read_delimited(text, "test.csv", None)
    assert all(isinstance(t, pd.ArrowDtype) for t in by_arrow.dtypes), "Arrow read it"
    target = by_arrow.columns[-1]
    expected = coerce_frame(_by_pandas(text, monkeypatch), {}, target)
    got = coerce_frame(by_arrow, {}, target)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("quoted", [False, True])
def test_a_file_of_many_blocks_reads_as_pandas_reads_it(
    quoted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrow reads in 1 MB blocks on several threads: unquoted, split at line breaks; with
    a quote anywhere (here a line break inside the very last value), serially."""
    rows = [f"{i},{i * 0.5},name{i % 7}" for i in range(120_000)]
    text = "a,b,c\n" + "\n".join(rows) + ('\n1,2,"two\nlines"\n' if quoted else "\n")
    by_arrow = formats.read_delimited(text, "big.csv", None)
    assert all(isinstance(t, pd.ArrowDtype) for t in by_arrow.dtypes), "Arrow read it"
    expected = coerce_frame(_by_pandas(text, monkeypatch), {}, "c")
    pd.testing.assert_frame_equal(coerce_frame(by_arrow, {}, "c"), expected)
    assert len(by_arrow) == len(rows) + quoted


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_what_arrow_would_read_differently_is_read_by_pandas(name: str) -> None:
    text = FALLBACKS[name]
    try:
        frame = formats.read_delimited(text, "test.csv", None)
    except Exception:  # pandas' refusal, worded as before
        return
    assert not any(isinstance(t, pd.ArrowDtype) for t in frame.dtypes)


def test_declared_text_columns_stay_text_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "code,x\n12,1\n7,2\n"
    declared = {"code": "categorical"}
    got = coerce_frame(formats.read_delimited(text, "t.csv", None), declared, "x")
    expected = coerce_frame(_by_pandas(text, monkeypatch), declared, "x")
    pd.testing.assert_frame_equal(got, expected)
    assert got["code"].tolist() == ["12", "7"]


def test_columns_typed_in_parallel_come_out_as_typed_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.data import coerce

    text = "".join(TRICKY["labels"].splitlines(keepends=True)[:1]) + "".join(
        f"{i},{'setosa' if i % 3 else 'virginica'}\n" for i in range(500)
    )
    frame = formats.read_delimited(text, "t.csv", None)
    frame["zip"] = [f"0{i}" for i in range(500)]
    one_by_one = coerce_frame(frame, {}, "label")
    monkeypatch.setattr(coerce, "PARALLEL_CELLS", 0)
    pd.testing.assert_frame_equal(coerce_frame(frame, {}, "label"), one_by_one)
    assert one_by_one["x"].dtype == "int64" and one_by_one["zip"].iloc[1] == "01"


def test_leading_zero_test_on_bytes_agrees_with_the_regular_expression() -> None:
    """The byte-level test (core.data.arrow_text) against Arrow's RE2 on the pattern it
    replaces, over random strings of the characters that matter, nulls, slices and chunks
    included."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.data.arrow_text import any_leading_zero_number
    from core.data.coerce import LEADING_ZERO_PREFIX

    rng = np.random.default_rng(11)
    alphabet = [" ", "+", "-", "0", "1", "9", ".", "a", "é", "\t"]
    for trial in range(400):
        texts = [
            None if rng.random() < 0.1 else "".join(rng.choice(alphabet, rng.integers(0, 5)))
            for _ in range(rng.integers(1, 6))
        ]
        kind = pa.large_string() if trial % 2 else pa.string()
        array = pa.array(["00", *texts], type=kind).slice(1)  # a slice: offset 1
        chunked = pa.chunked_array([array, pa.array(texts[:1], type=kind)])
        expected = pc.any(pc.match_substring_regex(chunked, LEADING_ZERO_PREFIX)).as_py()
        assert any_leading_zero_number(chunked) == bool(expected), texts


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbfname,x\nzo\xc3\xab,1\n", "utf-8"),  # a byte-order mark
        ("name;x\nzoë;1\n".encode("latin-1"), "latin-1"),
        (b"name,x\nplain,1\n", "UTF_8"),
    ],
)
def test_bytes_read_as_their_decoded_text_reads(data: bytes, encoding: str) -> None:
    """Undecoded UTF-8 goes to Arrow as bytes; the frame is the one the decoded text gives."""
    text = formats.decode(data, "t.csv", encoding)
    expected = coerce_frame(formats.read_delimited(text, "t.csv", None), {}, "x")
    got = coerce_frame(formats.read_delimited_bytes(data, "t.csv", None, encoding), {}, "x")
    pd.testing.assert_frame_equal(got, expected)
    assert got["name"].tolist() == ["zoë"] if b"zo" in data else ["plain"]


@pytest.mark.parametrize("data", [b"name,x\nzo\xff,1\n", b"na\xffme,x\nzo,1\n"])
def test_a_bad_byte_is_named_as_the_decoding_names_it(data: bytes) -> None:
    from core.errors import DataError

    with pytest.raises(DataError, match="line 2, column 3: byte 0xff is not valid utf-8"
                       if data.startswith(b"name") else "line 1, column 3: byte 0xff"):  # fmt: skip
        formats.read_delimited_bytes(data, "t.csv", None, "utf-8")


@pytest.mark.parametrize(
    ("data", "advice"),
    [
        (
            b"name,x\nzo\xeb,1\n",
            'reads as Windows-1252 (a spreadsheet\'s CSV saved on Windows): set "encoding"',
        ),
        (
            b"name,x\nzo\x81,1\n",
            'save the file as UTF-8, or set its "encoding"',
        ),  # 0x81: not cp1252
    ],
)
def test_a_bad_byte_comes_with_the_encoding_the_text_reads_as(data: bytes, advice: str) -> None:
    from core.errors import DataError

    with pytest.raises(DataError) as raised:
        formats.read_delimited_bytes(data, "t.csv", None, "utf-8")
    assert advice in str(raised.value)


PREAMBLE = "Sales report, all shops\r\nExported 2024-03-01\r\n\r\n"
TABLE = "size,colour,label\r\n1.5,red,yes\r\n2,blue,no\r\n3.25,green,yes\r\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_skip_lines_reads_the_table_below_a_title(encoding: str, ending: str) -> None:
    """An export with a title and a date above the header: `skip_lines` reads the table as
    the file without them is read, in any encoding and with any line ending."""
    from core.config import ParserConfig
    from core.data.ingest import parse_raw
    from core.data.sources import RawData

    def parsed(text: str, skip: int) -> pd.DataFrame:
        data = text.replace("\r\n", ending).encode(encoding)
        raw = RawData(name="t", fmt="csv", data=data, origin="t.csv")
        reading = ParserConfig(skip_lines=skip, encoding=encoding.removesuffix("-sig"))
        return coerce_frame(parse_raw(raw, reading), {}, "label")

    expected = parsed(TABLE, 0)
    assert list(expected.columns) == ["size", "colour", "label"]
    pd.testing.assert_frame_equal(parsed(PREAMBLE + TABLE, 3), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb\rc\nd", "d"),
        ("a\nb\n", ""),
        ("a\nb", ""),  # fewer lines than asked: nothing left (then "is empty")
    ],
)
def test_skipped_lines_counts_every_line_ending(text: str, expected: str) -> None:
    assert formats.skipped_lines(text, 3) == expected
    assert formats.skipped_lines(text.encode(), 3) == expected.encode()
    assert formats.skipped_lines(text, 0) == text


def test_a_title_above_the_header_is_named_with_the_lines_to_skip() -> None:
    """pandas reads rows longer than the header by taking their first fields as the index
    (a frame of one column, its values shifted), or fails on a line longer than those above:
    either way the error says which line looks like the header."""
    from core.errors import DataError

    title = "Sales report\n"
    for text, header in [(title + TABLE, 2), (PREAMBLE.replace(", all", " all") + TABLE, 4)]:
        with pytest.raises(DataError) as raised:
            formats.read_delimited(text, "t.csv", ",")
        message = str(raised.value)
        assert "the first line names 1 column(s) but most rows below hold 3 fields" in message
        assert f'line {header} looks like the header: set "skip_lines": {header - 1}' in message


SPACED = 'size, colour, owner, label\n1.5, red, "Smith, J", yes\n2, blue, "Doe, A", no\n'
PLAIN = 'size,colour,owner,label\n1.5,red,"Smith, J",yes\n2,blue,"Doe, A",no\n'


@pytest.mark.parametrize("as_bytes", [True, False])
def test_a_space_after_every_separator_is_not_part_of_names_or_values(as_bytes: bool) -> None:
    """`size, colour, label` (a CSV written for the eye): read as the same file without the
    spaces, quoted fields included; else ` colour` is a column and ` red` a category that
    no request sends."""
    expected = formats.read_delimited(PLAIN, "t.csv", None)

    def read(text: str) -> pd.DataFrame:
        if as_bytes:
            return formats.read_delimited_bytes(text.encode(), "t.csv", None, "utf-8")
        return formats.read_delimited(text, "t.csv", None)

    got = read(SPACED)
    assert list(got.columns) == ["size", "colour", "owner", "label"]
    assert got.astype(object).equals(expected.astype(object))
    uneven = "a,b\n x, y\n"  # not after every separator: spaces kept, as before
    assert read(uneven).astype(object).iloc[0].tolist() == [" x", " y"]


def test_decimal_parquet_columns_are_numbers_as_their_float_twins_are() -> None:
    """A database's NUMERIC exported to Parquet (decimal128): pandas makes Python Decimal
    objects, which training took for categories."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.data.ingest import parse_raw
    from core.data.sources import RawData

    prices = pa.array([1.25, 2.5, None, 10.75])
    frames = []
    for column in (prices, prices.cast(pa.decimal128(10, 2))):
        stream = io.BytesIO()
        pq.write_table(pa.table({"price": column, "label": ["a", "b", "a", "b"]}), stream)
        raw = RawData(name="t", fmt="parquet", data=stream.getvalue(), origin="t.parquet")
        frames.append(coerce_frame(parse_raw(raw), {}, "label"))
    assert frames[1]["price"].dtype.kind == "f"
    pd.testing.assert_frame_equal(frames[1], frames[0])
