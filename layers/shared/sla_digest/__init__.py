"""chatwoot-sla-digest's runtime package: only what runs in Lambda.

One subpackage per noun, data flowing one way — ``chatwoot`` (fetch) → ``archive`` →
``dataset`` and ``report`` (summary, render) → ``delivery`` — composed by ``jobs``; the edge
(``aws``, the handlers, the CLI) builds the adapters and passes them in.
"""
