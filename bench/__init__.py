"""
Benchmarks of reconnect_twisted against Twisted's own reconnecting clients.

Run ``python -m bench`` from the repository root (``--quick`` for a CI-sized
run, ``--json PATH`` to choose where the results go). Every benchmark
measures ``reconnect_twisted`` *and* the baselines (a raw ``ClientFactory``
that reconnects at once, ``ReconnectingClientFactory`` and ``ClientService``)
in the same run and reports ratios, so the numbers are comparable across
machines. See ``docs/performance.rst``.
"""
