"""Canary secrets planted in the environment never reach an artifact; key ids appear only masked."""

from __future__ import annotations

import json
import re
from pathlib import Path

CANARIES = {
    "AWS_SECRET_ACCESS_KEY": "canarySecretKey0000aaaaBBBBccccDDDDeeeeFFFF",
    "AWS_SESSION_TOKEN": "canarySessionToken1111gggghhhhiiiijjjj",
    "SES_SMTP_PASSWORD": "BCanarySmtpPassword2222kkkkllllmmmmnnnnooo=",
}
CANARY_KEY_ID = "AKIACANARYKEY9876WXYZ"


def _scan(paths: list[Path], texts: list[str], forbidden: list[str]) -> list[str]:
    hits = []
    for path in paths:
        data = path.read_text(encoding="utf-8", errors="replace")
        hits += [f"{path.name}: {secret[:12]}…" for secret in forbidden if secret in data]
    for text in texts:
        hits += [f"output: {secret[:12]}…" for secret in forbidden if secret in text]
    return hits


def test_no_secret_in_check_json_run_bundle_or_logs(sandbox, tmp_path) -> None:
    env = {**sandbox.env, **CANARIES, "AWS_ACCESS_KEY_ID": CANARY_KEY_ID, "SES_SMTP_USERNAME": CANARY_KEY_ID}
    sandbox.env = env
    key_ids = list(sandbox.box.world.keys)  # real-looking key ids of the sandbox's IAM users
    assert key_ids
    forbidden = (
        list(CANARIES.values()) + [CANARY_KEY_ID] + key_ids + [k["secret"] for k in sandbox.box.world.keys.values()]
    )

    check = sandbox.cli("check", "--json")
    # the planted SMTP login is not a real one, so exactly smtp.auth fails: the secrets were used, not dropped
    assert check.returncode == 1, check.stderr[-2000:]
    failed = {c["id"]: c["summary"] for c in json.loads(check.stdout)["checks"] if c["status"] != "ok"}
    assert (
        list(failed) == ["smtp.auth"]
        and "535" in failed["smtp.auth"]
        and f"****{CANARY_KEY_ID[-4:]}" in failed["smtp.auth"]
    )
    out = tmp_path / "bundle"
    run = sandbox.cli("run", "--out", str(out), "--jobs", "2", timeout=900)
    # the notebooks ran through and found what `check` found: smtp.auth failed, nothing else, exit 1
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["worst"] == "fail" and all(n["error"] is None for n in summary["notebooks"]), summary["notebooks"]
    assert {c["id"] for c in summary["checks"] if c["status"] not in ("ok", "skip")} == {"smtp.auth"}
    artifacts = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in artifacts} >= {".ipynb", ".html", ".json"}
    assert sandbox.box.layer.writes() == {}, "a default check and run must not write (counted at the server)"
    hits = _scan(artifacts, [check.stdout, check.stderr, run.stdout, run.stderr], forbidden)
    assert hits == [], hits
    # the key ids that are shown, are shown masked (last four characters): the services' key (here
    # the canary) by its id; the users' keys come from IAM's credential report, which has no ids
    text = "".join(p.read_text(errors="replace") for p in artifacts) + check.stdout
    masked = set(re.findall(r"\*{4}([A-Z0-9]{4})", text))
    assert masked and masked <= {k[-4:] for k in key_ids} | {CANARY_KEY_ID[-4:]}, masked
    assert '"key 1"' in check.stdout, "IAM keys should be listed"
