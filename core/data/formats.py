"""Parse a source's bytes into a frame: CSV (BOM, any common separator, quoted newlines),
TSV, JSON array, JSON lines and Parquet, each possibly gzip-compressed.

Text columns are read as text, never guessed by the parser: a zip code "02139" stays
"02139" until `core.data.coerce` decides, for the whole column, what type it has.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections import Counter
from typing import TYPE_CHECKING, Any, AnyStr

from core import json_text
from core.errors import DataError, not_unicode

if TYPE_CHECKING:
    import pandas as pd

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 65536
SEPARATORS = ",;\t|"
SEPARATOR_LINE = re.compile(r'"?sep=(.)"?[ \t]*\r?\n')  # Excel's hint, alone on line 1
SEPARATOR_LINE_BYTES = re.compile(rb'(\xef\xbb\xbf)?"?sep=.')
LINE_TEXT, LINE_BYTES = (
    re.compile(r"[^\r\n]*(?:\r\n|\r|\n)"),
    re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)"),
)
# Strings read as missing in text files (pandas' list without "NA"-like words that are data,
# such as "None" or "nan" in a free-text column, is too clever: keep the usual ones).
# frame.attrs key: names the header line gives to more than one column (pandas reads them as
# "a", "a.1", …; ingest refuses to pick one of them for a name the config uses)
DUPLICATED_NAMES = "mlfn_duplicated_names"
MISSING_TEXT = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "-nan", "<NA>"]


def decompress(data: bytes, origin: str) -> bytes:
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"source '{origin}': gzip data is corrupt ({exc})") from None


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def unicode_bom(data: bytes) -> str | None:
    """ "utf-32" or "utf-16" when the bytes start with that encoding's byte-order mark (what
    a spreadsheet's "Unicode text" export writes); None otherwise. The mark cannot begin
    UTF-8 text, so reading such a file as UTF-16 or UTF-32 is no guess."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def decode(data: bytes, origin: str, encoding: str = "utf-8") -> str:
    """Text without a BOM; a decoding error names the line and column of the bad byte. Under
    the default UTF-8, a file that starts with a UTF-16 or UTF-32 byte-order mark is read
    in that encoding."""
    if _is_utf8(encoding):
        encoding = unicode_bom(data) or encoding
    codec = "utf-8-sig" if _is_utf8(encoding) else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"source '{origin}': line {line}, column {column}: byte 0x{data[exc.start]:02x} is "
            f"not valid {encoding}; {_what_to_do(data, encoding)}"
        ) from None
    except LookupError:
        raise DataError(f"parser config: unknown encoding '{encoding}'") from None


LEGACY_ENCODING = "cp1252"  # Windows' Western code page: what Excel's "CSV" writes there


def _what_to_do(data: bytes, encoding: str) -> str:
    """The advice for text that is not in `encoding`: the legacy encoding it reads as, when
    it does (Windows-1252 leaves five bytes undefined; other text rarely reads as it)."""
    if _is_utf8(encoding):
        try:
            data.decode(LEGACY_ENCODING)
        except UnicodeDecodeError:
            pass
        else:
            return (
                f"it reads as Windows-1252 (a spreadsheet's CSV saved on Windows): set "
                f'"encoding": "{LEGACY_ENCODING}" in the parser config (mlfn init: --encoding '
                f"{LEGACY_ENCODING}), or save the file as UTF-8"
            )
    return (
        'save the file as UTF-8, or set its "encoding" in the parser config (mlfn init: --encoding)'
    )


def sniff_separator(text: str) -> str:
    """The separator of a delimited text, from its first lines (comma when unsure)."""
    sample = text[:SNIFF_BYTES]
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {sep: first.count(sep) for sep in SEPARATORS}
        best = max(counts, key=lambda sep: counts[sep])
        return best if counts[best] else ","


def separator_line(text: str) -> tuple[str | None, str]:
    """Excel's `sep=;` first line (written so Excel splits the file): the separator it
    names, and the text after it; else (None, the text)."""
    found = SEPARATOR_LINE.match(text.lstrip("\ufeff"))
    if found is None:
        return None, text
    return found.group(1), text.lstrip("\ufeff")[found.end() :]


def skipped_lines(data: AnyStr, count: int) -> AnyStr:
    """`data` without its first `count` lines (any line ending); empty if it has no more."""
    pattern = LINE_BYTES if isinstance(data, bytes) else LINE_TEXT
    position = 0
    for _ in range(count):
        found = pattern.match(data, position)
        if found is None:
            return data[:0]
        position = found.end()
    return data[position:]


def read_delimited(
    text: str, origin: str, separator: str | None, skip_lines: int = 0
) -> pd.DataFrame:
    """Every column as text. Arrow's reader first (columns as Arrow strings, ten times
    faster); pandas' for whatever Arrow declines (ragged rows, an index column, duplicate or
    blank names), and for every refusal's wording. `skip_lines`: lines above the header."""
    hinted, text = separator_line(skipped_lines(text, skip_lines))
    sep = separator or hinted or sniff_separator(text)
    fast = _read_delimited_arrow(text[:SNIFF_BYTES], text.encode(), sep)
    return fast if fast is not None else _read_delimited_pandas(text, origin, sep)


