"""Variance studies: the table, the shared pools, and the statistics every estimator must pass.

The statistical tests run through `variance_study` itself (one slicing call per pool for all
repeats), with fixed seeds, so they are fast and never flake.
"""

import numpy as np
import pandas as pd
import pytest

import swviz
from swviz.shapes import sample_shape
from swviz.slices import sliced_wpp
from swviz.study import COLUMNS, _repeat_rngs

RANDOM = [n for n in swviz.ESTIMATORS if swviz.get_estimator(n).random]


def _centred(z):
    return z - z.mean(0)


def _pairs():
    """Several pairs: centred smooth 3D, far apart 3D, weighted of unequal sizes 3D, and 2D."""
    rng = np.random.default_rng(0)
    ellipsoids = (_centred(sample_shape("sphere", 160, 0) * [2.0, 1.0, 0.5]),
                  _centred(sample_shape("sphere", 160, 1) * [0.5, 1.0, 1.5]), None, None)
    far = (sample_shape("torus", 160, 1), sample_shape("sphere", 160, 2) * 0.8 + [4.0, 0.5, -0.5], None, None)
    wa, wb = rng.random(150) + 0.2, rng.random(110) + 0.2
    weighted = (sample_shape("cube", 150, 3), sample_shape("gaussian blobs", 110, 4) * 0.6, wa / wa.sum(),
                wb / wb.sum())
    flat = (sample_shape("two moons", 140, 5), sample_shape("square", 120, 6) * 0.7 + [0.3, 0.1], None, None)
    return {"centred ellipsoids": ellipsoids, "far apart": far, "weighted": weighted, "2D": flat}


PAIRS = _pairs()


@pytest.fixture(scope="module")
def reference():
    cache = {}

    def get(name, p=2):
        if (name, p) not in cache:
            x, y, a, b = PAIRS[name]
            N = 4096 * 8 if x.shape[1] == 2 else 100_000
            cache[name, p] = swviz.reference_sw(x, y, a, b, p=p, n_projections=N)
        return cache[name, p]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name,p", [("centred ellipsoids", 2), ("far apart", 2), ("weighted", 2), ("2D", 2),
                                    ("far apart", 1)])
def test_every_random_estimator_is_unbiased_over_200_seeds(reference, name, p):
    x, y, a, b = PAIRS[name]
    d = x.shape[1]
    names = [n for n in RANDOM if swviz.get_estimator(n).dims is None or d in swviz.get_estimator(n).dims]
    ref = reference(name, p)
    df = swviz.variance_study(x, y, a, b, estimators=names, L_grid=[64], n_repeats=200, p=p, seed=1, reference=ref)
    assert set(df["estimator"]) == set(names) and (df["n_repeats"] == 200).all()
    for _, row in df.iterrows():
        se = row["std"] / np.sqrt(row["n_repeats"])
        assert abs(row["bias"]) <= 3 * se + 3 * ref.stderr + 1e-13, (row["estimator"], row["bias"], se)


@pytest.fixture(scope="module")
def centred_study(reference):
    x, y, _, _ = PAIRS["centred ellipsoids"]
    return swviz.variance_study(x, y, estimators=["mc", "lcv", "ucv", "rqmc-spiral"], L_grid=[100], n_repeats=200,
                                seed=2, reference=reference("centred ellipsoids"))


def test_randomised_spiral_cuts_mc_variance_a_hundredfold(centred_study):
    table = swviz.reduction_table(centred_study)
    assert table.loc[100, "RQMC spiral"] >= 100


def test_upper_cv_beats_lower_cv_on_a_centred_pair(centred_study):
    std = centred_study.set_index("estimator")["std"]
    assert std["ucv"] ** 2 * 1.3 < std["lcv"] ** 2
    # both clouds centred: C_low is identically 0 and the lower CV falls back to plain MC
    assert std["lcv"] == pytest.approx(std["mc"], rel=1e-12)


def test_both_cvs_are_tenfold_better_than_mc_when_means_are_far_apart(reference):
    x, y, _, _ = PAIRS["far apart"]
    width = max(np.ptp(x, axis=0).max(), np.ptp(y, axis=0).max())
    assert np.linalg.norm(x.mean(0) - y.mean(0)) > width
    df = swviz.variance_study(x, y, estimators=["mc", "lcv", "ucv"], L_grid=[100], n_repeats=200, seed=3,
                              reference=reference("far apart"))
    table = swviz.reduction_table(df)
    assert table.loc[100, "Lower CV"] >= 10 and table.loc[100, "Upper CV"] >= 10


