"""Notifications: sent exactly when asked (a loopback webhook receiver, the sandbox's SNS), never
without the option, a body without secrets, and a dead endpoint that changes nothing else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ses_runbook.runs import notify, reporting
from ses_runbook.runs.runner import resolve_notebooks
from ses_runbook.sandbox.world import SANDBOX_KEY
from support import closed_port, run_cli


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
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


def test_webhook_only_on_change_and_failures_change_nothing(tmp_path, sandbox, receiver) -> None:
    books = resolve_notebooks(["00"])
    root = str(tmp_path)
    run = lambda params, target, when="change": reporting.run_into_root(  # noqa: E731
        params, books, root, jobs=1, quiet=True, notify=target, notify_on=when, warn=warnings.append
    )
    warnings: list[str] = []
    hook = f"webhook:{receiver.url}"
    first = run(sandbox.params, hook)  # first run: a change from nothing
    second = run(sandbox.params, hook)  # ok -> ok: nothing sent
    third = run(sandbox.params.model_copy(update=FAILING), hook)  # ok -> fail: sent
    fourth = run(sandbox.params.model_copy(update=FAILING), hook, "non-ok")  # fail, non-ok: sent
    assert [r.notified for r in (first, second, third, fourth)] == [
        "sent to webhook",
        "not sent (change: worst status unchanged)",
        "sent to webhook",
        "sent to webhook",
    ]
    assert len(receiver.bodies) == 3
    body = receiver.bodies[1]
    assert body["worst"] == "fail" and body["previous_worst"] == "ok" and body["account"] == "123456789012"
    assert body["region"] == "us-east-1" and "reputation.bounce_rate: ok -> fail" in body["changes"]
    assert (
        body["report"].endswith(f"{third.path}/index.html")
        and "text" in body
        and body["blocks"][0]["type"] == "section"
    )
    text = json.dumps(receiver.bodies)
    assert SANDBOX_KEY[0] not in text and SANDBOX_KEY[1] not in text and "smtp_password" not in text

    with closed_port() as port:
        down = run(sandbox.params, f"webhook:http://127.0.0.1:{port}/hook", "always")
    assert down.exit_code == 0 and down.notified.startswith("failed (webhook)")
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


def test_nothing_sent_without_the_option(tmp_path, sandbox, receiver) -> None:
    done = reporting.run_into_root(sandbox.params, resolve_notebooks(["00"]), str(tmp_path), jobs=1, quiet=True)
    assert done.notified is None and receiver.bodies == []
    assert "notification" not in json.loads((tmp_path / done.path / "summary.json").read_text())


@pytest.mark.parametrize(
    "args,named",
    [
        (["--notify", "mail:ops@example.com", "--reports", "R"], "--notify"),
        (["--notify", "sns:not-an-arn", "--reports", "R"], "--notify"),
        (["--notify", "webhook:http://127.0.0.1:9/x"], "need --reports"),
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
