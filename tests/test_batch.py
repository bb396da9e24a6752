"""Batch studies (swviz.batch): one table whatever the runner and the split, faults reported, configs checked."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import swviz
from swviz import batch
from swviz.cli import main
from swviz.estimators import _DESCRIPTIONS, _REGISTRY, Estimator, get_estimator, mc_combine
from swviz.shapes import library_pair

CONFIG = """
name = "test"
seed = 7
pairs = [["sphere", "torus"], ["circle", "square"]]
estimators = ["mc", "ucv", "rqmc-spiral"]
L = [16, 32]
repeats = 6
chunk = 4
[measure]
n = 64
"""


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Identical tables but for the wall times."""
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"), check_exact=True)


@pytest.fixture(scope="module")
def cfg():
    return batch.parse_config(CONFIG)


@pytest.fixture(scope="module")
def local(cfg):
    return batch.run_study(cfg)


@pytest.fixture(scope="module")
def client():
    c = batch.connect(workers=2)
    c.wait_for_workers(2, timeout=60)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def test_rows_are_the_api_estimates_seeded_by_their_coordinates(local, cfg):
    t = local.table
    # 3 random estimators x 2 L x 6 repeats on the 3D pair; rqmc-spiral (3D only) is skipped on the 2D one
    assert len(t) == 3 * 2 * 6 + 2 * 2 * 6
    skipped = local.failures[local.failures["kind"] == "skipped"]
    assert skipped[["pair", "estimator"]].values.tolist() == [["circle / square", "rqmc-spiral"]]
    assert (local.failures["kind"] == "skipped").all()
    src, tgt = library_pair("sphere", "torus", 64, 7)
    for est, L, r in [("mc", 16, 0), ("ucv", 32, 5), ("rqmc-spiral", 16, 3)]:
        rng = batch.repeat_rng(7, "sphere", "torus", get_estimator(est).pool, L, r)
        want = swviz.sliced_wasserstein(src.points, tgt.points, src.weights, tgt.weights, estimator=est,
                                        n_projections=L, seed=rng).value
        row = t[(t.pair == "sphere / torus") & (t.estimator == est) & (t.L == L) & (t.repeat == r)]
        assert row["value"].item() == pytest.approx(want, rel=1e-12, abs=1e-15)
    ref = swviz.reference_sw(src.points, tgt.points, src.weights, tgt.weights).value
    rows = t[t.pair == "sphere / torus"]
    assert np.allclose(rows["reference"], ref, rtol=1e-12)
    assert np.allclose(rows["error"], rows["value"] - ref, rtol=0, atol=1e-15)


def test_a_different_chunking_gives_the_identical_table(local, cfg):
    _same(local.table, batch.run_study(cfg, chunk=1).table)
    _same(local.table, batch.run_study(cfg, chunk=100).table)


def test_the_table_does_not_depend_on_the_order_of_the_config_lists(local):
    text = CONFIG.replace('[["sphere", "torus"], ["circle", "square"]]', '[["circle", "square"], ["sphere", "torus"]]')
    text = text.replace('["mc", "ucv", "rqmc-spiral"]', '["ucv", "rqmc-spiral", "mc"]')
    other = batch.run_study(batch.parse_config(text)).table
    key = ["pair", "estimator", "L", "repeat"]
    _same(local.table.sort_values(key).reset_index(drop=True), other.sort_values(key).reset_index(drop=True))


def test_a_two_worker_cluster_gives_the_identical_table_and_holds_each_pair_once_per_worker(local, cfg, client):
    seen = []
    res = batch.run_study(cfg, client=client, chunk=3, progress=lambda d, n, left: seen.append((d, n)))
    _same(local.table, res.table)
    assert res.meta["runner"].startswith("dask at tcp://")
    total = len(batch.plan_study(cfg, chunk=3).tasks)
    assert [d for d, _ in seen] == list(range(1, total + 1)) and {n for _, n in seen} == {total}
    # the scattered arrays: one replica on each of the two workers, whatever the number of tasks
    run = batch.submit_study(batch.plan_study(cfg, chunk=1), client)
    holders = client.who_has([f for f in run.data])
    assert all(len(v) == 2 for v in holders.values()) and len(holders) == len(cfg.pairs)
    _same(local.table, run.wait().table)


