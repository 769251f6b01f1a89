"""GIVEN template.yaml and serverless.yml WHEN checkov (its own venv in .tools, installed by
`make setup`) scans them offline THEN no check fails, and every suppression is inline with
its reason."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.manifests.conftest import REPO, offline_env

CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"


@pytest.mark.parametrize(
    ("manifest", "framework"),
    [("template.yaml", "cloudformation"), ("serverless.yml", "serverless")],
)
def test_checkov_passes_with_reasoned_suppressions(manifest: str, framework: str) -> None:
    if not CHECKOV.exists():  # `make setup` installs it; a missing one is a failure
        pytest.fail(f"{CHECKOV} is missing: run `make setup`")
    env = {**offline_env(), "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(
        [str(CHECKOV), "-f", manifest, "--framework", framework, "--skip-download",
         "--quiet", "-o", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads(result.stdout)
    results = report["results"]
    assert report["summary"]["parsing_errors"] == 0
    assert results.get("failed_checks", []) == [], [c["check_id"] for c in results["failed_checks"]]
    assert report["summary"]["passed"] >= 15
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} on {skipped['resource']} has no reason"
