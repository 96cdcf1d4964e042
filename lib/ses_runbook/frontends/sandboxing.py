"""The sandbox as the front ends start it: an optional extra, ``pip install 'ses-runbook[sandbox]'``.

A front end imports ``ses_runbook.sandbox`` only inside the function that starts it, and inside
``with sandbox_imports():``. When the extra is missing, the user reads one line that says what to
install (``SandboxExtraError``, exit 2), never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from collections.abc import Callable, Iterator

from ses_runbook.core.errors import SandboxExtraError

# The top-level modules of the `sandbox` extra's distributions (pyproject.toml; tests/test_cli.py
# and tests/test_wheel.py check that the two agree). The sandbox imports some of them only once it starts (moto), so all
# are looked for before anything is imported.
EXTRA_MODULES = ("moto", "werkzeug", "flask", "aiosmtpd", "dnslib", "trustme", "pymap", "pysasl")


def missing_module() -> str | None:
    """The first module of the extra that is not installed, or None when every one is."""
    for name in EXTRA_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a finder that refuses the name, or a module whose spec is gone
            return name
    return None


@contextlib.contextmanager
def sandbox_imports() -> Iterator[None]:
    """Around a front end's imports of ``ses_runbook.sandbox``: a missing dependency of the extra
    (looked for first, or found missing by an import in the block) raises ``SandboxExtraError``."""
    missing = missing_module()
    if missing is not None:
        raise SandboxExtraError(missing)
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or top == "ses_runbook":  # a module of the package itself: a broken install, not the extra
            raise
        raise SandboxExtraError(exc.name or top) from exc


def says_what_to_install(main: Callable[..., int]) -> Callable[..., int]:
    """For a front end's ``main`` outside the CLI (which reports every ``RunbookError`` itself): a
    missing extra is one line on stderr and exit 2."""

    @functools.wraps(main)
    def wrapper(*args: object, **kwargs: object) -> int:
        try:
            return main(*args, **kwargs)
        except SandboxExtraError as exc:
            print(f"ses-runbook: {exc}", file=sys.stderr)
            return exc.exit_code

    return wrapper
