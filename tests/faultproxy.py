"""A fault-injecting HTTP proxy on loopback, in front of the sandbox's AWS endpoint.

It speaks plain HTTP to botocore and forwards to the sandbox, except where a rule says to
throttle (with each service's real error shape), answer 5xx, drop the connection, delay past
the client's read timeout, or deny one service. It also counts what passed through, so tests
can assert on the server side of the wire.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

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
