"""Every error the runbook raises on purpose, in one place.

Each carries a one-line message meant for an on-call engineer: the CLI prints it as is
(exit 2) and a notebook shows it without a traceback.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base class: a problem the user can fix, stated in one line."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: the notebook shows one line.
        return [f"{type(self).__name__}: {self}"]


class ParameterError(RunbookError):
    """A parameter value (or parameter file) that the runbook cannot use."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"parameter '{name}': {message}" if name else message)


class CredentialsError(RunbookError):
    """No AWS credentials could be found where the parameters say to look."""


class ReadOnlyError(RunbookError):
    """A write operation was attempted while the run is read-only."""


class SandboxError(RunbookError):
    """The embedded sandbox could not start or was given an unknown scenario."""


class NotebookError(RunbookError):
    """A notebook name or file that the runner does not know."""


class MessageError(RunbookError):
    """A message (file, S3 object, IMAP mailbox) that cannot be read or judged at all."""


class DnsError(RunbookError):
    """DNS could not answer (timeout, SERVFAIL, no resolver): the check reports ``error``."""


class FeedbackError(RunbookError):
    """The feedback queue cannot be read (missing, denied, or unsafe to read): one line saying why."""


class ReportsError(RunbookError):
    """The reports root cannot be used (unwritable folder, missing bucket, bad address)."""


class HistoryError(RunbookError):
    """Bad history options (``--since``)."""


class NotifyError(RunbookError):
    """A ``--notify`` value the runbook cannot use."""


class TargetsError(RunbookError):
    """A targets file the runbook cannot use."""


class UsageError(RunbookError):
    """Command-line options that do not go together."""


class SandboxExtraError(SandboxError):
    """The sandbox was asked for, but its optional dependencies (the ``sandbox`` extra) are not installed."""

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(
            f"the sandbox needs its extra: pip install 'ses-runbook[sandbox]' (no module named '{missing}')"
        )


class RecordError(ValueError):
    """An SPF or DMARC record that does not parse or cannot be evaluated (a permanent error in the
    RFCs' terms). Not a ``RunbookError``: the DNS checks and the mail tester catch it and report
    what receivers will do with the record (permerror), so it never ends a run."""


class ForeignDataError(ValueError):
    """JSON or YAML written by someone else (a queue message, a planted ``summary.json``, a parameter
    file) that is too big, too deep, expands too far or does not parse. Not a ``RunbookError``: the
    reader of one item among many counts and skips it; a parameter file turns it into a
    ``ParameterError``. Its message never quotes the value."""


class OutputError(RunbookError):
    """A file or folder the runbook was asked to write that it will not write: a symbolic link, not a
    regular file, or (``--out``) a folder that already holds files."""
