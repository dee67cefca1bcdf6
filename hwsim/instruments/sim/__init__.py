"""Simulated instruments for chains without hardware: pyvisa-sim definitions of an AWG and an oscilloscope
whose waveform commands are answered by models (:mod:`.awg`, :mod:`.scope`) around a bench that sends what
the AWG plays through a registered hwsim device (:mod:`.bench`). :mod:`.library` (imported only when a
chain is simulated) puts them behind PyVISA's ``ResourceManager``."""
