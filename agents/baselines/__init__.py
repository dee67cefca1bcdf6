"""Classic baselines of the networking environments, as :class:`agents.policy.Policy` objects:
:mod:`agents.baselines.abr` (BBA, rate-based, robustMPC), :mod:`agents.baselines.viewport` (linear
regression, constant velocity, static) and :mod:`agents.baselines.cluster` (FIFO, fair, SJF).
Each module has a ``BASELINES`` table, name -> class."""
