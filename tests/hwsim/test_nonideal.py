"""Non-ideality models: statistics against their declared parameters, events, reproducibility, state,
chunking invariance and the named profiles.

Statistical tolerances are two-sided intervals at a 1e-6 false-alarm level from the exact sampling
distribution (chi-square for variances, Poisson / binomial for counts, Kolmogorov-Smirnov for
inter-arrival times). The runs are seeded, so the tests are deterministic; the intervals say how far
from the declared value a correct model may land.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError, ShapeError, TransientDeviceError
from hwsim.nonideal import (PROFILES, Drift, Dropout, Latency, Noise, Perturbation, Quantisation, SimClock,
                            apply_profile, chain, find_clock, find_wrapper, profile_names)
from hwsim.quantise import from_codes, lsb, quantise, to_codes
from hwsim.reference import ReferenceDevice
from hwsim.registry import create_device

ALPHA = 1e-6


class Identity(Device):
    """``y = x`` on ``n`` channels, range (-1, 1); remembers the last input it received."""

    def __init__(self, n: int = 4, bits: int | None = None, max_batch: int = 4096) -> None:
        super().__init__()
        self.info = DeviceInfo(name="identity", input_shape=(n,), output_shape=(n,), dac_bits=bits, adc_bits=bits,
                               max_batch=max_batch)
        self.last_x: np.ndarray | None = None

    def _measure(self, x: np.ndarray) -> np.ndarray:
        self.last_x = x.copy()
        return x.copy()


def assert_variance(values: np.ndarray, var: float, known_mean: float | None = 0.0) -> None:
    """The sample variance of ``values`` is consistent with ``var`` (chi-square interval at ALPHA)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if known_mean is None:
        dof, ss = v.size - 1, np.sum((v - v.mean()) ** 2)
    else:
        dof, ss = v.size, np.sum((v - known_mean) ** 2)
    lo, hi = stats.chi2.ppf([ALPHA / 2, 1 - ALPHA / 2], dof)
    assert lo <= ss / var <= hi, f"variance {ss / dof:.6g} vs declared {var:.6g} (dof {dof})"


def measure_retry(dev: Device, x: np.ndarray, tries: int = 200) -> np.ndarray:
    """Measure, repeating the request after a lost reply."""
    for _ in range(tries):
        try:
            return dev.measure(x)
        except TransientDeviceError:
            continue
    raise AssertionError("every retry lost")


# -- quantisation ------------------------------------------------------------------------------
def test_adc_levels_grid_and_clipping():
    dev = Quantisation(Identity(n=1), dac_bits=None, adc_bits=4)
    x = np.linspace(-1.5, 1.5, 3001, dtype=np.float32)[:, None]
    y = dev.measure(x)[:, 0].astype(np.float64)
    step = lsb((-1.0, 1.0), 4)
    assert len(np.unique(y)) == 2 ** 4  # a dense ramp hits every level, and no more
    assert y.min() == -1.0 and y.max() == 1.0  # clipped at full scale
    codes = (y + 1.0) / step
    assert np.allclose(codes, np.rint(codes), atol=1e-5)  # on the code grid
    assert np.all(np.abs(y - np.clip(x[:, 0], -1, 1)) <= step / 2 + 1e-6)


def test_dac_levels_and_idempotence():
    root = Identity(n=3)
    for bits in (1, 2, 8, 12, 16):
        dev = Quantisation(root, dac_bits=bits, adc_bits=None)
        dev.measure(np.random.default_rng(bits).uniform(-2, 2, (4000, 3)))
        assert len(np.unique(root.last_x)) <= 2 ** bits
        assert root.last_x.min() >= -1.0 and root.last_x.max() <= 1.0
        codes = np.random.default_rng(bits).integers(0, 2 ** bits, (500, 3))
        on_grid = from_codes(codes, (-1.0, 1.0), bits)
        dev.measure(on_grid)
        assert np.array_equal(root.last_x, on_grid)  # already on the grid: unchanged


def test_quantisation_defaults_to_declared_bits_and_declares_its_own():
    ref = ReferenceDevice(dac_bits=10, adc_bits=6)
    assert (Quantisation(ref).dac_bits, Quantisation(ref).adc_bits) == (10, 6)
    assert apply_profile(ref, "harsh").info.dac_bits == 8  # the coarser of device (10) and instrument (8)
    assert apply_profile(ref, "harsh").info.adc_bits == 6
    assert apply_profile(ReferenceDevice(dac_bits=None, adc_bits=None), "bench").info.adc_bits == 12
    with pytest.raises(ConfigError):
        Quantisation(ref, dac_bits=0)


