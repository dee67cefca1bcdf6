from __future__ import annotations

import pytest

from hwsim import ConfigError
from hwsim.reference import ReferenceDevice
from hwsim.registry import available, create_device, parse_spec


def test_parse_spec_types_values():
    name, kw = parse_spec("reference?n_in=4&noise=0.5&flag=true&mode=phase&bits=none")
    assert name == "reference" and kw == {"n_in": 4, "noise": 0.5, "flag": True, "mode": "phase", "bits": None}


def test_create_by_name_and_by_path_with_opt_in():
    dev = create_device("reference?n_in=4&n_out=3&seed=2")
    assert isinstance(dev, ReferenceDevice) and dev.info.input_shape == (4,)
    dev2 = create_device("hwsim.reference:ReferenceDevice?n_in=4&n_out=3&seed=2", allow_import=True)
    assert (dev2.weight == dev.weight).all()
    assert "reference" in available()


def test_module_paths_are_refused_without_the_opt_in(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "hostile_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Dev: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="refusing to import device 'hostile_mod:Dev'.*--allow-import"):
        create_device("hostile_mod:Dev")
    assert not marker.exists()  # nothing was imported
    with pytest.raises(ConfigError, match="built a Dev, not a hwsim Device"):
        create_device("hostile_mod:Dev", allow_import=True)  # with the opt-in it is imported, then refused
    assert marker.exists()


def test_unknown_device_and_bad_option_are_clear():
    with pytest.raises(ConfigError, match="unknown device 'nosuch'.*reference"):
        create_device("nosuch")
    with pytest.raises(ConfigError, match="bad options for device 'reference'"):
        create_device("reference?colour=red")
    with pytest.raises(ConfigError, match="refusing to import device 'os:system'"):
        create_device("os:system?command=true")
