"""pyserial URL handlers of hwsim (``sim://``); pyserial finds them via ``serial.protocol_handler_packages``."""
