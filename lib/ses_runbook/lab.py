"""``make lab``: JupyterLab on the notebooks, with the sandbox running and pointed at.

The notebooks' unset parameters (endpoint, DNS, SMTP) come from the ``SES_RUNBOOK_*``
environment the sandbox sets, so opening a notebook and running it just works; set the
parameters cell (or use papermill with ``-f parameters/phenom.yaml``) for production.
"""
from __future__ import annotations

import os
import subprocess
import sys

from .runner import notebook_dir
from .sandbox.server import Sandbox, describe, restore_env


def main() -> int:
    with Sandbox("healthy") as box:
        previous = box.apply_env()
        print(describe(box), flush=True)
        try:
            args = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--notebook-dir={notebook_dir()}", *sys.argv[1:]]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                args.append("--allow-root")  # containers and CI images often run as root
            return subprocess.call(args)
        except KeyboardInterrupt:
            return 0
        finally:
            restore_env(previous)


if __name__ == "__main__":
    sys.exit(main())
