"""Telling someone about a run (opt-in, a write): an SNS topic, or any service Apprise knows.

``--notify`` takes ``sns:TOPIC_ARN`` (published through the guarded AWS client, the one write it
grants) or an Apprise URL: ``slack://...``, ``msteams://...``, ``pagerduty://...``,
``mailtos://...``, ``ntfys://...``, ``jsons://host/path`` (a JSON POST) and the rest of Apprise's
services (https://github.com/caronc/apprise/wiki).

Sent when the worst status changed since the previous run (``change``, the default), on every
run that is not ok (``non-ok``) or always. The body holds account, region, worst status, what
changed and the link to the report; never a parameter value that could be a secret, never a
recipient address. A notification that cannot be delivered changes neither the run's result nor
its exit code: it is said on stderr and recorded in ``summary.json`` (``notification``).

Where a notification may go (the ``notify_allow_private`` parameter lifts the first two rules,
for the sandbox, tests and a receiver on the operator's own network):

- **Encrypted only.** A service whose host the URL names (``json``, ``ntfy``, ``gotify``, email...)
  must use its secure form (``jsons://``, ``ntfys://``, ``mailtos://``); ``json://`` would send
  the report's facts, and any token in the URL, in clear. Services with a fixed endpoint (Slack,
  Teams, PagerDuty...) always use their https API.
- **No private targets.** That host is resolved and every address it has is checked: a loopback,
  link-local (169.254.169.254, the instance metadata service), private, shared, reserved or
  multicast address is refused, so a URL cannot turn the runbook's network position against the
  operator's own infrastructure. The check runs just before sending; a name whose answer changes
  between the check and Apprise's own connection (DNS rebinding) is the remaining gap, and the
  reason the allowance is off by default rather than the check being the only defence. (Apprise
  2.3's own connect-time ``utils.http.HTTPPolicy`` guards its attachment downloads and a few
  plugins, not the notification services, and has no public switch.)
- **No redirects.** Apprise follows HTTP 3xx by default (requests' behaviour). It lets each URL
  decide (``?redirect=yes``) with the asset's ``http_redirects`` as the default, so the runbook
  sets that default to False *and* forces every loaded service's ``redirects`` to False after
  parsing, whatever the URL says: a 3xx is then an answer that failed, never a second request
  (to a host nobody checked) carrying the body.
- **No token echoed.** The URL is never printed back: messages name the service and Apprise's
  privacy form of the URL, and every part of the URL that the privacy form hides is masked in
  whatever Apprise logged or raised.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
from collections.abc import Callable
from typing import Any

import apprise

from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import NotifyError
from ses_runbook.core.params import Params
from ses_runbook.core.redact import mask_key_ids
from ses_runbook.runs.history import changes_text

WHEN = ("change", "non-ok", "always")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,31})://\S+$", re.I)
_HINT = "allowed: sns:arn:aws:sns:REGION:ACCOUNT:TOPIC or an Apprise URL (slack://..., msteams://..., jsons://HOST/PATH, ...)"
_STATUS_TYPE = {"ok": apprise.NotifyType.SUCCESS, "skip": apprise.NotifyType.INFO, "warn": apprise.NotifyType.WARNING}


def _shown(target: str) -> str:
    """A target as it may appear in a message: its scheme alone, everything after it masked."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]{0,31}):", target)
    return f"{match.group(1)}:***" if match else "***"


def _asset() -> apprise.AppriseAsset:
    """Apprise's defaults for this process: redirects not followed, nothing read from disk."""
    return apprise.AppriseAsset(http_redirects=False, app_id="ses-runbook", app_desc="SES runbook")


def load_service(url: str) -> Any:
    """The one Apprise service a URL names, with redirects off whatever the URL asks; NotifyError
    (the URL masked) when Apprise does not know it."""
    if not _SCHEME.match(url):
        raise NotifyError(f"--notify '{_shown(url)}': {_HINT}")
    service = apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)
    if service is None:
        raise NotifyError(f"--notify '{_shown(url)}': not a URL Apprise can send to; {_HINT}")
    service.redirects = False
    return service


def parse_target(target: str) -> tuple[str, str]:
    """``sns:ARN`` or an Apprise URL, checked before anything runs: ``(kind, address)`` with kind
    ``sns`` or ``apprise``."""
    kind, _, address = target.partition(":")
    if kind == "sns":
        if _SNS_ARN.match(address):
            return kind, address
        raise NotifyError(f"--notify 'sns:{mask_key_ids(address)[:80]}': not an SNS topic ARN; {_HINT}")
    if kind == "webhook":
        raise NotifyError(
            "--notify webhook:URL is replaced by Apprise URLs: jsons://HOST/PATH posts JSON, "
            "a Slack or Teams webhook has its own (slack://..., msteams://...)"
        )
    load_service(target)
    return "apprise", target


def secret_parts(url: str, service: Any) -> list[str]:
    """Every part of the URL that Apprise's privacy form of it hides (tokens, passwords, keys)."""
    shown = service.url(privacy=True)
    parts = re.split(r"[/:@?&=#,+;]+", url.split("://", 1)[-1])
    return sorted({p for p in parts if len(p) >= 3 and p not in shown}, key=len, reverse=True)


def masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return mask_key_ids(text)


