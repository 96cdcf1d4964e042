"""What the sandbox's loopback servers share: start/stop as a context manager, a readable repr."""

from __future__ import annotations

from typing import Any


class LoopbackService:
    """Base of the DNS and SMTP servers; subclasses define ``start``, ``stop``, ``running``, ``host``, ``port``."""

    host: str

    def start(self) -> LoopbackService:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    @property
    def running(self) -> bool:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{getattr(self, 'port', '?')} {'running' if self.running else 'stopped'}>"
