"""Reports root and history: runs of different scenarios into one root (a folder and S3), what
history makes of them, the "changed since" block, pages that stand alone, pruning, bad roots."""

from __future__ import annotations

import html
import json
import os
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ses_runbook.runs import bundle, history, reporting, storage
from support import hashes, run_cli


def _runs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*") if p.is_dir())


def _assert_standalone(run_dir: Path) -> None:
    """No page of the bundle references anything outside it (the previous run is a plain link)."""
    files = {p.name for p in run_dir.iterdir()}
    pages = [p for p in run_dir.iterdir() if p.suffix == ".html"]
    assert {"index.html", "report.html"} <= {p.name for p in pages}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        outside = [r for r in bundle.external_references(text, files) if not r.startswith("../")]
        assert outside == [], (page.name, outside[:5])
        assert "cdnjs" not in text and "require.js" not in text and "MathJax.js" not in text


def test_local_root_first_bad_run_recovery_trends_and_changes(tmp_path) -> None:
    root = tmp_path / "R"
    first = run_cli("run", "--sandbox", "--reports", str(root), "00", "01")
    assert first.returncode == 0, first.stderr
    (run1,) = _runs(root)
    assert run1.parent.parent.name == "123456789012" and run1.parent.name == "us-east-1"
    before = hashes(run1)
    second = run_cli("run", "--sandbox=bounce-spike", "--reports", str(root), "00")
    assert second.returncode == 1, second.stderr
    third = run_cli("run", "--sandbox", "--reports", str(root), "--label", "after-fix", "00", "11")
    assert third.returncode == 0, third.stderr
    run1, run2, run3 = _runs(root)
    assert run3.name.endswith("-after-fix")
    assert hashes(run1) == before  # later runs never change an earlier one

    proc = run_cli("history", "--reports", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["worst"] for r in data["runs"]] == ["ok", "fail", "ok"]
    bounce = next(c for c in data["checks"] if c["id"] == "reputation.bounce_rate")
    assert bounce["statuses"] == ["ok", "fail", "ok"]
    assert bounce["episodes"][0]["left_ok"].endswith(run2.name)  # the first bad run
    assert bounce["recovered"].endswith(run3.name) and bounce["first_bad"] is None
    for row, run_dir in zip(data["trends"], (run1, run2, run3), strict=False):
        summary = json.loads((run_dir / "summary.json").read_text())
        details = next(c for c in summary["checks"] if c["id"] == "reputation.bounce_rate")["details"]
        assert row["bounce_rate"] == pytest.approx(details["latest"])
        assert row["aws_calls"] == summary["run"]["aws_calls"]["total"]
    assert data["trends"][1]["bounce_rate"] >= 0.10 > data["trends"][0]["bounce_rate"]

    index2 = (run2 / "index.html").read_text()
    block = index2.split("Changed since the previous run", 1)[1].split("</div>", 1)[0]
    assert "reputation.bounce_rate" in block and f"../{run1.name}/index.html" in block and "bounce_rate" in block
    summary2 = json.loads((run2 / "summary.json").read_text())
    assert {"id": "reputation.bounce_rate", "before": "ok", "after": "fail"}.items() <= next(
        c for c in summary2["changes"]["checks"] if c["id"] == "reputation.bounce_rate"
    ).items()
    assert "no previous run" in (run1 / "index.html").read_text()

    for run_dir in (run1, run2, run3):
        _assert_standalone(run_dir)
    report = (run1 / "report.html").read_text()
    assert "data:image/png;base64," in report and "id='nb-01_quota_and_statistics'" in report

    text = run_cli("history", "--reports", str(root), "--since", "1d")
    assert text.returncode == 0 and "reputation.bounce_rate" in text.stdout

    # 11_history runs last in a run into a root: its page shows this run too, and where bounces turned bad
    page = _page_text(run3 / "11_history.html")
    assert "3 run(s) of this account and region" in page
    since = page.split("turned bad in recovered in", 1)[1]
    assert since.split()[:4] == ["reputation.bounce_rate", "ok", "ok", "fail"]
    assert f"{run2.name} {run3.name}" in since
    assert sorted(p.name for p in run3.glob("11_history-*.png")) == ["11_history-1.png", "11_history-2.png"]
    assert json.loads((run3 / "summary.json").read_text())["run"]["complete"] is True


