"""The failure-mode catalogue: symptom -> confirmed cause -> steps, and the guarded fixes (issue 6)."""

from __future__ import annotations

import html
import json
import os
import stat

import nbformat
import pytest

from ses_runbook import remediation
from ses_runbook.checks import known_checks, message, trace
from ses_runbook.core import params as params_mod
from ses_runbook.core.results import MIME_TYPE, CheckResult, Status
from ses_runbook.remediation import CAUSES, CONFIRMED, RULED_OUT, SYMPTOMS, diagnose
from ses_runbook.remediation.catalogue import UNKNOWN
from ses_runbook.remediation.render import judge_here, remedy_html, remedy_text
from support import run_cli

# scenario -> (a symptom it shows, the causes staged in it)
STAGED = {
    "healthy": ("emails-not-delivered", set()),
    "sandbox-account": ("emails-not-delivered", {"account-in-sandbox"}),
    "sending-disabled": ("sending-paused", {"sending-disabled"}),
    "account-paused-by-aws": ("sending-paused", {"account-paused-by-aws"}),
    "bounce-spike": ("bounces-or-complaints-spike", {"bounce-spike"}),
    "complaint-spike": ("bounces-or-complaints-spike", {"complaint-spike"}),
    "quota-nearly-exhausted": ("sending-quota-hit", {"quota-exhausted"}),
    "send-rate-throttled": ("sending-rate-exceeded", {"send-rate-exceeded"}),
    "domain-unverified": ("test-email-rejected", {"domain-not-verified"}),
    "dkim-failed": ("dkim-verification-failed", {"dkim-cname-missing"}),
    "dkim-cname-missing": ("dkim-verification-failed", {"dkim-cname-missing"}),
    "dkim-signing-disabled": ("emails-going-to-spam", {"dkim-signing-disabled"}),
    "spf-missing": ("emails-going-to-spam", {"spf-misconfigured"}),
    "dmarc-missing": ("emails-going-to-spam", {"dmarc-missing"}),
    "mail-from-mx-missing": ("mail-from-failed", {"mail-from-mx-missing"}),
    "smtp-credentials-rotated": ("smtp-auth-failure", {"smtp-credentials-wrong"}),
    "smtp-key-inactive": ("smtp-auth-failure", {"smtp-key-inactive"}),
    "smtp-password-is-iam-secret": ("smtp-auth-failure", {"smtp-password-is-iam-secret"}),
    "smtp-password-sigv2": ("smtp-auth-failure", {"smtp-password-sigv2"}),
    "smtp-password-other-region": ("smtp-auth-failure", {"smtp-password-other-region"}),
    "smtp-user-may-not-send": ("smtp-auth-failure", {"smtp-key-inactive"}),
    "suppression-growth": ("suppression-list-growth", {"recipients-suppressed"}),
    "bounce-spike-in-sandbox": ("emails-not-delivered", {"account-in-sandbox", "bounce-spike"}),
    "message-dkim-broken": ("emails-going-to-spam", {"message-dkim-broken"}),
    "message-from-misaligned": ("emails-going-to-spam", {"dkim-signing-disabled", "message-from-misaligned"}),
    "message-missing-unsubscribe": ("emails-going-to-spam", set()),  # transactional by default: exempt
    "message-in-spam": ("emails-going-to-spam", {"message-judged-spam"}),
    "feedback-not-configured": ("bounces-or-complaints-spike", {"feedback-not-flowing"}),
    "feedback-topic-no-subscribers": ("bounces-or-complaints-spike", {"feedback-not-flowing"}),
    "no-reputation-alarms": ("bounces-or-complaints-spike", {"no-reputation-alarms"}),
    # one recipient's trouble in a healthy account: nothing account-wide to confirm (test_trace walks the
    # recipient symptom itself)
    "recipient-suppressed": ("emails-not-delivered", set()),
    "recipient-hard-bounced": ("emails-not-delivered", set()),
    "recipient-delayed": ("emails-not-delivered", set()),
    "recipient-no-mx": ("emails-not-delivered", set()),
    "recipient-complained": ("emails-not-delivered", set()),
    "delivery-delays": ("mail-arrives-late", {"receiver-deferring"}),
    "config-set-destination-disabled": ("events-not-published", {"event-destination-broken"}),
    "alarm-on-bounce-count": ("bounces-or-complaints-spike", {"no-reputation-alarms"}),
    "account-under-review": ("sending-paused", {"account-under-review"}),
    "domain-blocklisted": ("emails-going-to-spam", {"domain-blocklisted"}),
}
# Without a feedback queue the DeliveryDelay notifications cannot be read: those causes stay undecided.
NO_QUEUE = {"feedback-not-configured", "feedback-topic-no-subscribers"}
QUEUE_CAUSES = {"receiver-deferring", "ses-deferral", "mailboxes-full"}


