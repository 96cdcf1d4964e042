"""Sources: what the runbook reads, as data and DataFrames, each read-only.

The SES account and identities (``ses``), CloudWatch metrics (``metrics``), bounce, complaint
and delivery feedback (``feedback``), one message (``message``), the mail SES receiving stored
and where a test mailbox filed it (``inbound``: S3 and IMAP), and mail authentication
(``mailauth``: one DNS layer, SPF, DMARC, DKIM, identity coverage) that the DNS checks and the
mail tester share. Sources decide no status; the checks above them do.
"""
