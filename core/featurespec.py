"""The feature specification: per column, its original name, model input name(s), type,
encoding and dtype. Made once from the data and the config at training, stored with the
version, and used unchanged by preprocessing, export, parity, the predict path and the API.

Light: numpy and the standard library only (the predict path imports it). The value
conversions here are the *only* ones: training encodes its columns with the same functions
that encode a request's rows, so there is no train/serve skew.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain, repeat
from typing import Any

import numpy as np

from core.errors import ValidationError, shown
from core.schema import category_text, flat_record, has_nested

FLOAT_BLOCK_INPUT = "float_features"  # the one [N, K] input of a wide model
FLOAT_BLOCK_MIN_INPUTS = 64
KINDS = ("numeric", "boolean", "datetime", "categorical", "text")
ENCODING_OF = {
    "numeric": "impute+scale",
    "boolean": "one_hot",  # true / false; a missing value lights neither
    "datetime": "date_parts",
    "categorical": "one_hot",
    "text": "tfidf",
}
# Versions stored before the feature specification lowercased text inside the graph.
LEGACY_ENCODING = {"text": "tfidf_raw"}
DATE_PARTS = ("year", "month", "day", "dayofweek", "hour", "epoch")
TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
# Output and internal names of the exported graph that an input must never take.
RESERVED_INPUTS = frozenset(
    {"label", "probabilities", "variable", "features", "label_index", "float_features"}
)
RESERVED_PREFIXES = ("probability_", "class_", "interface_", "pre_", "label_")
_SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # the original column name, as callers send it
    input: str  # the model's input name (ONNX-safe, unique)
    kind: str  # one of KINDS
    encoding: str = ""
    categories: tuple[str, ...] | None = None  # categorical: the kept categories (capped)

    @property
    def inputs(self) -> list[tuple[str, str]]:
        """The model inputs this column becomes: (input name, "float" | "string")."""
        if self.kind == "datetime":
            return [(f"{self.input}__{part}", "float") for part in DATE_PARTS]
        if self.kind in ("categorical", "text", "boolean"):
            return [(self.input, "string")]
        return [(self.input, "float")]

    def example(self) -> Any:
        examples = {
            "numeric": 0.0,
            "boolean": True,
            "datetime": "2024-01-01T00:00:00Z",
            "text": "some words",
        }
        if self.kind == "categorical":
            return self.categories[0] if self.categories else "a category"
        return examples[self.kind]

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "name": self.name,
            "input": self.input,
            "type": self.kind,
            "encoding": self.encoding or ENCODING_OF[self.kind],
            "dtype": "float32" if self.inputs[0][1] == "float" else "string",
        }
        if self.categories is not None:
            item["categories"] = list(self.categories)
        return item

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> ColumnSpec:
        categories = item.get("categories")
        legacy = "input" not in item  # versions before the spec: name/type only
        kind = item["type"]
        return cls(
            name=item["name"],
            input=item["name"] if legacy else item["input"],
            kind=kind,
            encoding=LEGACY_ENCODING.get(kind, "") if legacy else item["encoding"],
            categories=tuple(categories) if categories is not None else None,
        )


@dataclass(frozen=True)
class FeatureSpec:
    columns: tuple[ColumnSpec, ...]
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it was dropped
    # Wide models take their float inputs as one [N, K] matrix: onnxruntime's Python binding
    # costs ~14 us per input, 14 ms a call for 1,000 features.
    float_block: bool = False

    @classmethod
    def from_metadata(
        cls,
        schema: list[dict[str, Any]],
        dropped: dict[str, str] | None = None,
        float_block: bool = False,
    ) -> FeatureSpec:
        columns = tuple(ColumnSpec.from_dict(item) for item in schema)
        return cls(columns, dict(dropped or {}), float_block)

    @classmethod
    def of_version(cls, metadata: dict[str, Any]) -> FeatureSpec:
        """The specification stored with a model version."""
        return cls.from_metadata(
            metadata["schema"],
            metadata.get("dropped_features"),
            bool(metadata.get("float_block", False)),
        )

    @property
    def float_inputs(self) -> list[str]:
        return [name for name, dtype in self.model_inputs if dtype == "float"]

    def graph_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's feeds from per-input arrays: the float ones stacked when wide."""
        if not self.float_block:
            return feeds
        floats = self.float_inputs
        skip = set(floats)
        graph = {name: values for name, values in feeds.items() if name not in skip}
        graph[FLOAT_BLOCK_INPUT] = np.column_stack([feeds[name] for name in floats]).astype(
            np.float32
        )
        return graph

    def to_metadata(self) -> list[dict[str, Any]]:
        return [column.to_dict() for column in self.columns]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def model_inputs(self) -> list[tuple[str, str]]:
        return [pair for column in self.columns for pair in column.inputs]

    def example_row(self) -> dict[str, Any]:
        """A row a client could send, by original name (for the API's documentation)."""
        return {column.name: column.example() for column in self.columns}

    @functools.cached_property
    def layout(self) -> Layout:
        """What encoding a request's rows reads of this specification (made once)."""
        numeric = tuple(c for c in self.columns if c.kind == "numeric")
        return Layout(
            names=self.names, known=frozenset(self.names), ignored=frozenset(self.dropped),
            numeric_names=[c.name for c in numeric],
            numeric_inputs=tuple(c.input for c in numeric),
            others=tuple(c for c in self.columns if c.kind != "numeric"),
            plain=bool(numeric) and len(numeric) == len(self.columns) == len(set(self.names)),
        )  # fmt: skip

    def encode_rows(self, rows: Any) -> dict[str, np.ndarray]:
        """Model feeds for request rows (objects keyed by original names, or `SplitRows`),
        or a ValidationError naming the row and the column."""
        layout = self.layout
        if type(rows) is SplitRows:
            block = _split_block(rows, layout) if layout.plain else None
            if block is not None:  # the features in order, every value a JSON number
                return self.graph_feeds(dict(zip(layout.numeric_inputs, block.T)))  # noqa: B905
            rows = rows.dicts()  # anything else: read by name, and refused by name
        try:
            check_rows(rows, layout.names, layout.ignored, layout.known)
        except ValidationError:
            flat = flattened_rows(rows)  # nested objects, as ingest flattens JSON records
            if flat is None:
                raise
            rows = flat
            check_rows(rows, layout.names, layout.ignored, layout.known)
        feeds: dict[str, np.ndarray] = {}
        block = _plain_block(rows, layout.numeric_names)
        columns = self.columns
        if block is not None:  # every numeric value a JSON number: one vectorised pass
            # one column per input (strict=True would cost ~7k instructions: its end check)
            feeds.update(zip(layout.numeric_inputs, block.T))  # noqa: B905
            columns = layout.others
        for column in columns:
            feeds.update(encode_column(column, [row[column.name] for row in rows]))
        return self.graph_feeds(feeds)


