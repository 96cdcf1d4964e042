"""What a JupyterLab tab does, over the Jupyter server's REST and websocket API: open a notebook's
session (a kernel the server starts), run every code cell, save the notebook. Tests use it to drive
`ses-runbook lab` without a browser."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from conftest import INTERRUPTIBLE_CLI


class Lab:
    """``ses-runbook lab`` with a token, in its own folder, on the port the OS gives JupyterLab
    (``--port 0``). A port picked here and released before the server binds it could be taken in
    between, by the lab's own sandbox or by a parallel test, and the client would then talk to that.
    It is started with Python's SIGINT handler, so a test's Ctrl-C reaches it however pytest started."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port, self.token, self.workdir = 0, uuid.uuid4().hex, workdir
        self.folder = workdir / "investigation"
        self.runtime = workdir / "runtime"  # where the server says which port it bound (jpserver-<pid>.json)
        self.log = (workdir / "lab.log").open("w")
        self.proc = subprocess.Popen(
            [
                *INTERRUPTIBLE_CLI,
                "lab",
                "--out",
                str(self.folder),
                "--port",
                "0",
                "--token",
                self.token,
                *args,
                "--",
                "--no-browser",
            ],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime)},
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.workdir / "lab.log").read_text()[-3000:]
            if not self.port:
                info = sorted(self.runtime.glob("jpserver-*.json"))
                try:
                    self.port = json.loads(info[0].read_text())["port"] if info else 0
                except (ValueError, KeyError):  # caught while the server writes it
                    pass
            if self.port:
                try:
                    self.api("GET", "/api/status")
                    return
                except OSError:
                    pass
            time.sleep(0.5)
        raise AssertionError("JupyterLab did not answer in time")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def open(self, name: str) -> str:
        """A session for the notebook, as opening it in JupyterLab creates; returns the kernel id."""
        session = self.api(
            "POST", "/api/sessions", {"path": name, "type": "notebook", "name": name, "kernel": {"name": "ses-runbook"}}
        )
        return session["kernel"]["id"]

    def run_all(self, name: str, timeout: float = 300) -> dict[str, Any]:
        """Run every code cell of the notebook in its session's kernel and save it, as "Run All" + save do."""
        import websocket

        kernel = self.open(name)
        model = self.api("GET", f"/api/contents/{name}?content=1")
        nb = model["content"]
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/api/kernels/{kernel}/channels?token={self.token}", timeout=timeout
        )
        try:
            for count, cell in enumerate((c for c in nb["cells"] if c["cell_type"] == "code"), start=1):
                cell["outputs"], cell["execution_count"] = self._execute(ws, cell["source"], timeout), count
        finally:
            ws.close()
        self.api("PUT", f"/api/contents/{name}", {"type": "notebook", "format": "json", "content": nb})
        return nb

    @staticmethod
    def _execute(ws: Any, code: str, timeout: float) -> list[dict[str, Any]]:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "test",
                        "session": msg_id,
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        outputs: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id or msg.get("channel") != "iopub":
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                return outputs
            if kind == "stream":
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                out = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
                if kind == "execute_result":
                    out["execution_count"] = content["execution_count"]
                outputs.append(out)
            elif kind == "error":
                outputs.append(
                    {
                        "output_type": "error",
                        "ename": content["ename"],
                        "evalue": content["evalue"],
                        "traceback": content["traceback"],
                    }
                )
        raise AssertionError(f"cell did not finish in {timeout} s: {code[:80]}")

    def descendants(self) -> set[int]:
        import psutil

        return {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}

    def signal(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        """Whatever happened, nothing of this lab keeps running after the test."""
        import psutil

        if self.proc.poll() is None:
            tree = [psutil.Process(pid) for pid in self.descendants()]
            self.proc.kill()
            self.proc.wait(timeout=10)
            for p in tree:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        self.log.close()
