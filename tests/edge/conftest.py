"""Fixtures shared by the edge tests."""

import pytest


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    """Cache trained models and tuning records under ``tmp_path/data`` (digits ships with scikit-learn);
    returns ``tmp_path`` for the test's other files."""
    monkeypatch.setenv("HWSIM_DATA", str(tmp_path / "data"))
    return tmp_path
