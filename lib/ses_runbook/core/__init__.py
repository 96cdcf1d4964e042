"""The core, the bottom layer: what every other layer stands on.

The parameter model (``params``) and botocore's trimmed endpoint data (``endpoints``), the AWS
client with its read-only guard, call counter and memo (``aws``), the run's context block
(``context``), ``Status``/``CheckResult``/``Report`` (``results``), every error the runbook
raises on purpose (``errors``), and the small shared rules: key-id masking (``redact``), the
``aws`` command of a look-up (``commands``), the HTML and text faces of tables and statuses
(``display``), IAM policy evaluation (``iampolicy``) and the SES SMTP password (``smtpcred``).
It imports nothing of the package above it.
"""
