"""`python -m swviz`: the estimate it prints is the API's, bad input is one clear line."""

import json
import subprocess
import sys

import numpy as np
import pytest

import swviz
from swviz.cli import main
from swviz.shapes import library_pair


def test_json_estimate_matches_the_api_on_the_apps_measures(capsys):
    assert main(["estimate", "sphere", "torus", "--estimator", "ucv", "-L", "100", "--seed", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    src, tgt = library_pair("sphere", "torus", 1024, 0)
    r = swviz.sliced_wasserstein(src.points, tgt.points, src.weights, tgt.weights, estimator="ucv",
                                 n_projections=100, seed=0)
    assert out["value"] == pytest.approx(r.value, rel=1e-14)
    assert out["estimator"] == "ucv" and out["n_projections"] == 100


@pytest.mark.parametrize("mode", ["surface", "vertices"])
def test_the_command_line_gives_the_home_pages_number(capsys, mode):
    """Same settings, same measure, same number on the Home page and from `python -m swviz estimate`."""
    from streamlit.testing.v1 import AppTest

    argv = ["estimate", "sphere", "torus", "-e", "ucv", "-L", "64", "--seed", "3", "-n", "512", "--mode", mode,
            "--json"]
    assert main(argv) == 0
    value = json.loads(capsys.readouterr().out)["value"]
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params.update({"est": "ucv", "L": "64", "p": "2", "seed": "3", "n": "512", "src": "sphere",
                            "tgt": "torus", "measure": mode, "norm": "none"})
    at.run()
    assert not at.exception
    shown = [m.value for m in at.metric if m.label.startswith("Estimate of")]
    assert shown == [f"{value:.6g}"]


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


def test_the_study_subcommand_runs_from_the_module_entry_point(tmp_path):
    """`python -m swviz study`: exit 2 naming the field for a bad config; 0 and the tables for a good one."""
    (tmp_path / "bad.toml").write_text('pairs = [["circle", "square"]]\nL = [0]\n')
    bad = subprocess.run([sys.executable, "-m", "swviz", "study", str(tmp_path / "bad.toml")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "field 'L'" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "ok.toml").write_text('pairs = [["circle", "square"]]\nestimators = ["mc", "lcv"]\nL = [8]\n'
                                      'repeats = 3\n[measure]\nn = 32\n')
    ok = subprocess.run([sys.executable, "-m", "swviz", "study", str(tmp_path / "ok.toml"), "-q"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "6 estimates from 3 tasks" in ok.stdout
    assert (tmp_path / "ok-results" / "results.parquet").is_file()
