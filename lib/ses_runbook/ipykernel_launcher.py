"""The kernel ``ses-runbook run`` starts: ipykernel, without its debugger.

A headless run never attaches a debugger, and ipykernel loads debugpy (with pydevd) into every
kernel it starts when it can import it: about 8 MiB per kernel. An unimportable debugpy is how
ipykernel itself learns there is no debugger; JupyterLab's kernels are not started this way.

The runner starts it with ``-OO`` (``KERNEL_FLAGS``): nobody reads a docstring in a headless kernel,
and the docstrings of pandas, matplotlib, IPython and botocore are about 8 MiB of every kernel. The
runbook's own code neither asserts nor reads docstrings on a notebook's path.

    python -OO -m ses_runbook.ipykernel_launcher -f CONNECTION_FILE   (ipykernel_launcher, minus debugpy)
"""
from __future__ import annotations

import sys

KERNEL_FLAGS = ("-OO",)  # the interpreter flags the runner starts this kernel with


def main() -> None:
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails: no debugger
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
