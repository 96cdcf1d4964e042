"""The sandbox's mail path after SES accepts a message: signed as SES signs, stored as a receipt rule stores.

Mail for the scenario's inbound address lands in a moto S3 bucket under the rule's prefix, keyed
by a receipt id (not the sending message id, as with SES receiving), and in the loopback IMAP
mailbox (``Inbox`` or ``Spam`` as the scenario says). Nothing here is reachable from ``checks/``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from ses_runbook.sandbox import mail
from ses_runbook.sandbox.world import ACCOUNT, World


def _s3_backend() -> Any:
    # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
    from moto.s3.models import s3_backends

    return s3_backends[ACCOUNT]["aws"]


def create_bucket(world: World, client: Any) -> None:
    """The receipt rule's bucket (empty), created when the sandbox starts."""
    box = world.scenario.mail
    client.create_bucket(Bucket=box.inbound_bucket)


def request_of(service: str, operation: str, body: bytes) -> dict[str, Any] | None:
    """A send request as (from, to, subject, text, list name), from the v1 form or the v2 JSON."""
    if service == "sesv2" and operation == "SendEmail":
        data = json.loads(body or b"{}")
        simple = (data.get("Content") or {}).get("Simple") or {}
        return {
            "from": data.get("FromEmailAddress", ""),
            "to": (data.get("Destination") or {}).get("ToAddresses", []),
            "subject": (simple.get("Subject") or {}).get("Data", ""),
            "text": ((simple.get("Body") or {}).get("Text") or {}).get("Data", ""),
            "list": (data.get("ListManagementOptions") or {}).get("ContactListName"),
        }
    if service == "ses" and operation == "SendEmail":
        form = parse_qs(body.decode("utf-8", "replace"))
        to = [v[0] for k, v in sorted(form.items()) if k.startswith("Destination.ToAddresses.member.")]
        return {
            "from": form.get("Source", [""])[0],
            "to": to,
            "subject": form.get("Message.Subject.Data", [""])[0],
            "text": form.get("Message.Body.Text.Data", [""])[0],
            "list": None,
        }
    return None


def contact_list_error(world: World, request: dict[str, Any]) -> str | None:
    """SES refuses a ListManagementOptions naming a contact list that does not exist."""
    name = request.get("list")
    if name and name != world.scenario.mail.contact_list:
        return f"List with name {name} does not exist."
    return None


def build(world: World, request: dict[str, Any], message_id: str, *, earlier: bool = False) -> bytes:
    """The message as the receiving side stores it after SES built, signed and sent it; ``earlier``
    for mail sent before the scenario's now, signed as when every identity was still verified."""
    scenario = world.scenario
    box = scenario.mail
    sender = request["from"]
    identity = world.signing_identity(sender, earlier=earlier)  # a verified parent domain signs for its subdomains too
    headers: dict[str, str] = {}
    if request.get("list"):
        token = hashlib.sha256(message_id.encode()).hexdigest()[:24]
        headers["List-Unsubscribe"] = f"<https://unsubscribe.{scenario.region}.amazonses.com/v1/{token}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    when = world.as_of + timedelta(seconds=len(world.sent))
    raw = mail.compose(
        sender,
        ", ".join(request["to"]),
        request["subject"],
        request["text"] + "\n",
        f"<{message_id}@email.amazonses.com>",
        when,
        headers,
    )
    published, _ = mail.keypair("sandbox")
    signing: list[tuple[str, str, bytes]] = [("amazonses.com", mail.SES_SELECTOR, published)]
    with world.lock:
        signs = (
            identity is not None
            and identity.dkim == "Success"
            and world.dkim_enabled.get(identity.name, identity.dkim_enabled)
        )
    if signs and identity is not None:
        key = published if box.signing_key == "published" else mail.keypair("sandbox-rotated")[0]
        signing.append((identity.name.lower(), scenario.dkim_tokens(identity.name)[0], key))
    mail_from = None
    if (
        identity is not None
        and identity.mail_from_domain
        and identity.mail_from_status == "Success"
        and scenario.dns.mail_from_mx
    ):
        mail_from = identity.mail_from_domain
    return_path = f"{message_id}@{mail_from or 'amazonses.com'}"
    return mail.ses_deliver(
        raw,
        signing=signing,
        return_path=return_path,
        received_by=f"inbound-smtp.{scenario.region}.amazonaws.com",
        when=when,
        spam_verdict="FAIL" if box.placement == "Spam" else "PASS",
    )


def deliver(world: World, request: dict[str, Any], message_id: str, *, earlier: bool = False) -> str | None:
    """Store the message for the inbound address, as the receipt rule's S3 action would; returns the key
    (``earlier``: see ``build``)."""
    box = world.scenario.mail
    if box.inbound_address.lower() not in [t.lower() for t in request["to"]]:
        return None
    raw = build(world, request, message_id, earlier=earlier)
    key = box.inbound_prefix + hashlib.sha256(b"receipt|" + message_id.encode()).hexdigest()[:32]
    with world.lock:
        world.inbox.append({"key": key, "raw": raw, "folder": box.placement})
        mailbox = world.mailbox
    if box.deliver:
        _s3_backend().put_object(box.inbound_bucket, key, raw)
        if mailbox is not None:
            mailbox.deliver(raw, box.placement)
    return key


def seed(world: World) -> None:
    """One message already stored when the sandbox starts: the platform's last notification to the
    inbound address, built as SES built it, so a read-only mail test has something to judge."""
    box = world.scenario.mail
    request = {
        "from": "no-reply@thephenom.app",
        "to": [box.inbound_address],
        "subject": "Your weekly summary",
        "text": "Three new notifications are waiting for you on thephenom.app.",
        "list": box.contact_list,
    }
    # sent before the scenario's now: signed as then, even where the domain has failed verification since
    deliver(world, request, "0100019a3c2f0000-seeded-notification-000000", earlier=True)
