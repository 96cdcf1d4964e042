"""import-linter contracts of our own, read from the source (``make lint`` puts this folder on the path).

``private_names``: no module takes another module's underscore names, whether imported
(``from a import _x``) or reached through a module (``a._x``). What is shared is public.

``top_imports``: a module's imports of the package sit at the top of the file, so its header says
what it depends on. The one exception is the sandbox (an optional extra): the front ends import it
when asked to start it, and say what to install when it is missing.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

DEFERRABLE = ("ses_runbook.sandbox",)


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
        for name, path, tree in _modules(graph):
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    targets: list[str] = []
                    if isinstance(node, ast.ImportFrom):
                        targets = [_base(name, path, node)]
                    elif isinstance(node, ast.Import):
                        targets = [a.name for a in node.names]
                    for target in targets:
                        if target.split(".")[0] in {m.split(".")[0] for m in modules} and target in modules | {
                            t.rpartition(".")[0] for t in modules
                        }:
                            if not target.startswith(DEFERRABLE) or name.startswith(DEFERRABLE):
                                problems.append(f"{name}:{node.lineno} imports {target} inside {func.name}()")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["problems"]:
            output.print_error(line, bold=False)
