"""The gateway's side of enforcement: the verdict on one request, and a mirror of the service's
deny-list that answers it locally (gateway.md).

Nothing here imports Django or the service's apps: a gateway team runs the mirror, or embeds
its client, with the standard library alone. The service imports :mod:`gateway.verdict` so
that it and every mirror answer a request by the same rules.
"""