def test_ideal_profile_is_exactly_quantisation():
    x = np.random.default_rng(0).uniform(-1.2, 1.2, (300, 16))
    for bits in (12, None):
        ref = ReferenceDevice(seed=3, dac_bits=bits, adc_bits=bits)
        dev = apply_profile(ref, "ideal", seed=5)
        assert [type(d) for d in chain(dev)] == [Quantisation, ReferenceDevice]
        i = ref.info
        expect = quantise(ref.measure(quantise(x, i.input_range, i.dac_bits)), i.output_range, i.adc_bits)
        assert np.array_equal(dev.measure(x), expect)


def test_board_receiving_codes_agrees_with_in_process_profile():
    """A host sends codes on the chain's declared DAC grid; the profiled device must not care.
    (Like every Device, the host first makes the batch float32, then encodes it.)"""
    x = np.random.default_rng(1).uniform(-1, 1, (200, 16)).astype(np.float32)
    for name in ("bench", "harsh"):
        a = apply_profile(ReferenceDevice(seed=2), name, seed=4)
        b = apply_profile(ReferenceDevice(seed=2), name, seed=4)
        i = b.info
        wire = from_codes(to_codes(x, i.input_range, i.dac_bits), i.input_range, i.dac_bits)
        assert np.array_equal(measure_retry(a, x), measure_retry(b, wire))


# -- noise -------------------------------------------------------------------------------------
def test_read_noise_std_matches_declared():
    dev = Noise(Identity(n=8), read=0.01, seed=1)
    x = np.full((10000, 8), 0.2, dtype=np.float32)
    err = dev.measure(x).astype(np.float64) - x
    sigma = 0.01 * 2.0  # fraction of the full-scale span (-1, 1)
    assert_variance(err, sigma ** 2)
    assert abs(err.mean()) < 5.3 * sigma / np.sqrt(err.size)  # two-sided normal quantile at ALPHA


def test_shot_noise_variance_grows_with_signal():
    dev = Noise(Identity(n=8), read=0.005, shot=0.03, seed=2)
    for level in (0.05, 0.8):
        x = np.full((8000, 8), level, dtype=np.float32)
        err = dev.measure(x).astype(np.float64) - x
        assert_variance(err, (0.005 * 2) ** 2 + 0.03 ** 2 * 2.0 * level)


def test_gain_jitter_is_per_sample_and_common_to_channels():
    dev = Noise(Identity(n=6), jitter=0.01, seed=3)
    x = np.full((20000, 6), 0.5, dtype=np.float32)
    ratio = dev.measure(x).astype(np.float64) / 0.5 - 1.0
    assert np.allclose(ratio, ratio[:, :1], atol=1e-6)  # one factor per sample, shared by all channels
    assert ratio[:, 0].std() > 0
    assert_variance(ratio[:, 0], 0.01 ** 2)


# -- drift -------------------------------------------------------------------------------------
def drift_path(gain_std: float, offset_std: float, tau: float, dt: float, n: int, channels: int, seed: int = 0):
    """Measured gain and offset deviations (n, channels) of a drifting identity device at y = 0.5."""
    dev = Drift(Identity(n=channels), gain_std=gain_std, offset_std=offset_std, tau=tau, clock=SimClock(dt),
                seed=seed)
    y = dev.measure(np.full((n, channels), 0.5, dtype=np.float32)).astype(np.float64)
    return dev, y


def test_drift_stationary_variance_and_exact_ou_steps():
    sigma, tau, dt = 0.05, 1.0, 0.1
    dev, y = drift_path(sigma, 0.0, tau, dt, 5000, 64)
    a = y / 0.5 - 1.0
    assert np.allclose(dev.gain, 1 + a[-1], atol=1e-6)
    # samples 10 tau apart (correlation e^-10) after 10 tau of burn-in: nearly independent draws
    assert_variance(a[100::100], sigma ** 2)
    # consecutive steps: a_k - rho a_{k-1} are iid N(0, sigma^2 (1 - rho^2)) for the exact OU step
    rho = np.exp(-dt / tau)
    assert_variance(a[1:] - rho * a[:-1], sigma ** 2 * (1 - rho ** 2))


def test_drift_variance_growth_from_calibration():
    sigma, tau, dt = 0.02, 50.0, 5.0
    _, y = drift_path(0.0, sigma, tau, dt, 10, 40000, seed=1)
    b = (y - 0.5) / 2.0  # offsets are fractions of the full-scale span 2
    for k in (1, 4, 10):
        t = k * dt
        assert_variance(b[k - 1], sigma ** 2 * (1 - np.exp(-2 * t / tau)))


