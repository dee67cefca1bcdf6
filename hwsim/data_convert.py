"""Conversions from a data set's origin format to the form hwsim reads, for the few registry
files that are not byte copies of their origin. Pickles are read with a restricted unpickler that
admits only numpy arrays and plain Python values, never arbitrary code."""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
import re
import xml.etree.ElementTree as ET
import zipfile
from typing import Any, Callable

import numpy as np

from hwsim.errors import DataError

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays and plain values are allowed")
        return super().find_class(module, name)


def safe_unpickle(blob: bytes) -> Any:
    """Unpickle ``blob`` allowing only numpy arrays, dtypes and builtin values."""
    return _SafeUnpickler(io.BytesIO(blob)).load()


def load_npy(blob: bytes) -> Any:
    """Read a ``.npy`` file; object arrays are unpickled with :func:`safe_unpickle`."""
    buf = io.BytesIO(blob)
    version = np.lib.format.read_magic(buf)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buf)
    else:
        raise DataError(f".npy format version {version[0]}.{version[1]} is not supported (1.0 and 2.0 are)")
    if dtype.hasobject:
        return safe_unpickle(buf.read())
    arr = np.frombuffer(buf.read(), dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C")


def pickle_ints_to_json(blobs: list[bytes], urls: list[str]) -> bytes:
    """A pickled list of ints -> a JSON list."""
    values = safe_unpickle(blobs[0])
    return json.dumps([int(v) for v in values]).encode()


def xlsx_to_csv(blobs: list[bytes], urls: list[str]) -> bytes:
    """First sheet of an xlsx workbook -> CSV text (first column header renamed to ``file``)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(blobs[0])) as zf:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in zf.namelist():
            root = ET.fromstring(zf.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")) for si in root.findall("m:si", ns)]
        sheet = ET.fromstring(zf.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{ns['m']}}}row"):
        cells: dict[int, str] = {}
        for c in row.findall("m:c", ns):
            col = re.match(r"[A-Z]+", c.get("r", "A")).group(0)
            idx = 0
            for ch in col:
                idx = idx * 26 + ord(ch) - 64
            v = c.find("m:v", ns)
            text = "" if v is None else (v.text or "")
            if c.get("t") == "s":
                text = shared[int(text)]
            cells[idx - 1] = text
        if cells:
            rows.append([cells.get(i, "") for i in range(max(cells) + 1)])
    if not rows:
        raise DataError("the workbook's first sheet is empty")
    rows[0][0] = "file"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def tpch_npy_to_json(blobs: list[bytes], urls: list[str]) -> bytes:
    """Decima's per-query ``adj_mat``/``task_duration``/``stage_id_to_node_idx_map`` npy files -> gzipped JSON."""
    by_query: dict[str, dict[str, Any]] = {}
    for blob, url in zip(blobs, urls):
        m = re.search(r"(adj_mat|task_duration|stage_id_to_node_idx_map)_(\d+)\.npy$", url)
        if not m:
            raise DataError(f"unexpected TPC-H source {url}")
        kind, q = m.groups()
        value = load_npy(blob)
        if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
            value = value.item()
        by_query.setdefault(q, {})[kind] = value
    out: dict[str, Any] = {}
    for q in sorted(by_query, key=int):
        parts = by_query[q]
        adj = np.asarray(parts["adj_mat"]).astype(int)
        durations = {
            str(stage): {wave: {str(n): [int(round(float(t))) for t in ts] for n, ts in per_n.items()}
                         for wave, per_n in waves.items()}
            for stage, waves in parts["task_duration"].items()}
        out[q] = {"num_stages": int(adj.shape[0]), "adj_mat": adj.tolist(), "task_duration": durations,
                  "stage_id_to_node_idx_map": {str(k): int(v) for k, v in parts["stage_id_to_node_idx_map"].items()}}
    return gzip.compress(json.dumps(out, separators=(",", ":")).encode(), mtime=0)


CONVERTERS: dict[str, Callable[[list[bytes], list[str]], bytes]] = {
    "pickle_ints_to_json": pickle_ints_to_json,
    "xlsx_to_csv": xlsx_to_csv,
    "tpch_npy_to_json": tpch_npy_to_json,
}
