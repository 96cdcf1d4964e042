"""The failure-mode catalogue: symptom -> possible causes (check ids) -> steps.

The runbook page ends with a table of "Common failure modes" (symptom, likely cause, remediation).
Here every row, plus the failure modes the checks name beyond the page, becomes data:

- a ``Symptom`` lists its possible ``Cause`` ids, most likely first;
- a ``Cause`` names the check ids that confirm it (fail/warn) or rule it out (ok); error, skip or
  a missing result mean "could not tell". It carries a short "why this happens" for someone who has
  never seen SES, and ``Step``s: what to do, the exact command / DNS record / console path, what to
  expect, how to verify.

Requests only a person can make (production access, a quota increase, an appeal of a pause) come
with the prepared text and the console path or command. Adding a failure mode touches this module
alone; it prints nothing and calls no AWS API: what a cause's steps name beyond the check results
(the spike's cause on the feedback queue) the diagnosis reads with the run's clients and hands in
as ``Facts`` (``Cause.reads``; a new kind of fact is read in ``investigate.read_facts``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import dns as dns_checks
from ses_runbook.core.commands import Shell, aws_command, join
from ses_runbook.core.errors import ParameterError
from ses_runbook.core.identities import domain_of, normal
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.remediation import feedback_steps
from ses_runbook.sources import feedback, metrics
from ses_runbook.sources.mailauth.dns import dig_command

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

CONFIRMED, RULED_OUT, UNKNOWN = "confirmed", "ruled out", "could not tell"
_NOT_OK = (Status.FAIL, Status.WARN)
VERDICT_ORDER = {CONFIRMED: 0, UNKNOWN: 1, RULED_OUT: 2}
# How bad a confirmed cause is, most severe first: what a diagnosis leads with.
STOPS, RISKS, DEGRADES = 1, 2, 3
SEVERITY = {
    STOPS: "mail stops or is rejected",
    RISKS: "AWS may pause the account, or mail is silently dropped",
    DEGRADES: "mail is delivered but may be filed as spam",
}
SES_CONSOLE = "https://console.aws.amazon.com/ses/home?region={region}"


# -- the catalogue's shapes ----------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One thing to do, and how to know it worked."""

    action: str
    command: str | None = None  # an aws command, a DNS zone line or a console path
    kind: str = "command"  # command, dns, console, request, wait
    expect: str | None = None
    verify: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "command": self.command,
            "kind": self.kind,
            "expect": self.expect,
            "verify": self.verify,
        }


@dataclass(frozen=True)
class Facts:
    """What a diagnosis read beside the check results, for the steps that name it: the catalogue
    itself reads nothing. A cause lists the fields its steps use in ``Cause.reads``."""

    feedback_cause: dict[str, Any] | None = None  # sources.feedback.cause_for: what the spike's mail has in common


Verdict = Callable[[dict[str, CheckResult]], "tuple[str, str]"]
Steps = Callable[["Params", dict[str, CheckResult], Facts], "list[Step]"]


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    why: str
    checks: tuple[str, ...]
    steps: Steps
    verdict: Verdict | None = None  # default: any check fail/warn confirms, all ok rules out
    fix: str | None = None  # id in FIXES the runbook can make itself (with allow_writes)
    request: bool = False  # only a person can ask AWS for it (the steps hold the prepared text)
    severity: int = DEGRADES  # STOPS, RISKS or DEGRADES: the order confirmed causes are shown in
    reads: tuple[str, ...] = ()  # the Facts fields its steps use (read only when it is not ruled out)

    def judge(self, results: dict[str, CheckResult]) -> tuple[str, str]:
        """(verdict, note) from the results of this cause's checks."""
        if self.verdict is not None:
            return self.verdict(results)
        return _default_verdict(self.checks, results)


@dataclass(frozen=True)
class Symptom:
    id: str
    title: str
    causes: tuple[str, ...]  # most likely first
    description: str
    page: tuple[str, str] | None = None  # the page's own "likely cause" and "remediation" columns
    # Checks whose fail/warn is the symptom itself rather than one of its causes (the test email refused):
    # when one shows it, the causes no check has judged yet are undecided, not merely unchecked.
    seen_in: tuple[str, ...] = ()
    # The error code such a check reports (details "error_code") -> the causes that code points at.
    error_causes: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


def _default_verdict(ids: Iterable[str], results: dict[str, CheckResult]) -> tuple[str, str]:
    found = [results.get(i) for i in ids]
    bad = [r for r in found if r is not None and r.status in _NOT_OK]
    if bad:
        return CONFIRMED, "; ".join(f"{r.id} is {r.status.value}" for r in bad)
    if found and all(r is not None and r.status == Status.OK for r in found):
        return RULED_OUT, "; ".join(f"{r.id} is ok" for r in found if r)
    unclear = [
        f"{i} {'did not run' if r is None else 'is ' + r.status.value}"
        for i, r in zip(ids, found, strict=False)
        if r is None or r.status not in (Status.OK,)
    ]
    return UNKNOWN, "; ".join(unclear)


def _unclear(results: dict[str, CheckResult], *ids: str) -> tuple[str, str] | None:
    """UNKNOWN when one of these checks did not give an answer, else None."""
    missing = [
        f"{i} {'did not run' if results.get(i) is None else 'is ' + results[i].status.value}"
        for i in ids
        if results.get(i) is None or results[i].status in (Status.ERROR, Status.SKIP)
    ]
    return (UNKNOWN, "; ".join(missing)) if missing else None


def _details(results: dict[str, CheckResult], check_id: str) -> dict[str, Any]:
    r = results.get(check_id)
    return r.details if r is not None else {}


# -- verdicts that need more than a status ----------------------------------------------------
def _only_fail(check_id: str, warn_note: str) -> Verdict:
    def verdict(results: dict[str, CheckResult]) -> tuple[str, str]:
        unclear = _unclear(results, check_id)
        if unclear:
            return unclear
        r = results[check_id]
        if r.status == Status.FAIL:
            return CONFIRMED, f"{check_id} is fail"
        return RULED_OUT, f"{check_id} is {r.status.value}" + (f" ({warn_note})" if r.status == Status.WARN else "")

    return verdict


def _enforcement(wanted: Status) -> Verdict:
    def verdict(results: dict[str, CheckResult]) -> tuple[str, str]:
        unclear = _unclear(results, "account.enforcement")
        if unclear:
            return unclear
        r = results["account.enforcement"]
        state = _details(results, "account.enforcement").get("EnforcementStatus", "?")
        return (CONFIRMED if r.status == wanted else RULED_OUT), f"EnforcementStatus {state}"

    return verdict


def _dkim_signing_disabled(results: dict[str, CheckResult]) -> tuple[str, str]:
    unclear = _unclear(results, "identity.dkim")
    if unclear:
        return unclear
    d = _details(results, "identity.dkim")
    if (
        results["identity.dkim"].status in _NOT_OK
        and d.get("DkimVerificationStatus") == "Success"
        and not d.get("DkimEnabled")
    ):
        return CONFIRMED, "identity.dkim: DKIM verified (Success) but DkimEnabled false"
    return (
        RULED_OUT,
        f"identity.dkim: DkimEnabled {d.get('DkimEnabled')}, verification {d.get('DkimVerificationStatus', '?')}",
    )


def _dkim_propagating(results: dict[str, CheckResult]) -> tuple[str, str]:
    unclear = _unclear(results, "identity.dkim", "dns.dkim")
    d = _details(results, "identity.dkim")
    ses_state = d.get("DkimVerificationStatus")
    if results.get("identity.dkim") is not None and results["identity.dkim"].status == Status.OK:
        return RULED_OUT, "identity.dkim is ok: SES has verified DKIM"
    if ses_state == "Success":
        return RULED_OUT, "SES reports DKIM Success (the DKIM problem, if any, is elsewhere)"
    if unclear:
        return unclear
    if results["dns.dkim"].status == Status.OK:
        return CONFIRMED, f"SES reports DKIM {ses_state} while every DKIM CNAME is now in DNS (dns.dkim ok)"
    return RULED_OUT, "dns.dkim is not ok: the records are missing, not propagating (see dkim-cname-missing)"


def _mail_from(missing_mx: bool) -> Verdict:
    def verdict(results: dict[str, CheckResult]) -> tuple[str, str]:
        unclear = _unclear(results, "identity.mail_from")
        if unclear:
            return unclear
        r = results["identity.mail_from"]
        if r.status not in _NOT_OK:
            return RULED_OUT, "identity.mail_from is ok"
        has_records = bool(r.details.get("records_to_add"))
        if has_records == missing_mx:
            return CONFIRMED, f"identity.mail_from is {r.status.value}" + (
                ": the MX is missing" if missing_mx else ": MX present, SES not yet SUCCESS"
            )
        return RULED_OUT, "the MX is missing (see mail-from-mx-missing)" if has_records else "the MX is in DNS"

    return verdict


def _smtp_is_535(results: dict[str, CheckResult]) -> bool:
    return _details(results, "smtp.auth").get("code") == 535


def _smtp_inactive(results: dict[str, CheckResult]) -> bool:
    return any("Inactive" in h for h in _details(results, "smtp.auth").get("diagnosis", []))


# The password's form (smtp.auth's ``password_kind``) that names a cause of its own, and that cause.
_PASSWORD_CAUSES = {"iam-secret": "smtp-password-is-iam-secret", "smtp-v2": "smtp-password-sigv2"}


def _smtp_password_cause(results: dict[str, CheckResult]) -> str | None:
    """The password cause smtp.auth's measurements point at after a 535: the raw IAM secret, a SigV2
    password, or a version-4 password of an Active key whose user may send (derived for another region)."""
    if not _smtp_is_535(results):
        return None
    d = _details(results, "smtp.auth")
    kind = d.get("password_kind")
    if kind in _PASSWORD_CAUSES:
        return _PASSWORD_CAUSES[kind]
    iam = results.get("iam.smtp_users")
    may_send = d.get("may_send") is True and iam is not None and iam.status in (Status.OK, Status.WARN)
    if kind == "smtp-v4" and d.get("key_status") == "Active" and may_send:
        return "smtp-password-other-region"
    return None


def _smtp_credentials(results: dict[str, CheckResult]) -> tuple[str, str]:
    unclear = _unclear(results, "smtp.auth")
    if unclear:
        return unclear
    r = results["smtp.auth"]
    if r.status not in _NOT_OK:
        return RULED_OUT, "smtp.auth is ok: the services' credentials log in"
    if not _smtp_is_535(results):
        return RULED_OUT, "the login failed before AUTH (see smtp-connection-problem)"
    if _smtp_inactive(results):
        return RULED_OUT, "535, but the key itself is Inactive (see smtp-key-inactive)"
    if _details(results, "smtp.auth").get("may_send") is False:
        return RULED_OUT, "535, but the key's user may not send (see smtp-key-inactive)"
    named = _smtp_password_cause(results)
    if named:
        return RULED_OUT, f"535, and the password's form names the cause (see {named})"
    return CONFIRMED, "smtp.auth: 535 Authentication Credentials Invalid" + (
        ", and the key does not exist in this account (rotated away)"
        if _details(results, "smtp.auth").get("key_status") == "missing"
        else ""
    )