def _study_surviving_a_kill(local, cfg, client, workers) -> None:
    """Submit the study, kill ``workers(client)`` once five tasks are done, expect the in-process table."""
    client.wait_for_workers(2, timeout=60)
    run = batch.submit_study(batch.plan_study(cfg, chunk=1), client)
    deadline = time.monotonic() + 60
    while run.progress()[0] < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    done_at_kill, total = run.progress()
    assert 0 < done_at_kill < total
    try:
        client.run(os._exit, 1, workers=workers(client))
    except Exception:  # noqa: BLE001 - the workers die before they can answer
        pass
    res = run.wait()
    assert res.failures["kind"].isin(["skipped"]).all(), res.failures
    _same(local.table, res.table)
    client.wait_for_workers(2, timeout=60)  # the nannies restart them


def test_killing_a_worker_mid_study_does_not_change_the_table(local, cfg, client):
    def one_busy(c):
        busy = [w for w, keys in c.processing().items() if keys]
        assert busy
        return busy[:1]

    _study_surviving_a_kill(local, cfg, client, one_busy)


def test_losing_every_worker_at_once_mid_study_does_not_change_the_table(local, cfg, client):
    """The pairs' arrays must outlive the workers that hold them: the scheduler recomputes them.

    With scattered arrays (before) the study lost them with their last holder (the memory manager
    drops broadcast replicas no task waits for) and every remaining task of the pair was cancelled."""
    _study_surviving_a_kill(local, cfg, client, lambda c: None)  # None: every worker


