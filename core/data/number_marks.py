"""Numbers written with marks a spreadsheet adds: a decimal comma ("5,1", as much of Europe
saves them), commas grouping thousands ("1,234,567.5"), or spaces or apostrophes grouping
them ("23 872,43" with a no-break space, as French Excel writes it; "1'234.50").

Delimited files only (JSON and Parquet carry numbers as numbers). A text column becomes
plain decimal-point text ("5.1", "1234567.5"), for `core.data.coerce` to type as numbers,
when every present value is such a number and the marks can be read one way only:

- `"decimal": ","` in the parser config: commas are decimal marks, dots group thousands
  ("1.234,5");
- `"decimal": "."`: dots are decimal marks, commas group thousands ("1,234");
- `decimal` not set: the column must say so itself. A comma is a decimal mark when some
  value has a comma that cannot group thousands ("5,1", "0,25": not three digits after it,
  or a lone zero before it); commas group thousands when some value has two of them or a
  comma before a dot ("1,234,567", "1,200.50"). A column of "1,234" and "12,500" alone
  could be either and stays text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.data.coerce import LEADING_ZERO_PREFIX

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_SIGN = r"^\s*[+-]?"
COMMA_DECIMAL = _SIGN + r"\d+(,\d+)?\s*$"  # 5 | 5,1 | -0,25
DOT_GROUPED = _SIGN + r"\d{1,3}(\.\d{3})+(,\d+)?\s*$"  # 1.234,5 (only when declared)
COMMA_GROUPED = _SIGN + r"(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*$"  # 1,234,567.5 | 12.5
GROUP_MARKS = "[ \u00a0\u202f'\u2019]"  # spaces (plain, no-break, narrow) and apostrophes
SPACE_GROUPED = _SIGN + r"\d{1,3}(" + GROUP_MARKS + r"\d{3})+([,.]\d+)?\s*$"  # 23 872,43
ANY_MARK = "[," + GROUP_MARKS[1:]  # a comma, a space or an apostrophe
PLAIN_EITHER = _SIGN + r"\d+([,.]\d+)?\s*$"  # 5 | 5,1 | 5.1: beside grouped values
# the evidence when nothing is declared (the values already have one of the shapes above)
DECIMAL_ONLY = _SIGN + r"(\d+,(\d{1,2}|\d{4,})|0,\d+)\s*$"
GROUPING_ONLY = r",\d{3}[,.]"


def number_marks(frame: pd.DataFrame, decimal: str | None) -> pd.DataFrame:
    """The frame with its columns of marked numbers rewritten as plain ones."""
    converted = {}
    for name in frame.columns:
        column = frame[name]
        if _is_text(column):
            rewritten = _rewritten(column, decimal)
            if rewritten is not None:
                converted[name] = rewritten
    if not converted:
        return frame
    frame = frame.copy()
    for name, column in converted.items():
        frame[name] = column
    return frame


def _is_text(column: pd.Series) -> bool:
    import pandas as pd

    return isinstance(column.dtype, pd.ArrowDtype) or pd.api.types.is_string_dtype(column)


def _rewritten(column: pd.Series, decimal: str | None) -> pd.Series | None:
    """The column as plain numbers (Arrow strings), or None (see `plain_numbers`)."""
    import pandas as pd
    import pyarrow as pa

    try:
        texts = pa.array(column, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError):  # not all strings: not a column of numbers
        return None
    plain = plain_numbers(texts, decimal)
    if plain is None:
        return None
    return pd.Series(pd.arrays.ArrowExtensionArray(plain), index=column.index, name=column.name)


def table_number_marks(table: pa.Table, decimal: str | None = None) -> pa.Table:
    """An Arrow table with its text columns of marked numbers rewritten as plain ones."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            plain = plain_numbers(table.column(index), decimal)
            if plain is not None:
                table = table.set_column(index, field.name, plain)
    return table


