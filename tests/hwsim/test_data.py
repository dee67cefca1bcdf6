"""Dataset registry: verification against SHA-256, clear errors, downloads from an origin."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from hwsim import DataError
from hwsim import data as hdata
from hwsim.data_convert import xlsx_to_csv


def test_every_registered_dataset_verifies_against_the_shared_copy():
    for name in hdata.registry():
        root = hdata.fetch(name, download=False)
        assert root.is_dir()


def test_corrupt_file_is_refused(tmp_path, monkeypatch):
    src = hdata.data_home() / "phyll_acoustic"
    dst = tmp_path / "phyll_acoustic"
    shutil.copytree(src, dst)
    with open(dst / "x_data.csv", "r+b") as fh:
        fh.write(b"9")
    monkeypatch.setenv("HWSIM_DATA", str(tmp_path))
    monkeypatch.setattr(hdata, "_verified", set())
    with pytest.raises(DataError, match="SHA-256.*corrupt"):
        hdata.fetch("phyll_acoustic")


def test_missing_file_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSIM_DATA", str(tmp_path))
    monkeypatch.setattr(hdata, "_verified", set())
    with pytest.raises(DataError, match="HWSIM_DATA"):
        hdata.fetch("vowels", download=False)
    with pytest.raises(DataError, match="unknown data set"):
        hdata.fetch("nope")


def test_download_from_origin_is_checked_and_saved(tmp_path, monkeypatch):
    """Serve the shared copy over HTTP as a stand-in origin; one file is served corrupted."""
    origin = tmp_path / "origin"
    origin.mkdir()
    shared = hdata.data_home() / "phyll_acoustic"
    shutil.copy(shared / "x_data.csv", origin / "x_data.csv")
    (origin / "y_data.csv").write_bytes(b"not the data")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(origin))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    reg = {"phyll_acoustic": {"description": "", "files": [
        {**f, "url": f"{base}/{f['path']}"} for f in hdata.registry()["phyll_acoustic"]["files"]]}}
    cache = tmp_path / "cache"
    monkeypatch.setenv("HWSIM_DATA", str(cache))
    monkeypatch.setattr(hdata, "registry", lambda: reg)
    monkeypatch.setattr(hdata, "_verified", set())
    try:
        with pytest.raises(DataError, match="does not match its registered SHA-256"):
            hdata.fetch("phyll_acoustic")
        got = cache / "phyll_acoustic" / "x_data.csv"
        want = hashlib.sha256((shared / "x_data.csv").read_bytes()).digest()
        assert hashlib.sha256(got.read_bytes()).digest() == want
        assert not (cache / "phyll_acoustic" / "y_data.csv").exists()
    finally:
        server.shutdown()


def test_xlsx_conversion_reproduces_the_registered_csv():
    root = hdata.fetch("vowels")
    blob = xlsx_to_csv([(root / "phyll_Vowel_dataset.xlsx").read_bytes()], [])
    entry = next(f for f in hdata.registry()["vowels"]["files"] if f["path"] == "phyll_Vowel_dataset.csv")
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"]


def test_cache_dir_falls_back_when_data_home_is_read_only(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("HWSIM_DATA", str(ro))
    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path / "rw"))
    try:
        path = hdata.cache_dir("x")
        if path.is_relative_to(ro):  # running as root: permissions do not bind
            pytest.skip("root ignores directory permissions")
        assert path == tmp_path / "rw" / "derived" / "x"
    finally:
        ro.chmod(0o700)


def test_safe_unpickle_refuses_code():
    import pickle

    from hwsim.data_convert import safe_unpickle

    assert safe_unpickle(pickle.dumps([1, 2, 3])) == [1, 2, 3]
    with pytest.raises(DataError, match="refusing to unpickle"):
        safe_unpickle(pickle.dumps(Path("/tmp")))


def test_fresh_conversion_is_checked_against_its_sha256(tmp_path, monkeypatch):
    """A conversion is deterministic, so its output is held to the registered hash; nothing is saved otherwise."""
    entry = next(f for f in hdata.registry()["vowels"]["files"] if f["path"] == "phyll_Vowel_dataset.csv")
    cache = tmp_path / "vowels"
    monkeypatch.setattr(hdata, "_download", lambda url, timeout=30.0: b"not an xlsx at all")
    monkeypatch.setitem(hdata.CONVERTERS, entry["convert"], lambda blobs, urls: b"different,bytes\n")
    with pytest.raises(DataError, match=r"conversion \(xlsx_to_csv\).*does not match"):
        hdata._obtain("vowels", entry, cache / entry["path"])
    assert not (cache / entry["path"]).exists()
