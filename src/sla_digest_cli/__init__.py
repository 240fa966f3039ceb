"""The local side of chatwoot-sla-digest: the ``sla-digest`` command, the demo and the sandbox.

It never ships in the Lambda layer; it depends on ``sla_digest``, never the other way round.
"""