def _smtp_password(cause_id: str, what: str) -> Verdict:
    """Confirmed when smtp.auth answered 535 and its measured password form (and key) name this cause."""

    def verdict(results: dict[str, CheckResult]) -> tuple[str, str]:
        unclear = _unclear(results, "smtp.auth")
        if unclear:
            return unclear
        r = results["smtp.auth"]
        if r.status not in _NOT_OK:
            return RULED_OUT, "smtp.auth is ok: the services' credentials log in"
        if not _smtp_is_535(results):
            return RULED_OUT, "the login failed before AUTH (see smtp-connection-problem)"
        d = _details(results, "smtp.auth")
        if _smtp_password_cause(results) == cause_id:
            return CONFIRMED, f"smtp.auth: 535, and {what}"
        if (
            cause_id == "smtp-password-other-region"
            and (d.get("password_kind"), d.get("key_status")) == ("smtp-v4", "Active")
            and "may_send" in d
            and d["may_send"] is None
        ):
            return UNKNOWN, "535 with an Active key, but whether its user may send could not be simulated"
        return RULED_OUT, (
            f"535, but the password is {d.get('password_kind', 'of unknown form')} "
            f"and the key {d.get('key_status', 'unknown')}"
        )

    return verdict


def _smtp_connection(results: dict[str, CheckResult]) -> tuple[str, str]:
    unclear = _unclear(results, "smtp.auth")
    if unclear and results.get("smtp.auth") is not None and results["smtp.auth"].status == Status.ERROR:
        return CONFIRMED, "smtp.auth is error: " + results["smtp.auth"].summary
    if unclear:
        return unclear
    r = results["smtp.auth"]
    if r.status in _NOT_OK and not _smtp_is_535(results):
        return CONFIRMED, f"smtp.auth is {r.status.value} before or outside AUTH"
    return RULED_OUT, "the SMTP session reached AUTH" if r.status in _NOT_OK else "smtp.auth is ok"


def _smtp_key(results: dict[str, CheckResult]) -> tuple[str, str]:
    if _smtp_is_535(results) and _details(results, "smtp.auth").get("may_send") is False:
        return CONFIRMED, "smtp.auth: IAM SimulatePrincipalPolicy says the key's user may not ses:SendRawEmail"
    unclear = _unclear(results, "iam.smtp_users")
    if unclear:
        return unclear if not _smtp_inactive(results) else (CONFIRMED, "smtp.auth: the services' key is Inactive")
    r = results["iam.smtp_users"]
    if r.status == Status.FAIL or _smtp_inactive(results):
        return (
            CONFIRMED,
            "iam.smtp_users is fail" if r.status == Status.FAIL else "smtp.auth: the services' key is Inactive",
        )
    return RULED_OUT, f"iam.smtp_users is {r.status.value}" + (
        " (keys only due for rotation)" if r.status == Status.WARN else ""
    )


DELAY_SHARE = 0.5  # the share of the delays one side (or one receiving domain) must hold to be the cause


def _delays(side: str) -> Verdict:
    """Confirmed when feedback.delays warns and ``side`` (receiver: one receiving domain; ses; mailbox)
    holds at least half of the DeliveryDelay notifications."""

    def verdict(results: dict[str, CheckResult]) -> tuple[str, str]:
        unclear = _unclear(results, "feedback.delays")
        if unclear:
            return unclear
        r = results["feedback.delays"]
        d = r.details
        if r.status == Status.OK:
            return RULED_OUT, f"feedback.delays is ok ({d.get('delays', 0)} DeliveryDelay notifications)"
        share = float((d.get("share_by_side") or {}).get(side, 0))
        if side == "receiver":
            top = d.get("top_receiving_domain") or {}
            share = share * float(top.get("share") or 0)
            held = f"{top.get('domain')} holds {share:.0%} of the delays"
        else:
            held = f"{share:.0%} of the delays are {side}-side"
        return (CONFIRMED if share >= DELAY_SHARE else RULED_OUT), held

    return verdict


# -- steps ---------------------------------------------------------------------------------
# A marked blank in prepared text: what the team must confirm or fill in before a person sends it.
PLACEHOLDER = re.compile(r"<<(?:CONFIRM|FILL): [^<>]*>>")


def use_case_sentences(params: Params, results: dict[str, CheckResult] | None = None) -> list[tuple[str, str | None]]:
    """The prepared production-access text as ``(sentence, check id it was measured by)``; ``None``: a placeholder.

    Only what this run measured is stated (volume, reputation rates, the suppression list); everything
    about the team's product (what it sends, how addresses are collected, how feedback is handled) is a
    ``<<CONFIRM: ...>>`` or ``<<FILL: ...>>`` placeholder, so the text cannot be sent unedited by mistake.
    """
    r = results or {}
    at = params.as_of_datetime().strftime("%Y-%m-%d %H:%M")
    out: list[tuple[str, str | None]] = [
        (
            f"<<CONFIRM: what {params.domain} is and which mail it sends from {params.sender} "
            "(for example sign-up confirmations, notifications the user asked for, password resets)>>",
            None,
        )
    ]
    quota = _measured(r, "quota.headroom")
    if quota:
        out.append(
            (
                f"In the 24 hours to {at} UTC the account sent {float(quota.get('SentLast24Hours') or 0):,.0f} messages "
                f"(its 24-hour quota is {float(quota.get('Max24HourSend') or 0):,.0f}).",
                "quota.headroom",
            )
        )
    else:
        out.append(
            ("<<FILL: messages sent a day (not measured in this run: ses-runbook check --only quota.headroom)>>", None)
        )
    out.append(("<<FILL: the daily volume expected after production access>>", None))
    for check_id, label in (("reputation.bounce_rate", "bounce"), ("reputation.complaint_rate", "complaint")):
        rate = _measured(r, check_id)
        if rate and "latest" in rate:
            out.append(
                (
                    f"The {label} rate CloudWatch reports (Reputation.{label.capitalize()}Rate) was "
                    f"{float(rate['latest']):.2%} for {rate.get('period', 'the latest period')}.",
                    check_id,
                )
            )
        else:
            out.append(
                (f"<<FILL: the {label} rate (not measured in this run: ses-runbook check --only {check_id})>>", None)
            )
    listed = _measured(r, "suppression.list")
    if listed:
        reasons = ", ".join(f"{n} {reason}" for reason, n in (listed.get("by_reason") or {}).items()) or "none"
        total = int(listed.get("total", 0))
        out.append(
            (
                f"The account-level suppression list holds {total} address{'' if total == 1 else 'es'} ({reasons}), "
                f"{listed.get('added_last_7_days', 0)} added in the last 7 days.",
                "suppression.list",
            )
        )
    else:
        out.append(
            ("<<FILL: the suppression list (not read in this run: ses-runbook check --only suppression.list)>>", None)
        )
    out += [
        (
            "<<CONFIRM: how bounce and complaint notifications reach the application (SNS topic or event destination) "
            "and what it does with them; this run did not read the notification set-up>>",
            None,
        ),
        ("<<CONFIRM: how recipient addresses are collected and confirmed>>", None),
        ("<<CONFIRM: how recipients stop mail they no longer want>>", None),
    ]
    return out


def _measured(results: dict[str, CheckResult], check_id: str) -> dict[str, Any]:
    """The details of a check that gave an answer (not error, skip or missing); empty otherwise."""
    r = results.get(check_id)
    return r.details if r is not None and r.status not in (Status.ERROR, Status.SKIP) else {}


def use_case_text(params: Params, results: dict[str, CheckResult] | None = None) -> str:
    """The prepared text for a production-access request or a review reply: measured sentences and placeholders."""
    return " ".join(sentence for sentence, _ in use_case_sentences(params, results))


def production_access_command(params: Params, results: dict[str, CheckResult] | None = None) -> str:
    """``aws sesv2 put-account-details``: the request to leave the SES sandbox, with the prepared text
    (its placeholders left in: a person fills them before running it)."""
    text = use_case_text(params, results).replace('"', "'")
    return aws_command(
        params,
        "sesv2",
        "put-account-details",
        "--production-access-enabled",
        "--mail-type",
        "TRANSACTIONAL",
        "--website-url",
        f"https://{params.domain}",
        "--contact-language",
        "EN",
        "--use-case-description",
        text,
    )


def _console(params: Params, where: str) -> str:
    return f"{SES_CONSOLE.format(region=params.region)}  ->  {where}"


def _get_account(p: Params, query: str) -> str:
    return aws_command(p, "sesv2", "get-account", "--query", query)


def _steps_sandbox(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    review = _details(r, "account.production_access").get("ReviewStatus")
    steps = [
        Step(
            "Request production access (only a person can; AWS reviews it, usually within 24 hours). "
            "Console: Account dashboard -> 'Request production access', or the command below (mail type, website, and "
            "how bounces and complaints are handled). Its text states only what this run measured: replace every "
            "<<CONFIRM: ...>> with what your team can vouch for and every <<FILL: ...>> with the figure asked "
            "(volumes and rates: 01_quota_and_statistics, 07_cloudwatch_metrics, 08_remediation), and send it only "
            "when none is left",
            production_access_command(p, r),
            kind="request",
            expect="Details.ReviewDetails.Status becomes PENDING; AWS answers in a Support case within about a day",
            verify=_get_account(p, "{Prod:ProductionAccessEnabled,Review:Details.ReviewDetails.Status}")
            + "   # expect Prod true",
        ),
        Step("Or in the console", _console(p, "Account dashboard -> Request production access"), kind="console"),
        Step(
            "Until it is granted, only verified recipients receive mail: verify each recipient you must reach",
            aws_command(p, "ses", "verify-email-identity", "--email-address", "RECIPIENT@example.com"),
            expect="the recipient gets a confirmation link; after clicking it, mail to it is accepted",
            verify=aws_command(
                p, "ses", "get-identity-verification-attributes", "--identities", "RECIPIENT@example.com"
            ),
        ),
    ]
    if review == "DENIED":
        steps.insert(
            1,
            Step(
                "The last request was DENIED: reply in its Support case with the use case below and how "
                "bounces/complaints are handled",
                "https://console.aws.amazon.com/support/home#/case/history",
                kind="request",
                expect="AWS re-reviews the case",
            ),
        )
    return steps


def _steps_sending_disabled(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "Find out who or what disabled sending before turning it back on (a person, automation, or AWS)",
            aws_command(
                p,
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=PutAccountSendingAttributes",
                "--max-results",
                "5",
            ),
            expect="the event with the caller's identity; also check UpdateAccountSendingEnabled",
        ),
        Step(
            "Check that AWS has not paused the account (then re-enabling is not enough)",
            _get_account(p, "EnforcementStatus"),
            expect='"HEALTHY"',
        ),
        Step(
            "If a person or automation disabled it (not AWS), re-enable sending for the account (a write: "
            "08_remediation does it with allow_writes=true; the page's form is aws ses update-account-sending-enabled --enabled)",
            aws_command(p, "sesv2", "put-account-sending-attributes", "--sending-enabled"),
            expect="no output (HTTP 200)",
            verify=aws_command(p, "ses", "get-account-sending-enabled") + "   # expect Enabled true",
        ),
    ]


def _steps_paused(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "Read why AWS paused it: its notification (email to the account's contact), the Support case, the SES "
            "console's Account dashboard and the AWS Health Dashboard",
            "https://console.aws.amazon.com/support/home#/case/history",
            kind="console",
        ),
        Step(
            "Fix the cause first, usually bounces or complaints: rates under 5 % / 0.1 % (see bounces-or-complaints-spike, "
            "01_quota_and_statistics, 07_cloudwatch_metrics)",
            metrics.statistics_command(p, "Reputation.BounceRate", "Average", 3600, since="7 days ago"),
        ),
        Step(
            "Ask AWS to review the account again (only a person can): reply in the case with what changed. Prepared text:",
            "<<CONFIRM: what caused the bounces or complaints and what was changed to stop it>> " + use_case_text(p, r),
            kind="request",
            expect="AWS lifts the pause or the probation after review",
            verify=_get_account(p, "EnforcementStatus") + '   # expect "HEALTHY"',
        ),
        Step(
            "Or in the console",
            _console(p, "Reputation metrics / Account dashboard -> the review notice"),
            kind="console",
        ),
    ]


