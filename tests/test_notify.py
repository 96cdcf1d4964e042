"""Notifications: sent exactly when asked (a loopback Apprise ``json://`` receiver, the sandbox's SNS),
never without the option, a body without secrets, a dead endpoint that changes nothing else; and
where a notification may go: https only, no redirects, no private targets unless allowed, no token
echoed."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import NotifyError, ReadOnlyError
from ses_runbook.core.params import Params
from ses_runbook.runs import notify, reporting
from ses_runbook.runs.runner import resolve_notebooks
from ses_runbook.sandbox.world import SANDBOX_KEY
from support import closed_port, run_cli


class Receiver:
    """An HTTP receiver on 127.0.0.1 that keeps every JSON body it is sent, and every path asked
    for; ``/moved`` answers 302 to ``/elsewhere``."""

    def __init__(self) -> None:
        bodies = self.bodies = []
        paths = self.paths = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                paths.append(self.path)
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                if self.path.startswith("/moved"):
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook"  # Apprise's JSON POST
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


FAILING = {"bounce_rate_warn": 0.001, "bounce_rate_fail": 0.002}  # the healthy scenario's 1.3 % then fails


def test_apprise_only_on_change_and_failures_change_nothing(tmp_path, sandbox, receiver) -> None:
    books = resolve_notebooks(["00"])
    root = str(tmp_path)
    run = lambda params, target, when="change": reporting.run_into_root(  # noqa: E731
        params, books, root, jobs=1, quiet=True, notify=target, notify_on=when, warn=warnings.append
    )
    warnings: list[str] = []
    hook = receiver.url
    first = run(sandbox.params, hook)  # first run: a change from nothing
    second = run(sandbox.params, hook)  # ok -> ok: nothing sent
    third = run(sandbox.params.model_copy(update=FAILING), hook)  # ok -> fail: sent
    fourth = run(sandbox.params.model_copy(update=FAILING), hook, "non-ok")  # fail, non-ok: sent
    assert [r.notified for r in (first, second, third, fourth)] == [
        "sent to JSON",
        "not sent (change: worst status unchanged)",
        "sent to JSON",
        "sent to JSON",
    ]
    assert len(receiver.bodies) == 3
    body = receiver.bodies[1]  # Apprise's JSON: title, message (our Markdown body), type
    assert body["title"] == "SES runbook: account 123456789012 us-east-1: worst status fail (was ok)"
    assert body["type"] == "failure"
    assert "account 123456789012 · region us-east-1 · worst status **fail** (was ok)" in body["message"]
    assert "- reputation.bounce_rate: ok -> fail" in body["message"]
    assert f"[report]({(tmp_path / third.path / 'index.html').resolve().as_uri()})" in body["message"]
    text = json.dumps(receiver.bodies)
    assert SANDBOX_KEY[0] not in text and SANDBOX_KEY[1] not in text and "smtp_password" not in text

    with closed_port() as port:
        down = run(sandbox.params, f"json://127.0.0.1:{port}/hook", "always")
    assert down.exit_code == 0 and down.notified.startswith("failed (apprise)")
    assert any("notification failed" in w for w in warnings)
    stored = json.loads((tmp_path / down.path / "summary.json").read_text())
    assert stored["notification"].startswith("failed") and stored["worst"] == "ok"


def test_sns_topic_of_the_sandbox(tmp_path, sandbox) -> None:
    from moto.sns.models import sns_backends

    arn = sandbox.box.client("sns").create_topic(Name="ses-runbook")["TopicArn"]
    done = reporting.run_into_root(
        sandbox.params,
        resolve_notebooks(["00"]),
        str(tmp_path),
        jobs=1,
        quiet=True,
        notify=f"sns:{arn}",
        notify_on="always",
    )
    assert done.notified == "sent to sns"
    sent = sns_backends["123456789012"]["us-east-1"].topics[arn].sent_notifications
    assert len(sent) == 1
    message = json.loads(sent[0][1])
    assert message["worst"] == "ok" and message["account"] == "123456789012" and sent[0][2].startswith("SES runbook")
    # the grant is the notification's alone: the run's own client still refuses the write
    with pytest.raises(ReadOnlyError, match="sns.Publish is a write"):
        Aws(sandbox.params).call("sns", "Publish", TopicArn=arn, Message="x")
    assert len(sent) == 1


def test_nothing_sent_without_the_option(tmp_path, sandbox, receiver) -> None:
    done = reporting.run_into_root(sandbox.params, resolve_notebooks(["00"]), str(tmp_path), jobs=1, quiet=True)
    assert done.notified is None and receiver.bodies == []
    assert "notification" not in json.loads((tmp_path / done.path / "summary.json").read_text())


@pytest.mark.parametrize(
    "args,named",
    [
        (["--notify", "mail:ops@example.com", "--reports", "R"], "--notify"),
        (["--notify", "sns:not-an-arn", "--reports", "R"], "--notify"),
        (["--notify", "jsons://example.com/x"], "need --reports"),
        (["--notify", "webhook:https://example.com/x", "--reports", "R"], "Apprise"),
        (["--notify", "nosuchservice://tok3n/x", "--reports", "R"], "not a URL Apprise can send to"),
        (["--keep", "3"], "need --reports"),
        (["--keep", "0", "--reports", "R"], "--keep"),
    ],
)
def test_bad_notify_and_keep_options(tmp_path, args, named) -> None:
    proc = run_cli("run", *[a.replace("R", str(tmp_path / "R")) if a == "R" else a for a in args], "00")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr, proc.stderr


def test_should_send_rules() -> None:
    ok_to_ok = {"worst": "ok", "changes": {"worst": {"before": "ok", "after": "ok"}}}
    warn_to_warn = {"worst": "warn", "changes": {"worst": {"before": "warn", "after": "warn"}}}
    first = {"worst": "ok", "changes": None}
    assert not notify.should_send("change", ok_to_ok) and notify.should_send("change", first)
    assert notify.should_send("non-ok", warn_to_warn) and not notify.should_send("non-ok", ok_to_ok)
    assert notify.should_send("always", ok_to_ok)


SUMMARY = {"run": {"account": "123456789012", "region": "us-east-1"}, "worst": "fail", "checks": [], "changes": None}
ALLOWED = Params(notify_allow_private=True)


def test_a_local_json_target_gets_the_body(receiver) -> None:
    """With the allowance (loopback, plain http), Apprise's json:// target gets the facts."""
    outcome = notify.send(receiver.url, "always", dict(SUMMARY), "https://reports.example/run/index.html", ALLOWED)
    assert outcome == "sent to JSON" and receiver.paths == ["/hook"]
    body = receiver.bodies[0]
    assert body["title"].startswith("SES runbook: account 123456789012 us-east-1: worst status fail")
    assert "first run of this account and region" in body["message"]
    assert "[report](https://reports.example/run/index.html)" in body["message"]


