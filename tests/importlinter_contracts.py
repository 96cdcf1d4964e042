"""import-linter contracts of our own, read from the source (`lint-imports` imports them from the checkout).

``private_names``: no module takes another module's underscore names, whether imported
(``from a import _x``) or reached through a module (``a._x``). What is shared is public.

``top_imports``: a module's imports sit at the top of the file, so its header says what it depends
on. A heavy third-party import may wait for the function that needs it, with a ``# deferred: <why>``
comment; the standard library and the package's own modules never wait, except the sandbox (an
optional extra), which the front ends import when asked to start it, and, in the command line
alone, the part of the library one subcommand drives, with its ``# deferred:`` reason (so that
``ses-runbook check``, run every few minutes by schedulers, loads the checks and nothing else).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

DEFERRABLE = ("ses_runbook.sandbox",)
COMMAND_LINE = "ses_runbook.frontends.cli"


def _modules(graph) -> Iterator[tuple[str, Path, ast.Module]]:
    for name in sorted(graph.modules):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        path = Path(spec.origin)
        yield name, path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def _private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


class PrivateNamesContract(Contract):
    type_name = "private_names"
    root = fields.StringField(required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:
        problems: list[str] = []
        modules = set(graph.modules)
        for name, path, tree in _modules(graph):
            aliases: dict[str, str] = {}  # local name -> package module it refers to
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    base = _base(name, path, node)
                    if base not in modules:
                        continue
                    for alias in node.names:
                        target = f"{base}.{alias.name}"
                        if target in modules:
                            aliases[alias.asname or alias.name] = target
                        elif _private(alias.name) and base != name:
                            problems.append(f"{name}:{node.lineno} imports {base}.{alias.name}")
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name in modules and alias.asname:
                            aliases[alias.asname] = alias.name
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and _private(node.attr)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in aliases
                    and aliases[node.value.id] != name
                ):
                    problems.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["problems"]:
            output.print_error(line, bold=False)


class TopImportsContract(Contract):
    type_name = "top_imports"

    def check(self, graph, verbose: bool) -> ContractCheck:
        problems: list[str] = []
        modules = set(graph.modules)
        roots = {m.split(".")[0] for m in modules}
        for name, path, tree in _modules(graph):
            lines = path.read_text(encoding="utf-8").splitlines()
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    if isinstance(node, ast.ImportFrom):
                        targets = [_base(name, path, node)]
                    elif isinstance(node, ast.Import):
                        targets = [a.name for a in node.names]
                    else:
                        continue
                    for target in targets:
                        where = f"{name}:{node.lineno} imports {target} inside {func.name}()"
                        if target.split(".")[0] in roots:
                            if target.startswith(DEFERRABLE) and not name.startswith(DEFERRABLE):
                                continue  # the sandbox extra, started on request
                            if name == COMMAND_LINE and _reasoned(lines, node.lineno):
                                continue  # a subcommand's part of the library, so `check` stays light
                            problems.append(where)
                        elif target.split(".")[0] in sys.stdlib_module_names:
                            problems.append(where + " (the standard library belongs at the top)")
                        elif not _reasoned(lines, node.lineno):
                            problems.append(where + " without a '# deferred: <why>' comment")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["problems"]:
            output.print_error(line, bold=False)


def _reasoned(lines: list[str], lineno: int) -> bool:
    """A deferred import says why: ``# deferred:`` on its line, or above the block of imports it is in."""
    index = lineno - 1
    if "deferred:" in lines[index]:
        return True
    index -= 1
    while index >= 0 and lines[index].strip().startswith(("import ", "from ", "#")):
        if "deferred:" in lines[index]:
            return True
        if lines[index].strip().startswith("#") and "deferred:" not in lines[index]:
            index -= 1
            continue
        index -= 1
    return False