@pytest.mark.parametrize("d", [2, 3])
def test_a_translate_makes_every_slice_a_square_and_the_cvs_exact(d):
    x = np.random.default_rng(4).normal(size=(90, d))
    shift = np.linspace(0.5, 1.5, d)
    th = swviz.directions.uniform(25, d, np.random.default_rng(5))
    np.testing.assert_allclose(sliced_wpp(x, x + shift, th), (th @ shift) ** 2, rtol=1e-10)
    exact = shift @ shift / d
    names = ["lcv", "shcv-2", "shcv-4"] + (["rqmc-spiral+lcv", "rqmc-spiral+shcv-4"] if d == 3 else [])
    df = swviz.variance_study(x, x + shift, estimators=names, L_grid=[20, 40], n_repeats=5, reference=exact)
    assert df["rmse"].max() < 1e-12 * exact


def test_a_degenerate_direction_set_is_reported_not_fitted():
    # the spiral of 16 points cannot separate the 14 harmonics of degree <= 4 from the intercept
    x = np.random.default_rng(9).normal(size=(40, 3))
    with pytest.raises(swviz.InputError, match="do not determine"):
        swviz.sliced_wasserstein(x, x + 1, estimator="rqmc-spiral+shcv-4", n_projections=16, seed=0)
    df = swviz.variance_study(x, x + 1, estimators=["rqmc-spiral+shcv-4"], L_grid=[16, 17], n_repeats=3,
                              reference=1.0)
    assert "do not determine" in df.iloc[0]["note"] and df.iloc[1]["note"] == ""


def test_the_table_has_its_columns_and_one_row_per_estimator_and_L():
    x, y = sample_shape("torus", 64, 0), sample_shape("cube", 64, 1)
    df = swviz.variance_study(x, y, estimators=["mc", "qmc-spiral", "shcv-4"], L_grid=[20, 10, 20, 40],
                              n_repeats=6, reference=0.1)
    assert list(df.columns) == COLUMNS
    assert df[["estimator", "L"]].values.tolist() == [[e, L] for L in (10, 20, 40)
                                                      for e in ("mc", "qmc-spiral", "shcv-4")]
    det = df[df["estimator"] == "qmc-spiral"]
    assert (det["std"] == 0).all() and (det["n_repeats"] == 1).all()
    np.testing.assert_allclose(det["rmse"], np.abs(det["bias"]))
    for L, row in det.set_index("L").iterrows():
        value = swviz.sliced_wasserstein(x, y, estimator="qmc-spiral", n_projections=L).value
        assert row["mean"] == pytest.approx(value, rel=1e-12)
    # SHCV of degree 4 needs 16 directions: the L = 10 row is empty and says why
    skipped = df[(df["estimator"] == "shcv-4") & (df["L"] == 10)].iloc[0]
    assert np.isnan(skipped["mean"]) and "n_projections >= 16" in skipped["note"]
    assert (df[df["L"] > 10]["note"] == "").all()
    assert (df.loc[df["n_repeats"] > 0, "seconds"] > 0).all()
    assert df.attrs["reference"] == 0.1


