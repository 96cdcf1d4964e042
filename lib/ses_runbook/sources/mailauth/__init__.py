"""Mail authentication, written once for the DNS checks (``checks.dns``) and the mail tester
(``checks.message``): one module per protocol over one DNS layer, so both judge the same records
the same way.

- ``dns``: the run's resolver (``Lookup``: nameservers, timeout, memo, question count), ``dig`` commands;
- ``domains``: organizational domain (public suffix list) and DMARC identifier alignment;
- ``spf``: RFC 7208, one walker for the record audit and for ``check_host()`` of a connecting IP;
- ``dmarc``: RFC 7489 record tags, policy discovery (From domain, then organizational domain with
  ``sp=``) and the pass/fail verdict;
- ``dkim``: DKIM and ARC verification with dkimpy (rsa-sha256, ed25519-sha256).

Which verified SES identity covers a sender address (and so signs its mail) is not here but in
``core.identities``: the sandbox, standing in for SES, applies the same rule and may import only the core.
"""
