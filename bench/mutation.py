"""Mutation score of the modules that decide what a user is told (``make mutation``; not part of CI).

mutmut plants one small bug at a time (a flipped comparison, a changed constant, a dropped
``not``) in the functions that decide statuses and verdicts, guard writes, mask secrets and
addresses, and choose what history and prune keep, and runs the tests that cover that function.
A mutant no test notices (a survivor) is a behaviour no test pins down.

Each module runs in a scratch folder of its own (``build/mutation/<name>/``): mutmut reads its
settings from the working folder's ``pyproject.toml`` and imports the mutated copy from ``src/``,
so each folder gets a ``pyproject.toml`` naming that module and only the tests that cover it, and
``src`` and ``tests`` as links to the checkout's. Only the functions listed are mutated where a
module holds more than decisions (the AWS client's retries and memo are not the guard).

    python bench/mutation.py                 # the decision modules; the last line gives each score
    python bench/mutation.py redact spf      # some of them
    python bench/mutation.py --survivors     # and each survivor's diff

The score is killed / (killed + survived + no tests); a timeout counts as killed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "build" / "mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")
GOAL = 90.0  # per cent, per module


@dataclass(frozen=True)
class Target:
    """One module, the tests that cover it, and (optionally) the only functions to mutate."""

    path: str  # under lib/
    tests: tuple[str, ...]
    functions: tuple[str, ...] = field(default=())  # mutmut name globs, e.g. "x_refusal__mutmut_*"

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


GUARD_TESTS = tuple(
    f"tests/test_guards.py::{name}"
    for name in (
        "test_guard_refuses_every_operation_off_the_read_path_before_sending[sqs]",
        "test_guard_refuses_every_operation_off_the_read_path_before_sending[sts]",
        "test_guard_refuses_every_operation_off_the_read_path_before_sending[firehose]",
        "test_every_listed_operation_is_in_botocores_model",
        "test_credentials_and_secrets_are_refused_whatever_the_switches",
        "test_queue_reads_go_out_only_with_the_runbooks_own_values",
        "test_each_switch_lets_through_only_its_own_writes",
        "test_named_writes_and_the_read_rule",
        "test_a_grant_opens_its_one_write_for_its_own_client_and_counts_it",
        "test_refused_message_names_the_switch",
        "test_get_metric_data_and_configuration_sets_follow_next_token",
    )
)
HISTORY_TESTS = tuple(
    f"tests/test_history.py::{name}"
    for name in (
        "test_stretches_warn_is_bad_skip_is_not_a_missing_check_changes_nothing",
        "test_changes_name_status_changes_and_figures_crossing_a_level",
        "test_since_reads_durations_and_times",
        "test_since_without_now_is_an_aware_time",
        "test_since_refuses_anything_else_saying_what_is_allowed",
        "test_prune_by_count_and_age_keeps_healthy_labelled_and_the_run_just_written",
        "test_prune_touches_only_its_account_and_region_and_needs_no_healthy_run",
    )
)
# The tests named are those that cover each module without a sandbox or a CLI run: a mutant is
# tested in a forked process, and a sandbox started in each would cost seconds per mutant.
TARGETS: dict[str, Target] = {
    "redact": Target(
        "ses_runbook/core/redact.py",
        (
            "tests/test_guards.py::test_mask_key_ids_in_free_text",
            "tests/test_guards.py::test_error_messages_mask_key_ids",
            "tests/test_hostile.py::test_csv_cells_follow_owasp",
            "tests/test_hostile.py::test_masking_splits_at_the_last_at",
            "tests/test_trace.py::test_other_addresses_are_masked_and_the_traced_one_is_shown",
        ),
    ),
    "guard": Target(
        "ses_runbook/core/aws.py",
        GUARD_TESTS,
        (
            "x_is_read__mutmut_*",
            "x__queue_write__mutmut_*",
            "x_write_reason__mutmut_*",
            "x_refusal__mutmut_*",
            "xǁAwsǁ_guard__mutmut_*",
            "xǁAwsǁ_before_call__mutmut_*",
        ),
    ),
    "reputation": Target(
        "ses_runbook/checks/reputation.py",
        (
            "tests/test_guards.py::test_reputation_status_on_and_just_under_each_level",
            "tests/test_guards.py::test_reputation_summary_states_rate_and_level",
            "tests/test_guards.py::test_reputation_without_a_whole_period_is_ok_and_says_why",
            "tests/test_guards.py::test_reputation_details_name_the_period_the_peak_and_the_partial_hour",
        ),
        ("x__rate_check__mutmut_*",),  # the verdict; the command it prints is not one
    ),
    "history": Target(
        "ses_runbook/runs/history.py",
        HISTORY_TESTS,
        ("x_checks_over_time__mutmut_*", "x_changes__mutmut_*", "x__level__mutmut_*", "x_parse_since__mutmut_*"),
    ),
    "prune": Target("ses_runbook/runs/reporting.py", HISTORY_TESTS, ("x_prune__mutmut_*",)),
    "feedback-masking": Target(
        "ses_runbook/sources/feedback.py",
        (
            "tests/test_feedback.py::test_masking_keeps_domain_and_first_letter",
            "tests/test_feedback.py::test_masked_frames_hide_addresses_unless_asked",
            "tests/test_feedback.py::test_redrive_policy_edges",
        ),
        ("x_mask__mutmut_*", "x_masked__mutmut_*", "x_refuse_low_redrive__mutmut_*"),
    ),
}
# Run when named, not by default: the mail-authentication verdicts, whose tests pin the RFC edges
# the runbook reports but not every parse path (measured: SPF 66 % of 1,087, DMARC 59 % of 425).
MORE: dict[str, Target] = {
    "spf": Target("ses_runbook/sources/mailauth/spf.py", ("tests/test_mailauth.py",)),
    "dmarc": Target("ses_runbook/sources/mailauth/dmarc.py", ("tests/test_mailauth.py",)),
}
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
SCORED = KILLED | {"survived", "no tests", "suspicious"}


def _config(target: Target) -> str:
    """The scratch folder's pyproject.toml: the checkout's pytest settings, mutmut's for this module."""
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]

    def toml_list(values: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    return "\n".join(
        [
            "[tool.pytest.ini_options]",
            f"testpaths = {toml_list(pytest_options['testpaths'])}",
            f'addopts = "{pytest_options["addopts"]}"',
            f"filterwarnings = {toml_list(pytest_options['filterwarnings'])}",
            "",
            "[tool.mutmut]",
            'source_paths = ["src"]',
            f'only_mutate = ["src/{target.path}"]',
            f"pytest_add_cli_args_test_selection = {toml_list(target.tests)}",
            "use_git_change_detection = false",
            "",
        ]
    )


def _prepare(name: str, target: Target) -> Path:
    work = SCRATCH / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "src").symlink_to(ROOT / "lib")
    (work / "tests").symlink_to(ROOT / "tests")
    (work / "pyproject.toml").write_text(_config(target), encoding="utf-8")
    # where mutmut puts the mutated copy: on PYTHONPATH from the start, so it must exist before the
    # interpreter does (a path missing at start-up is never looked in again)
    (work / "mutants" / "src").mkdir(parents=True)
    return work