def _forbidden(address: str) -> str | None:
    """Why an address may not be a notification's target, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "link_local", "private", "reserved", "multicast", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "not public"
    return None


def _service_name(service: Any) -> str:
    return str(getattr(service, "service_name", None) or type(service).__name__)


def check_destination(service: Any, allow_private: bool, resolve: Callable[..., Any] = socket.getaddrinfo) -> None:
    """Refuse a service whose URL names its host (``template_tokens`` has ``host``) when it is not
    encrypted or the host has any address that is not public; services with a fixed endpoint
    (Slack, Teams, PagerDuty...) pass (their host is the vendor's API)."""
    if allow_private or "host" not in getattr(service, "template_tokens", {}):
        return
    name = _service_name(service)
    if not getattr(service, "secure", False):
        raise NotifyError(
            f"{name} over an unencrypted scheme refused: use its secure form (e.g. jsons://, ntfys://, mailtos://), "
            "or set notify_allow_private=true for a receiver on your own network"
        )
    host = str(getattr(service, "host", "") or "").strip("[]")  # an IPv6 literal keeps its brackets
    try:
        answers = resolve(host, getattr(service, "port", None) or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise NotifyError(f"{name}: its host does not resolve ({type(exc).__name__})") from None
    for answer in answers:
        why = _forbidden(answer[4][0])
        if why:
            raise NotifyError(
                f"{name}: its host resolves to a {why} address ({answer[4][0]}); refused "
                "(notify_allow_private=true allows loopback and private targets)"
            )


def should_send(when: str, summary: dict[str, Any]) -> bool:
    """``change``: the worst status differs from the previous run's (a first run counts as a change)."""
    if when == "always":
        return True
    if when == "non-ok":
        return summary["worst"] != "ok"
    change = summary.get("changes")
    return not change or change["worst"]["before"] != change["worst"]["after"]


def message(summary: dict[str, Any], link: str) -> dict[str, Any]:
    """The facts of a notification: ``title`` and a Markdown ``body`` for Apprise, and the same
    fields one by one (the SNS message is this object as JSON)."""
    run = summary["run"]
    changed = changes_text(summary.get("changes"))
    previous = (summary.get("changes") or {}).get("worst", {}).get("before")
    title = f"SES runbook: account {run['account']} {run['region']}: worst status {summary['worst']}" + (
        f" (was {previous})" if previous and previous != summary["worst"] else ""
    )
    facts = f"account {run['account']} · region {run['region']} · worst status **{summary['worst']}**" + (
        f" (was {previous})" if previous and previous != summary["worst"] else ""
    )
    body = facts + "\n\n" + "\n".join(f"- {line}" for line in changed) + f"\n\n[report]({link})"
    return {
        "title": title,
        "body": body,
        "account": run["account"],
        "region": run["region"],
        "label": run.get("label"),
        "worst": summary["worst"],
        "previous_worst": previous,
        "changes": changed,
        "report": link,
    }


def send(
    target: str,
    when: str,
    summary: dict[str, Any],
    link: str,
    params: Params | None = None,
    session: Any = None,
    warn: Callable[[str], None] | None = None,
) -> str:
    """Deliver (or not) and record the outcome in ``summary["notification"]``; returns it."""
    kind, address = parse_target(target)
    if not should_send(when, summary):
        outcome = f"not sent ({when}: worst status unchanged)" if when == "change" else f"not sent ({when})"
    else:
        body = message(summary, link)
        try:
            if kind == "sns":
                _publish(address, body, params, session)
                outcome = "sent to sns"
            else:
                outcome = f"sent to {_deliver(address, body, summary['worst'], params)}"
        except Exception as exc:  # noqa: BLE001 - a notification never changes the run's result
            text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            outcome = f"failed ({kind}): {_mask_any(text, target)}"
            if warn:
                warn(f"notification {outcome}")
    summary["notification"] = outcome
    return outcome


def _mask_any(text: str, target: str) -> str:
    """``text`` with whatever of ``target`` could be secret masked (SNS ARNs are not secrets)."""
    if target.startswith("sns:"):
        return mask_key_ids(text)
    try:
        return masked(text, secret_parts(target, load_service(target)))
    except NotifyError:
        return mask_key_ids(text.replace(target, _shown(target)))


def _deliver(url: str, body: dict[str, Any], worst: str, params: Params | None) -> str:
    """One Apprise notification, after ``check_destination``; returns the service's name."""
    service = load_service(url)
    check_destination(service, bool(params and params.notify_allow_private))
    secrets = secret_parts(url, service)
    notifier = apprise.Apprise(asset=_asset())
    notifier.add(service)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        delivered = notifier.notify(
            body=body["body"],
            title=body["title"],
            body_format=apprise.NotifyFormat.MARKDOWN,
            notify_type=_STATUS_TYPE.get(worst, apprise.NotifyType.FAILURE),
        )
        said = log.getvalue().strip().splitlines()
    if not delivered:
        reason = next((line for line in reversed(said) if line.strip()), "not delivered")
        raise NotifyError(f"{_service_name(service)}: {masked(reason, secrets)}")
    return _service_name(service)


def _publish(arn: str, body: dict[str, Any], params: Params | None, session: Any) -> None:
    """SNS Publish through the guarded client, in the topic's region, with the parameters'
    credentials and endpoint; ``sns.Publish`` is the one write this client is granted (the user
    asked for it with ``--notify``)."""
    region = arn.split(":")[3]
    aws = Aws((params or Params()).model_copy(update={"region": region}), session, grants=("sns.Publish",))
    subject = f"SES runbook {body['account']} {body['region']}: {body['worst']}"[:100]
    aws.call("sns", "Publish", TopicArn=arn, Subject=subject, Message=json.dumps(body))
