"""The reports root: where every run's bundle goes, a local folder or ``s3://bucket/prefix``.

Layout: ``ROOT/<account>/<region>/<UTC time>[-label]/`` holding the bundle the runner writes
(``summary.json``, ``index.html``, ``report.html``, the notebooks and their pages). A run only
ever adds its own folder: the folder is claimed atomically first (``mkdir`` locally, a
conditional ``PutObject`` on S3), so two runs started in the same second get two folders, and
nothing an earlier run wrote is changed; pruning (``--keep``/``--keep-days``) is the one
deliberate exception and never removes the newest healthy run or a labelled one.

S3 runs are written to a local staging folder and uploaded with boto3 when finished, with the
credentials and endpoint of the parameters (the sandbox serves S3 from moto).
"""

from __future__ import annotations

import abc
import mimetypes
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from botocore.config import Config

from ses_runbook.core import files as files_mod
from ses_runbook.core import foreign
from ses_runbook.core.errors import ReportsError
from ses_runbook.core.redact import mask_key_ids

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

SUMMARY = "summary.json"
CLAIM = "INCOMPLETE"  # present while a run is being written; the runner removes its own at the end


def safe_name(text: str) -> str:
    """A path segment from an account label, region or run label."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned or "unknown"


def account_segment(account: str) -> str:
    """``123456789012``, or ``unknown`` when the account could not be read (the label says why)."""
    return "unknown" if account.startswith("unknown") else safe_name(account)


def run_name(when: datetime, label: str | None = None, attempt: int = 0) -> str:
    """``20261101T000000Z[-label]``; a second run in the same second gets ``.2``, ``.3``..."""
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return stamp + (f".{attempt + 1}" if attempt else "") + (f"-{safe_name(label)}" if label else "")


@dataclass
class StoredRun:
    """One run folder found in the root: where it is and its ``summary.json`` text (None if missing)."""

    path: str  # relative to the root: account/region/name
    summary: bytes | None


@dataclass
class Slot:
    """A claimed run folder: ``local`` is where the runner writes; ``path`` is its place in the root."""

    path: str
    local: Path
    staged: bool  # True when ``local`` is a staging folder to upload (S3)


class Root(abc.ABC):
    """Common interface of a local and an S3 reports root."""

    spec: str

    @abc.abstractmethod
    def check_writable(self) -> None: ...
    @abc.abstractmethod
    def claim(self, account: str, region: str, when: datetime, label: str | None) -> Slot: ...
    @abc.abstractmethod
    def publish(self, slot: Slot) -> None: ...
    @abc.abstractmethod
    def runs(self, account: str | None = None, region: str | None = None) -> Iterator[StoredRun]: ...
    @abc.abstractmethod
    def remove(self, path: str) -> None: ...
    @abc.abstractmethod
    def write_files(self, path: str, files: dict[str, str]) -> None:
        """Text files written into ``path`` of the root, outside any run's folder (the fleet index)."""

    def url(self, path: str, name: str = "index.html") -> str:
        return f"{self.spec.rstrip('/')}/{path}/{name}"


def _glob_filter(account: str | None, region: str | None) -> tuple[str, str]:
    return (account_segment(account) if account else "*", safe_name(region) if region else "*")


