"""The errors of the job runner."""

from __future__ import annotations

from hwsim.errors import ConfigError, HwsimError


class JobError(HwsimError):
    """One or more jobs failed; the others' results are kept, so rerunning the same command runs only those."""


class BackendUnavailableError(ConfigError):
    """The requested back end cannot be used here (Ray not installed, the cluster not reachable)."""


RAY_INSTALL_HINT = "pip install 'hwsim[cluster]'"
