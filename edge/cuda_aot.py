"""Ahead-of-time CUDA: ship compiled GPU code instead of CUDA C source.

A CUDA build from TVM 0.27 carries its kernels as CUDA C source in an imported ``cuda`` module; when the
library is loaded, the runtime compiles that source through ``tvm_callback_cuda_compile`` (TVM's Python
package + NVRTC), which a deployment board may not have. Here the source is compiled with ``nvcc`` for
the target architecture into a fatbin, and the library's embedded module blob is rewritten so the
``cuda`` module says ``fatbin`` and holds the binary: the board's CUDA driver loads it directly.

The embedded blob (``__tvm_ffi__library_bin``) is the tvm-ffi library format:
``<nbytes u64> <indptr vec<u64>> <children vec<u64>>`` then per module ``<kind str> [<bytes str>]``
(no bytes for ``_lib``), with ``str``/``vec`` as a u64 count followed by the items. A ``cuda`` module's
bytes are ``<fmt str> <function-info map> <data str>``; only ``fmt`` and ``data`` change here.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from edge.errors import ToolchainError

CUBIN_MAGIC = b"\x7fELF"  # a cubin is an ELF file (EM_CUDA)
FATBIN_MAGIC = struct.pack("<I", 0xBA55ED50)  # fatbin container header
_NVCC_ENV = "HWSIM_NVCC"


def nvcc_path() -> str | None:
    """The nvcc to use: ``$HWSIM_NVCC``, else nvcc on PATH, else under ``$CUDA_HOME``."""
    for cand in (os.environ.get(_NVCC_ENV), shutil.which("nvcc"),
                 os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


@lru_cache(maxsize=4)
def supported_archs(nvcc: str) -> frozenset[str]:
    """The ``sm_XX`` codes this nvcc can generate."""
    proc = subprocess.run([nvcc, "--list-gpu-code"], capture_output=True, text=True, timeout=60)
    return frozenset(line.strip() for line in proc.stdout.split() if line.strip().startswith("sm_"))


def nvcc_version(nvcc: str) -> str:
    """The ``release X.Y`` line of ``nvcc --version``."""
    proc = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in proc.stdout.splitlines() if "release" in ln]
    return lines[0].strip() if lines else proc.stdout.strip()


def require_nvcc(arch: str) -> str:
    """nvcc able to compile for ``arch``, or :class:`ToolchainError` saying what to install or set."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise ToolchainError(f"compiling CUDA kernels ahead of time for {arch} needs nvcc: install the CUDA "
                             f"toolkit or set {_NVCC_ENV} to its nvcc (or pass cuda_aot=False to ship CUDA "
                             "source compiled by NVRTC on the device)")
    archs = supported_archs(nvcc)
    if archs and arch not in archs:
        raise ToolchainError(
            f"{nvcc} ({nvcc_version(nvcc)}) cannot generate {arch} code (it supports {', '.join(sorted(archs))}); "
            f"CUDA 13 dropped architectures older than sm_75. Point {_NVCC_ENV} at an nvcc from CUDA 12 or "
            "earlier (e.g. the board's JetPack toolkit), or pass cuda_aot=False to ship CUDA source")
    return nvcc