@dataclass(frozen=True)
class Layout:
    """A specification's names as encoding reads them on every request: the features in
    order (and as a set), the columns dropped at training, and the numeric columns' names
    and inputs apart from the others."""

    names: list[str]
    known: frozenset[str]
    ignored: frozenset[str]
    numeric_names: list[str]
    numeric_inputs: tuple[str, ...]
    others: tuple[ColumnSpec, ...]
    plain: bool  # every column numeric, no name twice: a split's block is the features


class SplitRows:
    """Rows as a `dataframe_split` sends them: the columns once, then each row's values in
    their order (every row as long as the columns: the body's reader checked). Encoding
    reads them as one block when the columns are the features in order; `dicts()` makes
    the rows by name, once, only where something needs them (other columns, another
    version's features, the prediction log)."""

    __slots__ = ("_dicts", "columns", "data")

    def __init__(self, columns: list[str], data: list[list[Any]]) -> None:
        self.columns, self.data = columns, data
        self._dicts: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.data)

    def dicts(self) -> list[dict[str, Any]]:
        """The rows by column name (a column named twice: its last value, as JSON reads)."""
        if self._dicts is None:
            self._dicts = list(map(dict, map(zip, repeat(self.columns), self.data)))
        return self._dicts


def row_dicts(rows: Any) -> Any:
    """Request rows as objects keyed by name (`SplitRows` made into them)."""
    return rows.dicts() if type(rows) is SplitRows else rows


def input_names(names: Sequence[str]) -> list[str]:
    """A safe, unique model input name per column name: the name itself when it is a plain
    identifier that is not reserved, else `f<position>_<slug>`."""
    chosen: list[str] = []
    taken: set[str] = set()
    for position, name in enumerate(names):
        plain = bool(_SAFE_NAME.fullmatch(name)) and "__" not in name
        reserved = name in RESERVED_INPUTS or name.startswith(RESERVED_PREFIXES)
        candidate = name if plain and not reserved else f"f{position}_{_slug(name)}"
        while candidate.lower() in taken:  # unique even on case-insensitive tools
            candidate = f"{candidate}_{position}"
        taken.add(candidate.lower())
        chosen.append(candidate)
    return chosen


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", ascii_name)).strip("_")[:40] or "col"