def _steps_domain(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    sender_domain = domain_of(p.sender)
    other = sender_domain if sender_domain and sender_domain != normal(p.domain) else "OTHER_DOMAIN"
    return [
        Step(
            "Open the domain in the SES console and check that its DNS records are still published in Cloudflare "
            "(04_dkim shows which: the DKIM CNAMEs verify the domain too)",
            _console(p, f"Configuration -> Identities -> {p.domain}"),
            kind="console",
        ),
        Step(
            "Read the domain's verification token",
            aws_command(p, "ses", "get-identity-verification-attributes", "--identities", p.domain),
            expect="VerificationStatus and VerificationToken",
        ),
        Step(
            "Publish the token as a TXT record (Cloudflare: DNS -> Records -> Add record, type TXT)",
            f'_amazonses.{p.domain}. 300 IN TXT "VERIFICATION_TOKEN"',
            kind="dns",
            verify=dig_command(p, "TXT", f"_amazonses.{p.domain}"),
        ),
        Step(
            "Pending means SES has not seen the records yet: wait for DNS propagation (SES keeps looking for up to 72 hours)",
            dig_command(p, "TXT", f"_amazonses.{p.domain}"),
            kind="wait",
            expect='"VERIFICATION_TOKEN"',
        ),
        Step(
            "A domain whose records stay missing for 72 hours becomes Failed and must be verified again: start the "
            "verification again; the DKIM CNAMEs (dns.dkim) also verify a domain",
            aws_command(p, "ses", "verify-domain-identity", "--domain", p.domain),
            expect="a VerificationToken; SES checks DNS for up to 72 hours",
            verify=aws_command(p, "ses", "get-identity-verification-attributes", "--identities", p.domain)
            + '   # expect "Success"',
        ),
        Step(
            f"A sender at another domain than {p.domain} needs its own identity, verified the same way",
            aws_command(p, "ses", "verify-domain-identity", "--domain", other),
            expect="a VerificationToken to publish in that domain's DNS",
        ),
    ]


def _steps_quota(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "quota.headroom")
    limit = float(d.get("Max24HourSend") or 50000)
    wanted = int(max(limit * 2, float(d.get("SentLast24Hours") or 0) * 2))
    return [
        Step(
            "Find what sent more than usual (the 15-minute points, and the services' logs): a loop or a bulk job "
            "shows as a jump",
            aws_command(p, "ses", "get-send-statistics", "--query", "SendDataPoints[-8:]"),
        ),
        Step(
            f"If the volume is real, request a higher 24-hour quota well before you need it: increases are not instant "
            f"(only a person can; prepared: {wanted:,} a day)",
            aws_command(
                p,
                "service-quotas",
                "request-service-quota-increase",
                "--service-code",
                "ses",
                "--quota-code",
                "L-804C8AE8",
                "--desired-value",
                wanted,
            ),
            kind="request",
            expect="a request id; AWS answers within about a day",
            verify=aws_command(p, "ses", "get-send-quota") + "   # expect Max24HourSend raised",
        ),
        Step(
            "Or in the console",
            "https://console.aws.amazon.com/servicequotas/home/services/ses/quotas  ->  "
            "Sending quota -> Request increase at account level   (or SES console: Account dashboard -> "
            "Request a sending limit increase)",
            kind="console",
        ),
        Step(
            "Meanwhile, the quota is a rolling 24-hour window: deferred mail can go as soon as SentLast24Hours drops",
            aws_command(p, "ses", "get-send-quota"),
            kind="wait",
            expect="SentLast24Hours < Max24HourSend",
        ),
    ]


def rate_request_sentences(p: Params, r: dict[str, CheckResult]) -> list[tuple[str, str | None]]:
    """The prepared text of a sending-rate increase: only what quota.send_rate and quota.headroom measured,
    placeholders (``<<FILL: ...>>``, ``<<CONFIRM: ...>>``) for everything else, as ``use_case_sentences``."""
    rate = _measured(r, "quota.send_rate")
    quota = _measured(r, "quota.headroom")
    out: list[tuple[str, str | None]] = [
        (f"<<CONFIRM: what {p.domain} sends from {p.sender} and why it comes in bursts>>", None)
    ]
    if rate and rate.get("peak_at"):
        hours = ", ".join(h["hour"] for h in rate.get("peak_hours") or [])
        out.append(
            (
                f"In the 24 hours to {p.as_of_datetime():%Y-%m-%d %H:%M} UTC the account peaked at "
                f"{float(rate['peak_per_second']):.1f} messages a second ({rate['peak_at']}, CloudWatch Send over "
                f"{rate['period_s']} s) against its MaxSendRate of {float(rate['MaxSendRate']):g}; the busiest hours "
                f"were {hours}.",
                "quota.send_rate",
            )
        )
    else:
        out.append(("<<FILL: the peak send rate (ses-runbook check --only quota.send_rate)>>", None))
    if quota:
        out.append(
            (
                f"It sent {float(quota.get('SentLast24Hours') or 0):,.0f} messages in those 24 hours "
                f"(24-hour quota {float(quota.get('Max24HourSend') or 0):,.0f}).",
                "quota.headroom",
            )
        )
    out += [
        ("<<FILL: the sending rate needed, in messages a second, and from when>>", None),
        ("<<CONFIRM: the client now limits its own rate to MaxSendRate and retries 454 replies with backoff>>", None),
    ]
    return out


def _steps_send_rate(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "quota.send_rate")
    limit = float(d.get("MaxSendRate") or 14)
    wanted = int(max(limit * 2, float(d.get("peak_per_second") or 0) * 1.5))
    text = " ".join(sentence for sentence, _ in rate_request_sentences(p, r)).replace('"', "'")
    return [
        Step(
            f"Limit the senders' own rate to MaxSendRate ({limit:g} a second, shared by every service of the "
            "account): a token bucket that refills at that rate and holds at most that many tokens; each send "
            "takes one token and waits when none is left. Retry a '454 Throttling' reply with exponential backoff "
            "rather than dropping the message",
            None,
            kind="console",
            expect="quota.send_rate ok: the 1-minute peak stays under the limit",
            verify="ses-runbook check --only quota.send_rate",
        ),
        Step(
            "Spread bulk jobs out of the peak hours quota.send_rate lists",
            None,
            kind="console",
        ),
        Step(
            f"If the rate is really needed, request a higher sending rate (only a person can; prepared: {wanted} a "
            "second). The text states only what this run measured: fill every <<FILL: ...>> and confirm every "
            "<<CONFIRM: ...>> before sending it (Service Quotas console -> Amazon SES -> Sending rate, or a Support "
            "case with this text)",
            aws_command(
                p,
                "service-quotas",
                "request-service-quota-increase",
                "--service-code",
                "ses",
                "--quota-code",
                "L-CDEF9B6B",
                "--desired-value",
                wanted,
            )
            + f'   # with the case text: "{text}"',
            kind="request",
            expect="a request id; AWS answers within about a day",
            verify=aws_command(p, "ses", "get-send-quota", "--query", "MaxSendRate"),
        ),
    ]


def _late_domain(r: dict[str, CheckResult]) -> str:
    return str((_details(r, "feedback.delays").get("top_receiving_domain") or {}).get("domain") or "DOMAIN")


def _steps_receiver_deferring(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    domain = _late_domain(r)
    return [
        Step(
            f"Read what {domain}'s servers answer (the delayed recipients' diagnosticCode): greylisting (450/451 "
            "'try again later') clears by itself within an hour; rate limits (421) mean too much mail at once",
            feedback.receive_command(p),
            expect=f"DeliveryDelay notifications for {domain} with a 4xx diagnosticCode",
        ),
        Step(
            f"Spread the mail to {domain} out (smaller batches, outside the hours feedback.delays lists) and ask its "
            "postmaster whether they limit or greylist amazonses.com; SES keeps retrying for up to 14 hours",
            None,
            kind="console",
        ),
        Step(
            "Verify the delays stop",
            "ses-runbook check --only feedback.delays",
            kind="wait",
            expect="feedback.delays ok",
        ),
    ]


def _steps_ses_deferral(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "SES itself held the mail (InternalFailure, SendingDeferral): read the AWS Health Dashboard for SES in "
            "the region, and the account's reputation (a deferral often follows high bounce or complaint rates)",
            "https://health.aws.amazon.com/health/home#/account/dashboard/open-issues",
            kind="console",
        ),
        Step(
            "Check the reputation rates and enforcement",
            "ses-runbook check --only reputation.bounce_rate "
            "--only reputation.complaint_rate --only account.enforcement",
        ),
        Step(
            "If neither explains it, open a Support case with the delayed messages' ids (mail.messageId)",
            "https://console.aws.amazon.com/support/home#/case/create",
            kind="request",
        ),
    ]


def _steps_mailboxes_full(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "The recipients' mailboxes are full: SES retries, then bounces (MailboxFull). Nothing to fix on the "
            "sending side; stop mailing addresses that stay full (they are usually abandoned)",
            feedback.receive_command(p),
            expect="DeliveryDelay notifications with delayType MailboxFull",
        ),
        Step(
            "Export the addresses that end in a bounce and remove them from the lists (09_feedback)",
            None,
            kind="console",
        ),
    ]