# -- perturbation events -----------------------------------------------------------------------
def test_poisson_event_count_and_interarrivals():
    rate, dt, n = 0.05, 1.0, 40000
    dev = Perturbation(Identity(n=2), rate=rate, clock=SimClock(dt), seed=7)
    for start in range(0, n, 4096):
        dev.measure(np.zeros((min(4096, n - start), 2), dtype=np.float32))
    events = dev.events
    lo, hi = stats.poisson.ppf([ALPHA / 2, 1 - ALPHA / 2], rate * n * dt)
    assert lo <= len(events) <= hi
    times = np.array([e.time for e in events])
    assert np.all(np.diff(times) >= 0) and times[-1] <= n * dt
    gaps = np.diff(np.concatenate([[0.0], times]))
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > ALPHA
    for e in events:  # each event takes effect at the first sample acquired at or after its time
        assert (e.sample + 1) * dt >= e.time > e.sample * dt
        assert e.source == "poisson"
    weights = {k: w for k, w, _ in dev.kinds}
    for kind, w in weights.items():
        count = sum(e.kind == kind for e in events)
        lo, hi = stats.binom.ppf([ALPHA / 2, 1 - ALPHA / 2], len(events), w / sum(weights.values()))
        assert lo <= count <= hi, kind


def test_triggered_jumps_persist_until_the_next():
    dev = Perturbation(Identity(n=4), rate=0.0, clock=SimClock(0.01))
    x = np.full((5, 4), 0.25, dtype=np.float32)
    assert np.allclose(dev.measure(x), 0.25)
    ev = dev.trigger("output_gain", 0.2)
    assert (ev.kind, ev.magnitude, ev.source, ev.sample) == ("output_gain", 0.2, "manual", 5)
    assert ev.time == pytest.approx(0.05)
    for _ in range(3):  # persists over calls
        assert np.allclose(dev.measure(x), 0.3)
    dev.trigger("output_gain", [0.0, -0.5, 0.0, 0.0])  # per channel, on top of the last jump
    assert np.allclose(dev.measure(x), [0.3, 0.15, 0.3, 0.3])
    assert np.allclose(dev.output_gain, [1.2, 0.6, 1.2, 1.2])

    dev = Perturbation(Identity(n=4))
    dev.trigger("input_offset", 0.1)  # a tenth of the input span (-1, 1)
    assert np.allclose(dev.measure(x), 0.45)
    dev.trigger("input_gain", 2.0)
    assert np.allclose(dev.measure(x), 0.95)
    dev.trigger("input_gain", 1.0)  # 2 * 3 * 0.25 + 0.2 saturates at the input rail
    assert np.allclose(dev.measure(x), 1.0)

    dev = Perturbation(Identity(n=4))
    impulse = np.array([[0.0, 0.5, 0.0, 0.0]], dtype=np.float32)
    dev.trigger("crosstalk", 0.1)
    assert np.allclose(dev.measure(impulse), [[0.05, 0.5, 0.05, 0.0]])
    dev.trigger("crosstalk", [0.0, 0.0, 0.2])  # replaces the old coupling
    assert np.allclose(dev.measure(impulse), [[0.0, 0.5, 0.0, 0.0]])
    dev.trigger("crosstalk", [0.0, 0.2, 0.0])
    assert np.allclose(dev.measure(impulse), [[0.0, 0.5, 0.1, 0.0]])
    assert [e.kind for e in dev.events] == ["crosstalk"] * 3


def test_random_trigger_draws_per_channel_values_without_touching_poisson_stream():
    a = Perturbation(Identity(n=64), rate=2.0, clock=SimClock(0.01), seed=3)
    b = Perturbation(Identity(n=64), rate=2.0, clock=SimClock(0.01), seed=3)
    x = np.zeros((50, 64), dtype=np.float32)
    a.measure(x)
    b.measure(x)
    ev = a.trigger("output_gain", 0.1, random=True)
    assert np.std(ev.values) > 0.05 and len(set(ev.values)) == 64
    a.measure(np.zeros((1000, 64), dtype=np.float32))
    b.measure(np.zeros((1000, 64), dtype=np.float32))
    poisson = [(e.time, e.kind, e.values) for e in a.events if e.source == "poisson"]
    assert poisson == [(e.time, e.kind, e.values) for e in b.events] and len(poisson) > 5


