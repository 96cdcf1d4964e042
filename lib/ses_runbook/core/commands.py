"""The equivalent ``aws`` CLI command of every look-up, for an engineer to repeat by hand.

Every ``aws`` command the runbook prints for copy-paste is built here, each value a token quoted
with ``shlex``: a queue URL, a file name, a topic ARN or an endpoint holding ``;curl ...|sh;#`` or
``$(...)`` comes out as one quoted word, never as shell the reader runs by pasting.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


class Shell(str):
    """Text the shell is meant to expand (the runbook's own constants: ``"$(date -u ...)"``, a loop's
    ``"$address"``), passed through unquoted. Never built from a parameter or anything read."""


def join(parts: list[Any]) -> str:
    """``shlex.join`` of ``parts`` (each ``str()``-ed), with ``Shell`` pieces left as written."""
    out: list[str] = []
    plain: list[str] = []
    for part in parts:
        if isinstance(part, Shell):
            if plain:
                out.append(shlex.join(plain))
                plain = []
            out.append(str(part))
        else:
            plain.append(str(part))
    if plain:
        out.append(shlex.join(plain))
    return " ".join(out)


def aws_command(params: Params, service: str, command: str, *args: Any, regional: bool = True) -> str:
    """``aws SERVICE COMMAND ARGS --profile P --region R [--endpoint-url U]`` for these parameters,
    each of ``args`` one word (an option or its value)."""
    parts: list[Any] = ["aws", service, command, *args]
    if params.aws_profile:
        parts += ["--profile", params.aws_profile]
    if regional:
        parts += ["--region", params.region]
    if params.endpoint_url:
        parts += ["--endpoint-url", params.endpoint_url]
    return join(parts)
