"""Runs and reports: the notebooks executed, and everything a run leaves behind.

The runner and its papermill engine and kernel (``runner``, ``engine``, ``ipykernel_launcher``),
what a notebook calls (``notebook``, ``views``, ``plots``), the report bundle (``bundle``), the
reports root on disk or S3 (``storage``), a run into it (``reporting``), the runs before it
(``history``), many accounts (``fleet``), notifications (``notify``) and the terminal face of a
report (``report_text``).
"""
