"""`watchd test-rules --json`: every case, its failures and the files that could not be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchd import cli

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "tests" / "http.test.yaml"


def test_test_rules_json_lists_every_case_and_a_missing_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped http cases pass; a missing file is an error, so ok is false and exit 1."""
    assert cli.main(["test-rules", "--json", str(SHIPPED)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["errors"] == []
    assert report["passed"] == len(report["cases"]) > 0
    assert {c["file"] for c in report["cases"]} == {str(SHIPPED)}
    assert all(c["ok"] and c["failures"] == [] for c in report["cases"])
    missing = tmp_path / "missing.test.yaml"
    assert cli.main(["test-rules", "--json", str(SHIPPED), str(missing)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and len(report["errors"]) == 1
    assert str(missing) in report["errors"][0]
