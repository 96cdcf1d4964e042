"""ses-runbook: an executable runbook for an Amazon SES account."""

import sys

__version__ = "0.1.0"

# jsonschema, which nbformat validates notebooks with, imports rfc3987_syntax when it is installed
# (JupyterLab's jsonschema[format-nongpl] brings it), and that module builds some 35 Earley
# parsers as it loads: 1.6 s of CPU in every process that reads a notebook (run, lab, export,
# history, papermill, nbval), for the "iri" formats no notebook schema has. Marked absent,
# jsonschema leaves those two formats unchecked, as wherever the package is not installed; a
# process that loaded it already keeps it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