def read_delimited_bytes(
    data: bytes, origin: str, separator: str | None, encoding: str, skip_lines: int = 0
) -> pd.DataFrame:
    """`read_delimited` of a file's bytes. UTF-8 goes to Arrow undecoded (Arrow skips a
    byte-order mark and refuses a bad byte, and then the decoding names it); any other
    encoding (or a UTF-16 or UTF-32 byte-order mark) is decoded first."""
    if not _is_utf8(encoding) or unicode_bom(data) or SEPARATOR_LINE_BYTES.match(data):
        return read_delimited(decode(data, origin, encoding), origin, separator, skip_lines)
    data = skipped_lines(data, skip_lines)
    head = data[:SNIFF_BYTES].decode("utf-8-sig", errors="ignore")  # may cut a character
    sep = separator or sniff_separator(head)
    fast = _read_delimited_arrow(head, data, sep)
    if fast is not None:
        return fast
    return _read_delimited_pandas(decode(data, origin, encoding), origin, sep)


def spaced_after_separator(head: str, sep: str) -> bool:
    """Whether every separator of the header and the first row is followed by a space, as in
    `size, colour, label`: spaces written for the eye, not part of the names and values
    (they would make `" colour"` a column and `" red"` a category no request sends)."""
    lines = head.lstrip("\ufeff").splitlines()[:2]
    if sep == "\t" or len(lines) < 2:
        return False
    return all(line.count(sep) and line.count(sep) == line.count(sep + " ") for line in lines)


def _read_delimited_pandas(text: str, origin: str, sep: str) -> pd.DataFrame:
    import pandas as pd

    spaced = spaced_after_separator(text[:SNIFF_BYTES], sep)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=MISSING_TEXT,
            skipinitialspace=spaced,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"source '{origin}' is empty") from None
    except pd.errors.ParserError as exc:
        above = above_the_header(text, origin, sep)
        if above is not None:
            raise DataError(above) from None
        shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(sep, repr(sep))
        raise DataError(
            f"source '{origin}' cannot be read with the {shown} separator: {exc}; "
            'set "separator" in the parser config'
        ) from None
    above = above_the_header(text, origin, sep) if frame.index.nlevels > 1 else None
    if above is not None:  # rows two or more fields longer than the header
        raise DataError(above)
    duplicated = _duplicated_names(text, sep, spaced)
    if duplicated:
        frame.attrs[DUPLICATED_NAMES] = duplicated
    return frame


def above_the_header(text: str, origin: str, sep: str) -> str | None:
    """Why the first line is likely a title or a note above the real header, and how many
    lines to skip: those above the first line with as many fields as most lines have; None
    when no line is wider than the first."""
    widths: list[tuple[int, int]] = []  # (the line's number, its fields)
    reader = csv.reader(io.StringIO(text[:SNIFF_BYTES]), delimiter=sep)
    try:
        for fields in reader:
            if fields:
                widths.append((reader.line_num, len(fields)))
    except csv.Error:
        pass
    common = Counter(width for _, width in widths[1:]).most_common(1)
    if not common or common[0][0] <= widths[0][1]:
        return None
    header = next(line for line, width in widths if width == common[0][0])
    return (
        f"source '{origin}': the first line names {widths[0][1]} column(s) but most rows "
        f"below hold {common[0][0]} fields, so it is likely a title or a note above the "
        f'header; line {header} looks like the header: set "skip_lines": {header - 1} in '
        f"the parser config (mlfn init: --skip-lines {header - 1}), or delete the lines "
        "above it"
    )


def _duplicated_names(text: str, sep: str, spaced: bool = False) -> dict[str, int]:
    """Each name the header line gives to more than one column, with how many."""
    head = io.StringIO(text[:SNIFF_BYTES])
    try:
        names = next(csv.reader(head, delimiter=sep, skipinitialspace=spaced), [])
    except csv.Error:
        return {}
    counted = Counter(names)
    return {name: count for name, count in counted.items() if count > 1}


def _read_delimited_arrow(head: str, data: bytes, sep: str) -> pd.DataFrame | None:
    """The frame pandas would read, with Arrow string columns; None when Arrow's reading
    could differ from pandas' (then pandas reads it). `head`: the text's start (names)."""
    import pandas as pd
    import pyarrow as pa
    from pyarrow import csv as arrow_csv

    try:
        names = next(csv.reader(io.StringIO(head), delimiter=sep))
    except (csv.Error, StopIteration):
        return None
    if len(set(names)) != len(names) or not all(names):
        return None  # pandas renames duplicates and blanks ("a.1", "Unnamed: 0")
    if spaced_after_separator(head, sep):
        return None  # Arrow keeps the spaces after each separator; pandas skips them
    options = arrow_csv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        null_values=MISSING_TEXT,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    # Without a quote character no value can hold a line break, and Arrow then splits the
    # file at line breaks across its threads (with them allowed it must scan serially).
    quoted = data.find(b'"') >= 0
    parse = arrow_csv.ParseOptions(delimiter=sep, newlines_in_values=quoted)
    try:
        table = arrow_csv.read_csv(io.BytesIO(data), parse_options=parse, convert_options=options)
        read_names = table.column_names  # decoded here: a bad byte in a name raises
    except (pa.ArrowException, UnicodeDecodeError):  # any refusal: the pandas way decides
        return None
    if read_names != names or not all(t == pa.string() for t in table.schema.types):
        return None
    return table.to_pandas(types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get)


def read_json_lines(text: str, origin: str) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json_text.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"source '{origin}': line {number}: not valid JSON: {exc.msg}"
            ) from None
        except UnicodeEncodeError as exc:
            raise DataError(f"source '{origin}': line {number}: {not_unicode(exc)}") from None
    return rows


def read_json(text: str, origin: str) -> Any:
    try:
        return json_text.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"source '{origin}': line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except UnicodeEncodeError as exc:
        raise DataError(f"source '{origin}': {not_unicode(exc)}") from None
