"""Runbook row "SMTP auth failure from service": log in the way the services do, send nothing.

NEST, the API and the webmail service hold an SMTP username (an IAM access key id) and an SMTP
password (derived from that key's secret, per region). The check reads both from the environment
variables the parameters name, connects to ``smtp_endpoint``, upgrades with STARTTLS verifying
the certificate, authenticates, and quits. The password never leaves this module: not in
details, not in messages; the username is recorded masked.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.iampolicy import SEND_ACTION
from ses_runbook.core.identities import domain_of
from ses_runbook.core.redact import mask_key_id
from ses_runbook.core.results import Status
from ses_runbook.core.smtpcred import password_kind
from ses_runbook.sources import ses

_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,}$")
INVALID_TEXT = (
    "the credentials are not valid SES SMTP credentials: rotated key, wrong region, or an IAM secret used as password"
)


@dataclass
class Login:
    """What happened on the wire: how far the session got and the server's last reply."""

    host: str
    port: int
    stage: str = "connect"  # connect, starttls, auth, done
    code: int | None = None
    text: str = ""
    tls: str | None = None
    mechanism: str | None = None
    error: str | None = None  # refused, timeout, dns, tls, no-starttls, no-auth, disconnected, os
    extra: dict[str, Any] = field(default_factory=dict)


def smtp_login(host: str, port: int, username: str, password: str, timeout: float, cafile: str | None = None) -> Login:
    """Connect, EHLO, STARTTLS (certificate and host name verified), AUTH once, QUIT.

    One AUTH attempt only (PLAIN, else LOGIN), so a wrong password costs one failure on the
    account, not one per mechanism as ``smtplib.SMTP.login`` would.
    """
    result = Login(host, port)
    server: smtplib.SMTP | None = None
    try:
        server = smtplib.SMTP(host, port, timeout=timeout)  # connects; the host is what STARTTLS verifies
        server.ehlo()
        result.stage = "starttls"
        if not server.has_extn("starttls"):
            result.error = "no-starttls"
            return result
        context = ssl.create_default_context(cafile=cafile)
        code, reply = server.starttls(context=context)
        result.code, result.text = code, _text(reply)
        sock = server.sock
        result.tls = sock.version() if isinstance(sock, ssl.SSLSocket) else None
        server.ehlo()
        result.stage = "auth"
        offered = server.esmtp_features.get("auth", "").upper().split()
        mechanism = "PLAIN" if "PLAIN" in offered or not offered else "LOGIN" if "LOGIN" in offered else None
        if mechanism is None:
            result.error = "no-auth"
            result.text = f"AUTH mechanisms offered: {' '.join(offered) or 'none'}"
            return result
        result.mechanism = mechanism
        server.user, server.password = username, password
        try:
            code, reply = server.auth(mechanism, getattr(server, f"auth_{mechanism.lower()}"), initial_response_ok=True)
        finally:
            server.password = ""
        result.code, result.text, result.stage = code, _text(reply), "done"
    except smtplib.SMTPAuthenticationError as exc:
        result.code, result.text, result.stage = exc.smtp_code, _text(exc.smtp_error), "done"
    except smtplib.SMTPResponseException as exc:  # e.g. 421 at the greeting, 454 to STARTTLS
        result.code, result.text = exc.smtp_code, _text(exc.smtp_error)
        result.error = "reply"
    except ssl.SSLCertVerificationError as exc:
        result.error, result.text = "tls", exc.verify_message or str(exc)
    except ssl.SSLError as exc:
        result.error, result.text = "tls", exc.reason or str(exc)
    except TimeoutError:
        result.error = "timeout"
    except ConnectionRefusedError:
        result.error = "refused"
    except socket.gaierror as exc:
        result.error, result.text = "dns", str(exc.strerror or exc)
    except smtplib.SMTPServerDisconnected as exc:  # smtplib reports a read timeout this way too
        result.error = "timeout" if "timed out" in str(exc) else "disconnected"
        result.text = str(exc)
    except OSError as exc:
        result.error, result.text = "os", str(exc.strerror or exc)
    finally:
        if server is not None:
            server.password = ""
            try:
                if server.sock is not None:
                    server.quit()
            except (smtplib.SMTPException, OSError):
                pass
            server.close()
    return result


def _text(reply: bytes | str | None) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply or "").split())