def _listed(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}, … {len(names)} in all]" if len(names) > limit else f"[{shown}]"


def flattened_rows(rows: Any) -> list[dict[str, Any]] | None:
    """Rows whose nested objects are flattened into dotted names, as ingest reads JSON
    records (`flat_record`); None when no row holds an object."""
    if not isinstance(rows, list) or not has_nested(rows):
        return None
    return [flat_record(row) if isinstance(row, dict) else row for row in rows]


def check_rows(
    rows: Any,
    expected: list[str],
    ignored: frozenset[str] = frozenset(),
    known: frozenset[str] | None = None,
) -> None:
    """Every row an object with every feature; columns dropped at training (constant or
    duplicate) may be sent and are ignored; anything else unknown is refused. `known`: the
    expected names as a set, when the caller has it."""
    if not isinstance(rows, list) or not rows:
        raise ValidationError("expected a non-empty list of rows (objects of feature values)")
    known = frozenset(expected) if known is None else known
    width = len(expected) if len(known) == len(expected) else -1  # -1: names repeat
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValidationError(f"row {i}: expected an object of feature values")
        if len(row) == width and known.issuperset(row):  # exactly the features (C code)
            continue
        for name in expected:  # a loop: the list of what is missing only when something is
            if name not in row:
                missing = [name for name in expected if name not in row]
                raise ValidationError(
                    f"row {i}: missing feature(s) {_listed(missing)}; expected {_listed(expected)}"
                )
        if len(row) != len(expected):
            unknown = sorted(str(k) for k in set(row) - known - ignored)
            if unknown:
                raise ValidationError(
                    f"row {i}: unknown feature(s) {_listed(unknown)}; expected {_listed(expected)}"
                )


def encode_column(column: ColumnSpec, values: Sequence[Any] | np.ndarray) -> dict[str, np.ndarray]:
    """The model inputs of one column's values: the one conversion training and serving share."""
    if column.kind == "numeric":
        return {column.input: _numbers(column.name, values)}
    if column.kind == "boolean":
        flags = [_flag(column.name, i, v) for i, v in enumerate(values)]
        return {column.input: np.asarray(flags, dtype=object)}
    if column.kind == "datetime":
        parts = np.asarray(
            [date_parts(column.name, i, v) for i, v in enumerate(values)], dtype=np.float64
        ).reshape(len(values), len(DATE_PARTS))
        return {
            f"{column.input}__{part}": parts[:, k].astype(np.float32)
            for k, part in enumerate(DATE_PARTS)
        }
    texts = [_text(column, i, v) for i, v in enumerate(values)]
    return {column.input: np.asarray(texts, dtype=object)}


SMALL_BLOCK = 256  # up to this many values, checked in Python (numpy's per-call cost wins)


def _plain_block(rows: list[dict[str, Any]], names: list[str]) -> np.ndarray | None:
    """The float32 [rows, names] block when every value is an int or a float, in float32's
    range (or a ValidationError naming the row and the column); None when some value needs
    the per-value path."""
    if not names:
        return None
    values: list[Any] = []
    for row in rows:  # map over the row's lookup: no Python frame per value
        values += map(row.__getitem__, names)
    return _values_block(values, len(rows), names)


def _split_block(rows: SplitRows, layout: Layout) -> np.ndarray | None:
    """`_plain_block` of a split whose columns are the features in order, read from its
    data as sent; None for any other split (read by name instead)."""
    data, names = rows.data, layout.names
    if rows.columns != names or not data:
        return None
    if len(data) == 1:  # the common request: one row, as it came
        return _values_block(data[0], 1, names)
    if set(map(len, data)) != {len(names)}:
        return None
    return _values_block(list(chain.from_iterable(data)), len(data), names)


def _values_block(values: list[Any], count: int, names: list[str]) -> np.ndarray | None:
    """The float32 [count, names] block of `values` (row after row) when every value is an
    int or a float in float32's range; None when one needs the per-value path. A small
    block is typed and range-checked value by value (numpy's per-call cost is more than
    the work), a big one by numpy."""
    if len(values) != count * len(names):
        return None
    small = len(values) <= SMALL_BLOCK
    if small:
        for value in values:
            if type(value) is not float and type(value) is not int:
                return None
            if not -FLOAT32_MAX <= value <= FLOAT32_MAX and value == value:  # NaN: missing
                return None  # the per-value path names the row and the column
    elif not all(type(v) is float or type(v) is int for v in values):
        return None
    try:
        if small:  # every value within float32's range (above): converted at once
            return np.array(values, dtype=np.float32).reshape(count, len(names))
        matrix = np.asarray(values, dtype=np.float64).reshape(count, len(names))
    except OverflowError:  # an integer beyond float64: the per-value path names it
        return None
    return encode_numeric_block(names, matrix)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _out_of_float32(values: np.ndarray) -> np.ndarray:
    """True where a value is ±inf or beyond float32's range; NaN (missing) is not (a
    comparison with NaN is False, and raises no floating-point warning)."""
    return np.abs(values) > FLOAT32_MAX


