"""Run by the Evidently venv (.tools/evidently): Evidently's own verdicts on the parquet
files of each case in a folder (<case>.ref.parquet, <case>.cur.parquet), as JSON on stdout.
Usage: evidently_side.py FOLDER NUMERIC,... CATEGORICAL,..."""

import json
import sys
from pathlib import Path

import pandas as pd
from evidently.legacy.calculations.stattests import psi_stat_test
from evidently.legacy.core import ColumnType
from evidently.legacy.metrics import DataDriftTable, DatasetDriftMetric
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report


def verdicts(reference, current, numerical, categorical):
    mapping = ColumnMapping(
        numerical_features=numerical, categorical_features=categorical, target=None, prediction=None
    )
    report = Report(metrics=[DataDriftTable(), DatasetDriftMetric(drift_share=0.5)])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    table, dataset = (m["result"] for m in report.as_dict()["metrics"])
    columns = {}
    for name, found in table["drift_by_columns"].items():
        kind = ColumnType.Numerical if name in numerical else ColumnType.Categorical
        ref, cur = reference[name].dropna(), current[name].dropna()
        psi = psi_stat_test(ref, cur, kind, None)
        columns[name] = {
            "test": found["stattest_name"],
            "score": float(found["drift_score"]),
            "drifted": bool(found["drift_detected"]),
            "psi": float(psi.drift_score),
            "psi_drifted": bool(psi.drifted),
        }
    return {
        "columns": columns,
        "dataset_drift": bool(dataset["dataset_drift"]),
        "share": float(dataset["share_of_drifted_columns"]),
    }


def main() -> None:
    folder = Path(sys.argv[1])
    numerical = [c for c in sys.argv[2].split(",") if c]
    categorical = [c for c in sys.argv[3].split(",") if c]
    cases = sorted(p.name.split(".")[0] for p in folder.glob("*.ref.parquet"))
    print(
        json.dumps(
            {
                case: verdicts(
                    pd.read_parquet(folder / f"{case}.ref.parquet"),
                    pd.read_parquet(folder / f"{case}.cur.parquet"),
                    numerical,
                    categorical,
                )
                for case in cases
            }
        )
    )


if __name__ == "__main__":
    main()
