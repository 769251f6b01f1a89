"""Our drift tests give Evidently's own statistics and verdicts on the same fixed data:
the test each column gets, its score, its verdict, PSI, and the dataset's verdict. Evidently
runs in a venv of its own (.tools/evidently, `make setup`), a test-only dependency."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.drift.compare import drift_of
from core.drift.profile import PREDICTION, feature_profile
from tests.conftest import REPO

EVIDENTLY = REPO / ".tools" / "evidently" / "bin" / "python"
SIDE = Path(__file__).with_name("evidently_side.py")
DISPLAY = {"ks": "K-S p_value", "chisquare": "chi-square p_value", "z": "Z-test p_value",
           "wasserstein": "Wasserstein distance (normed)",
           "jensenshannon": "Jensen-Shannon distance"}  # fmt: skip
KINDS = {"wide": "numeric", "shifted": "numeric", "few": "numeric", "binary": "categorical",
         "colour": "categorical", "steady": "categorical"}  # fmt: skip


def frames(rows_ref: int, rows_cur: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six columns of each kind the defaults tell apart, three shifted, with missing values."""
    rng = np.random.default_rng(seed)

    def draw(n: int, shift: float) -> pd.DataFrame:
        wide = rng.normal(0, 1, n)
        wide[rng.random(n) < 0.05] = np.nan
        return pd.DataFrame({
            "wide": wide,
            "shifted": rng.normal(shift, 1, n),
            "few": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.4, 0.3, 0.2, 0.1] if not shift
                              else [0.1, 0.2, 0.3, 0.4]),
            "binary": rng.choice(["yes", "no"], n, p=[0.7, 0.3] if not shift else [0.5, 0.5]),
            "colour": rng.choice(["red", "green", "blue"], n),
            "steady": rng.choice(["a", "b", "c", "d"], n, p=[0.25] * 4),
        })  # fmt: skip

    return draw(rows_ref, 0.0), draw(rows_cur, 0.6)


CASES = {"small": (300, 200, 1), "at_limit": (1000, 400, 2), "large": (3000, 2000, 3),
         "larger": (5000, 800, 4)}  # fmt: skip


@pytest.fixture(scope="module")
def evidently(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Evidently's verdicts on every case, and on two samples of one distribution
    ("same"), from one run of its venv (importing Evidently takes seconds)."""
    if not EVIDENTLY.exists():
        pytest.fail(f"{EVIDENTLY} is missing: run `make setup`", pytrace=False)
    folder = tmp_path_factory.mktemp("evidently")
    for case, (rows_ref, rows_cur, seed) in {**CASES, "same": (400, 300, 5)}.items():
        reference, current = frames(rows_ref, rows_cur, seed)
        if case == "same":
            current = frames(300, 10, 6)[0]
        reference.to_parquet(folder / f"{case}.ref.parquet")
        current.to_parquet(folder / f"{case}.cur.parquet")
    numeric = ",".join(n for n, k in KINDS.items() if k == "numeric")
    categorical = ",".join(n for n, k in KINDS.items() if k == "categorical")
    run = subprocess.run([str(EVIDENTLY), str(SIDE), str(folder), numeric, categorical],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return {"folder": folder, **json.loads(run.stdout)}


def ours(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    profile = {"features": {n: feature_profile(reference[n], k) for n, k in KINDS.items()},
               "prediction": feature_profile(reference["wide"], "numeric")}  # fmt: skip
    sample = reference.assign(**{PREDICTION: reference["wide"]})
    window = current.assign(**{PREDICTION: current["wide"]})
    return drift_of(sample, window, profile, drift_share=0.5, min_rows=10)


def _case(evidently: dict, case: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = evidently["folder"]
    return (pd.read_parquet(folder / f"{case}.ref.parquet"),
            pd.read_parquet(folder / f"{case}.cur.parquet"))  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_statistics_and_verdicts_match_evidentlys(evidently: dict, case: str) -> None:
    reference, current = _case(evidently, case)
    theirs = evidently[case]
    mine = ours(reference, current)
    assert {f["feature"] for f in mine["features"]} == set(theirs["columns"])
    for entry in mine["features"]:
        expected = theirs["columns"][entry["feature"]]
        assert DISPLAY[entry["test"]] == expected["test"], entry["feature"]
        assert entry["statistic"] == pytest.approx(expected["score"], rel=1e-9, abs=1e-12)
        assert entry["drifted"] == expected["drifted"], entry["feature"]
        assert entry["psi"] == pytest.approx(expected["psi"], rel=1e-9, abs=1e-12)
        assert entry["psi_drifted"] == expected["psi_drifted"]
    assert mine["drift_share"] == pytest.approx(theirs["share"])
    assert mine["dataset_drift"] == theirs["dataset_drift"]
    # the shifted columns are found, the steady ones not: the data tells the tests apart
    assert {"shifted", "few", "binary"} <= set(mine["drifted_features"])
    assert "steady" not in mine["drifted_features"]


def test_the_same_distribution_is_not_drift_for_evidently_or_us(evidently: dict) -> None:
    reference, current = _case(evidently, "same")
    theirs = evidently["same"]
    mine = ours(reference, current)
    assert mine["dataset_drift"] is False and theirs["dataset_drift"] is False
    assert mine["drift_share"] == pytest.approx(theirs["share"])