def test_the_study_reproduces_a_naive_loop_with_its_seeds():
    x, y = sample_shape("sphere", 80, 0), sample_shape("torus", 70, 1)
    L, R = 24, 5
    df = swviz.variance_study(x, y, estimators=["mc", "ucv", "rqmc-spiral"], L_grid=[8, L], n_repeats=R, seed=7,
                              reference=0.0).set_index(["estimator", "L"])
    for name in ("mc", "ucv", "rqmc-spiral"):
        rngs = _repeat_rngs(swviz.get_estimator(name).pool, 7, R)
        if name == "rqmc-spiral":  # non-nested: each L draws afresh, so L = 8 came first
            for rng in rngs:
                swviz.get_estimator(name).directions(8, 3, rng)
        values = [swviz.sliced_wasserstein(x, y, estimator=name, n_projections=L, seed=rng).value for rng in rngs]
        assert df.loc[(name, L), "mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert df.loc[(name, L), "std"] == pytest.approx(np.std(values, ddof=1), rel=1e-9)


def test_an_estimator_does_not_depend_on_its_company_and_seeds_reproduce():
    x, y = sample_shape("sphere", 60, 0), sample_shape("cube", 60, 1)
    alone = swviz.variance_study(x, y, estimators=["ucv"], L_grid=[12, 30], n_repeats=8, seed=3, reference=0.2)
    crowd = swviz.variance_study(x, y, estimators=["rqmc-spiral", "mc", "ucv"], L_grid=[12, 30], n_repeats=8,
                                 seed=3, reference=0.2)
    other = swviz.variance_study(x, y, estimators=["ucv"], L_grid=[12, 30], n_repeats=8, seed=4, reference=0.2)
    cols = ["mean", "std", "rmse"]
    pd.testing.assert_frame_equal(alone[cols].reset_index(drop=True),
                                  crowd[crowd["estimator"] == "ucv"][cols].reset_index(drop=True))
    assert not np.allclose(alone["mean"], other["mean"])


def test_progress_reports_growing_partial_tables():
    x, y = sample_shape("sphere", 50, 0), sample_shape("torus", 50, 1)
    seen = []
    df = swviz.variance_study(x, y, estimators=["mc", "rqmc-spiral"], L_grid=[4, 8, 16], n_repeats=4,
                              progress=lambda f, frame: seen.append((f, len(frame))))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [n for _, n in seen] == [0, 2, 4, 6] and len(df) == 6
    assert df.attrs["reference_method"].startswith("quadrature")


def test_bad_studies_fail_with_clear_messages():
    x, y = sample_shape("circle", 30, 0), sample_shape("square", 30, 1)
    with pytest.raises(swviz.InputError, match="valid estimators"):
        swviz.variance_study(x, y, estimators=["nope"], L_grid=[4], n_repeats=2)
    with pytest.raises(swviz.InputError, match="only in dimension 3"):
        swviz.variance_study(x, y, estimators=["mc", "rqmc-spiral"], L_grid=[4], n_repeats=2)
    with pytest.raises(swviz.InputError, match="L_grid is empty"):
        swviz.variance_study(x, y, estimators=["mc"], L_grid=[], n_repeats=2)
    with pytest.raises(swviz.InputError, match="keep it under"):
        swviz.variance_study(x, y, estimators=["mc"], L_grid=[10**6], n_repeats=100)
    with pytest.raises(swviz.InputError, match="n_repeats"):
        swviz.variance_study(x, y, estimators=["mc"], L_grid=[4], n_repeats=0)
    with pytest.raises(swviz.InputError, match="reference"):
        swviz.variance_study(x, y, estimators=["mc"], L_grid=[4], n_repeats=2, reference="big")


def test_reduction_table_divides_the_right_quantities():
    frame = pd.DataFrame({
        "estimator": ["mc", "ucv", "qmc-spiral"], "label": ["MC", "Upper CV", "QMC spiral"], "L": [10, 10, 10],
        "std": [2.0, 0.5, 0.0], "rmse": [2.0, 0.5, 0.1], "random": [True, True, False]})
    t = swviz.reduction_table(frame)
    assert t.loc[10, "Upper CV"] == pytest.approx(16) and t.loc[10, "QMC spiral"] == pytest.approx(400)
    assert np.isinf(swviz.reduction_table(frame, metric="variance").loc[10, "QMC spiral"])
    with pytest.raises(swviz.InputError, match="no 'lcv' rows"):
        swviz.reduction_table(frame, baseline="lcv")


@pytest.mark.parametrize("weighted", [False, True])
def test_explain_slice_is_the_same_one_dimensional_problem(weighted):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) * 0.5 + 1.0
    a = rng.random(40) if weighted else None
    b = rng.random(30) if weighted else None
    a = a / a.sum() if weighted else None
    b = b / b.sum() if weighted else None
    theta = np.array([1.0, 2.0, -0.5])
    v = swviz.explain_slice(x, y, a, b, theta)
    unit = theta / np.linalg.norm(theta)
    assert v.value == pytest.approx(sliced_wpp(x, y, unit[None], a, b)[0], rel=1e-12)
    assert v.q[-1] == pytest.approx(1.0) and np.all(np.diff(v.q) > 0) and v.mass.sum() == pytest.approx(1.0)
    assert np.all(np.diff(v.x_quantile) >= 0) and np.all(np.diff(v.y_quantile) >= 0)
    assert v.c_low <= v.value <= v.c_up
    with pytest.raises(swviz.InputError, match="theta"):
        swviz.explain_slice(x, y, theta=np.zeros(3))
