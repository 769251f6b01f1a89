"""Datasets as users really have them, generated: odd column names, booleans, dates,
zero-padded identifiers, many categories, missing values, Unicode and rare labels, skewed
and many classes, numbers written as strings, free text in several languages, wide data.

Each case is a frame of plain Python values (what a client would send as JSON), the
config changes it needs, and the file format it is written in.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N = 600


@dataclass
class Case:
    name: str
    frame: pd.DataFrame
    target: str
    fmt: str = "csv"  # csv, csv-bom, tsv, semicolon, json, jsonl, parquet, and any + ".gz"
    overrides: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"
    label_type: type = str  # the JSON type answers must keep

    @property
    def features(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.target]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def odd_names() -> Case:
    rng = _rng(1)
    x = rng.normal(size=(N, 6))
    names = ["weight/kg", "ratio.pct", "score (0-1)", "[flag] level", 'say "hi"', "1st try"]
    frame = pd.DataFrame(x, columns=names)
    frame["Größe"] = rng.normal(size=N)
    frame["名前"] = rng.choice(["東京", "大阪", "京都"], N)
    frame["Case"] = rng.normal(size=N)
    frame["case"] = rng.normal(size=N)
    frame["label"] = rng.normal(size=N)  # a feature named like a graph output
    score = x[:, 0] + x[:, 1] - frame["Case"] + (frame["名前"] == "東京") * 1.5
    frame["class/kind"] = np.where(score > 0.3, "yes it is", "no")
    return Case("odd_names", frame, "class/kind")


def booleans() -> Case:
    rng = _rng(2)
    flag = rng.choice([True, False], N)
    member = rng.choice(["yes", "no"], N)
    x = rng.normal(size=N)
    target = (flag & (x > -0.5)) | ((member == "yes") & (x > 1))
    flags: list[Any] = ["True" if f else "False" for f in flag]
    for i in rng.choice(N, N // 10, replace=False):
        flags[i] = None  # blanks in a True/False column
    frame = pd.DataFrame({"flag": flags, "member": member, "x": x, "churned": target.tolist()})
    return Case("booleans", frame, "churned", label_type=bool)


def dates() -> Case:
    rng = _rng(3)
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 730, N), unit="D")
    hours = rng.integers(0, 24, N)
    stamps = [d + pd.Timedelta(hours=int(h)) for d, h in zip(days, hours, strict=True)]
    x = rng.normal(size=N)
    summer = np.asarray([s.month in (6, 7, 8) for s in stamps])
    target = np.where(summer | (hours >= 20), "busy", "quiet")
    frame = pd.DataFrame(
        {
            "day": [d.date().isoformat() for d in days],
            "seen_at": [s.isoformat() + "Z" for s in stamps],
            "x": x,
            "load": target,
        }
    )
    return Case("dates", frame, "load", fmt="jsonl")


def zero_padded_ids() -> Case:
    rng = _rng(4)
    zips = [f"{z:05d}" for z in rng.choice([2139, 2140, 501, 10001, 94103], N)]
    x = rng.normal(size=N)
    target = np.where(np.isin(zips, ["02139", "00501"]) ^ (x > 1.2), "east", "west")
    frame = pd.DataFrame({"zip": zips, "x": x, "region": target})
    return Case("zero_padded_ids", frame, "region", fmt="tsv")


def many_categories() -> Case:
    rng = _rng(5)
    n = 3000
    ranks = np.minimum(rng.zipf(1.3, n), 5000)
    shop = [f"shop-{r:04d}" for r in ranks]
    x = rng.normal(size=n)
    target = np.where((ranks <= 3) ^ (x > 0.8), "a", "b")
    return Case(
        "many_categories",
        pd.DataFrame({"shop": shop, "x": x, "y": target}),
        "y",
        overrides={"max_categories": 50},
    )


def missing_values() -> Case:
    rng = _rng(6)
    x = rng.normal(size=(N, 4))
    target = np.where(x[:, 0] - x[:, 2] > 0, 1, 0)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"]).astype(object)
    mask = rng.random(frame.shape) < 0.3
    frame = frame.mask(mask, None)
    frame["colour"] = [c if rng.random() > 0.3 else None for c in rng.choice(["r", "g"], N)]
    frame["target"] = target  # integer labels
    return Case("missing_values", frame, "target", fmt="json.gz", label_type=int)


def unicode_and_rare_labels() -> Case:
    rng = _rng(7)
    x = rng.normal(size=(N, 2))
    labels = np.where(x[:, 0] > 0.4, "Zürich ✓", np.where(x[:, 1] > 0, "São Paulo", "東京"))
    labels = labels.astype(object)
    labels[0] = "seen once"  # a label with a single row
    return Case(
        "unicode_labels",
        pd.DataFrame({"p": x[:, 0], "q": x[:, 1], "city": labels}),
        "city",
        fmt="csv-bom",
    )


def skewed() -> Case:
    rng = _rng(8)
    n = 2000
    x = rng.normal(size=(n, 3))
    target = np.where(x[:, 0] > 2.3, "fraud", "ok")
    return Case(
        "skewed_99_1",
        pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "kind": target}),
        "kind",
        fmt="parquet",
    )


def many_classes() -> Case:
    rng = _rng(9)
    n = 1800
    centres = rng.normal(scale=4, size=(30, 3))
    label = rng.integers(0, 30, n)
    x = centres[label] + rng.normal(scale=0.6, size=(n, 3))
    frame = pd.DataFrame(x, columns=["u", "v", "w"])
    frame["species"] = [f"sp{i:02d}" for i in label]
    return Case("thirty_classes", frame, "species", fmt="semicolon")


def numbers_as_strings() -> Case:
    rng = _rng(10)
    price = rng.uniform(1, 200, N)
    qty = rng.integers(1, 50, N)
    target = np.where(price * qty > 2000, "big", "small")
    frame = pd.DataFrame(
        {"price": [f"{p:.2f}" for p in price], "qty": [str(q) for q in qty], "size": target}
    )
    return Case("numbers_as_strings", frame, "size", fmt="json")


def free_text() -> Case:
    rng = _rng(11)
    good = ["naïve charming café", "très bon", "отличный товар", "wunderbar schön", "great value"]
    bad = ["broken façade", "très mauvais", "плохое качество", "kaputt häßlich", "awful smell"]
    words = ["the", "item", "was", "really", "quite", "delivered", "today", "box"]
    positive = rng.random(N) > 0.5
    texts = []
    for p in positive:
        core_words = list(rng.choice(good if p else bad, 2)) + list(rng.choice(words, 4))
        rng.shuffle(core_words)
        texts.append(" ".join(core_words))
    frame = pd.DataFrame(
        {
            "review": texts,
            "stars": rng.integers(1, 6, N),
            "sentiment": np.where(positive, "positive", "negative"),
        }
    )
    return Case(
        "free_text",
        frame,
        "sentiment",
        fmt="csv.gz",
        overrides={"feature_types": {"review": "text"}},
    )


def regression_with_missing_target() -> Case:
    rng = _rng(12)
    x = rng.normal(size=(N, 3))
    y = 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(scale=0.3, size=N)
    target: list[Any] = y.tolist()
    for i in rng.choice(N, 40, replace=False):
        target[i] = None
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "price": target})
    return Case(
        "regression_missing_target",
        frame,
        "price",
        task="regression",
        overrides={"model_type": ["linear_regression", "random_forest"]},
    )


def wide() -> Case:
    rng = _rng(13)
    x = rng.normal(size=(400, 300))
    frame = pd.DataFrame(x, columns=[f"g{i}" for i in range(300)])
    frame["dup of g0"] = frame["g0"]
    frame["const"] = 7
    frame["out"] = np.where(x[:, 0] + x[:, 1] + x[:, 2] > 0, "hi", "lo")
    return Case("wide_300", frame, "out")


def quoted_multiline() -> Case:
    rng = _rng(14)
    notes = [f'line one, "quoted"\nline two; {i}' for i in range(N)]
    x = rng.normal(size=N)
    frame = pd.DataFrame({"note": notes, "x": x, "y": np.where(x > 0, "p", "n")})
    return Case(
        "quoted_multiline", frame, "y", overrides={"feature_types": {"note": "categorical"}}
    )


CASES: list[Callable[[], Case]] = [
    odd_names,
    booleans,
    dates,
    zero_padded_ids,
    many_categories,
    missing_values,
    unicode_and_rare_labels,
    skewed,
    many_classes,
    numbers_as_strings,
    free_text,
    regression_with_missing_target,
    wide,
    quoted_multiline,
]


def encode(frame: pd.DataFrame, fmt: str) -> bytes:
    """The frame written as a file of the given format."""
    base, _, zipped = fmt.partition(".")
    records = json.loads(frame.to_json(orient="records", force_ascii=False))
    if base in ("csv", "csv-bom", "tsv", "semicolon"):
        sep = {"tsv": "\t", "semicolon": ";"}.get(base, ",")
        text = frame.to_csv(index=False, sep=sep)
        data = (("\ufeff" if base == "csv-bom" else "") + text).encode("utf-8")
    elif base == "excel-sep":  # Excel's separator line first, then semicolons
        data = ("sep=;\r\n" + frame.to_csv(index=False, sep=";")).encode("utf-8")
    elif base == "unicode-text":  # a spreadsheet's "Unicode text": UTF-16 with a BOM, tabs
        data = frame.to_csv(index=False, sep="\t").encode("utf-16")
    elif base == "json-utf16be":
        data = codecs.BOM_UTF16_BE + json.dumps(records, ensure_ascii=False).encode("utf-16-be")
    elif base == "json":
        data = json.dumps(records, ensure_ascii=False).encode("utf-8")
    elif base == "jsonl":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    return gzip.compress(data) if zipped == "gz" else data


def write(case: Case, folder: Path) -> Path:
    suffix = {"csv-bom": "csv", "semicolon": "csv"}.get(
        case.fmt.split(".")[0], case.fmt.split(".")[0]
    )
    name = f"{case.name}.{suffix}" + (".gz" if case.fmt.endswith(".gz") else "")
    path = folder / name
    path.write_bytes(encode(case.frame, case.fmt))
    return path


def client_rows(case: Case) -> list[dict[str, Any]]:
    """The features of each row as a client sends them: JSON with the original names."""
    records = json.loads(case.frame[case.features].to_json(orient="records", force_ascii=False))
    return records
