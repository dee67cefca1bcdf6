"""Real data sets, fetched like scikit-learn's ``fetch_*``: a registry of files pinned by SHA-256,
a cache directory (``HWSIM_DATA``, default ``~/.cache/hwsim``) and a clear error when offline.

The registry (``datasets.json``) names each file's public origin. A few files are derived from
their origin by a conversion (a pickle to JSON, an xlsx sheet to CSV); see :mod:`hwsim.data_convert`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from hwsim.data_convert import CONVERTERS
from hwsim.errors import DataError

_verified: set[tuple[str, str]] = set()
_recorders: list[set[str]] = []  # open data_use_recorder() sets, each collecting the data sets fetched


def data_home() -> Path:
    """The data folder: ``$HWSIM_DATA`` if set, else ``~/.cache/hwsim``."""
    env = os.environ.get("HWSIM_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hwsim"


def cache_dir(*parts: str) -> Path:
    """A writable folder for derived artefacts (fitted models, tuning logs): under ``data_home()``
    when that is writable, else under ``$HWSIM_CACHE`` (default ``~/.cache/hwsim``)."""
    for base in (data_home(), Path(os.environ.get("HWSIM_CACHE", Path.home() / ".cache" / "hwsim")).expanduser()):
        path = base.joinpath("derived", *parts)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.touch()
            probe.unlink()
            return path
        except OSError:
            continue
    raise DataError("no writable cache folder: set HWSIM_CACHE to a folder you can write to")


@lru_cache(maxsize=1)
def registry() -> dict[str, Any]:
    """The dataset registry: name -> {description, files: [{path, sha256, url | convert+sources}]}."""
    return json.loads((Path(__file__).with_name("datasets.json")).read_text())


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(url: str, timeout: float = 30.0) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "hwsim-data-fetch"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https URLs from our registry
        return resp.read()


def _write_atomic(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
    os.replace(tmp, path)


def _obtain(dataset: str, entry: dict[str, Any], target: Path) -> None:
    try:
        if "convert" in entry:
            blobs = [_download(u) for u in entry["sources"]]
            blob = CONVERTERS[entry["convert"]](blobs, entry["sources"])
        else:
            blob = _download(entry["url"])
    except OSError as exc:
        origin = entry.get("url") or entry["sources"][0]
        raise DataError(
            f"data set '{dataset}': {entry['path']} is not in {target.parent} and could not be downloaded "
            f"from {origin} ({exc}). If you are offline, copy the files there or set HWSIM_DATA to a "
            "folder that holds them.") from exc
    if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
        how = f"conversion ({entry['convert']}) of {', '.join(entry['sources'])}" if "convert" in entry \
            else f"download from {entry['url']}"
        raise DataError(f"data set '{dataset}': the {how} gives a {entry['path']} that does not match its registered "
                        "SHA-256; the origin changed or the transfer was corrupted. Nothing was saved.")
    _write_atomic(target, blob)


def fetch(dataset: str, download: bool = True) -> Path:
    """Return the folder of ``dataset`` with every registered file present and checked.

    Missing files are downloaded from their origin (when ``download``) and checked against their
    SHA-256. A present file whose hash differs raises :class:`DataError` rather than being used.
    """
    reg = registry()
    if dataset not in reg:
        raise DataError(f"unknown data set '{dataset}'; known: {', '.join(sorted(reg))}")
    root = data_home() / dataset
    for entry in reg[dataset]["files"]:
        target = root / entry["path"]
        key = (str(target), entry["sha256"])
        if key in _verified:
            continue
        if not target.exists():
            if not download:
                raise DataError(f"data set '{dataset}': {target} is missing; run with download enabled "
                                "or set HWSIM_DATA to a folder that holds it")
            _obtain(dataset, entry, target)  # checked against the registered SHA-256 before it is saved
            _verified.add(key)
            continue
        digest = sha256_file(target)
        if digest != entry["sha256"]:
            raise DataError(f"data set '{dataset}': {target} has SHA-256 {digest[:12]}..., expected "
                            f"{entry['sha256'][:12]}...; the file is corrupt or a different version. "
                            "Delete it to fetch it again.")
        _verified.add(key)
    for used in _recorders:
        used.add(dataset)
    return root


@contextmanager
def data_use_recorder() -> Iterator[set[str]]:
    """A set that collects the name of every data set :func:`fetch` returns while the block runs (what a
    piece of code reads, e.g. so a job runner can check or ship those sets to its workers)."""
    used: set[str] = set()
    _recorders.append(used)
    try:
        yield used
    finally:
        _recorders.remove(used)


def export_files(dataset: str) -> dict[str, bytes]:
    """The registered files of a fetched data set as ``{relative path: bytes}`` (for :func:`install_files`
    on a machine that lacks them)."""
    root = fetch(dataset, download=False)
    return {e["path"]: (root / e["path"]).read_bytes() for e in registry()[dataset]["files"]}


def install_files(dataset: str, files: dict[str, bytes]) -> Path:
    """Write the files of ``dataset`` given as bytes (:func:`export_files`) into :func:`data_home`, each
    checked against its registered SHA-256 first; returns the data set's folder, verified."""
    entries = registry().get(dataset, {}).get("files")
    if entries is None:
        raise DataError(f"unknown data set '{dataset}'; known: {', '.join(sorted(registry()))}")
    root = data_home() / dataset
    for entry in entries:
        blob = files.get(entry["path"])
        if blob is None or hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise DataError(f"data set '{dataset}': the {entry['path']} received is missing or does not match its "
                            "registered SHA-256; nothing of it was saved. Fetch the data set on this machine instead.")
    for entry in entries:
        try:
            _write_atomic(root / entry["path"], files[entry["path"]])
        except OSError as exc:
            raise DataError(f"data set '{dataset}': cannot write {root / entry['path']} ({exc}); set HWSIM_DATA "
                            "to a folder this machine can write") from exc
    return fetch(dataset, download=False)


def dataset_file(dataset: str, *parts: str) -> Path:
    """Path of one file of a fetched data set (fetching the set first if needed)."""
    path = fetch(dataset).joinpath(*parts)
    if not path.exists():
        raise DataError(f"data set '{dataset}' has no file {'/'.join(parts)}")
    return path
