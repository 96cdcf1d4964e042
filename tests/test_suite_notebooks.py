"""Notebooks 01-06 through the runner: what they call, write and list against the sandbox."""

from __future__ import annotations

import json
import math

import nbformat
import pytest

from ses_runbook.core.results import read_recorded
from ses_runbook.runs.runner import resolve_notebooks, run_suite
from support import SCENARIOS

TIMEOUT = 300  # per cell (papermill execution_timeout): a hung kernel fails the test instead of blocking it


def _run(params, name, out):
    suite = run_suite(params, resolve_notebooks([name]), out=out, jobs=1, quiet=True, timeout=TIMEOUT)
    [result] = suite.notebooks
    assert result.error is None, result.error
    return result, nbformat.read(out / result.ipynb, as_version=4)


def _checks(nb) -> dict:
    return {c["id"]: c for c in read_recorded(nb)["checks"]}


def test_test_email_makes_no_call_unless_opted_in(sandbox, tmp_path) -> None:
    result, nb = _run(sandbox.params, "02_send_test_email", tmp_path / "off")
    check = _checks(nb)["send.test_email"]
    assert check["status"] == "skip" and "-p send_test_email true" in check["summary"]
    assert sandbox.box.layer.writes() == {}
    assert not any(k.endswith("SendEmail") for k in sandbox.box.layer.calls)
    assert result.aws_calls["writes"] == 0


def test_test_email_sends_exactly_once_when_opted_in(sandbox, tmp_path) -> None:
    # without a feedback queue: one send (with one, the simulator round trip: tests/test_feedback.py)
    params = sandbox.params.model_copy(update={"send_test_email": True, "feedback_queue_url": ""})
    result, nb = _run(params, "02_send_test_email", tmp_path / "on")
    assert sandbox.box.layer.writes() == {"ses.SendEmail": 1}
    check = _checks(nb)["send.test_email"]
    assert check["status"] == "ok", check["summary"]
    message_id = check["details"]["MessageId"]
    assert message_id and message_id in check["summary"]
    shown = json.dumps(
        [o for c in nb.cells for o in c.get("outputs", []) if "parameters" not in c.metadata.get("tags", [])]
    )
    assert message_id in shown
    assert result.aws_calls["writes"] == 1


@pytest.mark.parametrize("sandbox", ["sandbox-account"], indirect=True)
def test_rejected_test_email_is_a_fail_not_a_traceback(sandbox, tmp_path) -> None:
    params = sandbox.params.model_copy(update={"send_test_email": True, "test_recipient": "someone@example.com"})
    result, nb = _run(params, "02_send_test_email", tmp_path / "rejected")
    check = _checks(nb)["send.test_email"]
    assert check["status"] == "fail" and "MessageRejected" in check["summary"], check
    assert "someone@example.com" in check["summary"]
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    assert sandbox.box.layer.writes() == {"ses.SendEmail": 1}  # tried once, refused by SES


@pytest.mark.parametrize("sandbox", [SCENARIOS / "scale.yaml"], indirect=True, ids=["scale"])
def test_identities_of_a_scale_scenario_are_all_listed_in_batches(sandbox, tmp_path) -> None:
    _, nb = _run(sandbox.params, "03_domain_verification", tmp_path / "scale")
    calls = dict(sandbox.box.layer.calls)
    [table] = [o for c in nb.cells if "identity_inventory" in c.source for o in c.outputs]
    lines = table["data"]["text/plain"].splitlines()
    assert len(lines) - 1 == 252  # header + one row per identity
    assert table["data"]["text/html"].count("<tr>") - 1 == 252
    assert calls["ses.GetIdentityVerificationAttributes"] == math.ceil(252 / 100) == 3
    assert _checks(nb)["identity.verification"]["status"] == "ok"