def _steps_event_destinations(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    steps: list[Step] = []
    for row in _details(r, "feedback.event_destinations").get("configuration_sets", []):
        name = row["name"]
        if not row.get("exists"):
            steps.append(
                Step(
                    f"Configuration set {name} does not exist: create it, or stop naming it (the sender identity's "
                    "default set, or the services' X-SES-CONFIGURATION-SET header)",
                    aws_command(p, "sesv2", "create-configuration-set", "--configuration-set-name", name),
                    verify=aws_command(p, "sesv2", "get-configuration-set", "--configuration-set-name", name),
                )
            )
            continue
        for dest in row.get("destinations", []):
            if not dest.get("problem"):
                continue
            types = sorted(set(dest.get("types") or []) | {"BOUNCE", "COMPLAINT"})
            if not dest.get("enabled"):
                steps.append(
                    Step(
                        f"Enable event destination {dest['name']} of {name} with BOUNCE and COMPLAINT among its "
                        "event types (a write: the runbook does not make it)",
                        aws_command(
                            p,
                            "sesv2",
                            "update-configuration-set-event-destination",
                            "--configuration-set-name",
                            name,
                            "--event-destination-name",
                            dest["name"],
                            "--event-destination",
                            f"Enabled=true,MatchingEventTypes={','.join(types)}",
                        ),
                        expect="no output (HTTP 200)",
                        verify=aws_command(
                            p,
                            "sesv2",
                            "get-configuration-set-event-destinations",
                            "--configuration-set-name",
                            name,
                        )
                        + "   # expect Enabled true",
                    )
                )
            else:
                steps.append(
                    Step(
                        f"Repair the target of {name}/{dest['name']}: {dest['problem']} (an SNS topic needs a "
                        "confirmed subscriber: 09_feedback's pipeline, fix feedback-pipeline)",
                        None,
                        kind="console",
                    )
                )
        if row.get("missing") and not any(d.get("problem") for d in row.get("destinations", [])):
            steps.append(
                Step(
                    f"Add the event types {', '.join(row['missing'])} to a working destination of {name}",
                    aws_command(
                        p, "sesv2", "get-configuration-set-event-destinations", "--configuration-set-name", name
                    ),
                )
            )
    steps.append(
        Step(
            "Verify",
            "ses-runbook check --only feedback.event_destinations --only feedback.notifications",
            expect="both ok",
        )
    )
    return steps


DELIST = {
    "spamhaus.org": "https://check.spamhaus.org/",
    "spamcop.net": "https://www.spamcop.net/bl.shtml",
    "barracudacentral.org": "https://www.barracudacentral.org/rbl/removal-request",
    "surbl.org": "https://surbl.org/surbl-analysis",
    "uribl.com": "https://admin.uribl.com/",
}


def _steps_blocklisted(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "reputation.blocklists")
    steps = [
        Step(
            "Find why it was listed first (a delisting without the cause fixed is undone within days): the bounce and "
            "complaint rates, a list import, a compromised sender (bounces-or-complaints-spike, 09_feedback)",
            "ses-runbook diagnose bounces-or-complaints-spike",
        )
    ]
    for row in d.get("results", []):
        if row.get("state") != "listed":
            continue
        site = next((url for suffix, url in DELIST.items() if row["zone"].endswith(suffix)), None)
        steps.append(
            Step(
                f"Request the removal of {row['item']} from {row['zone']} (return code {', '.join(row.get('codes', []))})"
                + (" at the list's own page" if site else ""),
                site or f"the operator of {row['zone']}",
                kind="request",
                verify=dig_command(
                    p,
                    "A",
                    f"{row['item']}.{row['zone']}"
                    if row["kind"] == "domain"
                    else ".".join(reversed(row["item"].split("."))) + f".{row['zone']}",
                )
                + "   # expect no answer (NXDOMAIN)",
            )
        )
    if d.get("shared_ips", True):
        steps.append(
            Step(
                "The account sends from AWS's shared IPs: AWS manages their listings; the team keeps its own rates low "
                "(or leases dedicated IPs to be judged on its own mail alone)",
                None,
                kind="console",
            )
        )
    steps.append(Step("Verify", "ses-runbook check --only reputation.blocklists", kind="wait", expect="ok"))
    return steps


def _cw(p: Params, metric: str) -> str:
    return metrics.statistics_command(p, metric, "Average", 3600)


def _steps_rate(kind: str) -> Steps:
    metric = "Reputation.BounceRate" if kind == "bounce" else "Reputation.ComplaintRate"
    reason = "BOUNCE" if kind == "bounce" else "COMPLAINT"
    level = "5 %" if kind == "bounce" else "0.1 %"

    def steps(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
        found = f.feedback_cause
        named = feedback.responsible(found)
        culprit = (
            ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in named.items())
            or "the list import or job that started it"
        )
        return [
            Step(
                "Find which sender or list produced them: what the bounce and complaint notifications of the last day "
                "have in common (09_feedback; the hours whose counts jumped: 07_cloudwatch_metrics; the newest entries "
                "of the suppression list)",
                feedback.receive_command(p),
                kind="command",
                expect=feedback.cause_text(found)
                if found
                else "set feedback_queue_url to read them here (09_feedback)",
            ),
            Step(
                f"Stop the job that is sending to bad addresses ({culprit}): the {kind} rate follows it within hours",
                None,
                kind="console",
            ),
            Step(
                "Clean the list: 09_feedback writes every permanent bounce and complaint to feedback_export_file (CSV, "
                "mode 0600); remove them from the list they came from",
                None,
                kind="console",
                expect="the export's addresses gone from our lists",
            ),
            Step(
                "Add them to the account's suppression list (fix suppress-exported, with allow_writes)",
                feedback_steps.suppress_commands(p)[0],
                verify=aws_command(p, "sesv2", "list-suppressed-destinations", "--reasons", reason),
            ),
            Step(
                "Stop mailing addresses that bounce; from now on send only to confirmed (double opt-in) addresses"
                + (
                    "; make unsubscribing easy: an unsubscribe link and a List-Unsubscribe header"
                    if kind == "complaint"
                    else ""
                ),
                None,
                kind="console",
            ),
            Step(
                f"Verify the rate falls under {level} (it is computed over a window of recent sends, so it falls slowly)",
                _cw(p, metric),
                kind="wait",
                expect=f"Average under {level}",
            ),
        ]

    return steps


def _steps_feedback(p: Params, which: str) -> list[Step]:
    if which == "feedback-pipeline":
        commands = feedback_steps.pipeline_commands(p)
        steps = [
            Step("Create the pipeline: SNS topic, SQS queue (policy for the topic), subscription, identity topics", c)
            for c in commands
        ]
        steps.append(
            Step(
                "Prove it end to end with the mailbox simulator",
                "ses-runbook check --only send.test_email -p send_test_email true -p feedback_queue_url QUEUE_URL",
                expect="all four simulator outcomes arrive",
            )
        )
        steps.append(
            Step(
                "No notifications in the lookback although mail bounced: another reader deletes the messages first, or "
                "the feedback goes to another topic; compare the identities' topics with the queue's subscription",
                aws_command(p, "ses", "get-identity-notification-attributes", "--identities", p.domain),
                expect="Bounce and Complaint topics are the one the queue is subscribed to",
            )
        )
        return steps
    return [
        Step(
            "Create the alarms at the warn levels, notifying the on-call",
            c,
            verify=aws_command(
                p,
                "cloudwatch",
                "describe-alarms-for-metric",
                "--namespace",
                "AWS/SES",
                "--metric-name",
                "Reputation.BounceRate",
            ),
        )
        for c in feedback_steps.alarm_commands(p)
    ]


def _steps_suppressed(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "List the recently suppressed addresses (08_remediation shows them as a table)",
            aws_command(
                p,
                "sesv2",
                "list-suppressed-destinations",
                "--start-date",
                Shell("\"$(date -u -d '7 days ago' +%Y-%m-%dT%H:%M:%SZ)\""),
            ),
        ),
        Step(
            "Find the source: addresses added together usually come from one import or job; fix that first",
            None,
            kind="console",
        ),
        Step(
            "Remove only addresses known to be valid again (08_remediation with -p unsuppress ADDR,... -p allow_writes true)",
            aws_command(p, "sesv2", "delete-suppressed-destination", "--email-address", "ADDRESS"),
            expect="no output (HTTP 200)",
            verify=aws_command(p, "sesv2", "get-suppressed-destination", "--email-address", "ADDRESS")
            + "   # expect NotFoundException",
        ),
    ]


def _zone_steps(p: Params, r: dict[str, CheckResult], check_id: str, fallback: list[str], note: str) -> list[Step]:
    """The check's own records to publish (``zone_lines``), else ``fallback``; a record the check says
    replaces one (``details["replace"]``, dns.spf's) is an edit of that record, not a second one."""
    d = _details(r, check_id)
    lines = d.get("zone_lines") or fallback
    records = d.get("records_to_add") or []
    where = (
        f"Replace the record ({d['replace']}) with this one (Cloudflare: DNS -> Records -> edit it{note})"
        if d.get("replace")
        else f"Add to the zone (Cloudflare: DNS -> Records -> Add record{note})"
    )
    steps = [
        Step(where, line, kind="dns", verify=dig_command(p, rec["type"], rec["name"]) if rec else None)
        for line, rec in zip(lines, records + [None] * len(lines), strict=False)
    ]
    return steps


def _signing_zone(r: dict[str, CheckResult]) -> str:
    """The suffix the DKIM CNAMEs point under, as the checks read the identity's SigningHostedZone."""
    zone = _details(r, "dns.dkim").get("SigningHostedZone") or _details(r, "identity.dkim").get("SigningHostedZone")
    return dns_checks.signing_zone(zone)


def _steps_dkim_cname(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    tokens = [row["name"] for row in _details(r, "dns.dkim").get("records", [])]
    zone = _signing_zone(r)
    fallback = [f"TOKEN._domainkey.{p.domain}. 300 IN CNAME TOKEN.{zone}."]
    return [
        Step(
            "Read the identity's DKIM tokens",
            aws_command(
                p, "sesv2", "get-email-identity", "--email-identity", p.domain, "--query", "DkimAttributes.Tokens"
            ),
        ),
        *_zone_steps(
            p,
            r,
            "dns.dkim",
            fallback,
            "; type CNAME, exactly as the line; proxy status 'DNS only' (grey cloud), not proxied: an orange-cloud "
            "CNAME does not resolve to amazonses.com",
        ),
        Step(
            "Wait for DNS propagation (TTL 300 s; Cloudflare is usually immediate); SES re-checks by itself and flips "
            "to Success within hours (at most 72 h)",
            dig_command(p, "CNAME", tokens[0] if tokens else f"TOKEN._domainkey.{p.domain}"),
            kind="wait",
            expect=f"TOKEN.{zone}.",
            verify=aws_command(p, "ses", "get-identity-dkim-attributes", "--identities", p.domain)
            + '   # expect "Success"',
        ),
        _dkim_restart(p, "If SES still says Failed more than 72 hours after the records are in"),
    ]


def _dkim_restart(p: Params, when: str) -> Step:
    return Step(
        f"{when}, restart DKIM verification (SES console: Configuration -> Identities -> {p.domain} -> "
        "Authentication: re-enable DKIM; or the command)",
        aws_command(p, "ses", "verify-domain-dkim", "--domain", p.domain),
        expect="the same three tokens",
        verify=aws_command(p, "ses", "get-identity-dkim-attributes", "--identities", p.domain)
        + '   # expect "Success"',
    )


def _steps_dkim_propagating(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "The records are in DNS now; SES retries on its own for up to 72 hours. Check what public resolvers see",
            f"dig +short CNAME TOKEN._domainkey.{p.domain} @8.8.8.8",
            kind="wait",
            expect=f"TOKEN.{_signing_zone(r)}.",
        ),
        _dkim_restart(p, "If SES has given up (Failed)"),
    ]


def _steps_dkim_signing(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "Turn DKIM signing on for the domain (08_remediation does it with allow_writes=true)",
            aws_command(
                p, "sesv2", "put-email-identity-dkim-attributes", "--email-identity", p.domain, "--signing-enabled"
            ),
            expect="no output (HTTP 200); mail is signed from now on",
            verify=aws_command(p, "ses", "get-identity-dkim-attributes", "--identities", p.domain)
            + '   # expect "DkimEnabled": true',
        )
    ]


def _steps_spf(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "dns.spf")
    name = d.get("name") or f"mail.{p.domain}"
    wanted = next((rec["value"] for rec in d.get("records_to_add") or []), dns_checks.SPF_VALUE)
    return [
        *_zone_steps(
            p,
            r,
            "dns.spf",
            [dns_checks.zone_line(dns_checks.record(name, "TXT", dns_checks.SPF_VALUE))],
            "; type TXT; one SPF record per name: merge into an existing one",
        ),
        Step(
            "Check the published record",
            dig_command(p, "TXT", name),
            kind="wait",
            expect=f'"{wanted}"',
        ),
        Step(
            "Run a mail tester (10_mail_tester), or send a test (02_send_test_email) to a real mailbox or a "
            "mail-tester.com address and read the received message's Authentication-Results header",
            None,
            kind="console",
            expect="spf=pass dkim=pass dmarc=pass",
        ),
    ]


def _dmarc_record_steps(p: Params, r: dict[str, CheckResult]) -> list[Step]:
    """What to publish, from dns.dmarc itself: its record to add where there is none, the record that
    governs the sender edited where it does not enforce (REPLACED: a second record at the name leaves
    the domain with no policy at all, RFC 7489 6.6.3), one record kept of several."""
    d = _details(r, "dns.dmarc")
    name = d.get("name") or f"_dmarc.{p.domain}"
    existing = d.get("dmarc_records") or []
    one = "; keep ONE DMARC record at the name: with two, receivers apply no policy at all (RFC 7489 6.6.3)"
    if d.get("zone_lines"):
        return _zone_steps(p, r, "dns.dmarc", [], "; type TXT")
    if d.get("suggested"):
        now = f" ({existing[0]})" if existing else ""
        return [
            Step(
                f"Replace the DMARC record at {name}{now} by this one (Cloudflare: DNS -> Records -> edit that "
                f"TXT record, do not add another{one})",
                d["suggested"],
                kind="dns",
                verify=dig_command(p, "TXT", name),
            )
        ]
    if len(existing) > 1:
        return [
            Step(
                f"Delete all but one of the {len(existing)} DMARC records at {name} ({' | '.join(existing)}) "
                f"(Cloudflare: DNS -> Records{one})",
                dig_command(p, "TXT", name),
                expect="one v=DMARC1 line",
            )
        ]
    suggested = f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{p.domain}; adkim=r; aspf=r"
    return [
        Step(
            f"Publish one enforcing DMARC record at {name}: edit the record there if there is one, add it if not "
            f"(Cloudflare: DNS -> Records; type TXT{one})",
            dns_checks.zone_line(dns_checks.record(name, "TXT", suggested)),
            kind="dns",
            verify=dig_command(p, "TXT", name),
        )
    ]


