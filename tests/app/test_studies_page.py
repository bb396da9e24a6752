"""AppTest of the Studies page: one row per pair, MC's VRF is 1, the config download reruns the study, Dask."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from swviz import batch
from tests.test_pages_shapes import open_page

SMALL = {"st_pairs": "sphere / torus,circle / square,cone / peanut", "st_est": "mc,lcv,ucv", "st_L": "16,64",
         "st_R": "6", "st_n": "64", "st_seed": "3"}


@pytest.fixture
def downloads(monkeypatch):
    """The bytes behind every download button of the run, by file name (AppTest keeps them in memory)."""
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        if filename is not None and isinstance(path_or_data, (bytes, str)):
            files[filename] = path_or_data.encode() if isinstance(path_or_data, str) else path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return files


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_the_table_has_one_row_per_pair_mc_at_one_and_the_download_reruns_it(downloads):
    at = open_page("studies.py", **SMALL)
    assert not _errors(at), _errors(at)
    table = at.dataframe[0].value
    assert list(table.index) == ["sphere / torus", "circle / square", "cone / peanut"]
    assert list(table.columns) == ["reference"] + [f"{e} @ L={L} · {m}" for e in ("mc", "lcv", "ucv")
                                                   for L in (16, 64) for m in ("VRF", "RMSE")]
    assert (table[["mc @ L=16 · VRF", "mc @ L=64 · VRF"]] == 1.0).all().all()
    vrf = table[[c for c in table.columns if c.endswith("VRF") and not c.startswith("mc")]]
    assert np.isfinite(vrf.to_numpy()).all() and (vrf.to_numpy() > 0).all()
    assert (table[[c for c in table.columns if c.endswith("RMSE")]].to_numpy() > 0).all()
    assert len(at.get("plotly_chart")) == 1
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["y"] == list(table.index) and not any(x.startswith("MC") for x in heat["x"])  # MC is 1 throughout

    toml = downloads["swviz_study.toml"].decode()
    assert at.code[0].value.strip() == toml.strip()  # the page shows what it offers
    cfg = batch.parse_config(toml)
    assert cfg == batch.StudyConfig(pairs=(("sphere", "torus"), ("circle", "square"), ("cone", "peanut")),
                                    estimators=("mc", "lcv", "ucv"), L=(16, 64), repeats=6, seed=3, n=64,
                                    name="library")
    # the downloaded config, run outside the page, gives the page's results to the last digit
    shown = pd.read_csv(io.BytesIO(downloads["swviz_study_results.csv"]))
    again = batch.run_study(cfg).table
    assert len(shown) == len(again) == 3 * 3 * 2 * 6
    assert np.array_equal(shown["value"].to_numpy(), again["value"].to_numpy())
    summary = pd.read_csv(io.BytesIO(downloads["swviz_study_summary.csv"]))
    refs = summary.merge(shown.drop_duplicates("pair")[["pair", "reference"]], on="pair")
    assert np.allclose(table.loc[refs["pair"], "reference"], refs["reference"], rtol=1e-12)
    lcv = summary[(summary.pair == "sphere / torus") & (summary.estimator == "lcv") & (summary.L == 64)]
    assert lcv["vrf"].item() == pytest.approx(table.loc["sphere / torus", "lcv @ L=64 · VRF"], rel=1e-12)


def test_bad_studies_say_what_is_wrong():
    at = open_page("studies.py", **{**SMALL, "st_est": "mc,shcv-4", "st_L": "4,16"})
    assert any("field 'L'" in e and "shcv" in e.lower() for e in _errors(at)), _errors(at)
    assert not at.dataframe
    at = open_page("studies.py", **{**SMALL, "st_pairs": "circle / square", "st_est": "mc,rqmc-spiral"})
    assert any("field 'estimators'" in e and "dimension 3" in e for e in _errors(at)), _errors(at)
    at = open_page("studies.py", **{**SMALL, "st_est": "zzz"})  # nothing usable in the link: a notice, defaults
    assert any("zzz" in w.value for w in at.warning) and at.dataframe


def test_an_unreachable_or_malformed_scheduler_is_a_message():
    at = open_page("studies.py", **{**SMALL, "st_sched": "tcp://127.0.0.1:9"})
    assert any("cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in e for e in _errors(at)), _errors(at)
    assert not at.dataframe
    at = open_page("studies.py", **{**SMALL, "st_sched": "http://nowhere:1"})
    assert any("not a Dask scheduler address" in e for e in _errors(at)), _errors(at)


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def test_a_study_submitted_to_a_scheduler_is_polled_and_gives_the_in_process_table(scheduler, downloads):
    at = open_page("studies.py", **{**SMALL, "st_sched": scheduler})
    assert not _errors(at), _errors(at)
    flight = at.session_state["_studies_run"]
    run = flight["run"]
    assert flight["address"] == scheduler
    deadline = time.monotonic() + 60
    while not run.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.done()
    at.run()  # the poll's rerun: the page collects the finished study
    assert not at.exception and not _errors(at), _errors(at)
    assert "_studies_run" not in at.session_state
    ran = next(m for m in at.metric if m.label == "Ran")
    assert ran.value == "on the cluster"
    shown = pd.read_csv(io.BytesIO(downloads["swviz_study_results.csv"]))
    local = batch.run_study(batch.parse_config(downloads["swviz_study.toml"].decode())).table
    assert np.array_equal(shown["value"].to_numpy(), local["value"].to_numpy())
    assert list(at.dataframe[0].value.index) == ["sphere / torus", "circle / square", "cone / peanut"]