def _writes(box) -> dict[str, int]:
    """Writes the server counted, by operation. Requests the sandbox layer cannot name (counted as
    'METHOD /path', e.g. the metrics module's SESv2 ListConfigurationSets) are reads it hands to moto."""
    return {k: v for k, v in box.layer.writes().items() if " " not in k}


# -- the catalogue itself ---------------------------------------------------------------------
def test_catalogue_is_consistent() -> None:
    check_ids = {c.id for c in known_checks()}
    for symptom in SYMPTOMS.values():
        assert symptom.causes and all(c in CAUSES for c in symptom.causes), symptom.id
    for cause in CAUSES.values():
        assert cause.why and set(cause.checks) <= check_ids | set(message.IDS) | {"message.probe", trace.CHECK_ID}, (
            cause.id
        )
        if cause.fix:
            assert cause.fix in remediation.FIXES
    # every failure mode a check points at can be walked
    named = {c.remediation for c in known_checks() if c.remediation}
    assert named <= set(SYMPTOMS), named - set(SYMPTOMS)
    page = [s for s in SYMPTOMS.values() if s.page]
    assert [s.id for s in page] == [
        "emails-not-delivered",
        "bounces-or-complaints-spike",
        "dkim-verification-failed",
        "sending-quota-hit",
        "smtp-auth-failure",
        "emails-going-to-spam",
    ]
    assert {
        "sending-paused",
        "mail-from-failed",
        "suppression-list-growth",
        "test-email-rejected",
        "domain-not-verified",
    } <= set(SYMPTOMS)


def test_only_the_needed_checks() -> None:
    assert remediation.checks_for("sending-quota-hit") == ["quota.headroom", "account.production_access"]
    assert remediation.checks_for("emails-not-delivered")[0] == "account.production_access"  # most likely first
    with pytest.raises(Exception) as exc:
        remediation.symptom_ids("nope")
    assert "allowed: auto, emails-not-delivered" in str(exc.value)


def test_no_scenario_left_without_a_test() -> None:
    from ses_runbook.sandbox.scenario import available

    assert set(available()) <= set(STAGED), set(available()) - set(STAGED)


# -- every scenario: exactly the staged causes -------------------------------------------------------
@pytest.mark.parametrize("sandbox", list(STAGED), indirect=True)
def test_confirms_exactly_the_staged_causes(sandbox) -> None:
    scenario = sandbox.box.scenario.name
    symptom, staged = STAGED[scenario]
    auto = diagnose(sandbox.params, "auto")
    assert {f.cause.id for f in auto.confirmed} == staged
    assert auto.exit_code == (1 if staged else 0)
    undecided = QUEUE_CAUSES if scenario in NO_QUEUE else set()
    assert all(
        f.verdict == RULED_OUT or (f.cause.id in undecided and f.verdict == UNKNOWN)
        for f in auto.unique_findings()
        if f.cause.id not in staged
    ), [(f.cause.id, f.verdict, f.note) for f in auto.unique_findings() if f.cause.id not in staged]

    one = diagnose(sandbox.params, symptom)
    results = {r.id: r for r in one.results}
    assert {r.id for r in one.results} == set(remediation.checks_for(symptom))  # only what the symptom needs
    for finding in one.symptoms[0].findings:
        expected = CONFIRMED if finding.cause.id in staged else RULED_OUT
        assert finding.verdict == expected, (finding.cause.id, finding.note)
        if expected == CONFIRMED:  # the steps shown are the catalogue's for that cause
            assert finding.steps and finding.steps == finding.cause.steps(sandbox.params, results, one.facts)
            assert any(s.command for s in finding.steps)
    assert _writes(sandbox.box) == {}  # read-only: not a single write reached the server
    text = remediation.walkthrough_text(auto) + remediation.steps_text(auto) + auto.to_json()
    assert os.environ.get("SES_SMTP_PASSWORD", "x" * 44) not in text


