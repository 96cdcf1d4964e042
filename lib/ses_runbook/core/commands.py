"""The equivalent ``aws`` CLI command of every look-up, for an engineer to repeat by hand."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


def aws_command(params: Params, service: str, command: str, *args: str, regional: bool = True) -> str:
    """``aws SERVICE COMMAND ARGS --profile P --region R [--endpoint-url U]`` for these parameters."""
    parts = ["aws", service, command, *args]
    if params.aws_profile:
        parts += ["--profile", shlex.quote(params.aws_profile)]
    if regional:
        parts += ["--region", params.region]
    if params.endpoint_url:
        parts += ["--endpoint-url", params.endpoint_url]
    return " ".join(parts)
