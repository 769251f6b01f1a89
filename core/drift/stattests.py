"""The drift tests, with Evidently's default choices and formulas (its legacy stattests,
which its DataDriftPreset still uses), so a verdict here is the verdict there:

- reference ≤ 1,000 rows: numeric with > 5 values, two-sample KS; otherwise chi-squared,
  or with 2 values the proportions z-test; drift when p < 0.05;
- reference > 1,000 rows: numeric with > 5 values, Wasserstein distance over the
  reference's std; otherwise Jensen-Shannon distance; drift when ≥ 0.1.

PSI (≥ 0.1: drift) is computed for every feature besides. Missing and infinite values are
dropped before testing, as Evidently does; the missing rate is reported separately."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SMALL_REFERENCE = 1000
P_VALUE = 0.05
DISTANCE = 0.1
JS_BINS, PSI_BINS = 30, 30


@dataclass(frozen=True)
class TestResult:
    test: str  # ks, chisquare, z, wasserstein, jensenshannon
    statistic: float  # a p-value (drift below the threshold) or a distance (at or above)
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "statistic": _finite(self.statistic),
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray, list]:
    keys = list(set(reference.dropna().unique()) | set(current.dropna().unique()))
    ref, cur = reference.value_counts(), current.value_counts()
    return (
        np.array([ref.get(k, 0) for k in keys], dtype=float),
        np.array([cur.get(k, 0) for k in keys], dtype=float),
        keys,
    )


def binned_shares(
    reference: pd.Series, current: pd.Series, numeric: bool, fill_zeroes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's share of the rows: numeric columns with > 20 values in Sturges bins over
    both samples; others by value. Empty bins get a tiny share when `fill_zeroes` (PSI)."""
    if numeric and reference.nunique() > 20:
        edges = np.histogram_bin_edges(pd.concat([reference, current]).to_numpy(), bins="sturges")
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
    else:
        ref_counts, cur_counts, _ = _counts(reference, current)
        ref, cur = ref_counts / len(reference), cur_counts / len(current)
    if fill_zeroes:
        for shares in (ref, cur):
            smallest = shares[shares != 0].min()
            shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return ref, cur


def ks(reference: pd.Series, current: pd.Series) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(reference, current)[1])


def chisquare(reference: pd.Series, current: pd.Series) -> float:
    from scipy.stats import chisquare as scipy_chisquare

    ref, cur, _ = _counts(reference, current)
    expected = ref * (len(current) / len(reference))
    return float(scipy_chisquare(cur, expected)[1])


def z_test(reference: pd.Series, current: pd.Series) -> float:
    from scipy.stats import norm

    ref_values, cur_values = reference.unique(), current.unique()
    if len(ref_values) == 1 and len(cur_values) == 1 and ref_values[0] == cur_values[0]:
        return 1.0
    first = sorted(set(reference.dropna().unique()) | set(current.dropna().unique()))[0]
    p1, p2 = float((reference != first).mean()), float((current != first).mean())
    n1, n2 = len(reference), len(current)
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def wasserstein(reference: pd.Series, current: pd.Series) -> float:
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(reference, current) / max(np.std(reference), 0.001))


def jensenshannon(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    from scipy.spatial.distance import jensenshannon as scipy_js

    ref, cur = binned_shares(reference, current, numeric, fill_zeroes=False)
    return float(scipy_js(ref, cur))


def psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    ref, cur = binned_shares(reference, current, numeric, fill_zeroes=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def default_test(reference: pd.Series, current: pd.Series, numeric: bool) -> TestResult:
    """Evidently's default test for this column, run with its default threshold."""
    values = pd.concat([reference, current]).nunique()
    chosen: tuple[str, Callable[[], float], float]
    if len(reference) <= SMALL_REFERENCE:
        if numeric and values > 5:
            chosen = ("ks", lambda: ks(reference, current), P_VALUE)
        elif values > 2:
            chosen = ("chisquare", lambda: chisquare(reference, current), P_VALUE)
        else:
            chosen = ("z", lambda: z_test(reference, current), P_VALUE)
    elif numeric and values > 5:
        chosen = ("wasserstein", lambda: wasserstein(reference, current), DISTANCE)
    else:
        chosen = ("jensenshannon", lambda: jensenshannon(reference, current, numeric), DISTANCE)
    name, run, threshold = chosen
    statistic = run()
    p_value = name in ("ks", "chisquare", "z")
    drifted = statistic < threshold if p_value else statistic >= threshold
    return TestResult(name, statistic, threshold, bool(drifted))
