"""DKIM (RFC 6376) and ARC verified with dkimpy, its key look-ups answered by the run's ``Lookup``.

dkimpy is the reference implementation (the dkimpy-milter and OpenARC test suites use it) and
verifies every algorithm in use: ``rsa-sha256`` and RFC 8463's ``ed25519-sha256``, which needs
PyNaCl (a dependency of the package, so an Ed25519 signature is verified, not graded a failure).
RSA keys under 1024 bits fail, as RFC 8301 says. One row per ``DKIM-Signature``: domain,
selector, algorithm, key length, body hash, result and, when it fails, why, in the words an
engineer acts on (body changed, key missing, key replaced).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from typing import Any

from ses_runbook.sources.mailauth.dns import Lookup, tag_list

MIN_RSA_BITS = 1024
# RFC 6376 6.1: a verifier may limit the signatures it tries (OpenDKIM's default is 3): anyone can
# add thousands, and each costs a body hash and a DNS query. The first ones are judged, the rest counted.
MAX_SIGNATURES = 10


def dnsfunc(lookup: Lookup) -> Callable[..., bytes | None]:
    """dkimpy's ``dnsfunc``: the first TXT record of a name, through the run's resolver."""

    def get_txt(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        values = lookup.query(text.rstrip("."), "TXT").values
        return values[0].encode("utf-8") if values else None

    return get_txt


def reason(text: str) -> str:
    """What dkimpy says, as the cause to look for."""
    if "body hash mismatch" in text:
        return (
            "body hash mismatch: the body changed after signing (truncated, re-encoded 8-bit, or rewritten by a proxy)"
        )
    if "missing public key" in text or "no key" in text.lower():
        return "no public key in DNS at the selector (key missing or selector wrong)"
    if "DnsTimeoutError" in text:
        return "DNS did not answer for the key in time"
    if "pynacl" in text.lower():
        return "an ed25519-sha256 signature, and PyNaCl (which verifies it) is not installed: pip install PyNaCl"
    return text


class _Said:
    """A logger for dkimpy that keeps what it reports as errors (a missing key is logged, not raised)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, text: str, *args: Any) -> None:
        self.errors.append(str(text) % args if args else str(text))

    def debug(self, *args: Any, **kwargs: Any) -> None:
        pass

    info = warning = debug


def verify(raw: bytes, lookup: Lookup) -> list[dict[str, Any]]:
    """The DKIM-Signatures of a message verified against DNS, topmost first: the first
    ``MAX_SIGNATURES`` of them (the check says how many there are). The message is parsed once.

    Each row: ``d``, ``s``, ``a``, ``c``, ``l``, ``selector_name``, ``key_bits`` (256 for an
    Ed25519 key), ``body_hash`` (ok, mismatch or ?), ``result`` (pass, fail, or permerror when no
    key is published) and ``reason``.
    """
    import dkim  # dkimpy imports dnspython's resolver; only a judged message needs it, after Lookup set DNS up; deferred: dkimpy and its crypto: only when a signature is verified or made

    get_txt = dnsfunc(lookup)
    rows = []
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    signatures = [str(value) for value in parsed.get_all("DKIM-Signature") or []]  # topmost first, as dkimpy counts
    signer: Any = None
    judged = _without_signatures_after(raw, MAX_SIGNATURES) if len(signatures) > MAX_SIGNATURES else raw
    for idx, value in enumerate(signatures[:MAX_SIGNATURES]):
        tags = tag_list(value)
        row: dict[str, Any] = {
            "d": tags.get("d", "").lower(),
            "s": tags.get("s"),
            "a": tags.get("a"),
            "c": tags.get("c", "simple/simple"),
            "l": tags.get("l"),
            "key_bits": None,
            "body_hash": "?",
            "result": "fail",
            "reason": "",
        }
        row["selector_name"] = f"{row['s']}._domainkey.{row['d']}"
        said = _Said()
        try:
            if signer is None:  # one parse of the message for every signature
                signer = dkim.DKIM(judged, minkey=MIN_RSA_BITS, timeout=lookup.params.dns_timeout_s)
            signer.logger = said
            signer.keysize = 0
            ok = signer.verify(idx=idx, dnsfunc=get_txt)
            row["key_bits"] = signer.keysize or None
            row["result"] = "pass" if ok else "fail"
            if not ok and said.errors:  # dkimpy logs key trouble and returns False
                row["reason"] = reason(said.errors[-1])
                row["result"] = "permerror" if "missing public key" in said.errors[-1] else "fail"
            elif not ok:
                row["body_hash"] = "ok"
                row["reason"] = (
                    "the signature does not verify with the key published at "
                    f"{row['selector_name']}: the key in DNS is not the one that signed, or a signed header changed"
                )
            else:
                row["body_hash"] = "ok"
        except dkim.DKIMException as exc:
            row["reason"] = reason(str(exc) or type(exc).__name__)
            row["body_hash"] = "mismatch" if "body hash" in str(exc) else "?"
            if "missing public key" in str(exc):
                row["result"] = "permerror"
        rows.append(row)
    return rows


def _without_signatures_after(raw: bytes, keep: int) -> bytes:
    """``raw`` without the DKIM-Signature fields after the first ``keep``: dkimpy canonicalises every
    header field for each signature it verifies, so thousands of unjudged ones would cost as much as
    judging them."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    lines = head.splitlines(keepends=True)
    out: list[bytes] = []
    seen = 0
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the field above
            if not dropping:
                out.append(line)
            continue
        dropping = False
        if line.lower().startswith(b"dkim-signature:"):
            seen += 1
            dropping = seen > keep
        if not dropping:
            out.append(line)
    return b"".join(out) + sep + body


def verify_arc(raw: bytes, lookup: Lookup) -> dict[str, Any]:
    """The ARC chain's validation (``cv=``) and dkimpy's reason."""
    import dkim  # as in verify: loaded only when a message is judged; deferred: dkimpy and its crypto: only when a signature is verified or made

    try:
        cv, _results, why = dkim.arc_verify(raw, dnsfunc=dnsfunc(lookup), timeout=lookup.params.dns_timeout_s)
    except dkim.DKIMException as exc:
        return {"cv": "fail", "reason": str(exc)}
    return {
        "cv": cv.decode() if isinstance(cv, bytes) else str(cv),
        "reason": why.decode() if isinstance(why, bytes) else str(why or ""),
    }