def compile_fatbin(source: str, arch: str, nvcc: str | None = None) -> bytes:
    """Compile TVM-generated CUDA C ``source`` to a fatbin holding ``arch`` machine code."""
    nvcc = nvcc or require_nvcc(arch)
    compute = arch.replace("sm_", "compute_")
    with tempfile.TemporaryDirectory(prefix="hwsim-nvcc-") as tmp:
        src, out = Path(tmp, "kernels.cu"), Path(tmp, "kernels.fatbin")
        src.write_text(source)
        cmd = [nvcc, "--fatbin", "-O3", f"-gencode=arch={compute},code={arch}", "-o", str(out), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise ToolchainError(f"nvcc failed to compile the generated CUDA kernels for {arch}:\n"
                                 + (proc.stderr or proc.stdout)[-2000:])
        return out.read_bytes()


# ------------------------------------------------------------------ library blob


class _Reader:
    def __init__(self, blob: bytes, pos: int = 0):
        self.blob, self.pos = blob, pos

    def u64(self) -> int:
        (v,) = struct.unpack_from("<Q", self.blob, self.pos)
        self.pos += 8
        return v

    def vec(self) -> list[int]:
        return [self.u64() for _ in range(self.u64())]

    def bytes_(self) -> bytes:
        n = self.u64()
        v = self.blob[self.pos:self.pos + n]
        if len(v) != n:
            raise ValueError("truncated library blob")
        self.pos += n
        return v


def _str(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def parse_blob(blob: bytes) -> tuple[list[int], list[int], list[tuple[str, bytes | None]]]:
    """Split a library blob into (indptr, children, [(kind, bytes or None for _lib)])."""
    r = _Reader(blob)
    nbytes = r.u64()
    if nbytes + 8 != len(blob):
        raise ValueError(f"library blob says {nbytes} bytes, has {len(blob) - 8}")
    indptr, children = r.vec(), r.vec()
    modules: list[tuple[str, bytes | None]] = []
    for _ in range(len(indptr) - 1):
        kind = r.bytes_().decode()
        modules.append((kind, None if kind == "_lib" else r.bytes_()))
    return indptr, children, modules


def build_blob(indptr: list[int], children: list[int], modules: list[tuple[str, bytes | None]]) -> bytes:
    """Inverse of :func:`parse_blob`."""
    body = struct.pack("<Q", len(indptr)) + b"".join(struct.pack("<Q", i) for i in indptr)
    body += struct.pack("<Q", len(children)) + b"".join(struct.pack("<Q", i) for i in children)
    for kind, data in modules:
        body += _str(kind.encode()) + (b"" if data is None else _str(data))
    return struct.pack("<Q", len(body)) + body


def with_device_binary(data: bytes, source: str, fmt: str, binary: bytes) -> bytes:
    """A ``cuda`` module's bytes (``<fmt> <fmap> <source>``) with ``source`` replaced by ``binary`` of
    format ``fmt``. Raises ValueError when the module does not end with ``source``."""
    r = _Reader(data)
    r.bytes_()  # old fmt
    tail = _str(source.encode())
    if not data.endswith(tail) or len(data) - len(tail) < r.pos:
        raise ValueError("the cuda module does not hold the expected CUDA source")
    return _str(fmt.encode()) + data[r.pos:len(data) - len(tail)] + _str(binary)


def blob_to_c(blob: bytes) -> str:
    """C source defining the ``__tvm_ffi__library_bin`` symbol that holds ``blob``."""
    rows = [",".join(f"0x{b:02x}" for b in blob[i:i + 24]) for i in range(0, len(blob), 24)]
    return ("#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
            "extern const unsigned char __tvm_ffi__library_bin[];\n"
            f"__attribute__((visibility(\"default\"))) const unsigned char __tvm_ffi__library_bin[{len(blob)}] = {{\n"
            + ",\n".join(rows) + "\n};\n#ifdef __cplusplus\n}\n#endif\n")


def cuda_sources(executable: Any) -> list[str]:
    """CUDA C source of every ``cuda`` module imported by a built library, in import-tree order."""
    out: list[str] = []

    def walk(m: Any) -> None:
        for child in m.imports:
            if child.kind == "cuda":
                out.append(child.inspect_source())
            walk(child)

    walk(executable.mod if hasattr(executable, "mod") else executable)
    return out


def aot_packer(executable: Any, arch: str, nvcc: str | None = None) -> tuple[Callable[..., str], dict[str, Any]]:
    """An ``fpack_imports`` function for ``export_library`` that embeds ``arch`` fatbins instead of CUDA
    source, and a report ``{arch, nvcc, kernels_bytes, modules}``. Compiles with nvcc right away."""
    from tvm.runtime import _ffi_api

    mod = executable.mod if hasattr(executable, "mod") else executable
    nvcc = nvcc or require_nvcc(arch)
    sources = cuda_sources(mod)
    if not sources:
        raise ToolchainError("the CUDA build has no cuda module to compile (was it built for a CUDA target?)")
    binaries = [compile_fatbin(src, arch, nvcc) for src in sources]
    report = {"arch": arch, "format": "fatbin", "nvcc": nvcc, "nvcc_version": nvcc_version(nvcc),
              "modules": len(binaries), "device_code_bytes": sum(len(b) for b in binaries)}

    def pack(module: Any, is_system_lib: bool, prefix: str, workspace_dir: str) -> str:
        c_text = _ffi_api.ModulePackImportsToC(module, is_system_lib, prefix)
        blob = _blob_from_c(c_text)
        indptr, children, modules = parse_blob(blob)
        queue = list(zip(sources, binaries))
        rewritten = []
        for kind, data in modules:
            if kind == "cuda" and data is not None:
                if not queue:
                    raise ToolchainError("the library blob holds more cuda modules than were compiled")
                source, binary = queue.pop(0)
                data = with_device_binary(data, source, "fatbin", binary)
            rewritten.append((kind, data))
        if queue:
            raise ToolchainError("the library blob holds fewer cuda modules than were compiled")
        path = os.path.join(workspace_dir, f"{prefix}devc_aot.c")
        Path(path).write_text(blob_to_c(build_blob(indptr, children, rewritten)))
        return path

    return pack, report


def _blob_from_c(c_text: str) -> bytes:
    start = c_text.index("__tvm_ffi__library_bin[", c_text.index("const unsigned char"))
    body = c_text[c_text.index("{", start) + 1:c_text.index("}", start)]
    return bytes(int(tok, 16) for tok in body.replace("\n", "").split(",") if tok.strip())


def inspect_device_code(library: str | os.PathLike) -> list[dict[str, Any]]:
    """The GPU machine code embedded in a library file (a shared object, or the tar of objects of a
    cross build, whose device blob is C source): one ``{sm, elf, e_machine}`` per fatbin entry (``elf``
    True and ``e_machine`` 190 = EM_CUDA for a cubin; PTX entries have ``elf`` False)."""
    path = Path(library)
    if path.suffix == ".tar":
        found: list[dict[str, Any]] = []
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                f = tar.extractfile(member)
                if f is None:
                    continue
                blob = f.read()
                if member.name.endswith(".c") and b"__tvm_ffi__library_bin" in blob:
                    blob = _blob_from_c(blob.decode())
                found += device_code_entries(blob)
        return found
    return device_code_entries(path.read_bytes())


def device_code_entries(data: bytes) -> list[dict[str, Any]]:
    """The fatbin entries found in ``data`` (see :func:`inspect_device_code`)."""
    found: list[dict[str, Any]] = []
    start = data.find(FATBIN_MAGIC)
    while start >= 0:
        _, _, header, size = struct.unpack_from("<IHHQ", data, start)
        pos, end = start + header, start + header + size
        while pos + 32 <= end:
            kind, _, entry_header, padded = struct.unpack_from("<HHII", data, pos)
            (sm,) = struct.unpack_from("<I", data, pos + 28)
            payload = pos + entry_header
            is_elf = data[payload:payload + 4] == CUBIN_MAGIC
            (machine,) = struct.unpack_from("<H", data, payload + 18) if is_elf else (None,)
            found.append({"sm": f"sm_{sm}", "kind": "cubin" if kind == 2 else "ptx" if kind == 1 else kind,
                          "elf": is_elf, "e_machine": machine, "bytes": padded})
            if entry_header == 0 or padded == 0:
                break
            pos = payload + padded
        start = data.find(FATBIN_MAGIC, end)
    return found