# -- guarded fixes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", ["sending-disabled"], indirect=True)
def test_reenable_sending_only_with_allow_writes(sandbox) -> None:
    read_only = diagnose(sandbox.params, "sending-paused")
    assert [f.id for f in read_only.fixes] == ["reenable-sending"] and not read_only.fixes[0].applied
    assert "put-account-sending-attributes --sending-enabled" in read_only.fixes[0].commands[0]
    assert _writes(sandbox.box) == {}

    fixed = diagnose(sandbox.load(allow_writes=True), "sending-paused")
    fix = fixed.fixes[0]
    assert fix.applied and fix.ok and fix.recheck.status.value == "ok"
    assert _writes(sandbox.box) == {"sesv2.PutAccountSendingAttributes": 1}
    assert sandbox.box.world.sending_enabled is True
    assert sandbox.box.layer.calls["sesv2.GetAccount"] == 3  # diagnosis of each run + the re-check really asked again


@pytest.mark.parametrize("sandbox", ["dkim-signing-disabled"], indirect=True)
def test_enable_dkim_signing(sandbox) -> None:
    fixed = diagnose(sandbox.load(allow_writes=True), "emails-going-to-spam")
    fix = next(f for f in fixed.fixes if f.id == "enable-dkim-signing")
    assert fix.ok and fix.recheck.id == "identity.dkim" and fix.recheck.status.value == "ok"
    assert _writes(sandbox.box) == {"sesv2.PutEmailIdentityDkimAttributes": 1}


@pytest.mark.parametrize("sandbox", ["suppression-growth"], indirect=True)
def test_unsuppress_named_addresses(sandbox) -> None:
    names = ["imported-00@example.net", "imported-01@example.net", "nobody@example.org"]
    planned = diagnose(sandbox.load(unsuppress=names), "suppression-list-growth")
    fix = next(f for f in planned.fixes if f.id == "unsuppress")
    assert not fix.applied and len(fix.rows) == 41 and _writes(sandbox.box) == {}

    fixed = diagnose(sandbox.load(unsuppress=names, allow_writes=True), "suppression-list-growth")
    fix = next(f for f in fixed.fixes if f.id == "unsuppress")
    assert fix.applied and fix.ok and "not on the list: nobody@example.org" in fix.message
    assert _writes(sandbox.box) == {"sesv2.DeleteSuppressedDestination": 2}
    assert fix.recheck.details["total"] == 39


@pytest.mark.parametrize("sandbox", ["smtp-key-inactive"], indirect=True)
def test_new_smtp_credential_goes_to_a_file_only(sandbox, tmp_path) -> None:
    target = tmp_path / "smtp.env"
    no_file = diagnose(sandbox.load(allow_writes=True), "smtp-auth-failure")
    assert "smtp_credentials_file" in no_file.fixes[0].message and _writes(sandbox.box) == {}

    fixed = diagnose(sandbox.load(allow_writes=True, smtp_credentials_file=str(target)), "smtp-auth-failure")
    fix = fixed.fixes[0]
    assert fix.id == "new-smtp-credential" and fix.applied and fix.ok, fix.message
    assert _writes(sandbox.box) == {"iam.CreateAccessKey": 1}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    values = dict(
        line.split("=", 1) for line in target.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    )
    key_id, password = values["SES_SMTP_USERNAME"], values["SES_SMTP_PASSWORD"]
    assert len(password) == 44 and key_id.startswith("AKIA")
    out = fixed.to_json() + remediation.fixes_text(fixed.fixes)
    assert password not in out and key_id not in out and remediation.mask_key_id(key_id) in out


