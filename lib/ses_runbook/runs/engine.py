"""The papermill engine the runner executes notebooks with (registered with papermill as
``ses-runbook`` by the package's ``papermill.engine`` entry point, papermill's own registry): papermill's own (nbclient), writing
the output notebook less often.

papermill writes the whole output notebook when each cell starts and again when it ends: for
the twelve notebooks that is about 440 writes, each a deep copy, a schema validation and a JSON
dump of everything the notebook holds so far (figures included), 2 to 3 s of the runner's CPU in
a 10 s run. This engine writes when a notebook starts, when a cell fails, when the notebook
ends (papermill does that in a ``finally``, so a notebook that timed out or whose kernel died is
still written, up to where it stopped) and every 30 s while a long cell runs (papermill's
autosave), which is everything a report or a postmortem reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager


class _Manager(NotebookExecutionManager):
    """papermill's execution state, without the write at each cell's start and end."""

    _per_cell = False

    def save(self, **kwargs: Any) -> None:
        if not self._per_cell:
            super().save(**kwargs)

    @contextlib.contextmanager
    def _unsaved(self) -> Iterator[None]:
        self._per_cell = True
        try:
            yield
        finally:
            self._per_cell = False

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        with self._unsaved():
            super().cell_start(cell, cell_index, **kwargs)

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        with self._unsaved():
            super().cell_complete(cell, cell_index, **kwargs)


class Engine(NBClientEngine):
    """``NBClientEngine`` with ``_Manager``; ``execute_notebook`` is papermill's ``Engine.execute_notebook``."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        nb_man = _Manager(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb
