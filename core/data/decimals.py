"""Numbers written with a decimal comma ("5,1"), as spreadsheets in much of Europe save them.

Delimited files only (JSON and Parquet carry numbers as numbers). A text column becomes
decimal-point text ("5.1"), for `core.data.coerce` to type as numbers, when every present
value is a decimal-comma number and:

- the parser config says `"decimal": ","` — then dots may group thousands ("1.234,5"); or
- `decimal` is not set and the column says so itself: some value has a comma that cannot
  group thousands (a digit count after it other than three, as in "5,1" or "0,25", or a
  leading "0,"). A column of "1,234" and "12,500" alone is ambiguous and stays text.

`"decimal": "."` turns this off: commas are never read as decimal points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PLAIN = r"\s*[+-]?\d+(,\d+)?\s*"  # 5 | 5,1 | -0,25
GROUPED = r"\s*[+-]?\d{1,3}(\.\d{3})+(,\d+)?\s*"  # 1.234,5 (only when declared)
# a comma that cannot group thousands: not three digits after it, or a lone leading zero
# before it ("0,123" is no grouping); these are plain numbers, so anchored at their ends
DECIMAL_ONLY = r"^\s*[+-]?(\d+,(\d{1,2}|\d{4,})|0,\d+)\s*$"


def decimal_commas(frame: pd.DataFrame, decimal: str | None) -> pd.DataFrame:
    """The frame with its decimal-comma columns rewritten with decimal points."""
    if decimal == ".":
        return frame
    converted = {}
    for name in frame.columns:
        column = frame[name]
        if _is_text(column):
            rewritten = _rewritten(column, declared=decimal == ",")
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


def _rewritten(column: pd.Series, declared: bool) -> pd.Series | None:
    """The column with decimal points (as Arrow strings), or None when it is not
    decimal-comma numbers. Arrow's kernels judge the whole column at once."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        texts = pa.array(column, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError):  # not all strings: not a column of numbers
        return None
    present = texts.drop_null()
    if len(present) == 0 or not pc.any(pc.match_substring(present, ",")).as_py():
        return None
    shapes = f"^(?:{PLAIN}|{GROUPED})$" if declared else f"^{PLAIN}$"
    if not pc.all(pc.match_substring_regex(present, shapes)).as_py():
        return None
    if not declared and not pc.any(pc.match_substring_regex(present, DECIMAL_ONLY)).as_py():
        return None  # "1,234" alone: thousands or a decimal, no telling
    ungrouped = pc.replace_substring_regex(texts, r"\.(\d{3})", r"\1") if declared else texts
    points = pc.replace_substring(ungrouped, ",", ".")
    return pd.Series(pd.arrays.ArrowExtensionArray(points), index=column.index, name=column.name)
