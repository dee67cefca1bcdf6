"""hwsim.instruments: chain files, the chain Device on the simulated Keysight and Tektronix benches, and every
instrument fault as its own error with a sentence."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from hwsim.device import DeviceWrapper
from hwsim.errors import DeviceError, HwsimError, NotSupportedError
from hwsim.instruments import (BlockFormatError, ChainFileError, CommandRejectedError, IdentityMismatchError,
                               InstrumentError, InstrumentNotFoundError, InstrumentTimeoutError, VisaChain, load_chain,
                               shipped_chains)
from hwsim.instruments.spec import SHIPPED_CHAINS, SHIPPED_SIMULATIONS
from hwsim.registry import create_device

KEYSIGHT, TEKTRONIX = "keysight-awg-scope", "tektronix-awg-scope"
DUT = "oscillators?n_in=16&n_out=16&n_oscillators=8&seed=0"  # what both shipped benches put between AWG and scope


def variant(tmp_path: Path, base: str = KEYSIGHT, edit=None, bench: dict | None = None) -> Path:
    """A copy of a shipped chain (and its simulated bench) with ``edit(chain_dict)`` and ``bench`` changes."""
    chain = yaml.safe_load((SHIPPED_CHAINS / f"{base}.yaml").read_text())
    sim = yaml.safe_load((SHIPPED_SIMULATIONS / f"{base}.yaml").read_text())
    sim["hwsim_bench"].update(bench or {})
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(sim))
    chain["simulation"] = "bench.yaml"
    if edit is not None:
        edit(chain)
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(chain, sort_keys=False))
    return path


def rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 16)).astype(np.float32)


# -- chain files ---------------------------------------------------------------------------------------------------

def test_shipped_chains_load():
    assert {KEYSIGHT, TEKTRONIX} <= set(shipped_chains())
    spec = load_chain(KEYSIGHT)
    assert spec.input.shape == (16,) and spec.output.points_per_value == 2 and spec.rows_per_shot == 32
    assert ":WAV:POIN 1024" in spec.instruments["scope"].setup  # {output_points} = 32 rows x 16 x 2
    assert spec.write_step.prefix == "SOUR1:DATA:ARB:DAC hwsim," and spec.read_step.text == ":WAV:DATA?"
    assert spec.simulation == SHIPPED_SIMULATIONS / f"{KEYSIGHT}.yaml"
    tek = load_chain(TEKTRONIX)
    assert tek.instruments["scope"].errors.esr == "*ESR?" and tek.instruments["scope"].errors.ok == (0, 1)
    assert [s.query for s in tek.read_step.scale.increment] == ["WFMO:YMU?"]


def _drop(key):
    return lambda c: c.pop(key)


def _set(path, value):
    def edit(c):
        node = c
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


@pytest.mark.parametrize("edit,message", [
    (_set(["instruments", "awg", "setpu"], ["*RST"]), r"unknown key\(s\) \['setpu'\].*known keys"),
    (lambda c: c["instruments"]["scope"].pop("resource"), "needs the key 'resource'"),
    (_set(["measure", 1, "awg", "write"], "SOUR1:DATA:ARB:DAC hwsim"), r"must contain '\{data\}' exactly once"),
    (_set(["instruments", "scope", "setup"], [":WAV:POIN {points}"]), r"unknown placeholder\(s\) \['points'\]"),
    (lambda c: c["measure"].append(c["measure"][-1]), "exactly one write step"),
    (_set(["input", "bits"], 16), "65535 levels"),
    (_set(["output", "bits"], 8), "averaging points"),
    (_set(["instruments", "awg", "idn"], "Keysight (33522B"), "not a valid regular expression"),
    (_set(["measure", 0], {"dmm": "READ?"}), "names instrument 'dmm'"),
    (_set(["measure", 3], {"scope": {"command": ":SING", "query": "*OPC?"}}), "exactly one of command, write"),
    (_set(["input", "range"], [1.0, -1.0]), "low < high"),
    (_set(["rows_per_shot"], 0), "integer >= 1"),
    (lambda c: c["measure"][1]["awg"]["encoding"].update(codes=[-40000, 40000]), r"do not fit int16"),
    (_set(["max_batch"], 40), r"must be a multiple of rows_per_shot \(32\)"),
    (_set(["simulation"], "no-such-bench"), "no shipped simulation"),
    (_drop("measure"), "needs the key 'measure'"),
])
def test_chain_file_mistakes_are_named(tmp_path, edit, message):
    with pytest.raises(ChainFileError, match=message):
        load_chain(variant(tmp_path, edit=edit))


def test_chain_references(tmp_path):
    with pytest.raises(ChainFileError, match="shipped chains: .*keysight-awg-scope"):
        load_chain("no-such-chain")
    with pytest.raises(ChainFileError, match="no chain file at"):
        load_chain(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ChainFileError, match="not valid YAML"):
        load_chain(tmp_path / "bad.yaml")


MINIMAL_YAML = """
name: dmm-source
input: {shape: [2], range: [0.0, 5.0]}
output: {shape: [1], range: [-10.0, 10.0]}
instruments:
  src: {resource: "GPIB0::5::INSTR", idn: "KEITHLEY", setup: ["*RST"], errors: {query: "STAT:QUE?"}}
