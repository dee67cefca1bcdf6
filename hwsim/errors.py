"""The exceptions a user of hwsim can meet. Each says what went wrong and what to do."""

from __future__ import annotations


class HwsimError(Exception):
    """Base class of every error hwsim raises on purpose."""


class ShapeError(HwsimError, ValueError):
    """An array has the wrong shape or dtype for the device or model it is given to."""


class DeviceError(HwsimError):
    """The device (simulated or real) reported a failure while doing what it was asked."""


class NotSupportedError(HwsimError):
    """The device or backend does not offer the requested operation."""


class DataError(HwsimError):
    """A data set is missing, corrupt, or cannot be fetched."""


class ConfigError(HwsimError, ValueError):
    """An option, profile name, URL or argument is not valid."""


class TransientDeviceError(DeviceError):
    """A reply was lost or the device was momentarily busy; repeating the same request is safe."""
