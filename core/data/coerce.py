"""Give each column of a freshly parsed frame one type, decided over the whole column.

- A column whose every value is a number (numbers written as strings included) becomes
  numeric — unless some value looks like an identifier with a leading zero ("02139"), or the
  config declares it categorical or text: then it stays text, exactly as written.
- A column of true/false words (and, for features, yes/no) becomes boolean, blanks missing.
- Everything else stays text; `core.features` later tells dates, categories and free text
  apart.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data.arrow_text import any_leading_zero_number
from core.schema import category_text

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

NUMBER = r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*"
LEADING_ZERO_ID = r"\s*[+-]?0\d.*"
LEADING_ZERO_PREFIX = r"^[ +\-]*0[0-9]"  # the same, as an Arrow (RE2) prefix match
TARGET_BOOL_WORDS = {"true": True, "false": False}
FEATURE_BOOL_WORDS = {**TARGET_BOOL_WORDS, "yes": True, "no": False}
TEXT_KINDS = ("categorical", "text")
PARALLEL_CELLS = 1_000_000  # frames this big are typed two columns at a time


def coerce_frame(frame: pd.DataFrame, declared: dict[str, str], target: str | None) -> pd.DataFrame:
    """The frame with every column typed (see the module docstring)."""
    import pandas as pd

    names = list(frame.columns)
    series = [frame[name] for name in names]  # taken here: the workers share no frame

    def typed(name: Any, column: pd.Series) -> pd.Series:
        words = TARGET_BOOL_WORDS if name == target else FEATURE_BOOL_WORDS
        return coerce_column(column, declared.get(str(name)), words)

    if frame.size >= PARALLEL_CELLS and len(names) > 1:  # Arrow's kernels leave the GIL
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlfn-coerce") as pool:
            columns = list(pool.map(typed, names, series))
    else:
        columns = [typed(name, column) for name, column in zip(names, series, strict=True)]
    return pd.DataFrame(dict(zip(names, columns, strict=True)), index=frame.index)


def coerce_column(
    column: pd.Series, declared: str | None, bool_words: dict[str, bool]
) -> pd.Series:
    import pandas as pd

    if isinstance(column.dtype, pd.ArrowDtype):  # read by Arrow (core.data.formats)
        numbers = None if declared in TEXT_KINDS else _arrow_numbers(column)
        if numbers is not None:
            return numbers
        column = _object_text(column)
    if declared in TEXT_KINDS:
        return _as_text(column)
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column
    present = column.dropna()
    if present.empty:
        return column
    if pd.api.types.infer_dtype(present, skipna=False) == "string":
        return _coerce_texts(column, present, bool_words)
    if present.map(lambda v: isinstance(v, bool)).all():
        return column.astype("boolean")
    texts = present.astype(str)
    flags = texts.str.strip().str.lower().map(bool_words)
    if flags.notna().all() and not _all_numbers(present):
        return pd.Series(pd.NA, index=column.index, dtype="boolean").mask(
            column.notna(), flags.reindex(column.index)
        )
    if _all_numbers(present) and not texts.str.fullmatch(LEADING_ZERO_ID).any():
        return _as_number(column)
    return _as_text(column)


def _coerce_texts(column: pd.Series, present: pd.Series, bool_words: dict[str, bool]) -> pd.Series:
    """The vectorised path for a column of strings (every CSV column): pandas' C number
    parser first, Python only for the few values that start with a zero."""
    import pandas as pd

    if present.nunique() <= len(bool_words):
        flags = present.str.strip().str.lower().map(bool_words)
        if flags.notna().all():
            return pd.Series(pd.NA, index=column.index, dtype="boolean").mask(
                column.notna(), flags.reindex(column.index)
            )
    distinct = present.drop_duplicates()  # judged once per distinct value: a few for labels
    if _finite_numbers(distinct) is None or _has_leading_zero_ids(distinct):
        return column.astype(object)
    numbers = _finite_numbers(present if len(distinct) < len(present) else distinct)
    assert numbers is not None  # every distinct value is a finite number
    return _as_number(numbers.reindex(column.index))


def _finite_numbers(texts: pd.Series) -> pd.Series | None:
    """The texts as numbers (padding spaces allowed), or None unless every one is finite."""
    import pandas as pd

    numbers = pd.to_numeric(texts, errors="coerce")
    if numbers.isna().any():  # perhaps padded with spaces
        numbers = pd.to_numeric(texts.str.strip(), errors="coerce")
    finite = numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype="float64")).all()
    return numbers if finite else None


def _arrow_numbers(column: pd.Series) -> pd.Series | None:
    """The column as numbers when Arrow's strict parser reads every present value as a
    finite number and none is a leading-zero identifier; None leaves the judgement (spaces,
    booleans, words) to the pandas path below, which decides the same for these columns."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pa.chunked_array(column.array.__arrow_array__())
    present = texts.drop_null()
    if len(present) == 0:
        return None
    try:
        numbers = pc.cast(texts, pa.float64())
    except pa.ArrowException:  # any refusal of Arrow's: the pandas way decides
        return None
    if not np.isfinite(pc.drop_null(numbers).to_numpy()).all():  # "inf", "NAN": text
        return None
    if _leading_zero_ids(present):
        return None
    values = numbers.to_numpy(zero_copy_only=False)  # missing values: NaN
    return _as_number(pd.Series(values, index=column.index, name=column.name))


def _leading_zero_ids(texts: pa.ChunkedArray) -> bool:
    """Some value is a zero followed by a digit (`LEADING_ZERO_PREFIX`), tested on the
    strings' bytes at once for Arrow's string types (a regular expression per string
    costs more than reading the file)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type):
        return any_leading_zero_number(texts)
    return bool(pc.any(pc.match_substring_regex(texts, LEADING_ZERO_PREFIX)).as_py())


def _object_text(column: pd.Series) -> pd.Series:
    """Arrow strings as pandas' own reader gives them (its text dtype, NaN where missing)."""
    import pandas as pd

    values = column.to_numpy(dtype=object, na_value=np.nan)
    return pd.Series(values, index=column.index, name=column.name, dtype=_reader_text_dtype())


@functools.cache
def _reader_text_dtype() -> Any:
    """The dtype pandas' CSV reader gives text columns (object before pandas 3, `str` since)."""
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO("text\nx"), dtype=str)["text"].dtype


def _has_leading_zero_ids(texts: pd.Series) -> bool:
    """Some value is a zero followed by a digit ("02139"): an identifier, not a number."""
    as_arrow = texts.astype("string[pyarrow]")  # one RE2 pass in Arrow, not ten in numpy
    return bool(as_arrow.str.match(LEADING_ZERO_PREFIX).any())


def _all_numbers(present: pd.Series) -> bool:
    numeric = present.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    texts = present[~numeric]
    return bool(texts.map(lambda v: isinstance(v, str)).all()) and bool(
        texts.astype(str).str.fullmatch(NUMBER).all()
    )


def _as_number(column: pd.Series) -> pd.Series:
    import pandas as pd

    numbers = (
        column
        if pd.api.types.is_numeric_dtype(column)
        else pd.to_numeric(column.map(_strip), errors="coerce")
    )
    if numbers.notna().all() and (numbers == numbers.round()).all() and numbers.abs().max() < 2**53:
        return numbers.astype("int64")
    return numbers.astype("float64")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _as_text(column: pd.Series) -> pd.Series:
    """Strings as written (2, 2.0 and "2" are one category); missing stays missing."""
    import pandas as pd

    def text(value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            return None
        if value is pd.NA:
            return None
        converted = category_text(value)
        return str(value) if converted is None else converted

    return column.map(text).astype(object)