# -- the CLI -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", ["sandbox-account"], indirect=True)
def test_cli_diagnose_sandbox_account(sandbox) -> None:
    proc = sandbox.cli("diagnose", "emails-not-delivered", timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "account in the SES sandbox" in proc.stdout and "confirmed" in proc.stdout
    assert "put-account-details --production-access-enabled" in proc.stdout
    assert proc.stdout.count("ruled out") == len(SYMPTOMS["emails-not-delivered"].causes) - 1
    data = json.loads(sandbox.cli("diagnose", "emails-not-delivered", "--json", timeout=120).stdout)
    verdicts = {f["cause"]: f["verdict"] for f in data["symptoms"][0]["findings"]}
    assert verdicts.pop("account-in-sandbox") == CONFIRMED and set(verdicts.values()) == {RULED_OUT}
    assert data["exit_code"] == 1 and data["run"]["aws_calls"]["writes"] == 0


def test_cli_unknown_symptom_is_one_line() -> None:
    proc = run_cli("diagnose", "no-such-mode", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown failure mode 'no-such-mode'" in proc.stderr
    assert "Traceback" not in proc.stderr


def _outputs(nb) -> str:
    return "\n".join(str(o.get("data", {}).get("text/plain", "")) for c in nb.cells for o in c.get("outputs", []))


def test_run_08_fixes_sending_and_rechecks(tmp_path) -> None:
    out = tmp_path / "report"
    proc = run_cli(
        "run",
        "08_remediation",
        "-p",
        "symptom",
        "auto",
        "-p",
        "allow_writes",
        "true",
        "--sandbox=sending-disabled",
        "--out",
        str(out),
        timeout=300,
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    checks = {c["id"]: c for c in summary["checks"]}
    sending = checks["account.sending_enabled"]
    assert sending["status"] == "ok" and sending["details"]["fix"] == "reenable-sending", sending
    assert sending["details"]["before"]["status"] == "fail"
    assert summary["run"]["aws_calls"]["writes"] == 1
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = _outputs(nbformat.read(out / "08_remediation.ipynb", as_version=4))
    assert "made, re-check ok" in text and "confirmed      sending-disabled" in text


def test_run_08_auto_on_two_causes_records_them(tmp_path) -> None:
    """Regression of the executed notebook on a failing scenario (read-only): both staged causes confirmed."""
    out = tmp_path / "report"
    proc = run_cli("run", "08_remediation", "--sandbox=bounce-spike-in-sandbox", "--out", str(out), timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    nb = nbformat.read(out / "08_remediation.ipynb", as_version=4)
    text = _outputs(nb)
    confirmed = {line.split()[1] for line in text.splitlines() if line.strip().startswith("confirmed")}
    assert confirmed == {"account-in-sandbox", "bounce-spike"}
    assert "Request production access" in text and "not made" not in text.split("Guarded")[0]
    recorded = [o["data"][MIME_TYPE] for c in nb.cells for o in c.get("outputs", []) if MIME_TYPE in o.get("data", {})]
    assert recorded and recorded[0]["aws_calls"]["writes"] == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {c["id"] for c in summary["checks"] if c["status"] == "fail"} == {
        "account.production_access",
        "reputation.bounce_rate",
    }


# -- what the reader sees first (issue 16) ---------------------------------------------------------
@pytest.mark.parametrize("sandbox", ["bounce-spike-in-sandbox"], indirect=True)
def test_two_causes_lead_each_once_most_severe_first_with_the_symptoms_they_explain(sandbox) -> None:
    auto = diagnose(sandbox.params, "auto")
    assert [c.cause.id for c in auto.causes] == ["account-in-sandbox", "bounce-spike"]  # mail stops > AWS may pause
    explains = {c.cause.id: {s.id for s in c.symptoms} for c in auto.causes}
    assert {"emails-not-delivered", "sending-quota-hit"} <= explains["account-in-sandbox"]
    assert {"bounces-or-complaints-spike", "suppression-list-growth"} <= explains["bounce-spike"]
    data = json.loads(auto.to_json())
    assert [c["cause"] for c in data["causes"]] == data["confirmed"] == ["account-in-sandbox", "bounce-spike"]
    assert data["causes"][1]["symptoms"] == [s.id for s in auto.causes[1].symptoms] and data["symptoms"]

    proc = sandbox.cli("diagnose")
    assert proc.returncode == 1, proc.stderr
    head = proc.stdout.split("What to do")[0]
    assert head.startswith("2 confirmed causes, most severe first:")
    assert [
        line.split(" (")[1].split(")")[0] for line in head.splitlines() if line[:1].isdigit() and line[1] == "."
    ] == ["account-in-sandbox", "bounce-spike"]
    assert "ruled out" not in proc.stdout.split("--verbose")[0]  # the per-symptom tables only behind --verbose
    verbose = sandbox.cli("diagnose", "--verbose")
    assert "ruled out" in verbose.stdout and "Emails not delivered (emails-not-delivered)" in verbose.stdout


@pytest.mark.parametrize("sandbox", ["bounce-spike-in-sandbox"], indirect=True)
def test_prepared_request_states_only_measured_facts_and_marked_placeholders(sandbox) -> None:
    import re

    auto = diagnose(sandbox.params, "auto")
    results = {r.id: r for r in auto.results}
    sentences = remediation.use_case_sentences(sandbox.params, results)
    for sentence, source in sentences:
        if source is None:
            assert remediation.PLACEHOLDER.fullmatch(sentence), sentence
            continue
        assert results[source].status.value in ("ok", "warn", "fail"), source  # measured by a check that answered
        plain = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(-\d\d:\d\d)?|24 hours|24-hour|last 7 days", "", sentence)
        numbers = re.findall(r"\d[\d,.]*%?", plain)
        facts = json.dumps(results[source].details) + results[source].summary
        for number in numbers:  # every figure comes from that check's own answer
            assert number.rstrip(".").replace(",", "").rstrip("%").split(".")[0] in facts, (number, sentence)
    text = remediation.use_case_text(sandbox.params, results)
    rest = remediation.PLACEHOLDER.sub("\n", text)
    measured = {s for s, source in sentences if source}
    for sentence in filter(None, (s.strip() for s in re.split(r"(?<=\.)\s+|\n", rest))):
        assert sentence in measured, f"neither measured nor a placeholder: {sentence!r}"
    for claim in ("double opt-in", "unsubscribe link", "never retried"):
        assert claim not in rest
    # the command shows the placeholders, and the steps list which to fill
    step = next(s for s in auto.causes[0].finding.steps if s.kind == "request")
    assert "put-account-details" in step.command and "<<CONFIRM:" in step.command and "<<FILL:" in step.command
    shown = remediation.steps_text(auto)
    assert all(p in shown.split("Prepared text to complete")[1] for p in remediation.placeholders(auto))


# -- a notebook's remedy: the catalogue's steps, judged on the results gathered so far ------------------
def _result(check_id: str, status: Status, **details) -> CheckResult:
    return CheckResult(check_id, check_id, status, f"{check_id} is {status.value}", details)


def test_remedy_is_one_line_naming_the_failure_mode_when_its_checks_are_ok() -> None:
    params = params_mod.load(overrides={"as_of": "2026-11-01T00:00:00Z"})
    results = [_result("identity.dkim", Status.OK), _result("dns.dkim", Status.OK)]
    remedies = judge_here(params, results, ["dkim-verification-failed"])
    text = remedy_text(remedies)
    assert "\n" not in text and "dkim-verification-failed" in text and "nothing to do" in text
    assert "<code>dkim-verification-failed</code>" in remedy_html(remedies)
    # a cause none of whose checks ran is named as not checked, not judged
    text = remedy_text(judge_here(params, [_result("quota.headroom", Status.OK)], ["sending-quota-hit"]))
    assert "not checked above: account-in-sandbox (account.production_access)" in text


def test_remedy_shows_the_steps_of_confirmed_and_pointed_at_causes() -> None:
    params = params_mod.load(overrides={"as_of": "2026-11-01T00:00:00Z"})
    results = [_result("identity.dkim", Status.FAIL, DkimVerificationStatus="Failed"), _result("dns.dkim", Status.FAIL)]
    [remedy] = judge_here(params, results, ["dkim-verification-failed"])
    assert [(f.cause.id, f.verdict) for f in remedy.shown] == [("dkim-cname-missing", CONFIRMED)]
    text, page = remedy_text([remedy]), remedy_html([remedy])
    for step in CAUSES["dkim-cname-missing"].steps(params, {r.id: r for r in results}, remediation.Facts()):
        assert step.action in text and html.escape(step.action) in page
        assert step.command is None or (step.command in text and html.escape(step.command) in page)
    # the test email refused: the causes its error points at are undecided, with their steps; the rest unchecked
    refused = [_result("send.test_email", Status.FAIL, error_code="AccountSendingPausedException")]
    [remedy] = judge_here(params, refused, ["test-email-rejected"])
    assert {f.cause.id for f in remedy.shown} == {"sending-disabled", "account-paused-by-aws"}
    assert {c.id for c in remedy.unchecked} == {"account-in-sandbox", "domain-not-verified", "quota-exhausted"}
    assert "put-account-sending-attributes --sending-enabled" in remedy_text([remedy])


def test_run_04_on_a_failing_scenario_shows_the_catalogue_steps(tmp_path) -> None:
    """The executed notebook itself (the runner, dkim-failed sandbox): its remedy cell shows the
    confirmed cause and the catalogue's steps with their commands, in both faces."""
    out = tmp_path / "report"
    proc = run_cli("run", "04_dkim", "--sandbox=dkim-failed", "--out", str(out), timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    nb = nbformat.read(out / "04_dkim.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and 'rb.remedy("dkim-verification-failed")' in c.source]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
    page = "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)
    assert "dkim-verification-failed" in text and "dkim-cname-missing): confirmed" in text
    params = params_mod.load(overrides={"as_of": "2026-11-01T00:00:00Z"})
    for step in CAUSES["dkim-cname-missing"].steps(params, {}, remediation.Facts()):
        assert step.action in text and html.escape(step.action) in page, step.action
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    [dkim] = [c for c in summary["checks"] if c["id"] == "dns.dkim"]
    assert dkim["status"] == "fail" and dkim["details"]["zone_lines"]
    for line in dkim["details"]["zone_lines"]:  # the records to add, as the catalogue's DNS steps give them
        assert line in text and html.escape(line) in page
    assert "aws ses verify-domain-dkim --domain thephenom.app" in text


@pytest.mark.parametrize("sandbox", ["send-rate-throttled"], indirect=True)
def test_rate_peak_against_max_send_rate_and_the_request_text(sandbox) -> None:
    d = diagnose(sandbox.params, "sending-rate-exceeded")
    rate = {r.id: r for r in d.results}["quota.send_rate"]
    assert rate.status is Status.FAIL
    assert (rate.details["MaxSendRate"], rate.details["period_s"]) == (14.0, 60)
    assert rate.details["peak_per_second"] == pytest.approx(20, abs=0.5)  # the staged 20/s burst
    assert rate.details["headroom_per_second"] < 0 and rate.details["peak_hours"][0]["peak_per_second"] >= 19.5
    assert "454 Throttling" in rate.summary
    finding = d.symptoms[0].findings[0]
    assert (finding.cause.id, finding.verdict) == ("send-rate-exceeded", CONFIRMED)
    request = next(s for s in finding.steps if s.kind == "request")
    assert "--quota-code L-CDEF9B6B" in request.command and "<<FILL: the sending rate needed" in request.command
    assert f"peaked at {rate.details['peak_per_second']:.1f} messages a second" in request.command
    assert any("token bucket" in s.action for s in finding.steps)


@pytest.mark.parametrize("sandbox", ["delivery-delays"], indirect=True)
def test_late_mail_by_delay_type_domain_hour_and_processing_time(sandbox) -> None:
    d = diagnose(sandbox.params, "mail-arrives-late")
    delays = {r.id: r for r in d.results}["feedback.delays"]
    assert delays.status is Status.WARN
    assert delays.details["by_delay_type"] == {"RecipientServerError": 60}
    assert delays.details["by_recipient_domain"] == {"northwind.example": 60}
    assert sum(delays.details["hours"].values()) == 60 and len(delays.details["hours"]) >= 3
    took = delays.details["processing_ms"]
    assert took["p50"] < 5_000 < 2 * 3_600_000 <= took["max"]  # most in a second, the delayed ones hours late
    finding = d.symptoms[0].findings[0]
    assert (finding.cause.id, finding.verdict) == ("receiver-deferring", CONFIRMED)
    assert "northwind.example holds 100% of the delays" in finding.note
    assert delays.to_dict()["details"]["queue"]["read_to_end"]
    assert _writes(sandbox.box) == {}  # read without consuming: nothing deleted


@pytest.mark.parametrize("sandbox", ["config-set-destination-disabled"], indirect=True)
def test_disabled_event_destination_is_named_with_the_command_to_enable_it(sandbox) -> None:
    d = diagnose(sandbox.params, "events-not-published")
    result = {r.id: r for r in d.results}["feedback.event_destinations"]
    assert result.status is Status.FAIL
    row = result.details["configuration_sets"][0]
    assert (row["name"], row["missing"]) == ("thephenom-events", ["BOUNCE", "COMPLAINT", "DELIVERY_DELAY"])
    assert row["destinations"][0]["problem"] == "disabled: SES publishes nothing to it"
    finding = d.symptoms[0].findings[0]
    assert (finding.cause.id, finding.verdict) == ("event-destination-broken", CONFIRMED)
    assert "update-configuration-set-event-destination --configuration-set-name thephenom-events" in (
        finding.steps[0].command or ""
    )
    assert _writes(sandbox.box) == {}


@pytest.mark.parametrize("sandbox", ["account-under-review"], indirect=True)
def test_review_evidence_pack_measured_facts_placeholders_mode_600(sandbox, tmp_path) -> None:
    from ses_runbook.runs import evidence

    path = tmp_path / "review-evidence.md"
    params = sandbox.load(review_evidence_file=str(path))
    d = diagnose(params, "sending-paused")
    assert [f.cause.id for f in d.confirmed] == ["account-under-review"] and d.exit_code == 1
    written = evidence.write_review_evidence(params, d.aws, d.results)
    assert written == path and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert "Enforcement status: PROBATION; review case 172938465019" in text
    assert "Account-level suppression list on for BOUNCE, COMPLAINT" in text
    assert "Bounce rate (Reputation.BounceRate): 1.2" in text and "Volume: " in text
    assert "<<FILL: " in text and "<<CONFIRM: " in text
    assert _writes(sandbox.box) == {}  # nothing written to the account
    with pytest.raises(Exception, match="exists"):  # never overwritten
        evidence.write_review_evidence(params, d.aws, d.results)
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "elsewhere.md")
    with pytest.raises(Exception, match="exists"):  # never through a symlink, even a dangling one
        evidence.write_review_evidence(sandbox.load(review_evidence_file=str(link)), d.aws, d.results)
    assert not (tmp_path / "elsewhere.md").exists()


@pytest.mark.parametrize("sandbox", ["healthy"], indirect=True)
def test_healthy_confirms_none_of_the_new_symptoms(sandbox) -> None:
    for symptom in (
        "mail-arrives-late",
        "sending-rate-exceeded",
        "smtp-auth-failure",
        "events-not-published",
        "sending-paused",
    ):
        d = diagnose(sandbox.params, symptom)
        assert d.confirmed == [] and d.exit_code == 0, (symptom, [f.cause.id for f in d.confirmed])