def _page_text(path: Path) -> str:
    """A page's text: tags and embedded images dropped, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return " ".join(html.unescape(text).split())


def test_a_relative_root_is_the_history_notebook_s_too(tmp_path, sandbox, monkeypatch) -> None:
    """``--reports reports/demo`` (what make demo gives) names the same folder for 11_history,
    whose kernel runs in the notebooks' folder."""
    from ses_runbook.runs.runner import resolve_notebooks

    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        done = reporting.run_into_root(sandbox.params, resolve_notebooks(["11"]), "reports/demo", jobs=1, quiet=True)
    page = _page_text(tmp_path / "reports" / "demo" / done.path / "11_history.html")
    assert "2 run(s) of this account and region" in page


def test_an_empty_history_is_one_sentence(tmp_path, sandbox) -> None:
    """No runs: the sentence, no tables, no empty charts."""
    from ses_runbook.runs import plots

    params = sandbox.load(reports_root=str(tmp_path))
    runs, skipped = history.for_params(params)
    assert runs == [] and skipped == []
    assert history.runs_note(runs, skipped).startswith("No run of this account and region in the reports root yet")
    assert history.run_rows(runs) is None and history.since_rows(runs) is None and history.trend_rows(runs) is None
    assert plots.status_timeline_figure(history.timeline_frame(runs)) is None
    assert plots.trend_figure(history.trend_frame(runs), history.thresholds(params)) is None