def test_scheduled_event_takes_effect_mid_batch():
    dev = Perturbation(Identity(n=2), clock=SimClock(1.0), schedule=[(10.5, "output_gain", 1.0)])
    dev.schedule(15.0, "input_offset", -0.1)
    y = dev.measure(np.full((20, 2), 0.5, dtype=np.float32))
    # sample k (from 1) is acquired at k seconds: from k = 11 on the gain is doubled, from k = 15 the input shifts
    assert np.allclose(y[:10], 0.5) and np.allclose(y[10:14], 1.0) and np.allclose(y[14:], 0.6)
    assert [(e.kind, e.sample, e.source) for e in dev.events] == [("output_gain", 10, "scheduled"),
                                                                  ("input_offset", 14, "scheduled")]


def test_perturbation_rejects_bad_requests():
    dev = Perturbation(Identity(n=4))
    with pytest.raises(ConfigError, match="output_gain"):
        dev.trigger("gain_jump", 0.1)
    with pytest.raises(ShapeError):
        dev.trigger("output_gain", [0.1, 0.2])
    with pytest.raises(ShapeError):
        dev.schedule(1.0, "crosstalk", np.zeros(4))  # 4 channels have 3 neighbour links
    with pytest.raises(ConfigError):
        dev.trigger("output_gain", [0.1] * 4, random=True)
    with pytest.raises(ConfigError):
        Perturbation(Identity(), rate=-1)


# -- dropped replies, latency ------------------------------------------------------------------
def test_dropout_frequency_and_cost():
    p, calls = 0.1, 5000
    dev = Dropout(Identity(n=1), p=p, seed=11)
    lost = 0
    for _ in range(calls):
        try:
            dev.measure(np.zeros((1, 1), dtype=np.float32))
        except TransientDeviceError as exc:
            assert "retry" in str(exc)
            lost += 1
    lo, hi = stats.binom.ppf([ALPHA / 2, 1 - ALPHA / 2], calls, p)
    assert lo <= lost <= hi and lost == dev.dropped
    assert dev.root.measurements == calls and dev.measurements == calls  # a lost reply still cost a measurement
    with pytest.raises(ConfigError):
        Dropout(Identity(), p=1.0)


def test_latency_advances_the_simulated_clock_only(monkeypatch):
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)
    clock = SimClock(1e-3)
    dev = Latency(Identity(n=2), latency=0.01, dead_time=0.005, clock=clock)
    for _ in range(3):
        dev.measure(np.zeros((10, 2), dtype=np.float32))
    assert clock.samples == 30 and clock.t == pytest.approx(0.03)
    assert clock.overhead == pytest.approx(0.045) and clock.elapsed == pytest.approx(0.075)
    assert slept == []  # simulated time only, by default
    Latency(Identity(n=2), latency=0.01, dead_time=0.005, sleep=True).measure(np.zeros((10, 2)))
    assert slept == [pytest.approx(0.025)]


def test_lost_reply_time_goes_to_overhead_not_to_measurement_time():
    dev = apply_profile(Identity(n=2), dataclasses.replace(PROFILES["harsh"], dropout=0.5), seed=0)
    clock = find_clock(dev)
    for _ in range(40):
        measure_retry(dev, np.zeros((10, 2), dtype=np.float32))
    drop = find_wrapper(dev, Dropout)
    assert drop.dropped > 0 and clock.samples == 400
    per_call = PROFILES["harsh"].latency + PROFILES["harsh"].dead_time
    assert clock.overhead == pytest.approx((40 + drop.dropped) * per_call + drop.dropped * 10 * 1e-3)


# -- profiles, reproducibility, state, chunking ------------------------------------------------
STRESS = dataclasses.replace(PROFILES["harsh"], name="stress", event_rate=50.0, dropout=0.2)


def run(dev: Device, x: np.ndarray, sizes: list[int] | None = None) -> np.ndarray:
    """Measure ``x`` in one call or in consecutive calls of the given sizes, retrying lost replies."""
    if sizes is None:
        return measure_retry(dev, x)
    bounds = np.cumsum([0] + sizes)
    assert bounds[-1] == len(x)
    return np.concatenate([measure_retry(dev, x[s:e]) for s, e in zip(bounds[:-1], bounds[1:])])


