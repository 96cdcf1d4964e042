"""The kernel ``ses-runbook run`` starts: ipykernel, without its debugger.

A headless run never attaches a debugger, and ipykernel loads debugpy (with pydevd) into every
kernel it starts when it can import it: about 8 MiB per kernel. An unimportable debugpy is how
ipykernel itself learns there is no debugger; JupyterLab's kernels are not started this way.

The runner starts it with ``-OO`` (``kernel_flags``): nobody reads a docstring in a headless kernel,
and the docstrings of pandas, matplotlib, IPython and botocore are about 8 MiB of every kernel. The
runbook's own code neither asserts nor reads docstrings on a notebook's path.

    python -OO -m ses_runbook.runs.ipykernel_launcher -f CONNECTION_FILE   (ipykernel_launcher, minus debugpy)
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path


@functools.lru_cache(maxsize=1)
def kernel_flags() -> tuple[str, ...]:
    """The interpreter flags the runner starts this kernel with: ``-OO`` where the optimized
    bytecode of the heavy imports is installed (``make install`` compiles it), else none.

    Without it (a plain ``pip install``, or ``PYTHONDONTWRITEBYTECODE``), every kernel would compile
    pandas and matplotlib from source as it starts: two seconds of CPU to save eight MiB.
    """

    spec = importlib.util.find_spec("pandas")
    if spec is None or not spec.origin:
        return ()
    return ("-OO",) if Path(importlib.util.cache_from_source(spec.origin, optimization=2)).is_file() else ()


def main() -> None:
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails: no debugger
    # psutil serves JupyterLab's resource-usage panel (and is optional to ipykernel): 2.6 MiB a headless kernel never uses
    sys.modules["psutil"] = None  # type: ignore[assignment]
    from ipykernel import kernelapp  # deferred: only once debugpy and psutil are marked absent above

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
