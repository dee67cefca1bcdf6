"""Build hook for the optional C extension (protocol v1 wire encoding); everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and hwsim uses pure Python and numpy.
``-ffp-contract=off`` keeps the converter arithmetic bit-identical to numpy's (no fused multiply-add).
"""

import sys

from setuptools import Extension, setup

FLAGS = [] if sys.platform == "win32" else ["-ffp-contract=off"]

setup(ext_modules=[Extension("hwsim.protocol._wire_c", ["hwsim/protocol/_wire_c.c"], extra_compile_args=FLAGS,
                             optional=True)])