class LocalRoot(Root):
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.path = Path(spec).expanduser()

    def check_writable(self) -> None:
        """Create the folder and write a probe file in it: fails now, not after the notebooks ran."""
        if self.path.exists() and not self.path.is_dir():
            raise ReportsError(f"reports root '{self.spec}' is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path, prefix=".probe-"):
                pass
        except OSError as exc:
            raise ReportsError(f"reports root '{self.spec}' is not writable: {exc.strerror or exc}") from None

    def claim(self, account: str, region: str, when: datetime, label: str | None) -> Slot:
        parent = self.path / account_segment(account) / safe_name(region)
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            name = run_name(when, label, attempt)
            try:
                (parent / name).mkdir()  # atomic: exactly one run gets each folder
            except FileExistsError:
                continue
            return Slot(path=f"{parent.relative_to(self.path).as_posix()}/{name}", local=parent / name, staged=False)
        raise ReportsError(f"reports root '{self.spec}': no free run folder for {name}")

    def publish(self, slot: Slot) -> None:
        return None  # written in place

    def runs(self, account: str | None = None, region: str | None = None) -> Iterator[StoredRun]:
        acc, reg = _glob_filter(account, region)
        if not self.path.is_dir():
            return
        for folder in sorted(self.path.glob(f"{acc}/{reg}/*")):
            if not folder.is_dir():
                continue
            summary = folder / SUMMARY
            try:
                # capped: a planted file of gigabytes (or a link to an endless device) is read no further
                data = files_mod.read_capped(summary, foreign.MAX_BYTES) if summary.is_file() else None
            except OSError:
                data = None
            yield StoredRun(path=folder.relative_to(self.path).as_posix(), summary=data)

    def remove(self, path: str) -> None:
        shutil.rmtree(self.path / path, ignore_errors=True)

    def write_files(self, path: str, files: dict[str, str]) -> None:
        folder = self.path / path
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            files_mod.write_text(folder / name, text)  # never through a link someone planted in a shared root

    def url(self, path: str, name: str = "index.html") -> str:
        return (self.path / path / name).resolve().as_uri()


class S3Root(Root):
    def __init__(self, spec: str, params: Params | None = None, session: Any = None) -> None:
        match = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$", spec)
        if not match:
            raise ReportsError(f"reports root '{spec}' is not an S3 address; allowed: s3://bucket[/prefix]")
        self.spec = spec.rstrip("/")
        self.bucket = match.group(1)
        self.prefix = (match.group(2) or "").strip("/")
        self.params = params
        self._session = session
        self._client: Any = None

    @property
    def client(self) -> Any:
        """A plain S3 client with the parameters' credentials and endpoint. Storing reports is the
        destination the user asked for, not a change to the SES account, so it is not routed
        through the read-only guard of ``aws.Aws``."""
        if self._client is None:
            # deferred: boto3 loads s3transfer: only the S3 reports root and SNS need it
            import boto3

            p = self.params
            session = self._session or boto3.Session(profile_name=p.aws_profile if p else None)
            endpoint = p.endpoint_url if p else None
            config = Config(
                region_name=p.region if p else None,
                retries={"mode": "standard", "total_max_attempts": 4},
                s3={"addressing_style": "path"} if endpoint else None,
                user_agent_appid="ses-runbook",
            )
            self._client = session.client("s3", endpoint_url=endpoint, config=config)
        return self._client

    def _key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def _error(self, exc: Exception, doing: str) -> ReportsError:
        if isinstance(exc, botocore.exceptions.ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket"):
                return ReportsError(f"reports root '{self.spec}': bucket '{self.bucket}' does not exist")
            if code in ("403", "AccessDenied"):
                return ReportsError(
                    f"reports root '{self.spec}': access denied while {doing} (needs s3:PutObject, s3:ListBucket, s3:GetObject)"
                )
            return ReportsError(mask_key_ids(f"reports root '{self.spec}': {code} while {doing}"))
        return ReportsError(mask_key_ids(f"reports root '{self.spec}': {type(exc).__name__} while {doing}: {exc}"))

    def check_writable(self) -> None:
        """HeadBucket, then a probe object written and deleted (PutObject, DeleteObject)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - one line whatever went wrong
            raise self._error(exc, "reading the bucket") from None
        probe = self._key(f".probe-{uuid.uuid4().hex}")
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "writing a probe object") from None

    def _exists(self, key_prefix: str) -> bool:
        answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key_prefix + "/", MaxKeys=1)
        return answer.get("KeyCount", 0) > 0

    def claim(self, account: str, region: str, when: datetime, label: str | None) -> Slot:
        """Claim ``account/region/name/`` by creating its INCOMPLETE marker with ``If-None-Match: *``
        (S3 conditional write): of two runs racing for one name, one gets the next name."""

        parent = f"{account_segment(account)}/{safe_name(region)}"
        for attempt in range(1000):
            path = f"{parent}/{run_name(when, label, attempt)}"
            key = self._key(path)
            try:
                if self._exists(key):
                    continue
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=f"{key}/{CLAIM}",
                    IfNoneMatch="*",
                    Body=b"this run is being written, or was interrupted\n",
                )
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                    "412",
                ):
                    continue
                raise self._error(exc, "claiming a run folder") from None
            local = Path(tempfile.mkdtemp(prefix="ses-runbook-report-"))
            return Slot(path=path, local=local, staged=True)
        raise ReportsError(f"reports root '{self.spec}': no free run folder under {parent}")

    def publish(self, slot: Slot) -> None:
        """Upload the staged bundle; ``summary.json`` last (a run is visible to history only once
        whole), then the claim marker goes unless the run itself left one (interrupted)."""
        files = sorted((p for p in slot.local.rglob("*") if p.is_file()), key=lambda p: p.name == SUMMARY)
        interrupted = (slot.local / CLAIM).exists()
        try:
            for file in files:
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                if file.suffix == ".html":
                    kind = "text/html; charset=utf-8"
                self.client.upload_file(
                    str(file),
                    self.bucket,
                    self._key(slot.path, file.relative_to(slot.local).as_posix()),
                    ExtraArgs={"ContentType": kind},
                )
            if not interrupted:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(slot.path, CLAIM))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"uploading the report (kept locally in {slot.local})") from None
        shutil.rmtree(slot.local, ignore_errors=True)

    def _keys(self, prefix: str) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def runs(self, account: str | None = None, region: str | None = None) -> Iterator[StoredRun]:
        base = self._key() + "/" if self.prefix else ""
        start = base + (account_segment(account) + "/" + (safe_name(region) + "/" if region else "") if account else "")
        folders: dict[str, bool] = {}
        try:
            for key in self._keys(start):
                parts = key[len(base) :].split("/")
                if len(parts) < 4 or (region and parts[1] != safe_name(region)):
                    continue
                path = "/".join(parts[:3])
                folders[path] = folders.get(path, False) or (len(parts) == 4 and parts[3] == SUMMARY)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "listing runs") from None
        for path in sorted(folders):
            data = None
            if folders[path]:
                try:
                    data = self.client.get_object(
                        Bucket=self.bucket, Key=self._key(path, SUMMARY), Range=f"bytes=0-{foreign.MAX_BYTES}"
                    )["Body"].read()
                except Exception:  # noqa: BLE001 - treated like a corrupt summary
                    data = None
            yield StoredRun(path=path, summary=data)

    def write_files(self, path: str, files: dict[str, str]) -> None:
        for name, text in files.items():
            kind = "text/html; charset=utf-8" if name.endswith(".html") else "application/json"
            self.client.put_object(Bucket=self.bucket, Key=self._key(path, name), Body=text.encode(), ContentType=kind)

    def remove(self, path: str) -> None:
        keys = list(self._keys(self._key(path) + "/"))
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]})


def open_root(spec: str, params: Params | None = None, session: Any = None) -> Root:
    """A reports root from ``--reports``: ``s3://bucket/prefix`` or a folder."""
    if not spec or not spec.strip():
        raise ReportsError("reports root is empty; allowed: a folder or s3://bucket/prefix")
    if spec.startswith("s3://"):
        return S3Root(spec, params, session)
    if "://" in spec:
        raise ReportsError(f"reports root '{spec}': unsupported scheme; allowed: a folder or s3://bucket/prefix")
    return LocalRoot(os.path.expanduser(spec))
