"""A new project's two config files, proposed from a data file: `mlfn init`.

The source is read as `mlfn ingest` reads it (format, separator, encoding and number marks
found the same way), every column typed as training types it, and the config proposes the
target's task, every other column as a feature but those that identify rows (an id, a row
number: core/data/identifiers.py), two candidates, and local stores in the project's
`.mlfn/` folder. The proposal is checked by loading it as every command will."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import ParserConfig
from core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

CANDIDATES = {
    "classification": ["logistic_regression", "random_forest"],
    "regression": ["linear_regression", "random_forest"],
}
LOCAL_ENVIRONMENTS = ("dev", "qa")  # stores in the project's .mlfn/ folder


@dataclass
class Proposal:
    config: dict[str, Any]
    parser: dict[str, Any]
    kinds: dict[str, str]  # each feature's type, as training will read it
    left_out: dict[str, str] = field(default_factory=dict)  # column: why it is no feature
    notes: dict[str, str] = field(default_factory=dict)  # feature: what to fix in the data
    rows: int = 0
    summary_rows: list[str] = field(default_factory=list)  # a spreadsheet's sums, left out


def propose(
    source: str,
    target: str,
    folder: Path,
    name: str | None = None,
    reading: dict[str, Any] | None = None,
) -> Proposal:
    """The config and parser config of a project training on `source` to predict `target`,
    its files to live in `folder`; `reading`: parser options the file needs (encoding,
    skip_lines), written into the parser config."""
    from core.data.coerce import coerce_frame
    from core.data.ingest import infer_task, parse_raw
    from core.data.sources import read_source
    from core.data.summary_rows import without_summary_rows

    raw = read_source(source)
    reading = reading or {}
    frame, summed = without_summary_rows(parse_raw(raw, ParserConfig(**reading)))
    _check_target(frame, target, source, int(reading.get("skip_lines", 0)))
    frame = coerce_frame(frame.dropna(subset=[target]), {}, target)
    if frame.empty:
        raise DataError(f"source '{source}' has no rows with a value for '{target}'")
    task = infer_task(frame[target])
    kinds, left_out, notes = _features(frame, target)
    if not kinds:
        raise DataError(f"source '{source}': no column but '{target}' can be a feature")
    config = {
        "model_name": name or model_name_from(source),
        "task": task,
        "model_type": CANDIDATES[task],
        "features": list(kinds),
        "target": target,
        "train_split": 0.8,
        "data_source": _relative(source, folder),
        "promotion": {env: _environment(folder, env) for env in LOCAL_ENVIRONMENTS},
    }
    parser = {"selected_fields": [*kinds, target], "field_mappings": {}, **reading}
    return Proposal(config, parser, kinds, left_out, notes, len(frame), summed)


def model_name_from(source: str) -> str:
    """A model name from the source's file name: lower case, letters, digits, _ and -."""
    stem = Path(source.split("?", 1)[0].rstrip("/")).name.split(".", 1)[0].lower()
    name = re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-_")[:63]
    return name if name and name[0].isalnum() else "model"


def _check_target(frame: pd.DataFrame, target: str, source: str, skipped: int) -> None:
    from core.data.ingest import missing_hint

    names = [str(c) for c in frame.columns]
    if target in names:
        return
    close = difflib.get_close_matches(target, names, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else missing_hint(frame, [target], skipped)
    raise DataError(
        f"source '{source}' has no column '{target}' to predict{hint}",
        detail=f"its columns: {names[:30]}",
    )


def _features(
    frame: pd.DataFrame, target: str
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(each feature's type, each column left out and why, notes on features)."""
    from core.data.identifiers import identifier_note
    from core.data.lookalikes import lookalike_note
    from core.features import infer_kind, useless_columns

    kinds, left_out, notes = {}, {}, {}
    for name in frame.columns:
        if name == target:
            continue
        column = frame[name]
        if column.isna().all():
            left_out[str(name)] = "every value is missing"
            continue
        kind = infer_kind(column)
        lookalike = lookalike_note(str(name), column) if kind == "categorical" else None
        if lookalike is not None:  # amounts, percentages, dates as people write them
            notes[str(name)] = lookalike.split(": ", 1)[1]
        elif identifier_note(str(name), column, kind) is not None:
            left_out[str(name)] = "it identifies rows (a different value in each)"
            continue
        kinds[str(name)] = kind
    for name, why in useless_columns(frame, list(kinds)).items():  # as training drops them
        del kinds[name]
        notes.pop(name, None)
        left_out[name] = why
    return kinds, left_out, notes


def _relative(source: str, folder: Path) -> str:
    """A local file inside the current folder: its path relative to the config's folder
    (the config resolves it so, and the project can move as one); elsewhere: absolute."""
    if "://" in source:
        return source
    path = Path(source).resolve()
    if not path.is_relative_to(Path.cwd().resolve()):
        return str(path)
    return os.path.relpath(path, folder.resolve())


def _environment(folder: Path, env: str) -> dict[str, str]:
    """A local store in the project's `.mlfn/<env>`: the project is the config's folder, or
    the one above it when that is `config/` (as in this repository)."""
    project = folder.parent if folder.resolve().name == "config" else folder
    store = os.path.relpath(project.resolve() / ".mlfn" / env, folder.resolve())
    return {
        "store": f"file://{store}",
        "raw_path": "data/raw/",
        "processed_path": "data/processed/",
    }