def key_owner(ctx: Context, key_id: str) -> dict[str, Any]:
    """IAM ``GetAccessKeyLastUsed`` for one key, asked once per run even when it fails:
    ``{"user", "last_used"}``, or ``{"error": code}`` (NoSuchEntity: the key was deleted)."""

    def fetch() -> dict[str, Any]:
        try:
            answer = ses.access_key_last_used(ctx.aws, key_id)
            return {"user": answer.get("UserName"), "last_used": answer.get("AccessKeyLastUsed") or {}}
        except Exception as exc:  # noqa: BLE001 - the caller reports the code
            return {"error": getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)}

    return ctx.once(f"iam.key_owner.{key_id}", fetch)


def may_send(ctx: Context, user: str) -> tuple[bool | None, str | None]:
    """IAM ``SimulatePrincipalPolicy`` (a read): may ``user`` call ses:SendRawEmail on the sending identity of
    this region? ``(answer, None)``, or ``(None, why not known)``: a denied simulation names its action."""
    try:
        account = ctx.aws.account_id()
        sender_domain = domain_of(ctx.params.sender) or ctx.params.domain
        answer = ctx.aws.call(
            "iam",
            "SimulatePrincipalPolicy",
            PolicySourceArn=f"arn:aws:iam::{account}:user/{user}",
            ActionNames=[SEND_ACTION],
            ResourceArns=[f"arn:aws:ses:{ctx.params.region}:{account}:identity/{sender_domain}"],
        )
    except Exception as exc:  # noqa: BLE001 - the hint says why it is not known
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        if "AccessDenied" in code or "Unauthorized" in code:
            return None, f"could not simulate IAM user {user}'s policies (needs iam:SimulatePrincipalPolicy)"
        return None, f"could not simulate IAM user {user}'s policies ({code})"
    decisions = [r.get("EvalDecision") for r in answer.get("EvaluationResults", [])]
    return (bool(decisions) and all(d == "allowed" for d in decisions)), None


def diagnose_535(ctx: Context, username: str, password: str, found: dict[str, Any] | None = None) -> list[str]:
    """Tell the causes of a 535 apart as far as the account lets us: the password's form
    (``password_kind``), the key (IAM ``GetAccessKeyLastUsed`` for its owner, ``ListAccessKeys`` for
    its status). What was measured goes into ``found`` (``password_kind``, ``key_status``: Active,
    Inactive, missing or unknown; ``key_user``) for the catalogue to judge; never the password."""
    found = {} if found is None else found
    hints: list[str] = []
    masked = mask_key_id(username)
    kind = password_kind(password)
    found.update(password_kind=kind, key_status="unknown", key_user=None)
    if kind == "iam-secret":
        hints.append(
            "the password has the shape of an IAM secret access key (40 characters), which is never valid for SMTP: "
            "services need the SMTP password DERIVED from it for this region "
            "(ses_runbook.core.smtpcred.derive_smtp_password)"
        )
    elif kind == "smtp-v2":
        hints.append(
            "the password is a version-2 SMTP password (first byte 0x02, the retired SigV2 form), which SES no "
            "longer accepts: derive the version-4 password for this region from the key's secret"
        )
    elif kind == "unknown":
        hints.append("the password is not in the SES SMTP password format (44 base64 characters, version 4)")
    if not _KEY_ID.match(username):
        hints.append("the username is not an access key id (SES SMTP usernames look like AKIA...)")
        return hints
    owner = key_owner(ctx, username)
    if "error" in owner:
        code = owner["error"]
        if "AccessDenied" in code or "Unauthorized" in code:
            hints.append("could not look the key up in IAM (needs iam:GetAccessKeyLastUsed)")
        else:
            found["key_status"] = "missing"
            hints.append(
                f"access key {masked} does not exist in this account ({code}): it was deleted, i.e. the "
                "credentials were rotated and the service still holds the old ones"
            )
        return hints
    user = owner.get("user") or "?"
    found["key_user"] = user
    used = owner.get("last_used") or {}
    try:
        status = next(
            (k.get("Status") for k in ses.access_keys(ctx.aws, user) if k.get("AccessKeyId") == username), None
        )
    except Exception:  # noqa: BLE001
        status = None
    if status in ("Active", "Inactive"):
        found["key_status"] = status
    if status == "Active":
        allowed, why = may_send(ctx, user)
        found["may_send"] = allowed
        if why:
            hints.append(why)
        elif not allowed:
            hints.append(
                f"IAM user {user} may not call {SEND_ACTION} on the sending identity in {ctx.params.region} "
                "(IAM SimulatePrincipalPolicy): grant it, or use the key of a user who may send"
            )
    if status == "Inactive":
        hints.append(f"access key {masked} of IAM user {user} is Inactive: activate it or give the service a new key")
    elif status == "Active" and kind == "smtp-v4" and found.get("may_send") is not False:
        region = used.get("Region")
        where = (
            f"; it was last used with {used.get('ServiceName')} in {region}"
            if region and region not in ("N/A", ctx.params.region)
            else ""
        )
        hints.append(
            f"access key {masked} of IAM user {user} is Active and the password is a version-4 SMTP password: "
            f"SMTP passwords are region-specific, so it was likely derived for another region than "
            f"{ctx.params.region} (or from another secret){where}"
        )
    else:
        hints.append(f"access key {masked} of IAM user {user} is {status or 'of unknown status'}")
    return hints