def encode_numeric_block(names: list[str], matrix: np.ndarray) -> np.ndarray:
    """float32 inputs of several numeric columns at once ([rows, columns] float64 in)."""
    bad = _out_of_float32(matrix)
    if bad.any():
        column = int(np.nonzero(bad)[1][0])
        _finite(names[column], matrix[:, column])  # raises, naming the row and the column
    return matrix.astype(np.float32)


def _numbers(name: str, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return _finite(name, values.astype(np.float64)).astype(np.float32)
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        out[i] = _number(name, i, value)
    return _finite(name, out).astype(np.float32)


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    bad = _out_of_float32(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"row {row}: feature '{name}' is out of range ({float(values[row])!r}); "
            "send a finite number within ±3.4e38, or null when it is missing"
        )
    return values


def _number(name: str, row: int, value: Any) -> float:
    if type(value).__module__ == "numpy":
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else math.nan
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf  # refused by _finite with the column's name
    raise ValidationError(
        f"row {row}: feature '{name}' must be a number, got {type(value).__name__} {shown(value)}"
    )


def parse_flag(value: Any) -> bool | None:
    """True/False from a boolean-like value; None when missing. ValueError when not one."""
    if type(value).__module__ == "numpy":
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS or word == "1":
            return True
        if word in FALSE_WORDS or word == "0":
            return False
        if not word:
            return None
    raise ValueError(value)


BOOLEAN_CATEGORIES = ("false", "true")


def _flag(name: str, row: int, value: Any) -> str:
    try:
        flag = parse_flag(value)
    except ValueError:
        raise ValidationError(
            f"row {row}: feature '{name}' must be true or false (also yes/no, 1/0), "
            f"got {type(value).__name__} {shown(value)}"
        ) from None
    return "" if flag is None else BOOLEAN_CATEGORIES[flag]


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date or datetime, or a date or datetime object (naive means UTC); None
    when missing. ValueError else."""
    if type(value).__module__ == "numpy":
        # datetime64 in nanoseconds gives an int: microseconds give a datetime (NaT: None)
        value = value.astype("datetime64[us]").item() if value.dtype.kind == "M" else value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):  # a date column (Parquet date32, a CSV of dates in Arrow)
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        if not value.strip():
            return None
        moment = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def date_parts(name: str, row: int, value: Any) -> list[float]:
    try:
        moment = parse_datetime(value)
    except (ValueError, TypeError):
        raise ValidationError(
            f"row {row}: feature '{name}' must be an ISO 8601 date or datetime "
            f"(e.g. 2024-03-01 or 2024-03-01T12:30:00Z), got {type(value).__name__} {shown(value)}"
        ) from None
    if moment is None:
        return [math.nan] * len(DATE_PARTS)
    epoch = (moment - _EPOCH).total_seconds()
    return [moment.year, moment.month, moment.day, moment.weekday(), moment.hour, epoch]


def _text(column: ColumnSpec, row: int, value: Any) -> str:
    text = category_text(value)
    if text is None:
        raise ValidationError(
            f"row {row}: feature '{column.name}' must be a string, "
            f"got {type(value).__name__} {shown(value)}"
        )
    if column.kind == "text" and column.encoding != "tfidf_raw":
        return normalize_text(text)
    return text


def normalize_text(text: str) -> str:
    """Lower-cased, accents stripped, punctuation as spaces, and every other non-ASCII letter
    or digit spelled `u<hex>`: the exported tokenizer (RE2, ASCII `\\w`) and scikit-learn's
    then split every language identically."""
    folded = unicodedata.normalize("NFKD", text.lower())
    out: list[str] = []
    for char in folded:
        if char.isascii():
            out.append(char if char.isalnum() or char == "_" else " ")
        elif unicodedata.combining(char):
            continue
        elif char.isalnum():
            out.append(f"u{ord(char):06x}")
        else:
            out.append(" ")
    return "".join(out)
