"""Classic baselines of the networking environments, as :class:`agents.policy.Policy` objects:
:mod:`agents.baselines.viewport` (linear regression, constant velocity, static) and
:mod:`agents.baselines.cluster` (FIFO, fair, SJF); the ABR ones (BBA, rate-based, robustMPC) live
with their task in :mod:`agents.abr.baselines`. Each module has a ``BASELINES`` table, name -> class."""
