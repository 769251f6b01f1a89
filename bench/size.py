"""The AWS predict zip, built as `mlfn package aws` builds it: zipped and unzipped MB against
DESIGN's 150 MB budget and Lambda's 250 MB limit, and its largest parts."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO


def run() -> dict[str, Any]:
    from core.deploy.bundle import package_aws

    with tempfile.TemporaryDirectory() as tmp:
        report = package_aws(REPO, Path(tmp), REPO / "config" / "config.json").to_dict()
    report.pop("zip")
    return report