def plain_numbers(texts: Any, decimal: str | None) -> Any:
    """Arrow strings as plain numbers, or None when they are not all marked numbers or
    their marks read two ways. Arrow's kernels judge the whole column at once."""
    import pyarrow.compute as pc

    present = texts.drop_null()
    if len(present) == 0 or _plain_numbers_already(present):
        return None
    if not _any_match(present, ANY_MARK):
        return None  # no comma, space or apostrophe: text, not marked numbers
    if _any_match(present, LEADING_ZERO_PREFIX):
        return None  # "05,1": an identifier, kept as written
    ungrouped = _space_ungrouped(texts, present)
    if ungrouped is not None:
        texts, present = ungrouped, ungrouped.drop_null()
    if not pc.any(pc.match_substring(present, ",")).as_py():
        return ungrouped  # plain now, or not marked at all (None)
    mark = decimal or _mark_shown(present)
    if mark == ",":
        shapes = [COMMA_DECIMAL, DOT_GROUPED] if decimal else [COMMA_DECIMAL]
        if not _all_match(present, shapes):
            return None
        ungrouped = pc.replace_substring(texts, ".", "")  # shape-checked: dots group only
        return pc.replace_substring(ungrouped, ",", ".")
    if mark == "." and _all_match(present, [COMMA_GROUPED]):
        return pc.replace_substring(texts, ",", "")
    return None


def _plain_numbers_already(present: Any) -> bool:
    """Every value reads as a number as it is (Arrow's strict cast: no comma, space or
    apostrophe inside): nothing to rewrite. The common case, decided in one pass."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(present, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _space_ungrouped(texts: Any, present: Any) -> Any:
    """The texts without their spaces grouping thousands ("23 872,43", "1 234 567" with a
    space, a no-break space or a narrow one, as French, Nordic or SI style writes them; or
    an apostrophe, as Swiss style: "1'234.50"), when some value is so grouped and every
    value is such a number or a plain one; else None."""
    import pyarrow.compute as pc

    if not _any_match(present, SPACE_GROUPED) or not _all_match(
        present, [SPACE_GROUPED, PLAIN_EITHER]
    ):
        return None
    return pc.replace_substring_regex(texts, GROUP_MARKS, "")


def _mark_shown(present: Any) -> str | None:
    """The decimal mark the values show, or None when they show none (or both)."""
    comma = _all_match(present, [COMMA_DECIMAL]) and _any_match(present, DECIMAL_ONLY)
    dot = _all_match(present, [COMMA_GROUPED]) and _any_match(present, GROUPING_ONLY)
    if comma == dot:
        return None
    return "," if comma else "."


def _all_match(present: Any, patterns: list[str]) -> bool:
    import pyarrow.compute as pc

    pattern = "|".join(f"(?:{p})" for p in patterns)
    return bool(pc.all(pc.match_substring_regex(present, pattern)).as_py())


def _any_match(present: Any, pattern: str) -> bool:
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(present, pattern)).as_py())


def missing_marked(frame: pd.DataFrame, markers: list[str]) -> pd.DataFrame:
    """The frame with every text cell that is one of `markers` (the parser config's
    `missing_values`, such as "unknown" or "?"; compared without surrounding spaces) made
    missing, as an empty cell or "N/A" is."""
    if not markers:
        return frame
    import pandas as pd

    wanted = {marker.strip() for marker in markers}
    marked = frame
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        hit = column.astype("string").str.strip().isin(wanted).fillna(False).to_numpy(bool)
        if hit.any():
            marked = frame.copy() if marked is frame else marked  # copied once, if at all
            marked[name] = column.mask(hit)
    return marked


def table_missing_marked(table: pa.Table, markers: list[str]) -> pa.Table:
    """`missing_marked` for an Arrow table: its text cells that are one of `markers`
    (without surrounding spaces) made null."""
    if not markers:
        return table
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(sorted({marker.strip() for marker in markers}), pa.string())
    for index, field in enumerate(table.schema):
        text_type = _text_type(field.type)
        if text_type is None:
            continue
        column = table.column(index).cast(text_type)  # a dictionary-encoded column decoded
        hit = pc.is_in(pc.utf8_trim_whitespace(column), value_set=wanted.cast(text_type))
        if pc.any(hit).as_py():
            blank = pa.nulls(len(column), text_type)
            table = table.set_column(index, field.name, pc.if_else(hit, blank, column))
    return table


def _text_type(arrow_type: pa.DataType) -> pa.DataType | None:
    """The text type of a column's cells: its own, or its dictionary's (Parquet writers
    dictionary-encode text columns of few values); None for other columns."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    return arrow_type if text else None