@check(
    "smtp.auth",
    "Services' SMTP credentials log in to the SES SMTP endpoint",
    lambda p: (
        f"openssl s_client -starttls smtp -crlf -connect {p.smtp_endpoint[0]}:{p.smtp_endpoint[1]}"
        + (f" -CAfile {p.smtp_tls_ca_file}" if p.smtp_tls_ca_file else "")
        + f"   # then: EHLO x, AUTH LOGIN with base64 of ${p.smtp_username_env} and ${p.smtp_password_env}"
    ),
    remediation="smtp-auth-failure",
)
def auth(ctx: Context) -> Outcome:
    p = ctx.params
    host, port = p.smtp_endpoint
    username = os.environ.get(p.smtp_username_env, "").strip()
    password = os.environ.get(p.smtp_password_env, "")
    details: dict[str, Any] = {
        "host": host,
        "port": port,
        "username": mask_key_id(username) if username else None,
        "username_env": p.smtp_username_env,
        "password_env": p.smtp_password_env,
        "tls_ca_file": p.smtp_tls_ca_file,
        "timeout_s": p.connect_timeout_s,
    }
    missing = [name for name, value in ((p.smtp_username_env, username), (p.smtp_password_env, password)) if not value]
    if missing:
        return Outcome(
            Status.SKIP,
            f"no SMTP credentials to test: set {' and '.join(missing)} to the SMTP username and "
            "password the services use (read from the environment, never from parameters)",
            details,
        )
    login = smtp_login(host, port, username, password, timeout=p.connect_timeout_s, cafile=p.smtp_tls_ca_file)
    details.update(code=login.code, reply=login.text, stage=login.stage, tls=login.tls, mechanism=login.mechanism)
    where = f"{host}:{port}"
    who = mask_key_id(username)
    if login.error == "refused":
        return Outcome(Status.ERROR, f"cannot connect to {where}: connection refused", details)
    if login.error == "timeout":
        return Outcome(
            Status.ERROR,
            f"{where} did not answer within {p.connect_timeout_s:g} s (connect_timeout_s) during {login.stage}",
            details,
        )
    if login.error == "dns":
        return Outcome(Status.ERROR, f"cannot resolve SMTP host {host}: {login.text}", details)
    if login.error in ("disconnected", "os"):
        return Outcome(Status.ERROR, f"{where} closed the connection during {login.stage}: {login.text}", details)
    if login.error == "tls":
        ca = p.smtp_tls_ca_file or "the system CAs"
        return Outcome(
            Status.FAIL, f"the TLS certificate of {host} could not be verified against {ca}: {login.text}", details
        )
    if login.error == "no-starttls":
        return Outcome(
            Status.FAIL,
            f"{where} does not offer STARTTLS: credentials would travel in clear; is smtp_host really SES?",
            details,
        )
    if login.error == "no-auth":
        return Outcome(Status.FAIL, f"{where} offers no AUTH PLAIN or LOGIN ({login.text})", details)
    reply = f"{login.code} {login.text}".strip()
    if login.error == "reply" or login.code in (421, 454):
        temporary = login.code in (421, 454) or (login.code or 0) // 100 == 4
        status = Status.WARN if login.code == 454 else Status.ERROR if temporary else Status.FAIL
        return Outcome(
            status,
            f"{where} answered {reply} during {login.stage}"
            + (": a temporary failure, retry; if it persists, SES is throttling or degraded" if temporary else ""),
            details,
        )
    if login.code == 235:
        return Outcome(
            Status.OK,
            f"logged in to {where} as {who} over {login.tls or 'TLS'} (certificate verified), "
            f"server answered {reply!r}; nothing sent",
            details,
        )
    if login.code == 535:
        found: dict[str, Any] = {}
        hints = diagnose_535(ctx, username, password, found)
        details["diagnosis"] = hints
        details.update(found)
        return Outcome(
            Status.FAIL,
            f"{where} answered {reply} for {who}: {INVALID_TEXT}" + (f". {'; '.join(hints)}" if hints else ""),
            details,
        )
    return Outcome(Status.FAIL, f"{where} refused AUTH for {who}: {reply}", details)