def test_a_translated_pair_from_files_lcv_is_exact(tmp_path):
    """LCV is exact on a translate (every slice is (theta's)^2): zero spread, error only the reference's."""
    x = np.random.default_rng(0).normal(size=(50, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x + [1.0, 0.0, 0.0])
    (tmp_path / "s.toml").write_text('pairs = [["x.npy", "y.npy"]]\nestimators = ["mc", "lcv"]\nL = [8, 64]\n'
                                     'repeats = 5\n[measure]\nmode = "points"\n')
    cfg = batch.load_config(tmp_path / "s.toml")
    res = batch.run_study(cfg)
    again = batch.parse_config(batch.config_to_toml(cfg))  # read from anywhere: the files by absolute path
    assert again.pairs == ((str(tmp_path / "x.npy"), str(tmp_path / "y.npy")),)
    lcv = res.table[res.table.estimator == "lcv"]
    assert np.allclose(lcv["value"], 1 / 3, rtol=0, atol=1e-12)
    assert abs(res.references["reference"].item() - 1 / 3) < 1e-3
    summ = res.summary()
    assert (summ[summ.estimator == "mc"]["vrf"] == 1.0).all()
    assert (summ[summ.estimator == "lcv"]["vrf"] > 1e12).all()
    wide = batch.wide_table(summ, "vrf")
    assert list(wide.columns) == ["mc @ L=8", "mc @ L=64", "lcv @ L=8", "lcv @ L=64"]
    assert list(wide.index) == ["x.npy / y.npy"]


@pytest.fixture
def boom():
    """An estimator whose combine raises at L = 32 (registered in this process only)."""

    def combine(w, theta, moments, options):
        if w.shape[-1] == 32:
            raise RuntimeError("boom at L = 32")
        return mc_combine(w)

    mc = get_estimator("mc")
    swviz.register(Estimator("boom", "raises at L = 32", mc.directions, combine, pool=mc.pool))
    yield
    _REGISTRY.pop("boom")
    _DESCRIPTIONS.pop("boom")


def test_a_raising_task_is_reported_with_its_parameters_and_the_rest_finishes(local, boom):
    text = CONFIG.replace('["mc", "ucv", "rqmc-spiral"]', '["mc", "ucv", "rqmc-spiral", "boom"]')
    res = batch.run_study(batch.parse_config(text))
    failed = res.failures[res.failures.kind == "error"]
    assert sorted(failed["pair"]) == ["circle / square"] * 2 + ["sphere / torus"] * 2  # 6 repeats, chunks of 4
    assert set(failed["L"]) == {32} and set(failed["estimator"]) == {"boom"}
    assert set(failed["repeats"]) == {"0-3", "4-5"}
    assert failed["message"].str.contains("RuntimeError: boom at L = 32").all()
    ok = res.table[res.table.estimator == "boom"]
    assert set(ok["L"]) == {16} and len(ok) == 2 * 6
    # boom shares MC's pool: at L = 16 it is MC to the last bit; the other rows are those of the study without it
    mc16 = res.table[(res.table.estimator == "mc") & (res.table.L == 16)]
    assert ok["value"].tolist() == mc16["value"].tolist()
    _same(local.table, res.table[res.table.estimator != "boom"].reset_index(drop=True))


def test_ctrl_c_keeps_what_finished(local, cfg):
    def stop_after(done, total, left):
        if done == 7:
            raise KeyboardInterrupt

    res = batch.run_study(cfg, chunk=2, progress=stop_after)
    assert res.interrupted
    n_tasks = len(batch.plan_study(cfg, chunk=2).tasks)
    assert (res.failures["kind"] == "cancelled").sum() == n_tasks - 7
    key = ["pair", "estimator", "L", "repeat"]
    merged = local.table.merge(res.table, on=key, suffixes=("", "_partial"))
    assert len(merged) == len(res.table) > 0 and (merged["value"] == merged["value_partial"]).all()


@pytest.mark.parametrize(
    "edit,field,problem",
    [
        (("L = [16, 32]", "L = [0, 16]"), "'L'", "must be >= 1"),
        (("L = [16, 32]", 'L = "many"'), "'L'", "non-empty list"),
        (('estimators = ["mc", "ucv", "rqmc-spiral"]\nL = [16, 32]', 'estimators = ["mc", "shcv-4"]\nL = [8, 16]'),
         "'L'", "needs n_projections >= 16"),
        (("repeats = 6", 'repeats = "six"'), "'repeats'", "whole number"),
        (("repeats = 6", "repeats = 1"), "'repeats'", ">= 2 for random"),
        (("seed = 7", "seed = -1"), "'seed'", "must be >= 0"),
        (("chunk = 4", "chunk = 2.5"), "'chunk'", "whole number"),
        (("n = 64", 'n = 64\nmode = "bogus"'), "'measure.mode'", "must be one of"),
        (("n = 64", "n = 64\nnormal_weight = -1"), "'measure.normal_weight'", "must be >= 0"),
        (("n = 64", "n = 64\nsize = 3"), "'measure.size'", "unknown field"),
        (("repeats = 6", "repeat = 6"), "'repeat'", "unknown field"),
        (('"mc", "ucv", "rqmc-spiral"', '"mc", "zzz"'), "'estimators'", "unknown estimator 'zzz'"),
        (('estimators = ["mc", "ucv", "rqmc-spiral"]', 'estimators = ["ucv"]\nbaseline = "mc"'), "'baseline'",
         "must be one of the study's estimators"),
        (('["circle", "square"]', '["circle", "nosuch"]'), "'pairs'", "neither a built-in shape nor a readable file"),
        (('["circle", "square"]', '["sphere", "torus"]'), "'pairs'", "appears more than once"),
        (('["circle", "square"]', '["circle"]'), "'pairs'", "entry 1 must be [source, target]"),
        (('["circle", "square"]', '["circle", "sphere"]'), "'pairs'", "same dimension"),
        (('pairs = [["sphere", "torus"], ["circle", "square"]]', ""), "'pairs'", "is required"),
        (('pairs = [["sphere", "torus"], ["circle", "square"]]', 'pairs = [["circle", "square"]]'), "'estimators'",
         "no pair of the study is"),
    ],
)
def test_a_bad_config_names_the_field_and_the_problem(edit, field, problem):
    text = CONFIG.replace(*edit)
    assert text != CONFIG
    with pytest.raises(swviz.InputError) as err:
        batch.plan_study(batch.parse_config(text))
    assert f"field {field}" in str(err.value) and problem in str(err.value)


def test_not_toml_and_missing_files_are_clear():
    with pytest.raises(swviz.InputError, match="not valid TOML"):
        batch.parse_config("pairs = [[")
    with pytest.raises(swviz.InputError, match="not a readable file"):
        batch.load_config("/nonexistent/study.toml")


def test_the_toml_written_for_a_config_reads_back_to_it(cfg):
    assert batch.parse_config(batch.config_to_toml(cfg)) == cfg
    lib = batch.parse_config('pairs = "library"\nname = "a \\"quoted\\" name"\np = 1.5\n')
    assert lib.pairs == batch.LIBRARY_PAIRS and batch.parse_config(batch.config_to_toml(lib)) == lib


def test_yaml_configs_read_like_toml(cfg):
    pytest.importorskip("yaml")
    text = ("name: test\nseed: 7\npairs: [[sphere, torus], [circle, square]]\nestimators: [mc, ucv, rqmc-spiral]\n"
            "L: [16, 32]\nrepeats: 6\nchunk: 4\nmeasure: {n: 64}\n")
    assert batch.parse_config(text, fmt="yaml") == cfg


# --------------------------------------------------------------------------- command line


def test_cli_help_names_the_runners_and_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["study", "--help"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    for word in ("--workers", "--scheduler", "--out", "--chunk", "Exit status", "130"):
        assert word in out


def test_cli_writes_the_tables_config_and_versions(tmp_path, local, capsys):
    (tmp_path / "s.toml").write_text(CONFIG)
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--quiet", "--chunk", "5"]) == 0
    out = tmp_path / "out"
    _same(local.table, pd.read_parquet(out / "results.parquet"))
    csv = pd.read_csv(out / "results.csv")
    assert np.array_equal(csv["value"].to_numpy(), local.table["value"].to_numpy())  # CSV round-trips floats
    meta = json.loads((out / "study.json").read_text())
    assert meta["seed"] == 7 and meta["versions"]["numpy"] == np.__version__ and meta["config"]["L"] == [16, 32]
    # the written config reproduces the run: its chunking (from --chunk) included
    assert batch.load_config(out / "study.toml") == replace(batch.parse_config(CONFIG), chunk=5, base_dir=str(out))
    assert "skipped: circle / square, estimator rqmc-spiral" in capsys.readouterr().err


def test_cli_exit_codes(tmp_path, boom, capsys):
    (tmp_path / "bad.toml").write_text(CONFIG.replace("repeats = 6", "repeats = 0"))
    assert main(["study", str(tmp_path / "bad.toml")]) == 2
    assert "field 'repeats'" in capsys.readouterr().err
    assert main(["study", str(tmp_path / "missing.toml")]) == 2
    with pytest.raises(SystemExit) as ex:
        main(["study", str(tmp_path / "bad.toml"), "--workers", "2", "--scheduler", "tcp://x:1"])
    assert ex.value.code == 2
    assert main(["study", str(tmp_path / "bad.toml"), "--workers", "0"]) == 2
    (tmp_path / "boom.toml").write_text(CONFIG.replace('"rqmc-spiral"', '"boom"'))
    assert main(["study", str(tmp_path / "boom.toml"), "--out", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "failed: sphere / torus, estimator boom, L = 32, repeats 0-3: RuntimeError: boom at L = 32" in err
    assert len(pd.read_csv(tmp_path / "o" / "failures.csv")) == 4


def test_cli_reports_an_unreachable_scheduler(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(CONFIG)
    assert main(["study", str(tmp_path / "s.toml"), "--scheduler", "tcp://127.0.0.1:9", "-q"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_a_malformed_scheduler_address_is_an_input_error():
    with pytest.raises(swviz.InputError, match="not a Dask scheduler address"):
        batch.connect(scheduler="http://nowhere:1")


def test_the_pair_table_has_one_row_per_pair_and_a_vrf_and_rmse_per_estimator_and_L(local, cfg):
    table = batch.pair_table(local.summary(), local.references)
    assert list(table.index) == ["sphere / torus", "circle / square"]
    assert table.columns[0] == "reference" and len(table.columns) == 1 + 2 * 3 * 2
    assert (table[["mc @ L=16 · VRF", "mc @ L=32 · VRF"]] == 1.0).all().all()
    assert np.isnan(table.loc["circle / square", "rqmc-spiral @ L=16 · VRF"])  # skipped there (3D only)
    t = local.table
    ucv = t[(t.pair == "sphere / torus") & (t.estimator == "ucv") & (t.L == 32)]
    mc = t[(t.pair == "sphere / torus") & (t.estimator == "mc") & (t.L == 32)]
    assert table.loc["sphere / torus", "ucv @ L=32 · VRF"] == pytest.approx(mc["value"].var() / ucv["value"].var())
    assert table.loc["sphere / torus", "ucv @ L=32 · RMSE"] == pytest.approx(np.sqrt((ucv["error"] ** 2).mean()))
    # a plan already built runs as its config does
    _same(local.table, batch.run_study(batch.plan_study(cfg, chunk=2)).table)


def test_local_workers_keep_freed_memory_as_in_process(client):
    """Dask's default MALLOC_TRIM_THRESHOLD_=65536 made each task 2 to 3x slower; connect() sets both thresholds."""
    for var in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        got = client.run(os.environ.get, var)
        assert set(got.values()) == {str(batch.WORKER_MALLOC_THRESHOLD)} and len(got) == 2, var