def _steps_dmarc(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "dns.dmarc")
    wanted: dict[str, Any] = d.get("suggested_record") or next(iter(d.get("records_to_add") or []), {})
    name = wanted.get("name") or d.get("name") or f"_dmarc.{p.domain}"
    value = wanted.get("value")
    return [
        *_dmarc_record_steps(p, r),
        Step(
            "Check the published record: exactly one, with the enforcing policy",
            dig_command(p, "TXT", name),
            kind="wait",
            expect=f'"{value}" and nothing else' if value else '"v=DMARC1; p=quarantine; ..." and nothing else',
        ),
        Step(
            "Run a mail tester and read the Authentication-Results header of a received message",
            None,
            kind="console",
            expect="dmarc=pass",
        ),
    ]


def _steps_mail_from(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "identity.mail_from")
    name = d.get("MailFromDomain") or f"mail.{p.domain}"
    return [
        *_zone_steps(
            p,
            r,
            "identity.mail_from",
            [f"{name}. 300 IN MX 10 feedback-smtp.{p.region}.amazonses.com."],
            "; type MX, priority 10",
        ),
        Step(
            "Check the published MX",
            dig_command(p, "MX", name),
            kind="wait",
            expect=f"10 feedback-smtp.{p.region}.amazonses.com.",
            verify=aws_command(p, "ses", "get-identity-mail-from-domain-attributes", "--identities", p.domain)
            + '   # expect "MailFromDomainStatus": "Success" (SES re-checks within 72 h)',
        ),
    ]