def test_a_redirect_is_not_followed(receiver) -> None:
    moved = receiver.url.replace("/hook", "/moved") + "?redirect=yes"  # even when the URL asks for it
    warnings: list[str] = []
    outcome = notify.send(moved, "always", dict(SUMMARY), "https://r/i", ALLOWED, warn=warnings.append)
    assert outcome.startswith("failed (apprise)") and "302" in outcome
    assert receiver.paths == ["/moved"]  # /elsewhere was never asked for
    assert warnings == [f"notification {outcome}"]


@pytest.mark.parametrize(
    "url,refusal",
    [
        ("jsons://169.254.169.254/latest/meta-data", "link-local address (169.254.169.254)"),
        ("jsons://127.0.0.1:8443/hook", "loopback address"),
        ("jsons://10.1.2.3/hook", "private address"),
        ("jsons://[::ffff:169.254.169.254]/x", "link-local"),
        ("json://hooks.example.com/hook", "unencrypted scheme refused"),
        ("ntfy://ntfy.example.com/topic", "unencrypted scheme refused"),
    ],
)
def test_private_targets_and_plain_http_refused_without_the_allowance(url, refusal) -> None:
    service = notify.load_service(url)
    with pytest.raises(NotifyError, match=re.escape(refusal)):
        notify.check_destination(service, allow_private=False)
    notify.check_destination(service, allow_private=True)  # the sandbox's and the tests' allowance
    outcome = notify.send(url, "always", dict(SUMMARY), "https://r/i", Params())
    assert outcome.startswith("failed (apprise)") and refusal in outcome


def test_a_name_with_any_private_address_is_refused() -> None:
    """Every address a name resolves to is checked, not the first one."""
    answers = [(2, 1, 6, "", ("93.184.216.34", 443)), (2, 1, 6, "", ("192.168.1.5", 443))]
    service = notify.load_service("jsons://hooks.example.com/x")
    with pytest.raises(NotifyError, match="private address"):
        notify.check_destination(service, False, resolve=lambda *a, **k: answers)
    notify.check_destination(service, False, resolve=lambda *a, **k: answers[:1])


def test_fixed_endpoint_services_pass_the_host_check() -> None:
    """Slack's URL holds tokens, not a host: its endpoint is Slack's https API."""
    notify.check_destination(notify.load_service("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"), False)


def test_a_token_in_the_url_is_never_echoed(receiver) -> None:
    token = "zq8Secr3tT0kenValue"
    with closed_port() as port:
        outcome = notify.send(
            f"json://ops:{token}@127.0.0.1:{port}/hook?key={token}", "always", dict(SUMMARY), "https://r/i", ALLOWED
        )
    assert outcome.startswith("failed (apprise)") and token not in outcome
    for bad in (f"nosuch://{token}/x", f"jsons://{token}", f"slack://{token}"):
        try:
            notify.parse_target(bad)
        except NotifyError as exc:
            assert token not in str(exc)
    proc = run_cli("run", "--notify", f"nosuch://{token}@x/y", "--reports", "R", "00")
    assert proc.returncode == 2 and token not in proc.stderr + proc.stdout
