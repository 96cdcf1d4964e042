"""The sandbox's S3 (moto's, behind the same layer as everything else) with a staged reports
bucket, and, when asked, its objects kept in a folder between sandbox sessions.

``ses-runbook run --sandbox --reports s3://ses-runbook-reports/...`` starts a fresh sandbox for
each command, yet a reports root must remember earlier runs as a real bucket does; the CLI's
sandbox therefore restores the buckets from ``SES_RUNBOOK_SANDBOX_S3`` (default
``~/.cache/ses-runbook/sandbox/s3``) when it starts and writes them back when it stops.
A bucket the folder does not hold does not exist, so a missing bucket is still an error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from botocore.config import Config

from ses_runbook.sandbox.world import DEFAULT_STATE_DIR, SANDBOX_KEY

BUCKET = "ses-runbook-reports"  # the staged bucket every sandbox has


def default_dir() -> Path:
    return Path(os.environ.get("SES_RUNBOOK_SANDBOX_S3") or DEFAULT_STATE_DIR / "s3").expanduser()


def client(endpoint_url: str, region: str) -> Any:
    # deferred: boto3 loads s3transfer: only the S3 reports root and SNS need it
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=SANDBOX_KEY[0],
        aws_secret_access_key=SANDBOX_KEY[1],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _create(s3: Any, bucket: str, region: str) -> None:
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)


def restore(s3: Any, region: str, folder: Path | None, skip: frozenset[str] = frozenset()) -> None:
    """The staged bucket, plus every bucket (folder) and object (file) kept in ``folder``, but the
    buckets in ``skip`` (the scenario's own, such as its inbound mail: a new session starts them anew)."""
    _create(s3, BUCKET, region)
    if folder is None or not folder.is_dir():
        return
    for bucket_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if bucket_dir.name in skip:
            continue
        if bucket_dir.name != BUCKET:
            _create(s3, bucket_dir.name, region)
        for file in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
            s3.upload_file(str(file), bucket_dir.name, file.relative_to(bucket_dir).as_posix())


def save(s3: Any, folder: Path, skip: frozenset[str] = frozenset()) -> None:
    """Mirror every bucket but those in ``skip`` into ``folder`` (objects removed in the bucket are removed there too)."""
    folder.mkdir(parents=True, exist_ok=True)
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", []) if b["Name"] not in skip]
    for bucket in buckets:
        target = folder / bucket
        keep: set[Path] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                path = target / item["Key"]
                if ".." in Path(item["Key"]).parts:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(path))
                keep.add(path)
        for file in sorted(target.rglob("*"), reverse=True) if target.is_dir() else []:
            if file.is_file() and file not in keep:
                file.unlink()
            elif file.is_dir() and not any(file.iterdir()):
                file.rmdir()
    for stale in folder.iterdir():
        if stale.is_dir() and stale.name not in buckets:
            shutil.rmtree(stale, ignore_errors=True)