def _results(work: Path, env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"^\s+(\S+): (.+)$", out, re.MULTILINE))


def _wanted(target: Target, mutant: str) -> bool:
    if not target.functions:
        return True
    short = mutant.removeprefix(target.module + ".")
    return any(re.fullmatch(re.escape(glob).replace(r"\*", ".*"), short) for glob in target.functions)


def run(name: str, target: Target, children: int, show: bool) -> tuple[int, int, list[str]]:
    """Killed and scored mutants of one module, and its survivors."""
    work = _prepare(name, target)
    env = {k: v for k, v in os.environ.items() if k != "MUTANT_UNDER_TEST"}
    # the tests' subprocesses (CLI runs) import the mutated copy too
    env["PYTHONPATH"] = str(work / "mutants" / "src")
    names = [f"{target.module}.{glob}" for glob in target.functions]
    started = time.monotonic()
    proc = subprocess.run(
        [str(MUTMUT), "run", "--max-children", str(children), *names],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"mutmut failed on {target.path} (exit {proc.returncode}); its folder: {work}")
    statuses = {k: v for k, v in _results(work, env).items() if _wanted(target, k)}
    scored = [k for k, v in statuses.items() if v in SCORED]
    killed = [k for k in scored if statuses[k] in KILLED]
    survivors = sorted(k for k in scored if statuses[k] not in KILLED)
    print(
        f"{name}: {len(killed)}/{len(scored)} killed ({_score(len(killed), len(scored))}) "
        f"in {time.monotonic() - started:.0f} s; {len(survivors)} left",
        flush=True,
    )
    for mutant in survivors:
        print(f"  {statuses[mutant]}: {mutant}")
        if show:
            diff = subprocess.run(
                [str(MUTMUT), "show", mutant], cwd=work, env=env, capture_output=True, text=True
            ).stdout
            print("\n".join("    " + line for line in diff.splitlines()[1:]))
    return len(killed), len(scored), survivors


def _score(killed: int, scored: int) -> str:
    return f"{100 * killed / scored:.1f} %" if scored else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help="any of: " + ", ".join([*TARGETS, *MORE]) + " (default: all but the last two)",
    )
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    args = parser.parse_args(argv)
    known = {**TARGETS, **MORE}
    unknown = [m for m in args.modules if m not in known]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; any of: {', '.join(known)}")
    chosen = args.modules or list(TARGETS)
    scores = {}
    for name in chosen:
        killed, scored, _ = run(name, known[name], args.children, args.survivors)
        scores[name] = (killed, scored)
    below = [n for n, (k, s) in scores.items() if s and 100 * k / s < GOAL]
    print("mutation score: " + ", ".join(f"{n} {_score(k, s)}" for n, (k, s) in scores.items()))
    return 1 if below else 0


if __name__ == "__main__":
    raise SystemExit(main())
