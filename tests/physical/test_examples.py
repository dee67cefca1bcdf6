"""The examples run end to end (tiny settings)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("script,args,expect", [
    ("train_vowels.py", ["--seeds", "1", "--epochs", "3", "--system", "reference?n_in=20&n_out=20"], "7-vowel"),
    ("mnist1d_optical.py", ["--epochs", "1", "--max-train", "200", "--max-test", "50",
                            "--system", "optical?n_out=64&pool=1"], "MNIST-1D"),
])
def test_example_runs(script, args, expect, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert expect in out and "ablation" in out and "logreg" in out and "mfff" in out
