"""hwsim: the hardware boundary. One Device interface for simulators, wrappers and lab boards."""

import serial

from hwsim.device import Device, DeviceInfo, DeviceWrapper
from hwsim.errors import (ConfigError, DataError, DeviceError, HwsimError, NotSupportedError, ShapeError,
                          TransientDeviceError)

__version__ = "0.1.0"

__all__ = ["Device", "DeviceInfo", "DeviceWrapper", "HwsimError", "ShapeError", "DeviceError",
           "NotSupportedError", "DataError", "ConfigError", "TransientDeviceError", "__version__"]

# the one registration of hwsim's pyserial URL handlers (sim://): serial.serial_for_url finds them once
# hwsim is imported
if "hwsim.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hwsim.urlhandler")
