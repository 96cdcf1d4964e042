"""The kernel ``ses-runbook run`` starts: ipykernel, without its debugger.

A headless run never attaches a debugger, and ipykernel loads debugpy (with pydevd) into every
kernel it starts when it can import it: about 8 MiB per kernel. An unimportable debugpy is how
ipykernel itself learns there is no debugger; JupyterLab's kernels are not started this way.

    python -m ses_runbook.ipykernel_launcher -f CONNECTION_FILE   (what ipykernel_launcher does, minus debugpy)
"""
from __future__ import annotations

import sys


def main() -> None:
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails: no debugger
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
