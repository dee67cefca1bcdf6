"""The job runner on the local back end: keys, results in order and once, resume from the store, failures
that keep the finished results, data checked or shipped on a worker, and hwsim without Ray."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwsim.data import export_files
from hwsim.errors import ConfigError, DataError
from hwsim.jobs import Job, JobError, LocalBackend, RayBackend, ResultStore, job_key, run_jobs
from hwsim.jobs.errors import BackendUnavailableError
from hwsim.jobs.probes import seeded_value, trivial
from hwsim.jobs.worker import ensure_data, execute

CALLS: list[int] = []


def counted(config: dict) -> dict:
    """A job that records each call in this process (in-process back end only)."""
    CALLS.append(config["seed"])
    if config.get("fail"):
        raise ValueError(f"seed {config['seed']} was told to fail")
    if config.get("missing"):
        raise DataError("data set 'x' is missing; fetch it")
    return {"seed": config["seed"], "square": config["seed"] ** 2}


def expected(seeds):
    return [{"seed": s, "square": s * s} for s in seeds]


def test_keys_name_the_computation():
    a = Job(counted, {"seed": 1, "lr": 0.1})
    assert a.key == Job(counted, {"lr": 0.1, "seed": 1}).key == job_key(counted, {"seed": 1, "lr": 0.1})
    assert a.key != Job(counted, {"seed": 2, "lr": 0.1}).key != Job(trivial, {"seed": 1, "lr": 0.1}).key
    same = Job(counted, {"seed": 1, "system": "acoustic"}, identity={"seed": 1})
    assert same.key == Job(counted, {"seed": 1, "system": "optical"}, identity={"seed": 1}).key
    with pytest.raises(ConfigError, match="module-level"):
        Job(lambda c: c, {"seed": 0})
    with pytest.raises(ConfigError, match="JSON"):
        Job(counted, {"seed": object()})


def test_results_in_job_order_each_computed_once():
    CALLS.clear()
    jobs = [Job(counted, {"seed": s}) for s in (3, 1, 2, 1, 3)]
    report = run_jobs(jobs)
    assert report.results == expected([3, 1, 2, 1, 3])
    assert sorted(CALLS) == [1, 2, 3] and report.ran == 3 and report.skipped == 0
    (row,) = report.placement()
    assert row["jobs"] == 3 and row["node"] == "local" and row["processes"] == 1


def test_worker_processes_give_the_in_process_results():
    jobs = [Job(seeded_value, {"seed": s, "n": 500}, label=f"s{s}") for s in range(6)]
    here = run_jobs(jobs).results
    report = run_jobs(jobs, LocalBackend(workers=2))
    assert report.results == here
    assert {r["seed"] for r in report.results} == set(range(6))
    assert sum(r["jobs"] for r in report.placement()) == 6
    pids = {rec["where"]["pid"] for rec in report.records.values()}
    assert len(pids) >= 1 and all(p != __import__("os").getpid() for p in pids)


def test_resume_skips_finished_jobs(tmp_path):
    CALLS.clear()
    jobs = [Job(counted, {"seed": s}, label=f"s{s}") for s in range(4)]
    first = run_jobs(jobs, store=tmp_path)
    assert first.ran == 4 and len(list(tmp_path.glob("*.json"))) == 4
    (tmp_path / f"{jobs[2].key}.json").unlink()  # as if the run had been interrupted before job 2 finished
    CALLS.clear()
    again = run_jobs(jobs, store=tmp_path)
    assert CALLS == [2] and again.ran == 1 and again.skipped == 3
    assert again.results == first.results == expected(range(4))
    assert "3 finished earlier and were skipped" in again.summary_lines()[0]
    record = json.loads((tmp_path / f"{jobs[0].key}.json").read_text())
    assert record["config"] == {"seed": 0} and record["fn"].endswith(":counted") and record["where"]["host"]


def test_a_changed_record_is_not_trusted(tmp_path):
    job = Job(counted, {"seed": 5})
    run_jobs([job], store=tmp_path)
    path = tmp_path / f"{job.key}.json"
    record = json.loads(path.read_text())
    record["config"] = {"seed": 6}
    path.write_text(json.dumps(record))
    assert ResultStore(tmp_path).load(job) is None
    path.write_text("{not json")
    assert ResultStore(tmp_path).load(job) is None
    assert run_jobs([job], store=tmp_path).ran == 1


def test_a_failed_job_keeps_the_others_and_reruns_alone(tmp_path):
    CALLS.clear()
    jobs = [Job(counted, {"seed": s, "fail": s == 1}, label=f"s{s}") for s in range(3)]
    with pytest.raises(JobError) as info:
        run_jobs(jobs, store=tmp_path)
    text = str(info.value)
    assert "1 of 3 jobs failed" in text and "job s1" in text and "ValueError: seed 1 was told to fail" in text
    assert "2 finished results are kept" in text and "Traceback" in text
    assert len(list(tmp_path.glob("*.json"))) == 2
    report = run_jobs(jobs, store=tmp_path, raise_on_failure=False)
    assert report.ran == 0 and report.skipped == 2 and [j.label for j, _ in report.failed] == ["s1"]


def test_hwsim_errors_of_a_job_read_as_sentences():
    with pytest.raises(JobError) as info:
        run_jobs([Job(counted, {"seed": 0, "missing": True})])
    assert "data set 'x' is missing; fetch it" in str(info.value) and "Traceback" not in str(info.value)


def test_worker_without_the_data_set(tmp_path, monkeypatch):
    shipped = export_files("vowels")  # the driver's copy (HWSIM_DATA of the tests)
    monkeypatch.setenv("HWSIM_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"'vowels' is not on worker .*hwsim data vowels.*--worker-data"):
        ensure_data("vowels", None)
    out = execute(seeded_value, {"seed": 0}, needs=("vowels",))
    assert not out["ok"] and out["error"]["hwsim"] and "not on worker" in out["error"]["message"]
    bad = {**shipped, "vowdata.dat": b"tampered"}
    with pytest.raises(DataError, match="SHA-256"):
        ensure_data("vowels", bad)
    assert not (tmp_path / "empty" / "vowels").exists()
    ensure_data("vowels", shipped)
    assert sorted(p.name for p in (tmp_path / "empty" / "vowels").iterdir()) == sorted(shipped)
    assert execute(seeded_value, {"seed": 0}, needs=("vowels",))["ok"]


def test_bad_options():
    with pytest.raises(ConfigError):
        LocalBackend(workers=0)
    with pytest.raises(ConfigError):
        RayBackend(workers=0)


NO_RAY = "import sys; sys.modules['ray'] = None\nfrom hwsim.cli import main\nsys.exit(main(sys.argv[1:]))"


def _without_ray(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_RAY, *argv], capture_output=True, text=True, timeout=300)


def test_without_ray_everything_but_ray_works():
    modules = ("hwsim.jobs, hwsim.cli.sweep, agents.n2n.rollouts, agents.n2n.bench, agents.netllm.bench, "
               "physical.bench, physical.bench_perturbation")
    out = subprocess.run([sys.executable, "-c", f"import sys, {modules}; print('ray' in sys.modules)"],
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr
    helped = _without_ray("--help")
    assert helped.returncode == 0 and "sweep" in helped.stdout
    for argv in (("sweep", "--help"), ("bench", "scale", "--help"), ("compress", "n2n", "--help"),
                 ("bench", "compress", "--help"), ("bench", "netllm", "--help"), ("bench", "physical", "--help"),
                 ("bench", "perturbation", "--help")):
        assert _without_ray(*argv).returncode == 0, argv
    for argv in (("sweep", "--seeds", "0", "--epochs", "1", "--ray"), ("compress", "n2n", "--quick", "--ray"),
                 ("bench", "compress", "--quick", "--ray", "10.0.0.1:6379"), ("bench", "netllm", "--quick", "--ray"),
                 ("bench", "physical", "--quick", "--ray"), ("bench", "perturbation", "--quick", "--ray", "auto")):
        refused = _without_ray(*argv)
        assert refused.returncode == 2 and "pip install 'hwsim[cluster]'" in refused.stderr, (argv, refused.stderr)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "ray", None)
        with pytest.raises(BackendUnavailableError, match=r"hwsim\[cluster\]"):
            run_jobs([Job(trivial, {"seed": 0})], RayBackend())


def test_a_session_keeps_the_worker_processes():
    backend = LocalBackend(workers=2)
    with backend.session():
        first = run_jobs([Job(seeded_value, {"seed": s}) for s in range(4)], backend)
        second = run_jobs([Job(seeded_value, {"seed": s}) for s in range(4, 5)], backend)  # one job: still a worker
        pids = {r["where"]["pid"] for r in [*first.records.values(), *second.records.values()]}
    assert len(pids) <= 2 and __import__("os").getpid() not in pids
    assert second.results == [seeded_value({"seed": 4})]
    assert backend._pool is None  # the block's end stopped them