def _steps_mail_from_recheck(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    name = _details(r, "identity.mail_from").get("MailFromDomain") or f"mail.{p.domain}"
    return [
        Step(
            "Set the MAIL FROM domain again to make SES re-check it now (a write; the MX is already there)",
            aws_command(
                p,
                "sesv2",
                "put-email-identity-mail-from-attributes",
                "--email-identity",
                p.domain,
                "--mail-from-domain",
                name,
                "--behavior-on-mx-failure",
                "USE_DEFAULT_VALUE",
            ),
            expect="status PENDING, then SUCCESS",
            verify=aws_command(p, "ses", "get-identity-mail-from-domain-attributes", "--identities", p.domain),
        )
    ]


def smtp_user(p: Params, r: dict[str, CheckResult]) -> str | None:
    owner = (_details(r, "iam.smtp_users").get("service_key") or {}).get("user")
    if owner:
        return owner
    return p.smtp_users[0] if len(p.smtp_users) == 1 else None


def _steps_smtp_rotate(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    user = smtp_user(p, r) or "SMTP_USER"
    return [
        Step(
            f"Create a new access key for the SMTP user (IAM console: Users -> {user} -> Security credentials -> "
            f"Create access key; 08_remediation does it with allow_writes=true and smtp_credentials_file=PATH, "
            f"deriving the password for {p.region}; for a new user, SES console -> SMTP settings -> Create SMTP "
            "credentials does this and the next step at once)",
            aws_command(p, "iam", "create-access-key", "--user-name", user, regional=False),
            expect="AccessKeyId and SecretAccessKey (shown once; never paste the secret as the SMTP password)",
        ),
        Step(
            "Derive the SMTP password from the secret, for this region (SMTP passwords are regional)",
            f'python -c "from ses_runbook.core.smtpcred import derive_smtp_password as d; import getpass; '
            f"print(d(getpass.getpass('secret: '), '{p.region}'))\"",
        ),
        Step(
            f"Put the key id in {p.smtp_username_env} and the derived password in {p.smtp_password_env} of every service "
            "(NEST, the API, the webmail service: secret store / env vars), then restart them",
            None,
            kind="console",
        ),
        Step("Verify the services' login", "ses-runbook check --only smtp.auth", expect="smtp.auth ok (235)"),
        Step(
            "Deactivate the old key once nothing uses it (check its last use first), delete it a week later; rotate "
            "or delete the same way keys older than key_max_age_days or unused for key_unused_days",
            aws_command(
                p,
                "iam",
                "update-access-key",
                "--user-name",
                user,
                "--access-key-id",
                "OLD_KEY_ID",
                "--status",
                "Inactive",
                regional=False,
            ),
            verify=aws_command(p, "iam", "get-access-key-last-used", "--access-key-id", "OLD_KEY_ID", regional=False),
        ),
    ]


def _derive_step(p: Params, why: str) -> Step:
    """Derive the version-4 password for this region from the key's secret (AWS's documented algorithm)."""
    return Step(
        f"{why}: derive the SMTP password from the key's secret access key for {p.region} with AWS's documented "
        "version-4 algorithm (https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html); the secret is "
        "read from the terminal, never from the command line",
        f'python -c "from ses_runbook.core.smtpcred import derive_smtp_password as d; import getpass; '
        f"print(d(getpass.getpass('secret: '), '{p.region}'))\"",
        expect="a 44-character password starting with B (base64 of the version byte 0x04)",
    )


def _steps_smtp_password(kind: str) -> Steps:
    why = {
        "iam-secret": "The service holds the raw IAM secret as its password",
        "sigv2": "The service holds a retired version-2 (SigV2) password",
        "other-region": "The service holds a password derived for another region",
    }[kind]

    def steps(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
        rotate = _steps_smtp_rotate(p, r, f)
        return [
            _derive_step(p, why + " (if you still hold that key's secret)"),
            Step(
                f"Put the derived password in {p.smtp_password_env} of every service (the username, "
                f"{p.smtp_username_env}, stays the key id), then restart them",
                None,
                kind="console",
            ),
            Step("Verify the services' login", "ses-runbook check --only smtp.auth", expect="smtp.auth ok (235)"),
            Step(
                "If the secret is lost, make a new credential instead: the runbook's guarded rotation "
                "(08_remediation, fix new-smtp-credential, with allow_writes=true and smtp_credentials_file=PATH) "
                "creates a key and writes the key id and the password derived for this region",
                rotate[0].command,
                expect=rotate[0].expect,
            ),
        ]

    return steps


def _steps_smtp_key(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    user = smtp_user(p, r) or "SMTP_USER"
    return [
        Step(
            "List the user's keys: the services' key is Inactive, deleted, or the user may not send",
            aws_command(p, "iam", "list-access-keys", "--user-name", user, regional=False),
        ),
        Step(
            "If the key was deactivated by mistake and is not compromised, activate it again",
            aws_command(
                p,
                "iam",
                "update-access-key",
                "--user-name",
                user,
                "--access-key-id",
                "KEY_ID",
                "--status",
                "Active",
                regional=False,
            ),
            expect="no output",
            verify="ses-runbook check --only smtp.auth",
        ),
        *_steps_smtp_rotate(p, r, f)[0:4],
    ]


def _steps_smtp_connection(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    host, port = p.smtp_endpoint
    return [
        Step(
            "Test the connection and certificate by hand",
            f"openssl s_client -starttls smtp -crlf -connect {host}:{port}",
            expect="a verified certificate for the host and '250 Ok' to EHLO",
        ),
        Step(
            "Check egress: port 587 (or 2587) must be open from the services to the SES SMTP endpoint; "
            "port 25 is often blocked by cloud providers",
            None,
            kind="console",
        ),
    ]


# -- causes seen in a received message (10_mail_tester, ses-runbook mail-test) -------------------
MAIL_TEST = "ses-runbook mail-test MESSAGE.eml   # or: -p send_test_email true to send a probe"


def _message_dkim_broken(results: dict[str, CheckResult]) -> tuple[str, str]:
    unclear = _unclear(results, "message.dkim")
    if unclear:
        return UNKNOWN, unclear[1] + " (run 10_mail_tester or ses-runbook mail-test)"
    if results["message.dkim"].status != Status.FAIL:
        return RULED_OUT, f"message.dkim is {results['message.dkim'].status.value}"
    dns = results.get("dns.dkim")
    if dns is not None and dns.status in _NOT_OK:
        return RULED_OUT, "the signature fails because the DKIM CNAMEs are wrong (dns.dkim): see dkim-cname-missing"
    return CONFIRMED, "message.dkim is fail while the DKIM CNAMEs are in place"


def _message_misaligned(results: dict[str, CheckResult]) -> tuple[str, str]:
    unclear = _unclear(results, "message.dmarc")
    if unclear:
        return UNKNOWN, unclear[1] + " (run 10_mail_tester or ses-runbook mail-test)"
    r = results["message.dmarc"]
    if r.status == Status.FAIL and (r.details.get("record") or {}).get("found"):
        return CONFIRMED, "message.dmarc is fail: neither SPF nor DKIM aligned with the From domain"
    return RULED_OUT, f"message.dmarc is {r.status.value}" + (
        "" if r.status == Status.OK else " (no DMARC record: see dmarc-missing)"
    )


def _message_spam(results: dict[str, CheckResult]) -> tuple[str, str]:
    r = results.get("message.probe")
    verdict = r.details.get("spam_verdict") if r is not None else None
    if not verdict:
        return UNKNOWN, "no message from the inbound bucket was judged (run 10_mail_tester)"
    if verdict != "PASS":
        return CONFIRMED, f"SES receiving's X-SES-Spam-Verdict is {verdict}"
    return RULED_OUT, "X-SES-Spam-Verdict is PASS"


def _dmarc_missing(results: dict[str, CheckResult]) -> tuple[str, str]:
    if _details(results, "dns.dmarc").get("unaligned"):
        return RULED_OUT, (
            "dns.dmarc: the record is there and enforcing; it fails because neither DKIM nor SPF of the sender "
            "aligns (the identity, DKIM and MAIL FROM causes say why)"
        )
    return _default_verdict(("dns.dmarc",), results)


def _spf_permerror(results: dict[str, CheckResult]) -> tuple[str, str]:
    dns = _details(results, "dns.spf").get("receivers_get") == "permerror"
    msg = _details(results, "message.spf").get("result") == "permerror"
    if dns or msg:
        return CONFIRMED, " and ".join(n for n, on in (("dns.spf", dns), ("message.spf", msg)) if on) + ": permerror"
    if results.get("dns.spf") is None and results.get("message.spf") is None:
        return UNKNOWN, "dns.spf and message.spf did not run"
    return RULED_OUT, "no permerror"


def _spf_misconfigured(results: dict[str, CheckResult]) -> tuple[str, str]:
    if _details(results, "dns.spf").get("receivers_get") == "permerror":
        return RULED_OUT, "dns.spf fails on a permerror: see spf-permerror"
    return _default_verdict(("dns.spf",), results)


def _steps_message_dkim(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    rows = _details(r, "message.dkim").get("signatures") or []
    bad = next((row for row in rows if row.get("aligned") and row.get("result") != "pass"), rows[0] if rows else {})
    name = bad.get("selector_name") or f"TOKEN._domainkey.{p.domain}"
    token = name.split(".")[0]
    target = f"TOKEN.{_signing_zone(r)}" if token == "TOKEN" else dns_checks.dkim_target(token, _signing_zone(r))
    if bad.get("body_hash") == "mismatch":
        return [
            Step(
                "The body changed after SES signed it: find the hop that rewrites it (a proxy or relay adding a "
                "footer, converting 8-bit text, re-wrapping lines) and stop it, or sign after it",
                None,
                kind="console",
            ),
            Step("Check again on a fresh message", MAIL_TEST, expect="message.dkim ok"),
        ]
    return [
        Step(
            "Compare the key DNS publishes with the one SES signs with: the selector must be a CNAME to SES, not a "
            "TXT copy of an old key",
            dig_command(p, "CNAME", name),
            kind="wait",
            expect=f"{target}.",
        ),
        Step(
            "Replace a TXT record at the selector by the CNAME (Cloudflare: DNS -> Records -> edit; type CNAME, "
            f"target {target}, proxy status 'DNS only')",
            f"{name}. 300 IN CNAME {target}.",
            kind="dns",
        ),
        Step("Check again on a fresh message", MAIL_TEST, expect="message.dkim ok"),
    ]


def _steps_message_misaligned(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    d = _details(r, "message.dmarc")
    return [
        Step(
            f"Sign as the From domain: turn Easy DKIM signing on for {d.get('from_domain') or p.domain}",
            aws_command(
                p, "sesv2", "put-email-identity-dkim-attributes", "--email-identity", p.domain, "--signing-enabled"
            ),
            expect="mail carries DKIM-Signature d=" + (d.get("from_domain") or p.domain),
        ),
        Step(
            "Bounce through your own domain: set a custom MAIL FROM (then publish its MX and SPF)",
            aws_command(
                p,
                "sesv2",
                "put-email-identity-mail-from-attributes",
                "--email-identity",
                p.domain,
                "--mail-from-domain",
                f"mail.{p.domain}",
                "--behavior-on-mx-failure",
                "USE_DEFAULT_VALUE",
            ),
            expect="MAIL FROM PENDING, then SUCCESS once the MX is published",
        ),
        Step("Check again on a fresh message", MAIL_TEST, expect="message.dmarc ok: DKIM aligned, SPF aligned"),
    ]


def _steps_message_unsubscribe(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    return [
        Step(
            "Send subscribed mail with an SES contact list (parameter contact_list): SES then adds List-Unsubscribe "
            "(https) and List-Unsubscribe-Post: List-Unsubscribe=One-Click itself",
            aws_command(
                p, "sesv2", "send-email", "...", "--list-management-options", "ContactListName=LIST,TopicName=TOPIC"
            ),
            expect="both headers on every subscribed message",
        ),
        Step(
            "Or add both headers in the sending service (NEST, the API) to every subscribed message, and sign them",
            "List-Unsubscribe: <https://" + p.domain + "/unsubscribe?u=TOKEN>, <mailto:unsubscribe@" + p.domain + ">\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            kind="console",
            expect="a POST to the https URI unsubscribes at once, without a login (RFC 8058)",
        ),
        Step(
            "Check again on a subscribed message",
            MAIL_TEST.replace("MESSAGE.eml", "MESSAGE.eml -p message_kind subscribed"),
            expect="message.unsubscribe ok",
        ),
    ]


def _steps_message_spam(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    probe = r.get("message.probe")
    lost = (
        [
            Step(
                "The probe was refused or never reached the bucket: check the receipt rule, its S3 action and the "
                "bucket policy",
                aws_command(p, "ses", "describe-active-receipt-rule-set"),
                expect=f"a rule for {p.inbound_address or 'inbound_address'} with an S3 action to "
                f"{p.inbound_bucket or 'inbound_bucket'}",
            )
        ]
        if probe is not None and probe.status == Status.FAIL and not probe.details.get("spam_verdict")
        else []
    )
    return lost + [
        Step(
            "Authentication passes, so look at content and reputation: links to domains with a poor reputation, "
            "URL shorteners, image-only bodies, a complaint rate near 0.3 % (07_cloudwatch_metrics)",
            None,
            kind="console",
        ),
        Step(
            "Read the provider's own verdict (Authentication-Results, Gmail Postmaster Tools spam rate)",
            MAIL_TEST,
            expect="message.probe ok (X-SES-Spam-Verdict PASS)",
        ),
    ]


def _steps_spf_permerror(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
    name = (
        _details(r, "dns.spf").get("name") or _details(r, "message.spf").get("mail_from_domain") or f"mail.{p.domain}"
    )
    return [
        Step(
            "Flatten the record to at most 10 DNS-querying terms (include, a, mx, exists, redirect) and at most 2 "
            "names that do not exist (void lookups): drop includes of services that no longer send, or replace them by their ip4 ranges "
            "(Cloudflare: DNS -> Records -> edit the TXT record of " + name + ")",
            dns_checks.zone_line(dns_checks.record(name, "TXT", dns_checks.SPF_VALUE)),
            kind="dns",
            verify=dig_command(p, "TXT", name),
        ),
        Step("Check the record as receivers evaluate it", "ses-runbook check --only dns.spf", expect="dns.spf ok"),
    ]


# -- the catalogue -------------------------------------------------------------------------

# -- one recipient: the verdicts of a trace (checks.trace) ---------------------------------------
TRACE_CHECK = "trace.recipients"


def _traced(r: dict[str, CheckResult], verdict: str) -> list[str]:
    """The traced targets (as the user named them) with this verdict."""
    return [t["target"] for t in _details(r, TRACE_CHECK).get("traces", []) if t.get("verdict") == verdict]


def _trace_verdict(verdict: str) -> Verdict:
    def judge(r: dict[str, CheckResult]) -> tuple[str, str]:
        result = r.get(TRACE_CHECK)
        if result is None or result.status in (Status.ERROR, Status.SKIP):
            why = (
                "no recipient traced (set trace_recipients or trace_message_ids)" if result is None else result.summary
            )
            return UNKNOWN, why
        count = result.details.get("verdicts", {}).get(verdict, 0)
        if count:
            return CONFIRMED, f"{count} traced target(s) {verdict}"
        return RULED_OUT, f"no traced target is {verdict}"

    return judge


def _one(p: Params, r: dict[str, CheckResult], verdict: str) -> str:
    found = _traced(r, verdict)
    return found[0] if found else "ADDRESS"


def _trace_steps(verdict: str) -> Steps:
    def steps(p: Params, r: dict[str, CheckResult], f: Facts) -> list[Step]:
        who = _one(p, r, verdict)
        domain = who.rpartition("@")[2] if "@" in who else "DOMAIN"
        trace_again = Step(
            "Trace the recipient again after acting", join(["ses-runbook", "trace", who]), expect="verdict delivered"
        )
        table: dict[str, list[Step]] = {
            "delivered": [
                Step(
                    "SES delivered it: the receiving server's response (in the trace) is the proof. Ask the recipient "
                    "to search spam, quarantine and any filtering rule for the sender",
                    None,
                    kind="console",
                ),
                Step("If it went to spam, walk the spam failure mode", "ses-runbook diagnose emails-going-to-spam"),
            ],
            "bounced-permanent": [
                Step("Look at the recipient domain's mail servers", dig_command(p, "MX", domain)),
                Step(
                    "Confirm the address with the recipient (typo, left the company, mailbox deleted) and correct it "
                    "in the application; SES has put it on the account suppression list",
                    None,
                    kind="console",
                ),
                trace_again,
            ],
            "bounced-transient": [
                Step(
                    "The receiving server refused for now (mailbox full, rate limit); resend later or ask the "
                    "recipient to make room",
                    None,
                    kind="wait",
                ),
                trace_again,
            ],
            "suppressed-account": [
                Step(
                    "See why and since when the address is suppressed",
                    aws_command(p, "sesv2", "get-suppressed-destination", "--email-address", who),
                ),
                Step(
                    "Once the recipient confirms the mailbox works, remove it (guarded fix in 12_trace: "
                    "trace_mailbox_fixed=true and allow_writes=true; a COMPLAINT also needs trace_unsuppress_complaint=true)",
                    aws_command(p, "sesv2", "delete-suppressed-destination", "--email-address", who),
                    expect="no output (HTTP 200)",
                    verify=aws_command(p, "sesv2", "get-suppressed-destination", "--email-address", who)
                    + "   # expect NotFoundException",
                ),
                trace_again,
            ],
            "suppressed-global": [
                Step(
                    "SES's global suppression list holds the address (it hard-bounced for some SES customer). No API "
                    "removes it; SES drops it after a while. Confirm the address with the recipient",
                    None,
                    kind="wait",
                ),
            ],
            "complained": [
                Step(
                    "The recipient reported our mail as spam: stop mailing them (the account list suppresses "
                    "them if COMPLAINT suppression is on). Mail them again only if they ask for it",
                    None,
                    kind="console",
                ),
                Step("Check the account's complaint rate", "ses-runbook check --only reputation.complaint_rate"),
            ],
            "delayed": [
                Step(
                    "The receiving server defers the message; SES retries for hours. Look again later",
                    None,
                    kind="wait",
                    verify=join(["ses-runbook", "trace", who]),
                ),
                Step("Look at the recipient domain's mail servers", dig_command(p, "MX", domain)),
            ],
            "rejected": [
                Step(
                    "SES rejected the message before sending (it found a virus or forbidden content): fix the "
                    "message and send it again",
                    None,
                    kind="console",
                ),
            ],
            "not-sent": [
                Step("See what blocks sending", "ses-runbook diagnose emails-not-delivered"),
                Step(
                    "In the SES sandbox only verified recipients get mail: verify the recipient for a test, or request "
                    "production access",
                    aws_command(p, "sesv2", "create-email-identity", "--email-identity", who),
                    kind="request",
                ),
            ],
            "no-record": [
                Step(
                    "Nothing shows the message was sent: find the send in the application's log (the message id SES "
                    "returned) and trace that id",
                    "ses-runbook trace MESSAGE_ID",
                ),
                Step(
                    "Keep delivery notifications as well as bounces and complaints, so the next trace finds them",
                    aws_command(
                        p,
                        "ses",
                        "set-identity-notification-topic",
                        "--identity",
                        p.domain,
                        "--notification-type",
                        "Delivery",
                        "--sns-topic",
                        "TOPIC_ARN",
                    ),
                ),
            ],
        }
        return table[verdict]

    return steps


_TRACE_CAUSES = {
    "delivered": (
        "delivered to the receiving server",
        "SES handed the message over and the receiving server said "
        "250; what happens next (spam folder, a filter) is the mailbox provider's.",
        DEGRADES,
    ),
    "bounced-permanent": (
        "the address or its domain does not accept mail",
        "The receiving server answered that the "
        "mailbox does not exist (550 5.1.1), or the domain has no mail server (null MX, no such "
        "domain). SES then suppresses the address.",
        STOPS,
    ),
    "bounced-transient": (
        "the receiving server refused for now",
        "A full mailbox or a busy server answers 4xx or a transient 5xx; SES retried and gave up.",
        STOPS,
    ),
    "suppressed-account": (
        "the address is on the account suppression list",
        "After a hard bounce or a complaint, "
        "SES puts the address on the account's list and drops every later message to it without "
        "telling the application (a bounce with subtype OnAccountSuppressionList).",
        STOPS,
    ),
    "suppressed-global": (
        "the address is on SES's global suppression list",
        "An address that hard-bounced for any "
        "SES customer is held on a global list for a while; SES reports bounce subtype "
        "Suppressed.",
        STOPS,
    ),
    "complained": (
        "the recipient marked the mail as spam",
        "A complaint through the provider's feedback loop; mailing the recipient again raises the complaint rate.",
        RISKS,
    ),
    "delayed": (
        "delivery is delayed",
        "The receiving server defers the message (greylisting, a full mailbox, an "
        "outage); SES keeps retrying until the message expires.",
        DEGRADES,
    ),
    "rejected": (
        "SES rejected the message",
        "SES scans outgoing mail and rejects a message with a virus before sending it.",
        STOPS,
    ),
    "not-sent": (
        "SES would not send it",
        "Sending is paused, the sender is not verified, or the account is in the "
        "SES sandbox and the recipient is not verified.",
        STOPS,
    ),
    "no-record": (
        "nothing is stored about the message",
        "No source holds a record: the application may never have "
        "sent it, or the records expired (notifications live only as long as the queue keeps them).",
        DEGRADES,
    ),
}

CAUSES: dict[str, Cause] = {
    c.id: c
    for c in [
        Cause(
            "account-in-sandbox",
            "account in the SES sandbox",
            "Every new SES account starts in a 'sandbox': it may send only to addresses verified in SES, at most 200 "
            "messages a day. Mail to anyone else is rejected ('Email address is not verified'). AWS lifts this when a "
            "person asks for production access and AWS approves the use case.",
            ("account.production_access",),
            _steps_sandbox,
            request=True,
            severity=STOPS,
        ),
        Cause(
            "sending-disabled",
            "account-level sending is disabled",
            "SES has one switch for the whole account. When it is off (set by a person, by automation, or by AWS), every "
            "send fails with 'Sending paused for this account'; nothing is queued.",
            ("account.sending_enabled",),
            _steps_sending_disabled,
            fix="reenable-sending",
            severity=STOPS,
        ),
        Cause(
            "account-paused-by-aws",
            "AWS has paused the account",
            "AWS watches bounce and complaint rates. Above its levels it first puts the account under review "
            "(PROBATION), then pauses sending (SHUTDOWN). Only AWS can lift a pause, after someone explains the fix.",
            ("account.enforcement",),
            _steps_paused,
            verdict=_enforcement(Status.FAIL),
            request=True,
            severity=STOPS,
        ),
        Cause(
            "account-under-review",
            "account under review by AWS (probation)",
            "A review is AWS's warning: the bounce or complaint rate went above its review level. Sending still works; "
            "if the rates do not come down, AWS pauses the account.",
            ("account.enforcement",),
            _steps_paused,
            verdict=_enforcement(Status.WARN),
            request=True,
            severity=RISKS,
        ),
        Cause(
            "domain-not-verified",
            "sending domain (or sender) not verified",
            "SES sends only From identities it has verified. A domain is verified by a TXT (or the DKIM CNAME) records "
            "in its DNS; when a record is removed, SES marks the identity Failed and rejects mail from it "
            "('MessageRejected: Email address is not verified', the words a sandbox account uses for an unverified "
            "recipient). A sender at another domain is not covered by this one.",
            ("identity.verification",),
            _steps_domain,
            verdict=_only_fail("identity.verification", "other identities only"),
            severity=STOPS,
        ),
        Cause(
            "quota-exhausted",
            "24-hour sending quota used up",
            "Each account may send a fixed number of messages in any rolling 24 hours (Max24HourSend). Above it SES "
            "refuses with 'Daily message quota exceeded' until older sends leave the window; faster than MaxSendRate "
            "it refuses with 'Throttling: Maximum sending rate exceeded'.",
            ("quota.headroom",),
            _steps_quota,
            request=True,
            severity=STOPS,
        ),
        Cause(
            "bounce-spike",
            "bounce rate above AWS's levels",
            "A hard bounce means the address does not exist. Sending to old or imported lists raises the bounce rate; "
            "AWS reviews the account at 5 % and may pause it at 10 %.",
            ("reputation.bounce_rate",),
            _steps_rate("bounce"),
            severity=RISKS,
            fix="suppress-exported",
            reads=("feedback_cause",),
        ),
        Cause(
            "complaint-spike",
            "complaint rate above AWS's levels",
            "A complaint is a recipient pressing 'this is spam'. Mail people did not expect (marketing to old users, "
            "no unsubscribe link) raises it; AWS reviews at 0.1 % and may pause at 0.5 %, and mailbox providers start "
            "filtering the domain as spam.",
            ("reputation.complaint_rate",),
            _steps_rate("complaint"),
            severity=RISKS,
            fix="suppress-exported",
            reads=("feedback_cause",),
        ),
        Cause(
            "feedback-not-flowing",
            "bounce and complaint notifications go nowhere a machine reads",
            "Without an SNS topic (with a confirmed subscriber) or an event destination, SES's feedback reaches at most the "
            "Return-Path mailbox: nobody learns which addresses bounce, so the list is never cleaned and the rate climbs again.",
            ("feedback.notifications",),
            lambda p, r, f: _steps_feedback(p, "feedback-pipeline"),
            fix="feedback-pipeline",
        ),
        Cause(
            "event-destination-broken",
            "a configuration set does not publish bounces and complaints",
            "Mail sent with a configuration set publishes its events through the set's event destinations. A "
            "destination that is disabled, lacks the BOUNCE or COMPLAINT event type, or points at a topic or "
            "stream that is gone publishes nothing, and no error says so: the notifications silently stop.",
            ("feedback.event_destinations",),
            _steps_event_destinations,
            severity=RISKS,
        ),
        Cause(
            "no-reputation-alarms",
            "no alarm on the bounce and complaint rates",
            "AWS recommends CloudWatch alarms on Reputation.BounceRate and ComplaintRate at the review levels: without "
            "them nobody hears of a spike until AWS's review or pause notice.",
            ("feedback.alarms",),
            lambda p, r, f: _steps_feedback(p, "reputation-alarms"),
            fix="reputation-alarms",
        ),
        Cause(
            "send-rate-exceeded",
            "sending faster than the account's MaxSendRate",
            "SES accepts at most MaxSendRate messages a second for the whole account; every message beyond it is "
            "refused with '454 Throttling: Maximum sending rate exceeded'. Bulk jobs and retries without a limit "
            "of their own reach it in bursts although the daily quota has room.",
            ("quota.send_rate", "quota.headroom"),
            _steps_send_rate,
            verdict=_only_fail("quota.send_rate", "near the limit, not over it"),
            request=True,
            severity=STOPS,
        ),
        Cause(
            "receiver-deferring",
            "one receiving domain defers the mail",
            "A receiving mail server can answer 'try again later' (4xx): greylisting of a new sender, a rate limit, "
            "or a spam filter's deferral. SES retries for hours and publishes DeliveryDelay meanwhile; when most "
            "delays are at one domain, that domain is holding the mail.",
            ("feedback.delays",),
            _steps_receiver_deferring,
            verdict=_delays("receiver"),
        ),
        Cause(
            "ses-deferral",
            "SES itself defers the mail",
            "DeliveryDelay with delayType InternalFailure or SendingDeferral means SES held the mail back: an "
            "internal problem, or AWS slowing an account whose reputation is at risk.",
            ("feedback.delays",),
            _steps_ses_deferral,
            verdict=_delays("ses"),
            severity=RISKS,
        ),
        Cause(
            "mailboxes-full",
            "recipients' mailboxes are full",
            "A full mailbox answers 452 4.2.2: SES retries (DeliveryDelay MailboxFull) and finally bounces.",
            ("feedback.delays",),
            _steps_mailboxes_full,
            verdict=_delays("mailbox"),
        ),
        Cause(
            "recipients-suppressed",
            "many recipients on the suppression list",
            "After a hard bounce or a complaint SES puts the address on the account's suppression list and silently drops "
            "later mail to it: the application sees 'sent', the user gets nothing.",
            ("suppression.list",),
            _steps_suppressed,
            fix="unsuppress",
            severity=RISKS,
        ),
        Cause(
            "dkim-cname-missing",
            "DKIM CNAME records missing or wrong in DNS",
            "DKIM proves the mail comes from the domain. SES signs with keys it publishes at TOKEN.dkim.amazonses.com; "
            "the domain must point three CNAMEs (TOKEN._domainkey) there. A deleted or mistyped record makes "
            "verification fail and receivers distrust the mail.",
            ("dns.dkim",),
            _steps_dkim_cname,
        ),
        Cause(
            "dkim-propagating",
            "DKIM records present, SES not yet re-verified",
            "DNS changes take time to reach every resolver, and SES re-checks on its own schedule (up to 72 hours). "
            "In between, SES still reports the old Failed/Pending state although the records are right.",
            ("identity.dkim", "dns.dkim"),
            _steps_dkim_propagating,
            verdict=_dkim_propagating,
        ),
        Cause(
            "dkim-signing-disabled",
            "DKIM verified but signing disabled",
            "Verification and signing are two switches. With signing off, SES sends the mail unsigned: DMARC then "
            "depends on SPF alone and mailbox providers are more likely to file it as spam.",
            ("identity.dkim",),
            _steps_dkim_signing,
            verdict=_dkim_signing_disabled,
            fix="enable-dkim-signing",
        ),
        Cause(
            "spf-misconfigured",
            "SPF missing or not authorising SES",
            "SPF is a TXT record listing who may send for a domain. Without include:amazonses.com on the MAIL FROM "
            "domain, receivers cannot tell SES is allowed to send, and SPF fails.",
            ("dns.spf",),
            _steps_spf,
            verdict=_spf_misconfigured,
        ),
        Cause(
            "spf-permerror",
            "SPF gives receivers a permerror",
            "Receivers evaluate SPF with limits: more than 10 DNS lookups, more than 2 names that do not exist, or a "
            "syntax error make the result 'permerror', which Gmail and Yahoo treat as a failure even though the "
            "record includes amazonses.com.",
            ("dns.spf", "message.spf"),
            _steps_spf_permerror,
            verdict=_spf_permerror,
        ),
        Cause(
            "message-dkim-broken",
            "the message's DKIM signature does not verify",
            "The DKIM CNAMEs can be right and a delivered message still fail DKIM: the key at the selector is not the "
            "one SES signs with (a TXT copy of an old key), or something changed the message after signing.",
            ("message.dkim",),
            _steps_message_dkim,
            verdict=_message_dkim_broken,
        ),
        Cause(
            "message-from-misaligned",
            "From domain aligned with neither DKIM nor MAIL FROM",
            "DMARC passes only when SPF or DKIM passes for the From domain itself (or its organizational domain). "
            "Mail signed only as amazonses.com and bounced through amazonses.com passes both, yet fails DMARC.",
            ("message.dmarc",),
            _steps_message_misaligned,
            verdict=_message_misaligned,
        ),
        Cause(
            "message-missing-unsubscribe",
            "subscribed mail without one-click unsubscribe",
            "Since 2024 Gmail and Yahoo require subscribed (bulk) mail to carry List-Unsubscribe with an https URI and "
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058); without them it goes to spam or is rejected.",
            ("message.unsubscribe",),
            _steps_message_unsubscribe,
            verdict=_only_fail("message.unsubscribe", "the headers are there but not DKIM-signed"),
        ),
        Cause(
            "domain-blocklisted",
            "sending domain or IP on a DNS blocklist",
            "Receivers look the sending domain and IP up in DNS blocklists (Spamhaus, SpamCop, Barracuda, SURBL, "
            "URIBL); a listed one is filed as spam or refused. A list's 127.255.255.x answer only says it refused "
            "the question (a public resolver, or over quota) and is never taken for a listing.",
            ("reputation.blocklists",),
            _steps_blocklisted,
            verdict=_only_fail("reputation.blocklists", "a list refused or did not answer: not a listing"),
            request=True,
        ),
        Cause(
            "message-judged-spam",
            "the message authenticates but is judged spam",
            "With SPF, DKIM and DMARC passing, the provider's spam filter still files the message as spam: content "
            "and the sending reputation decide.",
            ("message.probe",),
            _steps_message_spam,
            verdict=_message_spam,
        ),
        Cause(
            "dmarc-missing",
            "DMARC missing or not enforcing",
            "DMARC tells receivers what to do when SPF and DKIM do not match the From domain, and where to send "
            "reports. Without it, large mailbox providers (Gmail, Yahoo) treat bulk mail with suspicion.",
            ("dns.dmarc",),
            _steps_dmarc,
            verdict=_dmarc_missing,
        ),
        Cause(
            "mail-from-mx-missing",
            "MAIL FROM domain's MX record missing",
            "With a custom MAIL FROM (mail.thephenom.app), bounces go to that subdomain, which needs an MX pointing at "
            "SES's feedback endpoint. Without it SES marks the MAIL FROM Failed and falls back to amazonses.com "
            "(SPF no longer aligned) or rejects the mail, depending on the setting.",
            ("identity.mail_from",),
            _steps_mail_from,
            verdict=_mail_from(True),
        ),
        Cause(
            "mail-from-not-rechecked",
            "MAIL FROM records present, SES not yet SUCCESS",
            "SES checks the MAIL FROM MX periodically; after a fix it can take up to 72 hours to report SUCCESS.",
            ("identity.mail_from",),
            _steps_mail_from_recheck,
            verdict=_mail_from(False),
        ),
        Cause(
            "smtp-credentials-wrong",
            "SMTP credentials rotated or wrong",
            "The SES SMTP username is an IAM access key id and the password is DERIVED from that key's secret for one "
            "region. A rotated or deleted key, a password derived for another region, or the raw IAM secret pasted as "
            "the password all give '535 Authentication Credentials Invalid'.",
            ("smtp.auth",),
            _steps_smtp_rotate,
            verdict=_smtp_credentials,
            fix="new-smtp-credential",
            severity=STOPS,
        ),
        Cause(
            "smtp-password-is-iam-secret",
            "SMTP password is the raw IAM secret access key",
            "The SES SMTP password is not the IAM secret access key itself but a value DERIVED from it (an HMAC for "
            "one region). The 40-character secret pasted as the password is never valid: 535 at every login.",
            ("smtp.auth",),
            _steps_smtp_password("iam-secret"),
            verdict=_smtp_password(
                "smtp-password-is-iam-secret", "the password has the form of an IAM secret access key (40 characters)"
            ),
            fix="new-smtp-credential",
            severity=STOPS,
        ),
        Cause(
            "smtp-password-sigv2",
            "SMTP password from the retired SigV2 era",
            "SMTP passwords made before 2020 were version 2 (first byte 0x02, Signature Version 2). SES no longer "
            "accepts them: the password must be derived again with the version-4 algorithm, for the region.",
            ("smtp.auth",),
            _steps_smtp_password("sigv2"),
            verdict=_smtp_password(
                "smtp-password-sigv2", "the password is a version-2 SMTP password (first byte 0x02, SigV2)"
            ),
            fix="new-smtp-credential",
            severity=STOPS,
        ),
        Cause(
            "smtp-password-other-region",
            "SMTP password derived for another region",
            "A version-4 SMTP password is derived from the key's secret FOR ONE REGION: the same key's password for "
            "eu-west-1 fails at the us-east-1 endpoint. The key is Active and its user may send, so the password is "
            "the one thing left.",
            ("smtp.auth", "iam.smtp_users"),
            _steps_smtp_password("other-region"),
            verdict=_smtp_password(
                "smtp-password-other-region",
                "the password is a version-4 SMTP password of an Active key whose user may send: derived for another "
                "region",
            ),
            fix="new-smtp-credential",
            severity=STOPS,
        ),
        Cause(
            "smtp-key-inactive",
            "SMTP user's access key inactive (or the user may not send)",
            "An access key can be set Inactive in IAM (e.g. by a key-rotation policy). The SMTP password derived from "
            "it stops working at once, and a user without ses:SendRawEmail cannot send either.",
            ("iam.smtp_users", "smtp.auth"),
            _steps_smtp_key,
            verdict=_smtp_key,
            fix="new-smtp-credential",
            severity=STOPS,
        ),
        Cause(
            "smtp-connection-problem",
            "SMTP endpoint unreachable or TLS not verified",
            "Before credentials matter, the service must reach the SES SMTP endpoint (port 587, STARTTLS) and trust its "
            "certificate; a firewall, a wrong host or a TLS interception proxy stops it there.",
            ("smtp.auth",),
            _steps_smtp_connection,
            verdict=_smtp_connection,
            severity=STOPS,
        ),
    ]
}

CAUSES.update(
    {
        f"recipient-{verdict}": Cause(
            f"recipient-{verdict}",
            title,
            why,
            (TRACE_CHECK,),
            _trace_steps(verdict),
            verdict=_trace_verdict(verdict),
            severity=severity,
        )
        for verdict, (title, why, severity) in _TRACE_CAUSES.items()
    }
)

SYMPTOMS: dict[str, Symptom] = {
    s.id: s
    for s in [
        Symptom(
            "emails-not-delivered",
            "Emails not delivered",
            (
                "account-in-sandbox",
                "sending-disabled",
                "account-paused-by-aws",
                "domain-not-verified",
                "quota-exhausted",
                "recipients-suppressed",
            ),
            "Mail the application sends never arrives.",
            ("SES account still in sandbox", "Request production access in SES console"),
        ),
        Symptom(
            "bounces-or-complaints-spike",
            "Bounces or complaints spike",
            (
                "bounce-spike",
                "complaint-spike",
                "account-under-review",
                "account-paused-by-aws",
                "feedback-not-flowing",
                "no-reputation-alarms",
            ),
            "The bounce or complaint rate jumped, or AWS wrote about the account's reputation.",
            (
                "Sending to invalid or unsubscribed addresses",
                "Review bounce/complaint notifications in SES; clean mailing list",
            ),
        ),
        Symptom(
            "dkim-verification-failed",
            "DKIM verification failed",
            ("dkim-cname-missing", "dkim-propagating"),
            "SES reports DKIM Failed or Pending for the domain.",
            (
                "CNAME records missing or propagating",
                "Re-add DKIM CNAME records in Cloudflare; wait for DNS propagation",
            ),
        ),
        Symptom(
            "sending-quota-hit",
            "Sending quota hit",
            ("quota-exhausted", "account-in-sandbox"),
            "SES refuses mail with 'Daily message quota exceeded'.",
            ("24-hour send limit reached", "Request quota increase in SES console; review sending patterns"),
        ),
        Symptom(
            "events-not-published",
            "Events not published",
            ("event-destination-broken", "feedback-not-flowing"),
            "Bounce, complaint or delivery events stopped arriving where the team reads them.",
        ),
        Symptom(
            "mail-arrives-late",
            "Mail arrives late",
            ("receiver-deferring", "ses-deferral", "mailboxes-full"),
            "Mail is delivered, but minutes or hours after it was sent.",
        ),
        Symptom(
            "sending-rate-exceeded",
            "Sending rate exceeded",
            ("send-rate-exceeded", "account-in-sandbox"),
            "Sends fail now and then with '454 Throttling: Maximum sending rate exceeded'.",
        ),
        Symptom(
            "smtp-auth-failure",
            "SMTP auth failure from service",
            (
                "smtp-credentials-wrong",
                "smtp-password-is-iam-secret",
                "smtp-password-sigv2",
                "smtp-password-other-region",
                "smtp-key-inactive",
                "smtp-connection-problem",
            ),
            "A service (NEST, the API, webmail) cannot log in to the SES SMTP endpoint.",
            ("SMTP credentials rotated or wrong", "Regenerate SMTP credentials from IAM; update service env vars"),
        ),
        Symptom(
            "emails-going-to-spam",
            "Emails going to spam",
            (
                "dkim-signing-disabled",
                "dkim-cname-missing",
                "spf-misconfigured",
                "dmarc-missing",
                "mail-from-mx-missing",
                "message-dkim-broken",
                "message-from-misaligned",
                "spf-permerror",
                "message-missing-unsubscribe",
                "complaint-spike",
                "domain-blocklisted",
                "message-judged-spam",
            ),
            "Mail arrives, but in the spam folder.",
            ("SPF/DKIM/DMARC misconfigured", "Verify all three DNS records in Cloudflare; run mail tester"),
        ),
        Symptom(
            "sending-paused",
            "Sending paused",
            ("sending-disabled", "account-paused-by-aws", "account-under-review"),
            "Every send fails with 'Sending paused for this account'.",
        ),
        Symptom(
            "mail-from-failed",
            "Custom MAIL FROM failed",
            ("mail-from-mx-missing", "mail-from-not-rechecked"),
            "SES reports the MAIL FROM domain as Failed or Pending.",
        ),
        Symptom(
            "suppression-list-growth",
            "Suppression list growing",
            ("recipients-suppressed", "bounce-spike", "complaint-spike"),
            "Many addresses were suppressed recently; mail to them is silently dropped.",
        ),
        Symptom(
            "test-email-rejected",
            "Test email rejected",
            (
                "account-in-sandbox",
                "domain-not-verified",
                "sending-disabled",
                "account-paused-by-aws",
                "quota-exhausted",
            ),
            "The page's 'aws ses send-email' test returns an error instead of a message id.",
            seen_in=("send.test_email",),
            error_causes={
                "MessageRejected": ("account-in-sandbox", "domain-not-verified"),
                "MailFromDomainNotVerifiedException": ("domain-not-verified",),
                "AccountSendingPausedException": ("sending-disabled", "account-paused-by-aws"),
                "SendingPausedException": ("sending-disabled", "account-paused-by-aws"),
                "Throttling": ("quota-exhausted",),
            },
        ),
        Symptom(
            "recipient-not-receiving",
            "A recipient does not get our mail",
            tuple(f"recipient-{verdict}" for verdict in _TRACE_CAUSES),
            "One person says the mail (a password reset, a notification) never arrived: trace them "
            "(ses-runbook trace ADDRESS, 12_trace) and follow the verdict's cause.",
        ),
        Symptom(
            "domain-not-verified",
            "Domain not verified",
            ("domain-not-verified",),
            "SES reports the sending domain as not verified (Pending, Failed) or does not know it.",
        ),
    ]
}


# Symptoms about named recipients (trace_recipients): walked only when asked for by name, never by auto.
BY_NAME_ONLY = frozenset({"recipient-not-receiving"})


def failure_modes() -> list[dict[str, str]]:
    """The page's "Common failure modes" table (its own rows first), with the catalogue's ids."""
    rows = []
    for s in SYMPTOMS.values():
        cause, fix = s.page or ("", "")
        rows.append(
            {
                "symptom": s.title,
                "id": s.id,
                "likely cause (page)": cause,
                "remediation (page)": fix,
                "causes walked": ", ".join(s.causes),
                "on the page": "yes" if s.page else "no",
            }
        )
    return rows


def symptom_ids(symptom: str) -> list[str]:
    """The symptoms ``symptom`` stands for (``auto``: all); ``ParameterError`` for an unknown one."""
    if symptom == "auto":  # the account's failure modes; one person's mail is asked about by name
        return [sid for sid in SYMPTOMS if sid not in BY_NAME_ONLY]
    if symptom not in SYMPTOMS:
        raise ParameterError("symptom", f"unknown failure mode '{symptom}'; allowed: auto, {', '.join(SYMPTOMS)}")
    return [symptom]


def checks_for(symptom: str) -> list[str]:
    """The check ids the symptom's causes need, most likely cause first, each once."""
    ids: list[str] = []
    for sid in symptom_ids(symptom):
        for cid in SYMPTOMS[sid].causes:
            for check_id in CAUSES[cid].checks:
                if check_id not in ids:
                    ids.append(check_id)
    return ids


def facts_for(symptom_ids: Iterable[str], results: dict[str, CheckResult]) -> set[str]:
    """The ``Facts`` fields the steps of these symptoms' causes will use: those of every cause the
    results do not rule out (what a diagnosis reads beside the checks, and only that)."""
    return {
        name
        for sid in symptom_ids
        for cid in SYMPTOMS[sid].causes
        if CAUSES[cid].reads and CAUSES[cid].judge(results)[0] != RULED_OUT
        for name in CAUSES[cid].reads
    }
