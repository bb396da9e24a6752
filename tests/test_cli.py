"""`python -m swviz`: the estimate it prints is the API's, bad input is one clear line."""

import json
import subprocess
import sys

import numpy as np
import pytest

import swviz
from swviz.cli import main
from swviz.shapes import sample_shape


def test_json_estimate_matches_the_api(capsys):
    assert main(["estimate", "sphere", "torus", "--estimator", "ucv", "-L", "100", "--seed", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    x, y = sample_shape("sphere", 1024, 0), sample_shape("torus", 1024, 1)
    r = swviz.sliced_wasserstein(x, y, estimator="ucv", n_projections=100, seed=0)
    assert out["value"] == pytest.approx(r.value, rel=1e-14)
    assert out["estimator"] == "ucv" and out["n_projections"] == 100


def test_files_are_accepted(tmp_path, capsys):
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 1
    np.save(tmp_path / "a.npy", xs)
    np.savetxt(tmp_path / "b.xyz", ys)
    assert main(["estimate", str(tmp_path / "a.npy"), str(tmp_path / "b.xyz"), "-L", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["value"] == pytest.approx(swviz.sliced_wasserstein(xs, ys, n_projections=50, seed=0).value, rel=1e-10)


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["estimate", "sphere", "nosuchshape"], "neither a built-in shape"),
        (["estimate", "sphere", "circle"], "same dimension"),
        (["estimate", "sphere", "torus", "-e", "zzz"], "unknown estimator"),
        (["estimate", "sphere", "torus", "-L", "0"], "n_projections must be >= 1"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, argv, msg):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "swviz", "estimate", "cube", "sphere", "-L", "10"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "estimate of SW_2^2(cube, sphere)" in out.stdout
