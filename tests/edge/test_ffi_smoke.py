"""Catch a broken apache-tvm / apache-tvm-ffi pairing (0.1.15.x makes MetaSchedule segfault)."""

from __future__ import annotations

from importlib.metadata import version

from edge.tvm_quirks import ffi_smoke


def test_meta_schedule_context_builds_in_a_subprocess():
    ok, detail = ffi_smoke()
    assert ok, f"MetaSchedule smoke test failed ({detail}); tvm-ffi {version('apache-tvm-ffi')}"
