"""The config's schedules and policy: cron checked once and rendered for each scheduler
(EventBridge through SAM's own parameter parser, Cloud Scheduler, Azure's NCRONTAB), bad
settings refused with the field named, and bad feedback refused before anything is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.api import create_app
from core.config import load_settings
from core.cron import Cron
from core.deploy.commands import steps_for
from core.errors import ConfigError
from tests.conftest import REPO, make_project
from tests.unit.test_api import local_services, token

AT = datetime(2026, 12, 1, 3, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "eventbridge", "ncrontab", "after"),
    [("0 * * * *", "cron(0 * * * ? *)", "0 0 * * * *", "2026-12-01T04:00"),
     ("*/15 * * * *", "cron(0/15 * * * ? *)", "0 */15 * * * *", "2026-12-01T04:00"),
     ("30 2 * * MON-FRI", "cron(30 2 ? * MON,TUE,WED,THU,FRI *)", "0 30 2 * * MON-FRI",
      "2026-12-02T02:30"),
     ("@daily", "cron(0 0 * * ? *)", "0 0 0 * * *", "2026-12-02T00:00"),
     ("0 0 29 2 *", "cron(0 0 29 2 ? *)", "0 0 0 29 2 *", "2028-02-29T00:00"),
     ("0 12 * * 7", "cron(0 12 ? * SUN *)", "0 0 12 * * 7", "2026-12-06T12:00")],
)  # fmt: skip
def test_a_cron_is_rendered_for_every_scheduler(
    expression: str, eventbridge: str, ncrontab: str, after: str
) -> None:
    cron = Cron.parse(expression)
    assert cron.eventbridge() == eventbridge and cron.ncrontab() == ncrontab
    assert cron.next_after(AT).isoformat(timespec="minutes").startswith(after)


@pytest.mark.parametrize(
    ("expression", "message"),
    [("61 * * * *", "minute: '61' is outside 0-59"), ("* * *", "give five fields"),
     ("0 0 30 2 *", "never fires"), ("0 0 1 * MON", "restrict one"), ("a * * * *", "not a number")],
)  # fmt: skip
def test_a_bad_cron_is_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cron = Cron.parse(expression)
        cron.next_after(AT)
        cron.eventbridge()


def test_bad_monitoring_settings_name_the_field(tmp_path: Path) -> None:
    config = make_project(tmp_path, monitoring={"schedule": "every hour", "window": "soon",
                                                "action": "panic", "drift_share": 2})  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_settings(config, "dev")
    text = caught.value.message
    for field in ("monitoring.schedule", "monitoring.window", "monitoring.action",
                  "monitoring.drift_share"):  # fmt: skip
        assert field in text


def test_the_deploys_carry_the_configs_schedules(tmp_path: Path) -> None:
    from samcli.cli.types import CfnParameterOverridesType

    config = json.loads((REPO / "config" / "config.json").read_text())
    config["monitoring"] = {"schedule": "*/15 * * * *"}
    config["retrain"] = {"schedule": "0 3 * * MON"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    deploy = steps_for("aws", load_settings(path, "staging"), REPO)[-1].argv
    given = deploy[deploy.index("--parameter-overrides") + 1 :]
    parsed = CfnParameterOverridesType().convert(tuple(given), None, None)  # as `sam` reads it
    assert parsed["MonitorSchedule"] == "cron(0/15 * * * ? *)"
    assert parsed["RetrainSchedule"] == "cron(0 3 ? * MON *)"
    serverless = steps_for("aws", load_settings(path, "staging"), REPO, tool="serverless")[-1]
    assert "--param=monitorSchedule=cron(0/15 * * * ? *)" in serverless.argv


def test_gcp_and_azure_deploys_carry_the_configs_schedules(tmp_path: Path) -> None:
    for cloud in ("gcp", "azure"):
        config = json.loads((REPO / "examples" / "clouds" / cloud / "config.json").read_text())
        config["monitoring"] = {"schedule": "0 * * * *"}
        path = tmp_path / f"{cloud}.json"
        path.write_text(json.dumps(config))
        env = next(e for e in ("staging", "qa", "prod", "dev") if e in config["promotion"]
                   and cloud in config["promotion"][e])  # fmt: skip
        argvs = [step.argv for step in steps_for(cloud, load_settings(path, env), REPO)]
        if cloud == "gcp":
            monitor = next(a for a in argvs if "infra/gcp/schedule.sh" in a and
                           a[2].endswith("-monitor"))  # fmt: skip
            retrain = next(a for a in argvs if "infra/gcp/schedule.sh" in a and
                           a[2].endswith("-retrain"))  # fmt: skip
            assert monitor[6:] == ["0 * * * *", '{"action": "monitor"}'] and retrain[6] == "off"
        else:
            settings = next(a for a in argvs if a[:4] == ["az", "functionapp", "config",
                                                          "appsettings"])  # fmt: skip
            assert "MLFN_MONITOR_SCHEDULE=0 0 * * * *" in settings
            assert "AzureWebJobs.monitor.Disabled=false" in settings
            assert "AzureWebJobs.retrain.Disabled=true" in settings


@pytest.mark.parametrize(
    ("body", "field"),
    [({"feedback": []}, "feedback"), ({"feedback": [{"prediction_id": "a b", "label": 1}]},
      "prediction_id"), ({"feedback": [{"prediction_id": "ab-0"}]}, "label"),
     ({"feedback": [{"prediction_id": "ab-0", "label": None}]}, "label"),
     ({"feedback": [{"prediction_id": "ab-0", "label": 1, "extra": 2}]}, "extra"),
     ([{"prediction_id": "ab-0", "label": 1}], 'labels go in a list under \\"feedback\\"'),
     ({"prediction_id": "ab-0", "label": 1}, 'labels go in a list under \\"feedback\\"')],
)  # fmt: skip
def test_bad_feedback_is_refused_and_nothing_is_stored(
    trained_iris: tuple, body: object, field: str
) -> None:
    settings, store = trained_iris
    with TestClient(create_app(local_services(settings, store))) as client:
        answer = client.post("/feedback", json=body, headers=token("feedback"))
    assert answer.status_code == 422 and field in answer.text
    assert store.list("feedback/") == []


@pytest.mark.parametrize(("label", "got"), [({"a": 1}, "object"), ([1, 2], "array")])
def test_a_label_of_no_scalar_type_is_one_sentence(trained_iris: tuple, label, got) -> None:
    """The label's union (string, boolean, number) reports each member it tried: one
    sentence names them all, instead of four pydantic messages with type tags in the path."""
    settings, store = trained_iris
    body = {"feedback": [{"prediction_id": "ab-0", "label": label}]}
    with TestClient(create_app(local_services(settings, store))) as client:
        answer = client.post("/feedback", json=body, headers=token("feedback"))
    message = answer.json()["error"]["message"]
    assert answer.status_code == 422
    assert message == f"feedback.0.label: should be a string, true/false or a number, got {got}"


def test_labels_that_are_not_classes_are_stored_and_named(
    trained_iris: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt class, or a class sent as another JSON type, is stored as sent (a new
    class is news too) and named in the answer with the champion's classes — read from its
    metadata: the model itself is never loaded for labels."""
    from core.inference import Predictor

    def no_model(*_: object) -> None:
        raise AssertionError("POST /feedback loaded the model")

    monkeypatch.setattr(Predictor, "plan", no_model)
    settings, store = trained_iris
    labels = ["setosa", "Setosa ", 3, "virginica", "Setosa "]
    body = {"feedback": [{"prediction_id": f"ab-{i}", "label": v} for i, v in enumerate(labels)]}
    with TestClient(create_app(local_services(settings, store))) as client:
        answer = client.post("/feedback", json=body, headers=token("feedback"))
        plain = client.post("/feedback", json={"feedback": body["feedback"][:1]},
                            headers=token("feedback"))  # fmt: skip
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["accepted"] == 5 and found["unknown_labels"] == ["Setosa ", 3]
    assert found["note"].startswith(
        "2 label(s) are not a class of champion v1 ('setosa', 'versicolor', 'virginica')"
    )
    assert plain.json() == {"accepted": 1}
    stored = b"".join(store.read_bytes(key) for key in store.list("feedback/"))
    assert stored.count(b"Setosa ") == 2 and stored.count(b'"label": 3') == 1
