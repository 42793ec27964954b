"""The suite's own shared plumbing, below every other package: it imports nothing from this repository.

- :mod:`plumbing.errors`: the one error tree (``SuiteError`` and a subclass per package).
- :mod:`plumbing.ready`: the ready-file protocol between a service and whoever started it.
- :mod:`plumbing.ports`: ``free_port()`` for tests, benchmarks and the local cluster.
- :mod:`plumbing.failures`: the traffic model's failure messages and the one classifier of them.
- :mod:`plumbing.history`: the columns of ``system_history.csv``.
"""