def test_s3_root_against_the_sandbox(tmp_path) -> None:
    env = {**os.environ, "SES_RUNBOOK_SANDBOX_S3": str(tmp_path / "s3")}
    spec = "s3://ses-runbook-reports/team-a"
    assert run_cli("run", "--sandbox", "--reports", spec, "00", env=env).returncode == 0
    second = run_cli("run", "--sandbox=bounce-spike", "--reports", spec, "00", env=env)
    assert second.returncode == 1, second.stderr
    proc = run_cli("history", "--sandbox", "--reports", spec, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    bounce = next(c for c in data["checks"] if c["id"] == "reputation.bounce_rate")
    assert bounce["statuses"] == ["ok", "fail"] and bounce["first_bad"] == data["runs"][1]["path"]
    stored = sorted((tmp_path / "s3" / "ses-runbook-reports" / "team-a" / "123456789012" / "us-east-1").iterdir())
    assert len(stored) == 2 and not (stored[1] / "INCOMPLETE").exists()
    assert "reputation.bounce_rate" in (stored[1] / "index.html").read_text().split("Changed since", 1)[1]
    _assert_standalone(stored[1])

    missing = run_cli("run", "--sandbox", "--reports", "s3://no-such-bucket/x", "00", env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "no-such-bucket" in missing.stderr and "does not exist" in missing.stderr


@pytest.mark.parametrize(
    "make_root,named",
    [
        (lambda tmp: (tmp / "file").write_text("x") and str(tmp / "file" / "reports"), "not writable"),
        (lambda tmp: "ftp://host/reports", "unsupported scheme"),
        (lambda tmp: "s3://Bad_Bucket", "not an S3 address"),
    ],
)
def test_bad_reports_root_is_one_line_exit_2_before_any_notebook(tmp_path, make_root, named) -> None:
    proc = run_cli("run", "--reports", make_root(tmp_path), "00")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr
    assert "notebooks" not in proc.stderr  # the progress bar never started


def test_bad_history_options(tmp_path) -> None:
    for args, named in ((["--since", "last week"], "--since"), ([], "does not exist")):
        proc = run_cli("history", "--reports", str(tmp_path / "none"), *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr


# -- without notebooks: summaries written by the library from in-process checks ------------------
def _write_run(root: storage.Root, report, when: datetime, label: str | None = None, params=None) -> str:
    """A run folder as the runner leaves it, from a ``suite.check_all`` report (fast: no kernels)."""
    summary = report.to_dict()
    summary["run"]["started"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    summary["run"]["label"] = label
    summary["figures"] = history.figures(summary["checks"], summary["run"])
    slot = root.claim(summary["run"]["account"], summary["run"]["region"], when, label)
    (slot.local / "summary.json").write_text(json.dumps(summary, default=str))
    if isinstance(root, storage.S3Root):
        root.client.delete_object(Bucket=root.bucket, Key=root._key(slot.path, storage.CLAIM))
    root.publish(slot)
    return slot.path


@pytest.fixture
def reports(sandbox):
    from ses_runbook.checks import suite

    healthy = suite.check_all(sandbox.params)
    failing = suite.check_all(sandbox.params.model_copy(update={"bounce_rate_warn": 0.001, "bounce_rate_fail": 0.002}))
    return {"ok": healthy, "fail": failing}


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_concurrent_runs_never_share_a_folder(tmp_path, sandbox, kind) -> None:
    root = storage.open_root(str(tmp_path) if kind == "local" else "s3://ses-runbook-reports/race", sandbox.params)
    root.check_writable()
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    slots: list[str] = []
    threads = [
        threading.Thread(target=lambda: slots.append(root.claim("123456789012", "us-east-1", when, "x").path))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(slots)) == 6 and all(s.startswith("123456789012/us-east-1/20261101T000000Z") for s in slots)


def test_prune_keeps_newest_healthy_and_labelled(tmp_path, reports) -> None:
    root = storage.open_root(str(tmp_path))
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    paths = [
        _write_run(root, reports["ok"], base, label="INC-1"),  # labelled: kept
        _write_run(root, reports["ok"], base + timedelta(hours=1)),  # newest healthy: kept
        _write_run(root, reports["fail"], base + timedelta(hours=2)),
        _write_run(root, reports["fail"], base + timedelta(hours=3)),
        _write_run(root, reports["fail"], base + timedelta(hours=4)),
    ]
    (tmp_path / "123456789012" / "us-east-1" / "not-a-run").mkdir()  # foreign: untouched
    removed = reporting.prune(root, "123456789012", "us-east-1", keep=2, keep_days=None, now=base + timedelta(hours=5))
    assert removed == [paths[2]]
    left = {p.relative_to(tmp_path).as_posix() for p in _runs(tmp_path)}
    assert left == {paths[0], paths[1], paths[3], paths[4], "123456789012/us-east-1/not-a-run"}
    removed = reporting.prune(root, "123456789012", "us-east-1", keep=None, keep_days=1, now=base + timedelta(days=3))
    assert sorted(removed) == sorted([paths[3], paths[4]])
    assert {p.relative_to(tmp_path).as_posix() for p in _runs(tmp_path)} >= {paths[0], paths[1]}


def test_corrupt_and_foreign_summaries_are_skipped_with_a_warning(tmp_path, reports) -> None:
    root = storage.open_root(str(tmp_path))
    good = _write_run(root, reports["ok"], datetime(2026, 11, 1, tzinfo=timezone.utc))
    corrupt = tmp_path / "123456789012" / "us-east-1" / "20261101T010000Z"
    corrupt.mkdir()
    (corrupt / "summary.json").write_text("{not json")
    foreign = tmp_path / "123456789012" / "us-east-1" / "20261101T020000Z"
    foreign.mkdir()
    (foreign / "summary.json").write_text(json.dumps({"tests": 3, "passed": 3}))
    proc = run_cli("history", "--reports", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["path"] for r in data["runs"]] == [good]
    assert "20261101T010000Z" in proc.stderr and "20261101T020000Z" in proc.stderr and len(data["skipped"]) == 2


def test_history_filters_and_multiple_regions(tmp_path, reports) -> None:
    root = storage.open_root(str(tmp_path))
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    _write_run(root, reports["ok"], base)
    other = reports["fail"].to_dict()
    other["run"]["region"] = "eu-west-1"
    from ses_runbook.core.results import Report

    _write_run(root, Report.from_dict(other), base + timedelta(hours=1))
    both = history.history(root)
    assert {(r["region"], r["worst"]) for r in both["runs"]} == {("us-east-1", "ok"), ("eu-west-1", "fail")}
    assert all(c["first_bad"] is None for c in both["checks"] if c["region"] == "us-east-1")
    only = history.history(root, region="eu-west-1")
    assert [r["region"] for r in only["runs"]] == ["eu-west-1"]
    assert history.history(root, account="210987654321")["runs"] == []
    assert history.history(root, since=base + timedelta(minutes=30))["runs"][0]["region"] == "eu-west-1"


def test_standalone_template_drops_what_the_default_fetches() -> None:
    """The stock page loads require.js and MathJax from a CDN; ours loads nothing."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t\n\n$x^2$")])
    stock, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    ours, _ = bundle.html_exporter().from_notebook_node(nb)
    assert bundle.external_references(stock)
    assert bundle.external_references(ours) == [] and "<style" in ours


def test_bad_since_is_the_start_of_the_current_bad_stretch(tmp_path, reports) -> None:
    root = storage.open_root(str(tmp_path))
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    paths = [
        _write_run(root, reports[kind], base + timedelta(hours=n))
        for n, kind in enumerate(["ok", "fail", "ok", "fail", "fail"])
    ]
    proc = run_cli("history", "--reports", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    bounce = next(c for c in json.loads(proc.stdout)["checks"] if c["id"] == "reputation.bounce_rate")
    assert bounce["statuses"] == ["ok", "fail", "ok", "fail", "fail"]
    assert bounce["first_bad"] == paths[3] and bounce["since"] == "2026-11-01T03:00:00Z"  # the 4th run, not the 2nd
    assert [e["left_ok"] for e in bounce["episodes"]] == [paths[1], paths[3]]
    assert bounce["episodes"][0]["recovered"] == paths[2] and bounce["recovered"] is None
    text = run_cli("history", "--reports", str(tmp_path))
    row = next(line for line in text.stdout.splitlines() if "reputation.bounce_rate" in line)
    assert paths[3].rsplit("/", 1)[-1] in row and paths[1].rsplit("/", 1)[-1] not in row


def test_prune_keeps_the_newest_healthy_run_when_it_warned(tmp_path, sandbox, reports) -> None:
    from ses_runbook.checks import suite

    warned = suite.check_all(sandbox.params.model_copy(update={"bounce_rate_warn": 0.001, "bounce_rate_fail": 0.9}))
    assert warned.to_dict()["worst"] == "warn"
    root = storage.open_root(str(tmp_path))
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    paths = [
        _write_run(root, reports["ok"], base),
        _write_run(root, warned, base + timedelta(hours=1)),  # the newest healthy run: kept
        _write_run(root, reports["fail"], base + timedelta(hours=2)),
        _write_run(root, reports["fail"], base + timedelta(hours=3)),
    ]
    removed = reporting.prune(root, "123456789012", "us-east-1", keep=1, keep_days=None, now=base + timedelta(hours=4))
    assert sorted(removed) == sorted([paths[0], paths[2]])
    assert {p.relative_to(tmp_path).as_posix() for p in _runs(tmp_path)} == {paths[1], paths[3]}


# -- what history and prune decide, on summaries written by hand (no sandbox, no CLI: fast enough to
# run for every mutant under `make mutation`) ----------------------------------------------------------
BASE = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _hand_summary(
    worst: str,
    when: datetime,
    label: str | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
    **statuses: str,
) -> dict:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "run": {"account": account, "region": region, "started": stamp, "as_of": stamp, "label": label},
        "worst": worst,
        "checks": [{"id": i.replace("_", "."), "status": s} for i, s in statuses.items()],
        "figures": {},
    }


def _hand_run(root: storage.Root, summary: dict) -> str:
    run = summary["run"]
    slot = root.claim(run["account"], run["region"], history.parse_when(run["started"]), run["label"])
    (slot.local / "summary.json").write_text(json.dumps(summary))
    root.publish(slot)
    return slot.path


def test_stretches_warn_is_bad_skip_is_not_a_missing_check_changes_nothing() -> None:
    statuses = ["ok", "warn", "skip", "fail", None, "fail", "ok", "error"]
    runs = [
        history.run_from_summary(
            f"123456789012/us-east-1/run{n}",
            _hand_summary(s or "ok", BASE + timedelta(hours=n), **({"a_b": s} if s else {}), other_x="ok"),
        )
        for n, s in enumerate(statuses)
    ]
    [check] = [c for c in history.checks_over_time(runs) if c["id"] == "a.b"]
    assert check["statuses"] == statuses and check["status"] == "error"
    assert [(e["left_ok"][-4:], e["recovered"] and e["recovered"][-4:]) for e in check["episodes"]] == [
        ("run1", "run2"),
        ("run3", "run6"),
        ("run7", None),
    ]
    assert (
        check["episodes"][1]["status"] == "fail" and check["episodes"][1]["recovered_started"] == "2026-11-01T06:00:00Z"
    )
    assert (
        check["first_bad"].endswith("run7") and check["since"] == "2026-11-01T07:00:00Z" and check["recovered"] is None
    )
    [other] = [c for c in history.checks_over_time(runs) if c["id"] == "other.x"]
    assert other["episodes"] == [] and other["first_bad"] is None and other["recovered"] is None
    assert (check["account"], check["region"]) == ("123456789012", "us-east-1")
    assert check["runs"] == [r.path for r in runs]
    healed = history.checks_over_time(runs[:7])
    assert next(c for c in healed if c["id"] == "a.b")["recovered"].endswith("run6")
    thrice = [
        history.run_from_summary(f"a/r/run{n}", _hand_summary(s, BASE + timedelta(hours=n), a_b=s))
        for n, s in enumerate(["warn", "ok", "fail", "ok", "fail", "ok"])
    ]
    [check] = history.checks_over_time(thrice)
    assert check["recovered"] == "a/r/run5" and len(check["episodes"]) == 3  # the last stretch's end
    rows = history.since_rows(runs)
    assert [(r["check"], r["now"], r["turned bad in"], r["recovered in"]) for r in rows] == [
        ("a.b", "error", "run7", "")
    ]


def test_changes_name_status_changes_and_figures_crossing_a_level() -> None:
    previous = _hand_summary("warn", BASE, a_ok="ok", b_same="fail", c_gone="warn")
    previous["figures"] = {"bounce_rate": 0.01, "complaint_rate": 0.0005, "quota_used": 0.5, "sent": 7.0}
    current = _hand_summary("fail", BASE + timedelta(hours=1), a_ok="fail", b_same="fail", d_new="ok")
    current["figures"] = {"bounce_rate": 0.05, "complaint_rate": 0.0006, "quota_used": 0.9, "sent": 9.0}
    current["thresholds"] = {
        "bounce_rate": {"warn": 0.05, "fail": 0.1},
        "complaint_rate": {"warn": 0.001, "fail": 0.005},
        "quota_used": {"warn": 0.8, "fail": 0.9},
    }
    current["checks"][0]["summary"] = "bounce rate 12 %"
    previous["run"]["label"] = "INC-7"
    change = history.changes(previous, current, "p/run0", "../run0/index.html")
    assert sorted((c["id"], c["before"], c["after"], c["summary"]) for c in change["checks"]) == [
        ("a.ok", "ok", "fail", "bounce rate 12 %"),
        ("c.gone", "warn", None, "not checked in this run"),
        ("d.new", None, "ok", ""),
    ]
    assert change["figures"] == [
        {"figure": "bounce_rate", "before": 0.01, "after": 0.05, "level_before": "ok", "level_after": "warn"},
        {"figure": "quota_used", "before": 0.5, "after": 0.9, "level_before": "ok", "level_after": "fail"},
    ]  # exactly on the warn level, exactly on the fail level
    assert change["worst"] == {"before": "warn", "after": "fail"}
    assert change["previous"] == {
        "path": "p/run0",
        "href": "../run0/index.html",
        "started": "2026-11-01T00:00:00Z",
        "worst": "warn",
        "label": "INC-7",
    }
    # a summary written before runs kept their figures: read from its checks and its run block
    del previous["figures"]
    previous["checks"].append({"id": "reputation.bounce_rate", "status": "ok", "details": {"latest": 0.2}})
    previous["run"]["aws_calls"] = {"total": 40}
    current["figures"]["aws_calls"] = 41.0
    current["thresholds"]["aws_calls"] = {"warn": 41, "fail": 100}
    moved = {f["figure"]: f for f in history.changes(previous, current, "p", "h")["figures"]}
    assert (moved["bounce_rate"]["before"], moved["bounce_rate"]["level_before"]) == (0.2, "fail")
    assert (moved["aws_calls"]["before"], moved["aws_calls"]["level_after"]) == (40.0, "warn")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", BASE - timedelta(days=7)),
        ("12h", BASE - timedelta(hours=12)),
        (" 30m ", BASE - timedelta(minutes=30)),
        ("2026-10-30T06:00:00Z", datetime(2026, 10, 30, 6, tzinfo=timezone.utc)),
        ("2026-10-30T06:00:00", datetime(2026, 10, 30, 6, tzinfo=timezone.utc)),
        ("2026-10-30T06:00:00+02:00", datetime(2026, 10, 30, 4, tzinfo=timezone.utc)),
        ("", None),
    ],
)
def test_since_reads_durations_and_times(text: str, expected: datetime | None) -> None:
    assert history.parse_since(text, now=BASE) == expected


def test_since_without_now_is_an_aware_time() -> None:
    assert history.parse_since("1d").tzinfo is not None


def test_since_refuses_anything_else_saying_what_is_allowed() -> None:
    from ses_runbook.core.errors import HistoryError

    with pytest.raises(HistoryError, match=r"^--since '7 days': allowed: 7d, 12h, 30m or an ISO time"):
        history.parse_since("7 days", now=BASE)


def test_prune_by_count_and_age_keeps_healthy_labelled_and_the_run_just_written(tmp_path) -> None:
    root = storage.open_root(str(tmp_path))
    kinds = ["ok", "skip", "fail", "warn", "fail", "error", "fail", "fail"]
    paths = [
        _hand_run(root, _hand_summary(kind, BASE + timedelta(hours=n), label="INC-1" if n == 0 else None, a_b=kind))
        for n, kind in enumerate(kinds)
    ]
    # newest first: 7 fail, 6 fail, 5 error, 4 fail, 3 warn (newest healthy), 2 fail, 1 skip, 0 ok (labelled)
    removed = reporting.prune(
        root, "123456789012", "us-east-1", keep=3, keep_days=None, keep_path=paths[4], now=BASE + timedelta(hours=8)
    )
    assert sorted(removed) == [paths[1], paths[2]]
    assert reporting.prune(root, "123456789012", "us-east-1", keep=3, keep_days=None) == [paths[4]]
    left = [paths[0], paths[3], paths[5], paths[6], paths[7]]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in _runs(tmp_path)) == left
    # by age: older than 6 hours goes, whatever the count; 6 hours exactly stays
    removed = reporting.prune(
        root, "123456789012", "us-east-1", keep=None, keep_days=0.25, now=BASE + timedelta(hours=12)
    )
    assert sorted(removed) == [paths[5]]
    assert reporting.prune(root, "123456789012", "us-east-1", keep=10, keep_days=None) == []
    assert reporting.prune(root, "123456789012", "us-east-1", keep=None, keep_days=None) == []


def test_prune_touches_only_its_account_and_region_and_needs_no_healthy_run(tmp_path) -> None:
    root = storage.open_root(str(tmp_path))
    mine = [_hand_run(root, _hand_summary("fail", BASE + timedelta(hours=n), a_b="fail")) for n in range(3)]
    others = [
        _hand_run(root, _hand_summary("fail", BASE, account="210987654321", a_b="fail")),
        _hand_run(root, _hand_summary("fail", BASE, region="eu-west-1", a_b="fail")),
    ]
    assert sorted(reporting.prune(root, "123456789012", "us-east-1", keep=1, keep_days=None)) == mine[:2]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in _runs(tmp_path)) == sorted([mine[2], *others])
    # by age against the clock (no `now` given): a run two days old goes at keep_days=1
    recent = datetime.now(timezone.utc) - timedelta(days=2)
    old = _hand_run(root, _hand_summary("fail", recent, region="ap-south-1", a_b="fail"))
    assert reporting.prune(root, "123456789012", "ap-south-1", keep=None, keep_days=1) == [old]
