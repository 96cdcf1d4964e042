"""The sandbox: an embedded world on loopback (AWS through moto, DNS, SMTP, IMAP), an optional extra.

A world, not a client: it is built on the core alone and knows no check; the front ends and the
tests start it, and every endpoint of the runbook can point at it instead of AWS.
"""