measure:
  - src: {write: "SOUR:LIST:VOLT {data}", encoding: {format: ascii, dtype: float, digits: 4}}
  - src: {query: "*OPC?", expect: "1", timeout_s: 2.5}
  - src: {read: "READ?", encoding: {format: ascii}}
"""
MINIMAL_TOML = """
name = "dmm-source"
input = {shape = [2], range = [0.0, 5.0]}
output = {shape = [1], range = [-10.0, 10.0]}
[instruments.src]
resource = "GPIB0::5::INSTR"
idn = "KEITHLEY"
setup = ["*RST"]
errors = {query = "STAT:QUE?"}
[[measure]]
src = {write = "SOUR:LIST:VOLT {data}", encoding = {format = "ascii", dtype = "float", digits = 4}}
[[measure]]
src = {query = "*OPC?", expect = "1", timeout_s = 2.5}
[[measure]]
src = {read = "READ?", encoding = {format = "ascii"}}
"""


def test_toml_and_yaml_describe_the_same_chain(tmp_path):
    (tmp_path / "c.yaml").write_text(MINIMAL_YAML)
    (tmp_path / "c.toml").write_text(MINIMAL_TOML)
    a, b = load_chain(tmp_path / "c.yaml"), load_chain(tmp_path / "c.toml")
    assert a.path != b.path
    assert (a.input, a.output, a.instruments, a.measure) == (b.input, b.output, b.instruments, b.measure)
    assert a.write_step.encoding.digits == 4 and a.measure[1].timeout_s == 2.5


# -- measuring on the simulated benches ------------------------------------------------------------------------------

@pytest.mark.parametrize("chain", [KEYSIGHT, TEKTRONIX])
def test_a_simulated_chain_measures_the_physical_system_through_both_vendors_command_sets(chain):
    x = rows(100, seed=3)
    with create_device(f"visa?config={chain}&simulate=true") as dev:
        assert dev.info.input_shape == (16,) and dev.info.output_range == (-0.5, 0.5)
        y = dev.measure(x)
        assert dev.measurements == 100 and dev.shots == 4  # 3 full shots and one padded
        described = "\n".join(dev.describe())
    direct = create_device(DUT).measure(x)  # the oscillators measured in process, no instruments
    on_screen = np.abs(direct) < 0.45       # the scope shows +-0.5 V; larger swings clip, as on hardware
    assert on_screen.mean() > 0.9
    err = np.abs(y - direct)[on_screen]
    # 16/14-bit DAC, 2 mV rms noise (averaged over 2 points) and an 8-bit scope: within ~1.5 LSB of 3.9 mV
    assert err.max() < 0.012 and err.mean() < 0.003
    assert np.corrcoef(y[on_screen], direct[on_screen])[0, 1] > 0.998
    assert np.all(np.abs(y) <= 0.5)
    assert ("33522B" in described and "DSOX3034T" in described) or ("AFG31022" in described and "MSO54" in described)


def test_rows_are_independent_of_shot_boundaries_and_order(tmp_path):
    path = variant(tmp_path, bench={"noise_v": 0.0})
    x = rows(40, seed=1)
    with VisaChain(str(path), simulate=True) as dev:
        whole = dev.measure(x)
        first = dev.measure(x[:8])
        backwards = dev.measure(x[::-1])
        assert dev.measurements == 88 and dev.shots == 2 + 1 + 2
    np.testing.assert_array_equal(whole[:8], first)
    np.testing.assert_array_equal(whole[::-1], backwards)


def test_noise_is_seeded(tmp_path):
    x = rows(32)
    a = VisaChain(KEYSIGHT, simulate=True).measure(x)
    b = VisaChain(KEYSIGHT, simulate=True).measure(x)
    c = VisaChain(KEYSIGHT, simulate=True, seed=7).measure(x)
    np.testing.assert_array_equal(a, b)  # a fresh bench per chain: the same seed gives the same readings
    assert not np.array_equal(a, c) and np.abs(a - c).max() < 0.02


def test_other_encodings_read_the_same_signal(tmp_path):
    """ASCII upload instead of a DAC block, WORD (16-bit) scope data instead of BYTE: the preamble scaling and
    the code maps must give the same volts to within the 8-bit scope's resolution."""
    x = rows(32, seed=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = VisaChain(str(variant(tmp_path / "a", bench={"noise_v": 0.0})), simulate=True).measure(x)

    def ascii_and_word(c):
        c["measure"][1] = {"awg": {"write": "SOUR1:DATA:ARB hwsim,{data}",
                                   "encoding": {"format": "ascii", "dtype": "float", "codes": [-1.0, 1.0]}}}
        c["instruments"]["scope"]["setup"] = [s.replace(":WAV:FORM BYTE", ":WAV:FORM WORD")
                                              for s in c["instruments"]["scope"]["setup"]]
        c["measure"][-1]["scope"]["encoding"]["dtype"] = "uint16"

    other = VisaChain(str(variant(tmp_path / "b", edit=ascii_and_word, bench={"noise_v": 0.0})),
                      simulate=True).measure(x)
    assert np.abs(other - base).max() <= 1.01 / 256 and np.abs(other - base).mean() < 0.5 / 256


def test_declared_output_bits_must_match_the_scopes_codes(tmp_path):
    """8 output bits over [-0.5, 0.5] V is not the scope's grid (codes 0..255 are -0.5 .. +0.49609375 V at
    0.125 V/div): refused at the read, with the range to declare; with that range the values are its codes."""
    def eight_bits(top):
        def edit(c):
            c["output"] = {"shape": [16], "range": [-0.5, top], "bits": 8}
        return edit

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    wrong = variant(tmp_path / "a", edit=eight_bits(0.5), bench={"oversample": 1})
    with VisaChain(str(wrong), simulate=True) as dev:
        with pytest.raises(InstrumentError, match=r"declare range \[-0.5, 0.49609375\] or omit output.bits"):
            dev.measure(rows(4))
    right = variant(tmp_path / "b", edit=eight_bits(0.49609375), bench={"oversample": 1})
    with VisaChain(str(right), simulate=True) as dev:
        y = dev.measure(rows(4))
    codes = (y.astype(np.float64) + 0.5) * 256
    np.testing.assert_array_equal(codes, np.round(codes))


def test_a_profile_wraps_a_chain_like_any_device():
    dev = create_device(f"visa?config={KEYSIGHT}&simulate=true&profile=bench&profile_seed=1")
    assert isinstance(dev, DeviceWrapper) and isinstance(dev.root, VisaChain)
    y = dev.measure(rows(8))
    assert y.shape == (8, 16) and np.isfinite(y).all()
    dev.close()
    assert dev.root.closed


def test_seed_needs_a_simulated_bench():
    with pytest.raises(HwsimError, match="only with simulate=true"):
        VisaChain(KEYSIGHT, seed=3)


# -- instrument faults: each a specific error with a sentence ----------------------------------------------------------

def test_wrong_identity(tmp_path):
    path = variant(tmp_path, edit=_set(["instruments", "scope", "idn"], "TEKTRONIX,MSO5"))
    with pytest.raises(IdentityMismatchError, match=r"answers \*IDN\? with 'KEYSIGHT TECHNOLOGIES,DSOX3034T.*"
                                                    r"does not match the chain file's idn 'TEKTRONIX,MSO5'.*resource"):
        VisaChain(str(path), simulate=True)


def test_missing_resource(tmp_path):
    path = variant(tmp_path, edit=_set(["instruments", "scope", "resource"], "TCPIP0::10.9.9.9::inst0::INSTR"))
    with pytest.raises(InstrumentNotFoundError, match=r"cannot open 'TCPIP0::10.9.9.9::inst0::INSTR'.*check the "
                                                      r"resource string.*the VISA library sees: TCPIP0::192.168.1.10"):
        VisaChain(str(path), simulate=True)
    bad = variant(tmp_path, edit=_set(["instruments", "awg", "resource"], "not a resource"))
    with pytest.raises(InstrumentNotFoundError, match="check the resource string"):
        VisaChain(str(bad), simulate=True)


@pytest.mark.parametrize("base,role,command,reported", [
    (KEYSIGHT, "awg", "SOUR1:VOLT 50.0", r'-222,"Data out of range"'),
    (KEYSIGHT, "scope", ":CHANnel1:SCALe 1.0e-4", r'-222,"Data out of range"'),
    (KEYSIGHT, "awg", "SOUR1:BOGUS 1", r'-113,"Undefined header"'),
    (TEKTRONIX, "scope", "CH1:SCA 99", r'222,"Data out of range"'),  # through *ESR? and EVMsg?
    (TEKTRONIX, "awg", "SOUR1:VOLT:LEV:IMM:AMPL 2.0 PARSECS", r'-104,"Data type error"'),
])
def test_rejected_command(tmp_path, base, role, command, reported):
    path = variant(tmp_path, base, edit=lambda c: c["instruments"][role]["setup"].append(command))
    with pytest.raises(CommandRejectedError, match=f"reported {reported} after '{command}'; check the command"):
        VisaChain(str(path), simulate=True)


def test_rejected_command_while_measuring(tmp_path):
    """The bench refuses a waveform that is not a whole number of its 16-sample rows: the error surfaces at the
    trigger that plays it, named by the AWG's error queue."""
    path = variant(tmp_path, edit=lambda c: c.update(input=dict(c["input"], shape=[12]), rows_per_shot=5))
    with VisaChain(str(path), simulate=True) as dev:
        with pytest.raises(CommandRejectedError, match=r"'awg'.*-221,\"Settings conflict\" after '\*TRG'"):
            dev.measure(np.zeros((1, 12), np.float32))


def test_rejected_upload(tmp_path):
    """Code -32768 fits int16 but not the 33500's DAC range (-32767..32767): the write step is rejected."""
    path = variant(tmp_path, edit=lambda c: c["measure"][1]["awg"]["encoding"].update(codes=[-32768, 32767]))
    with VisaChain(str(path), simulate=True) as dev:
        with pytest.raises(CommandRejectedError, match=r"-222,\"Data out of range\" after 'SOUR1:DATA:ARB:DAC hwsim,"
                                                       r"<1,030 bytes of data>'; check"):
            dev.measure(-np.ones((1, 16), np.float32))


def test_a_record_of_the_wrong_length_is_named(tmp_path):
    """32 rows of 12 samples play as 24 of the bench's 16-sample rows: the scope returns 768 points, not 1,024."""
    path = variant(tmp_path, edit=lambda c: c.update(input=dict(c["input"], shape=[12])))
    with VisaChain(str(path), simulate=True) as dev:
        with pytest.raises(InstrumentError, match=r"returned 768 points for ':WAV:DATA\?'; the chain declares 32 "
                                                  r"rows x 16 outputs x 2 points per value = 1,024; set the"):
            dev.measure(np.zeros((1, 12), np.float32))


@pytest.mark.parametrize("base,missing,message", [
    (TEKTRONIX, "TRIG:SEQ:IMM", r"did not answer '\*OPC\?' within 30\d ms; check that the operation it waits for"),
    (KEYSIGHT, "*TRG", r"still answers ':OPER:COND\?' with '\+40' after 0.30\d s, waiting for & 8 == 0; check the "
                       r"trigger"),
])
def test_read_timeout(tmp_path, base, missing, message):
    def no_trigger(c):
        c["measure"] = [s for s in c["measure"] if s.get("awg") != missing]
        c["instruments"]["scope"]["timeout_ms"] = 300
    with VisaChain(str(variant(tmp_path, base, edit=no_trigger)), simulate=True) as dev:
        with pytest.raises(InstrumentTimeoutError, match=message):
            dev.measure(rows(1))


@pytest.mark.parametrize("base,fault,message", [
    # 768 bytes and the newline the scope ends every reply with
    (KEYSIGHT, "short_block", r"short binary block for ':WAV:DATA\?': its header declares 1,024 bytes, 769 arrived"),
    (TEKTRONIX, "short_block", r"short binary block for 'CURV\?'"),
    (KEYSIGHT, "malformed_block", r"reply to ':WAV:DATA\?': malformed block header"),
])
def test_short_or_malformed_block(tmp_path, base, fault, message):
    path = variant(tmp_path, base, edit=_set(["instruments", "scope", "timeout_ms"], 300), bench={"fault": fault})
    with VisaChain(str(path), simulate=True) as dev:
        with pytest.raises(BlockFormatError, match=message):
            dev.measure(rows(4))


def test_instrument_faults_are_device_errors():
    for cls in (IdentityMismatchError, InstrumentNotFoundError, CommandRejectedError, InstrumentTimeoutError,
                BlockFormatError):
        assert issubclass(cls, DeviceError)  # a served chain reports them to the host as device errors
    assert issubclass(ChainFileError, HwsimError)


def test_teardown_problems_are_warned_not_lost(tmp_path):
    path = variant(tmp_path, edit=lambda c: c["instruments"]["awg"]["teardown"].append("OUTP1:BOGUS"))
    dev = VisaChain(str(path), simulate=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dev.close()
    assert any("OUTP1:BOGUS" in str(w.message) and "-113" in str(w.message) for w in caught)
    dev.close()  # closing twice is harmless


# -- optional dependencies ---------------------------------------------------------------------------------------------

def test_without_pyvisa_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvisa", None)
    with pytest.raises(NotSupportedError, match=r"pip install 'hwsim\[instruments\]'"):
        VisaChain(KEYSIGHT, simulate=True)


def test_a_missing_visa_library_says_what_to_install(tmp_path):
    path = variant(tmp_path, edit=_set(["visa_library"], "@no-such-backend"))
    with pytest.raises(NotSupportedError, match=r"cannot open the VISA library '@no-such-backend'.*pip install "
                                                r"pyvisa-py"):
        VisaChain(str(path))


def test_pyvisa_and_yaml_are_imported_only_when_a_chain_is_opened():
    code = ("import sys, hwsim, hwsim.instruments, hwsim.registry\n"
            "from hwsim.cli import main\n"
            "main(['--help'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyvisa', 'pyvisa_sim', 'yaml')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
