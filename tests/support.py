"""Plain helpers the tests share (the fixtures are in conftest.py): the checkout, the CLI as a
subprocess, a started sandbox with the parameters that point at it, a fault-injecting proxy in
front of the sandbox's AWS endpoint, and a client that drives `ses-runbook lab` as a browser tab would.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import psutil

from ses_runbook.core import params as params_mod
from ses_runbook.core.results import Report
from ses_runbook.runs.notebook import parameters_source
from ses_runbook.sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "scenarios"  # scenario files of the tests' own (each extends a packaged one)
CLI = [sys.executable, "-m", "ses_runbook.frontends.cli"]  # the interpreter running the tests, wherever it lives

# The CLI as `python -m ses_runbook.frontends.cli` runs it, with Python's own SIGINT handler whatever pytest
# inherited: Python installs it only when SIGINT is not ignored at start-up, and a background job
# of a non-interactive shell starts with SIGINT ignored. Tests that press Ctrl-C start the CLI so.
INTERRUPTIBLE_CLI = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'ses-runbook'; runpy.run_module('ses_runbook.frontends.cli', run_name='__main__', alter_sys=True)",
]

# The account and identity checks (the runbook page's spine), each staged by a scenario of its own.
SPINE = [
    "account.sending_enabled",
    "account.production_access",
    "account.enforcement",
    "quota.headroom",
    "reputation.bounce_rate",
    "reputation.complaint_rate",
    "identity.verification",
    "identity.dkim",
]


# --------------------------------------------------------------------------- the CLI


def terminal_neutral(env: Mapping[str, str]) -> dict[str, str]:
    """The environment without what changes how the CLI's tables look (a width from the caller's terminal,
    forced colours), and with a fixed width: the output a test reads is the same however pytest was started."""
    dropped = {"COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE"}
    return {
        **{k: v for k, v in env.items() if k not in dropped},
        "COLUMNS": "200",
        "LINES": "50",
        "PYTHONIOENCODING": "utf-8",
    }


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``ses-runbook ARGS`` as a subprocess in the checkout, in this environment (or ``env``)."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=terminal_neutral(os.environ if env is None else env),
        cwd=ROOT,
    )


# --------------------------------------------------------------------------- the sandbox


class Running:
    """A started sandbox plus the parameters and environment that point at it, at the world's fixed as_of
    (what the ``sandbox`` fixture gives a test)."""

    def __init__(self, box: Sandbox, scenario: str) -> None:
        self.box = box
        self.scenario = scenario  # as the test asked for it: a scenario's name or a YAML file
        self.as_of = box.scenario.as_of
        self.params = self.load()
        self.env = {**os.environ, **box.env(), "SES_RUNBOOK_AS_OF": self.as_of}

    def overrides(self) -> dict:
        """The sandbox's endpoints and the world's "now": a test's result never depends on the hour it runs."""
        return {**self.box.params(), "as_of": self.as_of}

    def load(self, **overrides: Any) -> params_mod.Params:
        """Parameters pointing at the sandbox with ``overrides`` on top, validated as a user's are."""
        return params_mod.load(overrides={**self.overrides(), **overrides})

    def cli(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        """Run the CLI as a subprocess pointed at this sandbox through -p overrides."""
        extra: list[str] = []
        for name, value in self.overrides().items():
            extra += ["-p", name, ",".join(value) if isinstance(value, list) else str(value)]
        return run_cli(*args, *extra, env=self.env, timeout=timeout)


def statuses(report: Report | Mapping[str, Any]) -> dict[str, str]:
    """Each check's status by id, from a report or its JSON form."""
    if isinstance(report, Report):
        return {c.id: c.status.value for c in report.checks}
    return {c["id"]: c["status"] for c in report["checks"]}


# --------------------------------------------------------------------------- processes, ports, files


def alive(pids: set[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie has exited: only its parent has not reaped it yet)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback TCP port that refuses connections for as long as the block runs: bound but not
    listening, so no parallel test's server can take it (a port merely found free could be)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def hashes(folder: Path, pattern: str = "**/*") -> dict[str, str]:
    """The SHA-256 of each file of ``folder`` matching ``pattern``, by its path relative to the folder."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.glob(pattern))
        if p.is_file()
    }


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook as the runner expects one: the ``parameters`` cell (the model's, as in 00_health_check),
    then a code cell for each of ``sources``, on the plain python3 kernel."""
    parameters = nbformat.v4.new_code_cell(parameters_source("00_health_check"))
    parameters.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[parameters, *(nbformat.v4.new_code_cell(s) for s in sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- a fault-injecting proxy
# It speaks plain HTTP to botocore and forwards to the sandbox, except where a rule says to throttle
# (with each service's real error shape), answer 5xx, drop the connection, delay past the client's
# read timeout, or deny one service. It also counts what passed through, so tests can assert on the
# server side of the wire.

JSON10 = "application/x-amz-json-1.0"  # CloudWatch: botocore speaks its awsJson1.0 protocol


THROTTLE = {
    "ses": (
        400,
        "text/xml",
        b'<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>'
        b"<Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error><RequestId>x</RequestId></ErrorResponse>",
        {},
    ),
    "cloudwatch": (400, JSON10, b'{"__type":"Throttling","message":"Rate exceeded"}', {}),
    "sesv2": (
        429,
        "application/json",
        b'{"message":"Too Many Requests"}',
        {"x-amzn-ErrorType": "TooManyRequestsException"},
    ),
    "iam": (
        400,
        "text/xml",
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        b"</Error><RequestId>x</RequestId></ErrorResponse>",
        {},
    ),
    "sts": (
        400,
        "text/xml",
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        b"</Error><RequestId>x</RequestId></ErrorResponse>",
        {},
    ),
}


def service_of(headers, path: str) -> str:
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    service = match.group(1) if match else "unknown"
    if service == "ses" and path.startswith("/v2/"):
        return "sesv2"
    return {"monitoring": "cloudwatch", "email": "ses"}.get(service, service)


class FaultProxy:
    """``with FaultProxy(upstream) as proxy: proxy.url``; set ``throttle_every``/``cut``/``mode`` to inject."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.throttle_fraction = 0.0  # share of attempts answered with a throttling error
        self.cut: dict[str, str] = {}  # service -> "drop" | "delay" | "5xx" | "deny"
        self.delay_s = 5.0
        self.seen: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._n = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service = service_of(self.headers, self.path)
                with proxy._lock:
                    proxy.seen[service] += 1
                    proxy._n += 1
                    n = proxy._n
                mode = proxy.cut.get(service)
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if mode == "delay":
                    time.sleep(proxy.delay_s)
                if mode == "5xx":
                    return self._reply(503, "text/plain", b"Service Unavailable", {})
                if mode == "deny" and service == "cloudwatch":
                    return self._reply(400, JSON10, b'{"__type":"AccessDenied","message":"not authorized"}', {})
                if mode == "deny":
                    return self._reply(
                        403,
                        "text/xml",
                        b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                        b"<Message>not authorized</Message></Error><RequestId>x</RequestId></ErrorResponse>",
                        {},
                    )
                # deterministic: 3 of every 10 attempts (3rd, 6th, 9th), never two in a row
                if (
                    proxy.throttle_fraction
                    and (n % 10) in (3, 6, 9, 1, 5, 7, 2, 4, 8, 0)[: round(proxy.throttle_fraction * 10)]
                ):
                    with proxy._lock:
                        proxy.throttled[service] += 1
                    status, ctype, payload, extra = THROTTLE.get(service, THROTTLE["iam"])
                    return self._reply(status, ctype, payload, extra)
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                extra = {
                    k: v
                    for k, v in response.getheaders()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "content-type")
                }
                self._reply(response.status, response.getheader("Content-Type", "text/plain"), data, extra)
                conn.close()

            def _reply(self, status: int, ctype: str, payload: bytes, extra: dict) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------- a JupyterLab client
# What a JupyterLab tab does, over the Jupyter server's REST and websocket API: open a notebook's
# session (a kernel the server starts), run every code cell, save the notebook. Tests use it to
# drive `ses-runbook lab` without a browser.


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
        import websocket  # websocket-client comes with JupyterLab (the lab extra), which only these tests need

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
        return {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}

    def signal(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        """Whatever happened, nothing of this lab keeps running after the test."""
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
