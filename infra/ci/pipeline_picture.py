"""Draw docs/img/pipeline.png from the workflows themselves: the CI jobs, then each cloud's
environments in the order their deploy jobs need each other, and what each stage does.

    .venv/bin/python infra/ci/pipeline_picture.py [OUTPUT.png]

The stages drawn are stored in the PNG (text chunk `mlfn-pipeline`), so the test suite can
tell when the workflows changed and the picture was not redrawn."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
CLOUDS = ("aws", "gcp", "azure")
OUTPUT = REPO / "docs" / "img" / "pipeline.png"
KEY = "mlfn-pipeline"
CI_LINES = {
    "test": [".ci/run: tests, lint, types"],
    "bench-smoke": ["two bench sections"],
    "package": ["predict zip, ≤ 150 MB"],
}


def _load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return data


def _in_order(jobs: dict[str, Any]) -> list[str]:
    """The jobs of a workflow, each after the jobs it needs."""
    done: list[str] = []
    while len(done) < len(jobs):
        for name, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if name not in done and all(n in done for n in needs):
                done.append(name)
    return done


def pipeline_stages() -> dict[str, Any]:
    """What the picture shows, read from .github/workflows/."""
    ci = list(_load("ci.yml")["jobs"])
    clouds = {}
    for cloud in CLOUDS:
        jobs = _load(f"deploy-{cloud}.yml")["jobs"]
        clouds[cloud] = [
            {"env": jobs[name]["with"]["env"], "from": jobs[name]["with"].get("from_env"),
             "manual": "workflow_dispatch" in str(jobs[name].get("if", ""))}
            for name in _in_order(jobs)
        ]  # fmt: skip
    return {"ci": ci, "clouds": clouds}


def _box(axes: Any, x: float, y: float, title: str, lines: list[str], colour: str) -> None:
    from matplotlib.patches import FancyBboxPatch

    axes.add_patch(FancyBboxPatch((x, y), 2.2, 1.1, boxstyle="round,pad=0.05",
                                  facecolor=colour, edgecolor="#333333", linewidth=1))  # fmt: skip
    axes.text(x + 1.1, y + 0.82, title, ha="center", va="center", fontsize=10, weight="bold")
    for index, line in enumerate(lines):
        axes.text(x + 1.1, y + 0.5 - 0.24 * index, line, ha="center", va="center", fontsize=7.5)


def _arrow(axes: Any, start: tuple[float, float], end: tuple[float, float], label: str) -> None:
    axes.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "lw": 1.2})
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12)
    axes.text(*middle, label, ha="center", fontsize=6.5, color="#555555")


def _stage_lines(stage: dict[str, Any]) -> list[str]:
    if stage["from"] is None:
        return ["mlfn deploy", "mlfn train", "on every push to main"]
    approval = "GitHub approval" if stage["env"] in ("staging", "prod") else "environment rules"
    return ["mlfn deploy", f"promote --to-env {stage['env']}", approval]


def draw(stages: dict[str, Any], output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 4.2))
    axes.set_xlim(0, 12.6)
    axes.set_ylim(0, 4.4)
    axes.axis("off")
    for index, job in enumerate(stages["ci"]):
        _box(axes, 0.2 + 3.2 * index, 3.1, f"ci: {job}", CI_LINES.get(job, []), "#dbe9f6")
    envs = stages["clouds"][CLOUDS[0]]
    for index, stage in enumerate(envs):
        x = 0.2 + 3.2 * index
        _box(axes, x, 0.9, stage["env"], _stage_lines(stage), "#e3f4e1")
        if index:
            label = "run by hand" if stage["manual"] else "sha256"
            _arrow(axes, (x - 0.95, 1.45), (x - 0.05, 1.45), label)
    clouds = ", ".join(f"deploy-{cloud}.yml" for cloud in stages["clouds"])
    axes.text(0.2, 0.45, f"each cloud: {clouds} — OpenID Connect, no stored keys",
              fontsize=8)  # fmt: skip
    axes.text(0.2, 2.55, "push / pull request → ci  ·  push to main → deploy", fontsize=9)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110, metadata={KEY: json.dumps(stages, sort_keys=True)})
    plt.close(figure)
    return output


def drawn_stages(picture: Path) -> dict[str, Any]:
    """The stages a picture was drawn from."""
    from PIL import Image

    with Image.open(picture) as image:
        text = image.info.get(KEY)  # type: ignore[union-attr]
    return dict(json.loads(text)) if text else {}


if __name__ == "__main__":
    print(draw(pipeline_stages(), Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT))
