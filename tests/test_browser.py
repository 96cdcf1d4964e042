"""JupyterLab in a real Chromium (Playwright): what an on-call engineer sees in an investigation.

Runs where Playwright and a Chromium can start (the system's `chromium`, else Playwright's own);
skipped with the reason elsewhere. `make test-browser` installs what it needs and runs it alone.
Screenshots go to the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import Lab

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test-browser installs it)"
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
RUN_TIMEOUT_MS = 240_000


def _executable() -> str | None:
    for candidate in (
        os.environ.get("SES_RUNBOOK_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None  # Playwright's own download, if it is there


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=_executable(), args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # noqa: BLE001 - no browser here: say why and skip
            pytest.skip(f"no Chromium can start here ({str(exc).splitlines()[0]}); make test-browser installs one")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab_session(tmp_path_factory) -> Iterator[Lab]:
    session = Lab(tmp_path_factory.mktemp("lab"), "--sandbox", "--label", "browser")
    try:
        session.wait_ready()
        yield session
    finally:
        session.close()


def _run_all(page, session: Lab, name: str, shots: Path) -> None:
    """Open the notebook in JupyterLab, wait for its kernel, Run > Run All Cells, wait for the last cell."""
    try:
        _open_and_run(page, session, name)
    except Exception:
        page.screenshot(path=str(shots / f"FAILED-{name}.png"))
        raise


def _open_and_run(page, session: Lab, name: str) -> None:
    page.goto(f"{session.base}/lab/tree/{name}?reset&token={session.token}")  # reset: no tabs of earlier tests
    kernel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName")
    kernel.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName')]"
        ".some(e => e.textContent.includes('Python (ses-runbook)'))",
        timeout=120_000,
    )
    page.wait_for_selector(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']",
        state="attached",
        timeout=120_000,
    )
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()  # the notebook has the focus
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    # the last cell records the results: its plain output says so once every cell above has run
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output", has_text="recorded").first.wait_for(
        state="attached", timeout=RUN_TIMEOUT_MS
    )
    errors = page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) [data-mime-type='application/vnd.jupyter.stderr']", has_text="Error"
    )
    assert errors.count() == 0, errors.first.inner_text()


def test_health_check_shows_the_status_table(browser, lab_session, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab_session, "00_health_check.ipynb", tmp_path)
    badges = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output table span", has_text="ok")
    assert badges.count() >= 10
    assert (
        "account.sending_enabled"
        in page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output table").nth(1).inner_text()
    )
    badges.first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "00_health_check.png"), full_page=True)
    page.close()


def test_metrics_figures_render_as_images(browser, lab_session, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab_session, "07_cloudwatch_metrics.ipynb", tmp_path)
    images = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img")
    assert images.count() >= 3
    widths = [images.nth(i).evaluate("img => img.naturalWidth") for i in range(images.count())]
    assert all(w > 100 for w in widths), widths
    for i in range(images.count()):  # each figure as the page shows it
        images.nth(i).screenshot(path=str(tmp_path / f"07_cloudwatch_metrics-figure-{i + 1}.png"))
    images.first.evaluate("img => img.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(tmp_path / "07_cloudwatch_metrics.png"))
    page.close()


def test_symptom_picker_changes_the_walkthrough(browser, lab_session, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, lab_session, "08_remediation.ipynb", tmp_path)
    picker = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-dropdown select")
    picker.wait_for(state="attached", timeout=60_000)
    walkthrough = page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea:has(.widget-dropdown) .jp-OutputArea-child"
    ).nth(1)
    before = walkthrough.inner_text()
    picker.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "08_remediation_auto.png"))
    picker.select_option(label="Sending quota hit (sending-quota-hit)")
    page.wait_for_function(
        "([el, old]) => el.innerText !== old", arg=[walkthrough.element_handle(), before], timeout=60_000
    )
    after = walkthrough.inner_text()
    assert after != before and "quota" in after.lower()
    page.screenshot(path=str(tmp_path / "08_remediation_picked.png"))
    page.close()
