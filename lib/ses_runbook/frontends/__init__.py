"""Front ends, the top layer: how people and schedulers start the runbook.

The ``ses-runbook`` command (``cli``, one thin command over the library), JupyterLab
investigations (``lab``), the Airflow DAG factory (``airflow``), the commands that rebuild the
committed outputs (``regenerate``, ``samplehistory``), and the one door to the sandbox extra
(``sandboxing``). Only this layer (and the tests) starts the sandbox.
"""
