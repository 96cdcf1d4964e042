"""Earlier runs read back from a reports root: status timelines, the first bad run, trends.

Only the ``summary.json`` of each run is read; nothing is re-executed. A summary that is not
one of ours (corrupt JSON, another tool's file) is skipped with a warning and the history goes
on. The key figures each run records (``figures`` in ``summary.json``, computed here by
``figures``) are what the trends show: bounce and complaint rate, share of the quota used,
suppressed addresses, identities, AWS calls and duration.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ses_runbook.core.aws import Aws
from ses_runbook.core.display import markup_text, status_badge, terminal_text
from ses_runbook.core.errors import HistoryError
from ses_runbook.core.foreign import read_json
from ses_runbook.core.results import Status
from ses_runbook.runs.report_text import STYLE, rich_console
from ses_runbook.runs.storage import open_root

if TYPE_CHECKING:
    from ses_runbook.core.params import Params
    from ses_runbook.runs.storage import Root

# figure -> (check id, key in that check's details); None: from the run block
FIGURES: dict[str, tuple[str | None, str]] = {
    "bounce_rate": ("reputation.bounce_rate", "latest"),
    "complaint_rate": ("reputation.complaint_rate", "latest"),
    "quota_used": ("quota.headroom", "used"),
    "suppressed": ("suppression.list", "total"),
    "identities": ("identity.verification", "identities"),
    "aws_calls": (None, "aws_calls"),
    "duration_s": (None, "duration_s"),
}
# figure -> the parameters holding its warn and fail levels
THRESHOLDS = {
    "bounce_rate": ("bounce_rate_warn", "bounce_rate_fail"),
    "complaint_rate": ("complaint_rate_warn", "complaint_rate_fail"),
    "quota_used": ("quota_warn", "quota_fail"),
}


# -- what a run records ---------------------------------------------------------------------
def figures(checks: Iterable[dict[str, Any]], run: dict[str, Any]) -> dict[str, float | None]:
    """The key figures of one run, from its checks' details and its run block."""
    by_id = {c["id"]: c for c in checks}
    out: dict[str, float | None] = {}
    for name, (check_id, key) in FIGURES.items():
        if check_id is None:
            value = run.get(key)
            value = value.get("total") if isinstance(value, dict) else value
        else:
            value = (by_id.get(check_id) or {}).get("details", {}).get(key)
        out[name] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return out


def thresholds(params: Params) -> dict[str, dict[str, float]]:
    """The warn and fail levels of the figures that have them, as the run judged them."""
    return {
        name: {"warn": getattr(params, warn), "fail": getattr(params, fail)}
        for name, (warn, fail) in THRESHOLDS.items()
    }


# -- reading a root ---------------------------------------------------------------------------
@dataclass
class Run:
    path: str
    started: str
    as_of: str
    account: str
    region: str
    label: str | None
    worst: str
    statuses: dict[str, str]
    figures: dict[str, float | None]
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "started": self.started,
            "as_of": self.as_of,
            "account": self.account,
            "region": self.region,
            "label": self.label,
            "worst": self.worst,
            "checks": self.statuses,
            "figures": self.figures,
        }


def parse_summary(data: bytes | str | dict) -> dict[str, Any]:
    """A summary as a dict, or ValueError saying in one line why it is not one of ours.

    A reports root can be shared, so a summary is foreign data: read with the bounded reader (size
    and depth caps) and every field this module uses checked for its type, so a planted file is
    skipped with a warning instead of breaking ``history`` and the next run's "changed since"."""
    summary = data if isinstance(data, dict) else read_json(data, "summary.json")
    if (
        not isinstance(summary, dict)
        or not isinstance(summary.get("run"), dict)
        or not isinstance(summary.get("checks"), list)
    ):
        raise ValueError("not a ses-runbook summary (no 'run' and 'checks')")
    _status(summary.get("worst"), "worst")
    for check in summary["checks"]:
        if not isinstance(check, dict) or not isinstance(check.get("id"), str):
            raise ValueError("a check without an id, or an id that is not text")
        _status(check.get("status"), "a check's status")
        if not isinstance(check.get("summary", ""), str) or not isinstance(check.get("details", {}), dict):
            raise ValueError(f"check {_shown(check['id'])}: a summary or details of the wrong type")
    run = summary["run"]
    for key in ("started", "as_of", "account", "region", "label"):
        if run.get(key) is not None and not isinstance(run[key], str):
            raise ValueError(f"run.{key} is not text")
    figures_ = summary.get("figures")
    if figures_ is not None and (
        not isinstance(figures_, dict) or not all(v is None or _number(v) for v in figures_.values())
    ):
        raise ValueError("figures that are not numbers")
    levels = summary.get("thresholds")
    if levels is not None and (
        not isinstance(levels, dict)
        or not all(isinstance(t, dict) and all(_number(v) for v in t.values()) for t in levels.values())
    ):
        raise ValueError("thresholds that are not numbers")
    return summary


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _status(value: Any, what: str) -> None:
    if value not in {s.value for s in Status}:
        raise ValueError(f"{what} is not one of {', '.join(s.value for s in Status)}")


def _shown(text: str) -> str:
    return terminal_text(text[:60])


def skipped_line(path: str, exc: Exception) -> str:
    """The one warning line for a summary that is skipped (its path and reason made safe to print)."""
    return terminal_text(
        f"skipped {path}/summary.json: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}"
    )


def run_from_summary(path: str, summary: dict[str, Any]) -> Run:
    run = summary["run"]
    return Run(
        path=path,
        started=str(run.get("started") or run.get("as_of") or ""),
        as_of=str(run.get("as_of") or ""),
        account=str(run.get("account") or "unknown"),
        region=str(run.get("region") or "?"),
        label=run.get("label"),
        worst=summary["worst"],
        statuses={c["id"]: c["status"] for c in summary["checks"]},
        figures=summary.get("figures") or figures(summary["checks"], run),
        thresholds=summary.get("thresholds") or {},
    )


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``7d``, ``12h``, ``30m`` ago, or an ISO date/time."""
    if not text:
        return None
    now = now or datetime.now(timezone.utc)
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HistoryError(
            f"--since '{text}': allowed: 7d, 12h, 30m or an ISO time such as 2026-11-01T00:00:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def parse_when(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def load(
    root: Root,
    account: str | None = None,
    region: str | None = None,
    since: datetime | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Run]:
    """Every complete run in the root (oldest first), skipping what is not a ses-runbook summary."""
    runs = []
    for stored in root.runs(account, region):
        if stored.summary is None:
            if warn:
                warn(f"skipped {stored.path}: no summary.json (a run still being written, or interrupted)")
            continue
        try:
            run = run_from_summary(stored.path, parse_summary(stored.summary))
        except (ValueError, TypeError, KeyError) as exc:
            if warn:
                warn(skipped_line(stored.path, exc))
            continue
        if since is not None:
            when = parse_when(run.started)
            if when is None or when < since:
                continue
        runs.append(run)
    return sorted(runs, key=lambda r: (r.account, r.region, r.started, r.path))


def previous_run(
    root: Root, account: str, region: str, warn: Callable[[str], None] | None = None
) -> tuple[Run, dict[str, Any]] | None:
    """The newest complete run for this account and region, with its summary (for "changed since").
    Reads every summary of that account and region: pruning (``--keep-days``) keeps this bounded.
    A summary that is not one of ours is skipped, with one line to ``warn``."""
    best: tuple[Run, dict[str, Any]] | None = None
    for stored in root.runs(account, region):
        if stored.summary is None:
            continue
        try:
            summary = parse_summary(stored.summary)
        except (ValueError, TypeError, KeyError) as exc:
            if warn:
                warn(skipped_line(stored.path, exc))
            continue
        if summary["run"].get("complete") is False:
            continue  # an interrupted run is not what the next one is compared with
        run = run_from_summary(stored.path, summary)
        if best is None or (run.started, run.path) > (best[0].started, best[0].path):
            best = (run, summary)
    return best


# -- what the runs say ------------------------------------------------------------------------
def _groups(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.account, run.region), []).append(run)
    return groups


def checks_over_time(runs: list[Run]) -> list[dict[str, Any]]:
    """Per account, region and check: its status in each run, since when it is not ``ok`` (the
    first run of the current bad stretch), and each bad stretch with the run that ended it."""
    out = []
    for (account, region), group in _groups(runs).items():
        ids = list(dict.fromkeys(i for r in group for i in r.statuses))
        for check_id in ids:
            statuses = [r.statuses.get(check_id) for r in group]
            episodes: list[dict[str, Any]] = []
            for run, status in zip(group, statuses, strict=False):
                if status is None:
                    continue
                bad = status not in (Status.OK.value, Status.SKIP.value)
                if bad and (not episodes or episodes[-1]["recovered"] is not None):
                    episodes.append(
                        {"left_ok": run.path, "left_ok_started": run.started, "status": status, "recovered": None}
                    )
                elif not bad and episodes and episodes[-1]["recovered"] is None:
                    episodes[-1]["recovered"] = run.path
                    episodes[-1]["recovered_started"] = run.started
            latest = next((s for s in reversed(statuses) if s is not None), None)
            open_episode = episodes[-1] if episodes and episodes[-1]["recovered"] is None else None
            out.append(
                {
                    "account": account,
                    "region": region,
                    "id": check_id,
                    "status": latest,
                    "statuses": statuses,
                    "runs": [r.path for r in group],
                    "first_bad": open_episode["left_ok"] if open_episode else None,
                    "since": open_episode["left_ok_started"] if open_episode else None,
                    "recovered": episodes[-1].get("recovered") if episodes and not open_episode else None,
                    "episodes": episodes,
                }
            )
    return out


def trends(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per run: when, where, worst status and the key figures."""
    return [
        {
            "path": r.path,
            "started": r.started,
            "account": r.account,
            "region": r.region,
            "worst": r.worst,
            **{name: r.figures.get(name) for name in FIGURES},
        }
        for r in runs
    ]