@pytest.mark.parametrize("profile", ["ideal", "bench", "harsh", STRESS])
def test_chunking_invariance(profile):
    x = np.random.default_rng(0).uniform(-1, 1, (600, 16))
    results, logs = [], []
    for max_batch, sizes in ((4096, None), (4096, [1, 2, 5, 37, 100, 455]), (64, [300, 300]), (7, None)):
        dev = apply_profile(ReferenceDevice(seed=1, max_batch=max_batch), profile, seed=9)
        results.append(run(dev, x, sizes))
        pert = find_wrapper(dev, Perturbation, default=None)
        logs.append([e.to_dict() for e in pert.events] if pert else [])
    for y, log in zip(results[1:], logs[1:]):
        assert np.array_equal(y, results[0])
        assert log == logs[0]
    if profile is STRESS:  # many events, most of them inside a call of the split run, not at its boundaries
        inside = [e for e in logs[0] if e["sample"] not in {0, 1, 3, 8, 45, 145}]
        assert len(inside) > 10


def test_same_seed_same_outputs_other_seed_differs():
    x = np.random.default_rng(0).uniform(-1, 1, (400, 16))
    a = run(apply_profile(ReferenceDevice(), "harsh", seed=1), x)
    b = run(apply_profile(ReferenceDevice(), "harsh", seed=1), x)
    c = run(apply_profile(ReferenceDevice(), "harsh", seed=2), x)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("profile", ["bench", STRESS])
def test_state_dict_round_trip_resumes_identically(profile):
    x1, x2 = np.random.default_rng(1).uniform(-1, 1, (2, 300, 16))
    dev = apply_profile(ReferenceDevice(), profile, seed=3)
    run(dev, x1)
    saved = json.loads(json.dumps(dev.state_dict()))  # a checkpoint survives JSON
    find_wrapper(dev, Perturbation).trigger("output_gain", 0.3)  # after the save: must not leak into the resume
    y_cont = run(dev, x2)
    resumed = apply_profile(ReferenceDevice(), profile, seed=3)
    resumed.load_state_dict(saved)
    y_res = run(resumed, x2)
    fresh_log = [e for e in find_wrapper(resumed, Perturbation).events]
    dev.load_state_dict(saved)
    assert np.array_equal(run(dev, x2), y_res)  # restoring in place gives the same as a rebuilt device
    assert find_wrapper(dev, Perturbation).events == fresh_log
    assert not np.array_equal(y_cont, y_res)  # the trigger after the save did change the first run
    assert find_clock(resumed).samples == 600
    with pytest.raises(ConfigError):
        apply_profile(ReferenceDevice(), "ideal").load_state_dict(saved)


def test_profiles_names_and_errors():
    assert profile_names() == ["ideal", "bench", "lab", "harsh"]
    with pytest.raises(ConfigError, match="ideal, bench, lab, harsh"):
        apply_profile(ReferenceDevice(), "lab2")
    bench = apply_profile(ReferenceDevice(), "bench")
    assert [type(d).__name__ for d in chain(bench)] == [
        "Latency", "Quantisation", "Noise", "Perturbation", "Drift", "ReferenceDevice"]
    assert [type(d).__name__ for d in chain(apply_profile(ReferenceDevice(), "harsh"))][0] == "Dropout"
    clocks = {id(d.clock) for d in chain(bench) if hasattr(d, "clock")}
    assert len(clocks) == 1  # one shared clock
    assert find_wrapper(bench, Drift).clock is find_clock(bench)
    assert find_wrapper(bench, Dropout, default=None) is None
    with pytest.raises(ConfigError, match="no Dropout"):
        find_wrapper(bench, Dropout)
    with pytest.raises(ConfigError):
        SimClock(0.0)
    with pytest.raises(ConfigError):
        Noise(Identity(), read=-0.1)
    with pytest.raises(ConfigError):
        apply_profile(ReferenceDevice(), "bench", seed=-1)


def test_registry_profile_spec_matches_apply_profile():
    x = np.random.default_rng(5).uniform(-1, 1, (64, 16))
    dev = create_device("reference?seed=2&profile=bench&profile_seed=4")
    assert np.array_equal(dev.measure(x), apply_profile(ReferenceDevice(seed=2), "bench", seed=4).measure(x))
    assert dev.root.measurements == 64



def test_lab_profile_values_and_a_device_without_a_medium():
    """The lab profile's converters and noise; its medium decorrelation reaches only devices that model a
    medium (the optical system, tested in tests/physical/test_systems.py), others get the rest."""
    lab = PROFILES["lab"]
    assert (lab.dac_bits, lab.adc_bits, lab.shot_noise, lab.read_noise) == (8, 12, 0.01, 0.0005)
    assert lab.decorrelation_time == 36000.0 and lab.sample_time == 5e-3
    reference = apply_profile(ReferenceDevice(), "lab")
    assert [type(d).__name__ for d in chain(reference)] == ["Quantisation", "Noise", "ReferenceDevice"]
