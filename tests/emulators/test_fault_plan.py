"""Fault plans from dicts and files, and the errors a bad plan gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hafs_actors.errors import ConfigError
from hafs_actors.testing.emulators import Fault, FaultPlan, Quota

TOML_PLAN = """
seed = 7

[[faults]]
kind = "rate_limit"
nth = 3
retry_after = 2.5
retry_after_format = "ms"
model = "gpt-4o-mini"

[[faults]]
kind = "replay"
body = "{}"
status = 529
headers = { "x-should-retry" = "true" }

[quota]
requests_per_minute = 10
tokens_per_minute = 5000
"""


def test_plan_from_toml(tmp_path: Path) -> None:
    file = tmp_path / "plan.toml"
    file.write_text(TOML_PLAN)
    plan = FaultPlan.from_file(file)
    assert plan == FaultPlan(
        faults=(
            Fault(
                kind="rate_limit",
                nth=3,
                retry_after=2.5,
                retry_after_format="ms",
                model="gpt-4o-mini",
            ),
            Fault(kind="replay", body=b"{}", status=529, headers={"x-should-retry": "true"}),
        ),
        quota=Quota(requests_per_minute=10, tokens_per_minute=5000),
        seed=7,
    )


def test_plan_round_trips_through_json(tmp_path: Path) -> None:
    plan = FaultPlan(
        [
            Fault(kind="replay", body=b"\x00\xffbinary", content_type="application/octet-stream"),
            Fault(kind="drop", after_chunks=2, endpoint="messages", stream=True, probability=0.5),
        ],
        quota=Quota(requests_per_minute=5, scope="model"),
    )
    file = tmp_path / "plan"  # no suffix: JSON is tried first
    file.write_text(json.dumps(plan.to_dict()))
    assert FaultPlan.from_file(file) == plan


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"faults": [{"kind": "explode"}]}, "kind"),
        ({"faults": [{"kind": "hang", "nth": 0}]}, "nth must be a positive integer"),
        (
            {"faults": [{"kind": "hang", "nth": 2.5}]},
            "expected an integer, got 2.5 @ $.faults[0].nth",
        ),
        ({"faults": [{"kind": "hang", "probability": 2}]}, "probability must be between 0 and 1"),
        ({"faults": [{"kind": "hang", "colour": "red"}]}, "extra fields found (colour)"),
        ({"faults": [{"kind": "http_error", "status": 700}]}, "status must be an HTTP status"),
        ({"faults": [{"kind": "replay"}]}, "needs a body"),
        ({"faults": [{"kind": "replay", "body_file": "missing.bin"}]}, "cannot read body_file"),
        ({"faults": [{"kind": "hang", "stream": "yes"}]}, "expected true or false"),
        ({"faults": {"kind": "hang"}}, "expected a list of faults"),
        ({"faults": ["hang"]}, "faults[0]"),
        ({"quota": {"requests_per_minute": -1}}, "requests_per_minute"),
        ({"quota": {"rpm": 1}}, "extra fields found (rpm)"),
    ],
)
def test_bad_plans_say_what_and_where(
    data: dict[str, object], message: str, tmp_path: Path
) -> None:
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        FaultPlan.from_file(file)
    assert message in str(info.value)
    assert str(file) in str(info.value)


def test_unreadable_or_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read fault plan"):
        FaultPlan.from_file(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[faults]\nkind=")
    with pytest.raises(ConfigError, match="not valid JSON or TOML"):
        FaultPlan.from_file(broken)


def test_fault_validation_in_python() -> None:
    with pytest.raises(ValueError, match="retry_after"):
        Fault(kind="rate_limit", retry_after=-1)
    with pytest.raises(ValueError, match="kind"):
        Fault(kind="meltdown")
    assert "body" not in repr(Fault(kind="replay", body=b"secret-ish payload"))