def history(
    root: Root,
    account: str | None = None,
    region: str | None = None,
    since: datetime | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """What ``ses-runbook history --json`` prints."""
    skipped: list[str] = []

    def note(message: str) -> None:
        skipped.append(message)
        if warn:
            warn(message)

    runs = load(root, account, region, since, note)
    return {
        "root": root.spec,
        "runs": [r.to_dict() for r in runs],
        "checks": checks_over_time(runs),
        "trends": trends(runs),
        "skipped": skipped,
    }


# -- changed since the previous run -----------------------------------------------------------
def _level(value: float | None, levels: dict[str, float] | None) -> str | None:
    if value is None or not levels:
        return None
    if value >= levels["fail"]:
        return "fail"
    if value >= levels["warn"]:
        return "warn"
    return "ok"


def changes(previous: dict[str, Any], current: dict[str, Any], previous_path: str, href: str) -> dict[str, Any]:
    """Checks whose status changed and figures that crossed a warn or fail level since ``previous``."""
    before = {c["id"]: c["status"] for c in previous.get("checks", [])}
    after = {c["id"]: c for c in current.get("checks", [])}
    status_changes = [
        {"id": i, "before": before.get(i), "after": c["status"], "summary": c.get("summary", "")}
        for i, c in after.items()
        if before.get(i) != c["status"]
    ]
    status_changes += [
        {"id": i, "before": s, "after": None, "summary": "not checked in this run"}
        for i, s in before.items()
        if i not in after
    ]
    old_figures = previous.get("figures") or figures(previous.get("checks", []), previous.get("run", {}))
    new_figures = current.get("figures") or {}
    levels = current.get("thresholds") or {}
    moved = []
    for name, value in new_figures.items():
        old = old_figures.get(name)
        was, now = _level(old, levels.get(name)), _level(value, levels.get(name))
        if was != now and now is not None:
            moved.append({"figure": name, "before": old, "after": value, "level_before": was, "level_after": now})
    run = previous.get("run", {})
    return {
        "previous": {
            "path": previous_path,
            "href": href,
            "started": run.get("started"),
            "worst": previous.get("worst"),
            "label": run.get("label"),
        },
        "worst": {"before": previous.get("worst"), "after": current.get("worst")},
        "checks": status_changes,
        "figures": moved,
    }


def _figure_text(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if name in THRESHOLDS else f"{value:,.6g}"


def changes_html(change: dict[str, Any] | None) -> str:
    """The block every new report's ``index.html`` opens with."""

    if not change:
        return (
            "<div class='changes'><h2>Changed since the previous run</h2>"
            "<p>no previous run of this account and region in the reports root</p></div>"
        )
    prev = change["previous"]
    link = f"<a href='{html.escape(prev['href'])}'>{html.escape(prev['path'].rsplit('/', 1)[-1])}</a>"
    rows = "".join(
        f"<tr><td><code>{html.escape(c['id'])}</code></td><td>{status_badge(c['before']) if c['before'] else '-'}</td>"
        f"<td>{status_badge(c['after']) if c['after'] else '-'}</td><td>{html.escape(c['summary'])}</td></tr>"
        for c in change["checks"]
    )
    moved = "".join(
        f"<tr><td>{html.escape(f['figure'])}</td><td>{_figure_text(f['figure'], f['before'])} ({f['level_before'] or '-'})</td>"
        f"<td>{_figure_text(f['figure'], f['after'])} ({f['level_after']})</td></tr>"
        for f in change["figures"]
    )
    worst = change["worst"]
    body = (
        f"<p>previous run: {link} (started {html.escape(str(prev['started']))}, worst {status_badge(worst['before'])}; "
        f"now {status_badge(worst['after'])})</p>"
    )
    if not rows and not moved:
        body += "<p>no check changed status and no figure crossed a threshold</p>"
    if rows:
        body += "<table><tr><th>check</th><th>before</th><th>now</th><th>finding now</th></tr>" + rows + "</table>"
    if moved:
        body += (
            "<h3>Figures past a threshold</h3><table><tr><th>figure</th><th>before</th><th>now</th></tr>"
            + moved
            + "</table>"
        )
    return f"<div class='changes' style='border:2px solid #444;padding:8px;margin-bottom:12px'><h2>Changed since the previous run</h2>{body}</div>"


def changes_text(change: dict[str, Any] | None) -> list[str]:
    """Plain lines of the same (notifications, terminal)."""
    if not change:
        return ["first run of this account and region in the reports root"]
    lines = [f"{c['id']}: {c['before'] or '-'} -> {c['after'] or '-'}" for c in change["checks"]]
    lines += [
        f"{f['figure']}: {_figure_text(f['figure'], f['before'])} -> {_figure_text(f['figure'], f['after'])} "
        f"({f['level_before'] or '-'} -> {f['level_after']})"
        for f in change["figures"]
    ]
    return lines or ["no check changed status"]


# -- frames for the notebook -------------------------------------------------------------------
def timeline_frame(runs: list[Run]) -> Any:
    """Checks x runs, each cell a status (pandas DataFrame; columns are run names)."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    ids = list(dict.fromkeys(i for r in runs for i in r.statuses))
    data = {r.name: [r.statuses.get(i, "") for i in ids] for r in runs}
    return pd.DataFrame(data, index=pd.Index(ids, name="check"))


def trend_frame(runs: list[Run]) -> Any:
    """Runs x key figures, indexed by the run's start time."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    rows = [{"run": r.name, "started": parse_when(r.started), "worst": r.worst, **r.figures} for r in runs]
    frame = pd.DataFrame(rows, columns=["run", "started", "worst", *FIGURES])
    return frame.set_index("started")


def render_text(result: dict[str, Any]) -> None:
    """``ses-runbook history`` without ``--json``: runs, then checks that were ever not ok."""
    # deferred: rich: only when a terminal table is printed
    from rich.table import Table

    console = rich_console()
    runs = Table(title=f"runs in {markup_text(result['root'])}")
    for column in ("started", "account", "region", "run", "worst", "bounce", "complaint", "quota used", "suppressed"):
        runs.add_column(column)
    for run in result["runs"]:
        f = run["figures"]
        status = Status(run["worst"])
        runs.add_row(
            markup_text(run["started"]),
            markup_text(run["account"]),
            markup_text(run["region"]),
            markup_text(run["path"].rsplit("/", 1)[-1]),
            f"[{STYLE[status]}]{status.value}[/]",
            _figure_text("bounce_rate", f.get("bounce_rate")),
            _figure_text("complaint_rate", f.get("complaint_rate")),
            _figure_text("quota_used", f.get("quota_used")),
            _figure_text("suppressed", f.get("suppressed")),
        )
    console.print(runs)
    checks = Table(title="checks that were not ok")
    for column in ("check", "now", "timeline (oldest first)", "turned bad in", "recovered in"):
        checks.add_column(column)
    for c in result["checks"]:
        if not c["episodes"]:
            continue
        timeline = " ".join(Status(s).symbol if s else "." for s in c["statuses"])
        checks.add_row(
            markup_text(c["id"]),
            c["status"] or "-",
            timeline,
            markup_text(c["episodes"][-1]["left_ok"].rsplit("/", 1)[-1]),
            markup_text((c["recovered"] or "").rsplit("/", 1)[-1]),
        )
    console.print(checks if checks.row_count else "every check was ok in every run")


# -- what 11_history shows ---------------------------------------------------------------------
def for_params(params: Params, aws: Any = None) -> tuple[list[Run], list[str]]:
    """Runs of the parameters' account and region in ``reports_root`` (none when it is unset),
    and what was skipped. Reads the account with STS GetCallerIdentity."""

    if not params.reports_root:
        return [], ["no reports root: set reports_root (ses-runbook run --reports ROOT sets it)"]

    account = (aws or Aws(params)).account_label()
    skipped: list[str] = []
    runs = load(
        open_root(params.reports_root, params),
        None if account.startswith("unknown") else account,
        params.region,
        warn=skipped.append,
    )
    return runs, skipped


def run_rows(runs: list[Run]) -> list[dict[str, Any]] | None:
    """One row per run; None without runs (``runs_note`` says so)."""
    if not runs:
        return None
    return [
        {
            "run": r.name,
            "started (UTC)": r.started,
            "as of": r.as_of,
            "label": r.label or "",
            "worst": r.worst,
            "not ok": ", ".join(sorted(i for i, s in r.statuses.items() if s not in ("ok", "skip"))),
        }
        for r in runs
    ]


def since_rows(runs: list[Run]) -> list[dict[str, Any]] | None:
    """Checks that were not ok in some run: now, the run in which its latest bad stretch began
    (still bad when nothing recovered it), the run that recovered it; None without runs."""
    if not runs:
        return None
    name = lambda path: (path or "").rsplit("/", 1)[-1]  # noqa: E731
    return [
        {
            "check": c["id"],
            "now": c["status"],
            "timeline": " ".join(s or "-" for s in c["statuses"]),
            "turned bad in": name(c["episodes"][-1]["left_ok"]),
            "recovered in": name(c["recovered"]),
        }
        for c in checks_over_time(runs)
        if c["episodes"]
    ]


def trend_rows(runs: list[Run]) -> list[dict[str, Any]] | None:
    """Key figures per run (duration, which varies between identical runs, is in the plot only);
    None without runs."""
    if not runs:
        return None
    return [{"run": r.name, **{n: r.figures.get(n) for n in FIGURES if n != "duration_s"}} for r in runs]


def runs_note(runs: list[Run], skipped: list[str]) -> str:
    """The sentence above the history; without runs, the only thing the page shows."""
    if not runs:
        text = (
            "No run of this account and region in the reports root yet: each `ses-runbook run --reports ROOT` "
            "adds one, and this page then shows their statuses over time and the trends of their key figures"
        )
        return text + (" (" + "; ".join(skipped) + ")" if skipped else "")
    text = f"{len(runs)} run(s) of this account and region"
    return text + ("; " + "; ".join(skipped) if skipped else "")
