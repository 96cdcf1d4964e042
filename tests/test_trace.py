"""`ses-runbook trace` and 12_trace: one recipient or message traced end to end, a verdict per target."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ses_runbook import remediation
from ses_runbook.checks import trace
from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import UsageError
from ses_runbook.core.params import Params
from ses_runbook.remediation.fixes import unsuppress_traced
from ses_runbook.sandbox import notifications
from ses_runbook.sandbox import scenario as scenario_mod
from ses_runbook.sources import trace as src
from support import ROOT, run_cli

EXPECTED = {
    "healthy": "delivered",
    "recipient-suppressed": "suppressed-account",
    "recipient-hard-bounced": "bounced-permanent",
    "recipient-delayed": "delayed",
    "recipient-no-mx": "bounced-permanent",
    "recipient-complained": "complained",
}
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


# -- each verdict on its scenario, through the CLI --------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_scenario_gives_its_verdict_for_its_trace_example(name: str) -> None:
    example = scenario_mod.load(name).trace_example
    proc = run_cli("trace", example, f"--sandbox={name}", "--json")
    assert proc.returncode == (0 if EXPECTED[name] == "delivered" else 1), proc.stderr
    [found] = json.loads(proc.stdout)["traces"]
    assert (found["target"], found["verdict"]) == (example, EXPECTED[name])
    assert found["evidence"] and found["next_step"]
    if name == "recipient-suppressed":  # the date and the reason, and the ids that put it there
        assert found["suppression"]["reason"] == "BOUNCE"
        assert found["suppression"]["last_update"].endswith("Z") and found["suppression"]["message_id"]
        assert "since " + found["suppression"]["last_update"] in found["summary"]
    if name == "recipient-hard-bounced":
        assert found["diagnostic"].startswith("smtp; 550 5.1.1 <kim.old@northwind.example>")
    if name == "recipient-no-mx":
        assert "null MX" in found["diagnostic"] and any(e["source"] == "DNS" for e in found["evidence"])


def test_a_string_that_is_not_an_address_is_refused_in_one_line() -> None:
    proc = run_cli("trace", "jane@", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "not an email address" in proc.stderr and "Traceback" not in proc.stderr


def test_the_sandbox_lists_every_scenario_with_its_trace_example() -> None:
    proc = run_cli("sandbox", "--list", "--json")
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    assert set(listed) == set(scenario_mod.available())
    assert all(s["description"] for s in listed.values())
    examples = {name: s["trace_example"] for name, s in listed.items() if "trace_example" in s}
    assert set(examples) == set(EXPECTED)
    assert all(address in listed[name]["description"] for name, address in examples.items())


# -- verdicts no scenario stages, decided from evidence --------------------------------------------
def _row(kind: str, **extra: object) -> dict[str, object]:
    return {"time": "2026-10-31T10:00:00Z", "type": kind, "recipient": "a@x.example", "ses_message_id": "m1", **extra}


@pytest.mark.parametrize(
    "row,verdict",
    [
        (_row("Bounce", bounce_type="Permanent", bounce_subtype="Suppressed"), "suppressed-global"),
        (_row("Bounce", bounce_type="Transient", bounce_subtype="MailboxFull"), "bounced-transient"),
        (_row("Reject", reject_reason="Bad content"), "rejected"),
        (_row("Bounce", bounce_type="Permanent", bounce_subtype="OnAccountSuppressionList"), "suppressed-account"),
    ],
)
def test_the_newest_notification_decides(row: dict, verdict: str) -> None:
    older = _row("Delivery", time="2026-10-30T10:00:00Z", status="250 ok")
    assert trace.decide("a@x.example", "recipient", [older, row], None, None, None, set()).verdict == verdict


def test_not_sent_when_the_account_is_in_the_sandbox_and_the_recipient_is_not_verified() -> None:
    account = src.AccountState(True, True, "HEALTHY", "no-reply@thephenom.app", "thephenom.app", {})
    account.production_access = False
    found = trace.decide("a@x.example", "recipient", [], None, None, account, set())
    assert found.verdict == "not-sent" and "sandbox" in found.summary


def test_other_addresses_are_masked_and_the_traced_one_is_shown() -> None:
    row = _row(
        "Bounce",
        recipient="other.person@x.example",
        bounce_type="Permanent",
        bounce_subtype="General",
        diagnostic_code="smtp; 550 5.1.1 <other.person@x.example> unknown, cc a@x.example",
    )
    found = trace.decide("m1", "message", [row], None, None, None, {"a@x.example"})
    text = json.dumps(found.to_dict())
    assert "other.person@" not in text and "o***@x.example" in text and "a@x.example" in text


# -- input ------------------------------------------------------------------------------------------
def test_a_file_with_blank_lines_duplicates_and_ten_thousand_addresses(tmp_path) -> None:
    lines = ["", "Jane@Example.org", "jane@example.org", "  "] + [f"u{i}@x.example" for i in range(9_999)]
    path = tmp_path / "ticket.txt"
    path.write_text("\n".join(lines))
    addresses, ids = trace.targets(trace.read_file(str(path)))
    assert len(addresses) == 10_000 and ids == [] and addresses[0] == "Jane@Example.org"
    path.write_text("\n".join([*lines, "one.more@x.example"]))
    with pytest.raises(UsageError, match="more than 10,000"):
        trace.read_file(str(path))


def test_escape_sequences_endless_and_oversized_files_are_refused_in_one_line(tmp_path) -> None:
    """A pasted "address" holding a terminal escape (clear screen, an OSC-8 link) is not an address;
    a device without end and a file past the cap are refused before they are read whole."""
    for hostile in ("\x1b[2Jevil@x.com", "a\x1b]8;;http://x\x07b@x.com", "bell\x07@x.com", "c1\x9b31m@x.com"):
        with pytest.raises(UsageError, match="not an email address") as refused:
            trace.targets([hostile])
        assert "\x1b" not in str(refused.value) and "\x07" not in str(refused.value)
    with pytest.raises(UsageError, match="not a regular file"):
        trace.read_file("/dev/zero")
    big = tmp_path / "big.txt"
    big.write_bytes(b"\n" * (trace.MAX_FILE_BYTES + 1))
    with pytest.raises(UsageError, match="more than 8 MiB"):
        trace.read_file(str(big))


def test_the_terminal_text_holds_no_escape_from_a_receiving_server() -> None:
    row = _row(
        "Bounce",
        recipient="a@x.example",
        bounce_type="Permanent",
        bounce_subtype="General",
        diagnostic_code="smtp; 550 \x1b[2J\x1b]8;;http://evil\x07click\x1b]8;;\x07 no such user",
    )
    found = trace.decide("a@x.example", "recipient", [row], None, None, None, {"a@x.example"})
    report = trace.TraceReport([found], [], 14, datetime(2026, 11, 1, tzinfo=timezone.utc))
    printed = trace.text(report)
    assert "550" in printed and not any(ch in printed for ch in "\x1b\x07\x9b")


# -- the sandbox, in-process ------------------------------------------------------------------------
def test_an_unknown_message_id_has_no_record_and_says_what_was_searched(sandbox) -> None:
    params = sandbox.load()
    report = trace.trace(params, Aws(params), [], ["0000019b00000000-deadbeef-0000-0000-0000-000000000000-000000"])
    [found] = report.traces
    assert found.verdict == "no-record"
    for source in ("suppression list", "notifications", "message insights", "DNS", "account"):
        assert source in found.summary
    assert "at most 14 days" in found.summary and "VDM is off" in found.summary


def test_calls_stay_bounded_for_ten_thousand_addresses(sandbox) -> None:
    params = sandbox.load()
    one = Aws(params)
    trace.trace(params, one, ["maria.lopez@example.org"], [])
    many = Aws(params)
    addresses = ["maria.lopez@example.org"] + [f"user{i:05d}@tenant{i % 500:03d}.example" for i in range(9_999)]
    report = trace.trace(params, many, addresses, [])
    assert report.traces[0].verdict == "delivered" and len(report.traces) == 10_000
    small, big = one.stats()["by_operation"], many.stats()["by_operation"]
    assert small["sesv2.GetSuppressedDestination"] == 1 and "sesv2.ListSuppressedDestinations" not in small
    assert big["sesv2.ListSuppressedDestinations"] == 1 and "sesv2.GetSuppressedDestination" not in big
    assert big["sqs.ReceiveMessage"] == small["sqs.ReceiveMessage"]  # one pass over the queue either way
    assert many.stats()["total"] == one.stats()["total"]


@pytest.mark.parametrize("sandbox", ["recipient-hard-bounced"], indirect=True)
def test_the_event_store_gives_the_queue_s_verdict_and_says_it_was_searched(sandbox) -> None:
    """With events_s3 set the notifications come from the event store (the same rows as the queue):
    the same verdict and diagnostic code, by address and by message id, and no queue read at all."""
    mid = notifications.recipient_message_id(sandbox.box.scenario, 0)
    params = sandbox.load(events_s3=sandbox.box.events_s3)
    aws = Aws(params)
    report = trace.trace(params, aws, ["kim.old@northwind.example"], [mid])
    assert [(t.verdict, "550 5.1.1" in (t.diagnostic or "")) for t in report.traces] == [
        ("bounced-permanent", True),
        ("bounced-permanent", True),
    ]
    sources = {s["source"]: s for s in report.to_dict()["sources"]}
    assert "notifications" not in sources and "event store" in sources["event store"]["keeps"]
    assert "with DuckDB" in sources["event store"]["searched"] and not sources["event store"]["error"]
    assert "sqs.ReceiveMessage" not in aws.stats()["by_operation"]


@pytest.mark.parametrize("sandbox", ["recipient-hard-bounced"], indirect=True)
def test_a_message_id_is_traced_and_its_recipient_masked(sandbox) -> None:
    mid = notifications.recipient_message_id(sandbox.box.scenario, 0)
    params = sandbox.load()
    report = trace.trace(params, Aws(params), [], [mid])
    [found] = report.traces
    assert found.verdict == "bounced-permanent" and "550 5.1.1" in (found.diagnostic or "")
    text = json.dumps(report.to_dict())
    assert "kim.old@" not in text and "k***@northwind.example" in text


@pytest.mark.parametrize("sandbox", ["recipient-suppressed"], indirect=True)
def test_the_guarded_removal_writes_nothing_without_allow_writes_then_removes_and_rechecks(sandbox) -> None:
    address = "sam.reset@example.net"
    params = sandbox.load(trace_mailbox_fixed=True)
    aws = Aws(params)
    report = trace.trace(params, aws, [address], [])
    [fix] = unsuppress_traced(params, aws, report)
    assert not fix.applied and fix.commands == [
        f"aws sesv2 delete-suppressed-destination --email-address {address} --region us-east-1 "
        f"--endpoint-url {params.endpoint_url}"
    ]
    assert sandbox.box.layer.writes() == {}  # counted at the server

    params = sandbox.load(trace_mailbox_fixed=True, allow_writes=True)
    aws = Aws(params)
    [fix] = unsuppress_traced(params, aws, trace.trace(params, aws, [address], []))
    assert fix.applied and fix.ok and fix.recheck is not None and fix.recheck.status.value == "ok"
    assert sandbox.box.layer.writes() == {"sesv2.DeleteSuppressedDestination": 1}
    assert address not in sandbox.box.world.suppressed
    assert aws.calls["sesv2.GetSuppressedDestination"] == 2  # the re-check asked again


def test_the_removal_is_not_offered_without_the_mailbox_parameter_nor_for_a_complaint() -> None:
    def report(reason: str) -> trace.TraceReport:
        found = trace.Trace("a@x.example", "recipient", "suppressed-account", suppression={"reason": reason})
        return trace.TraceReport([found], [], 14, AS_OF)

    writes_allowed = Params(allow_writes=True)
    [fix] = unsuppress_traced(writes_allowed, None, report("BOUNCE"))  # type: ignore[arg-type]
    assert not fix.applied and fix.commands == [] and "trace_mailbox_fixed" in fix.message
    mailbox_fixed = Params(allow_writes=True, trace_mailbox_fixed=True)
    [fix] = unsuppress_traced(mailbox_fixed, None, report("COMPLAINT"))  # type: ignore[arg-type]
    assert not fix.applied and fix.commands == [] and "trace_unsuppress_complaint" in fix.message


def test_access_denied_on_get_suppressed_destination_errors_that_source_alone(sandbox) -> None:
    import os
    import re

    policy = json.loads(re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)[0])
    statement = policy["Statement"][0]
    statement["Action"] = [a for a in statement["Action"] if a != "ses:GetSuppressedDestination"]
    key_id, secret = sandbox.box.create_role_user("runbook-oncall", policy)
    sandbox.box.enforce_iam(True)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key_id, secret
    params = sandbox.load()
    report = trace.trace(params, Aws(params), ["maria.lopez@example.org"], [])
    errors = {s.name: s.error for s in report.sources if s.error}
    assert list(errors) == ["suppression list"] and "ses:GetSuppressedDestination" in errors["suppression list"]
    assert report.traces[0].verdict == "delivered"  # the other sources still answer


@pytest.mark.parametrize("sandbox", ["recipient-suppressed"], indirect=True)
def test_diagnose_walks_the_recipient_symptom_to_its_cause(sandbox) -> None:
    params = sandbox.load(trace_recipients=["sam.reset@example.net"])
    d = remediation.diagnose(params, "recipient-not-receiving")
    assert [c.cause.id for c in d.causes] == ["recipient-suppressed-account"]
    steps = remediation.steps_text(d)
    assert "delete-suppressed-destination --email-address sam.reset@example.net" in steps


def test_run_12_trace_shows_the_hard_bounce_and_its_diagnostic_code(tmp_path) -> None:
    proc = run_cli(
        "run",
        "12_trace",
        "--sandbox=recipient-hard-bounced",
        "-p",
        "trace_recipients",
        '["kim.old@northwind.example"]',
        "--out",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    page = (tmp_path / "r" / "12_trace.html").read_text(encoding="utf-8")
    assert "bounced-permanent" in page and "550 5.1.1" in page
