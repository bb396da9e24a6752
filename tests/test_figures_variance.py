"""Variance and flow figures: log axes labelled by decades, every curve visible, coincidences named."""

import numpy as np
import pandas as pd
import pytest

from swviz.figures import decade_ticks, log_axis
from swviz.figures.flows import w2_figure
from swviz.figures.variance import (
    coincidence_note,
    coincident_groups,
    error_curves_figure,
    error_time_figure,
    estimator_styles,
)


def _frame(curves: dict, Ls=(16, 64, 256, 1024), seconds=None, seconds_median=None) -> pd.DataFrame:
    rows = []
    for name, vals in curves.items():
        for i, (L, v) in enumerate(zip(Ls, vals)):
            rows.append(dict(estimator=name, label=name.upper(), L=L, random=not name.startswith("qmc"), rmse=v, std=v,
                             mean=1.0, bias=0.0, abs_err_q10=v / 2, abs_err_q90=v * 2, n_repeats=20,
                             seconds=(seconds or {}).get(name, [1e-4 * L] * len(Ls))[i],
                             seconds_median=(seconds_median or {}).get(name, [np.nan] * len(Ls))[i]))
    return pd.DataFrame(rows)


def _is_power_of_ten(v: float) -> bool:
    return abs(np.log10(v) - round(np.log10(v))) < 1e-12


def test_decade_ticks_are_powers_of_ten_with_readable_labels():
    vals, text = decade_ticks([3e-6, 0.2])
    assert all(_is_power_of_ten(v) for v in vals) and len(vals) == len(text) >= 5
    assert "10<sup>−6</sup>" in text and "0.1" in text and len(set(text)) == len(text)
    vals, _ = decade_ticks([1e-12, 1e6])  # 19 decades: at most about eight labels
    assert len(vals) <= 10 and all(_is_power_of_ten(v) for v in vals)
    vals, text = decade_ticks([2.3, 40])  # one power inside: 2 and 5 times the powers, labelled in full
    assert {2.0, 5.0, 10.0, 20.0} <= set(vals) and "20" in text
    assert decade_ticks([2.3, 4.1]) == ([], [])  # under a factor 10: plotly's own ticks
    assert decade_ticks([0.0, -1.0, np.nan]) == ([], [])
    assert log_axis([1, 1000])["type"] == "log" and log_axis([1, 1000])["tickvals"] == [1.0, 10.0, 100.0, 1000.0]


def test_error_curves_have_decade_axes_and_distinct_styles():
    frame = _frame({"mc": [1e-2, 5e-3, 2.5e-3, 1.2e-3], "ucv": [1e-3, 5e-4, 2e-4, 1e-4],
                    "qmc-spiral": [5e-3, 5e-4, 5e-5, 5e-6]})
    fig = error_curves_figure(frame)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [16, 64, 256, 1024]
    assert all(_is_power_of_ten(v) for v in fig.layout.yaxis.tickvals)
    curves = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(curves) == 3
    styles = {(t.line.dash, t.marker.symbol) for t in curves}
    assert len({d for d, _ in styles}) == 3 and len({s for _, s in styles}) == 3  # dashes and markers all differ
    assert [t.marker.symbol.endswith("-open") for t in curves] == [False, False, True]  # deterministic set: open
    assert coincidence_note(frame) is None and "<br><sup>" not in fig.layout.title.text


def test_coinciding_curves_stay_visible_and_are_explained():
    same = [1e-2, 5e-3, 2.5e-3, 1.2e-3]
    frame = _frame({"mc": same, "lcv": list(np.array(same) * (1 + 1e-14)), "ucv": same,
                    "shcv-2": [1e-3, 1e-4, 1e-5, 1e-6]})
    assert coincident_groups(frame) == [["mc", "lcv", "ucv"]]
    assert coincident_groups(_frame({"mc": same, "lcv": list(np.array(same) * (1 + 1e-9))})) == []
    note = coincidence_note(frame)
    assert "MC, LCV and UCV" in note and "means" in note and "lower control variate" in note
    for fig in (error_curves_figure(frame), error_time_figure(frame)):
        curves = {t.name: t for t in fig.data if t.mode == "lines+markers"}
        group = [curves[k] for k in ("MC", "LCV", "UCV")]
        assert len({t.line.dash for t in group}) == 3 and len({t.marker.symbol for t in group}) == 3
        widths = [t.line.width for t in group]
        assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]  # the first drawn is widest
        assert "MC, LCV and UCV" in fig.layout.title.text


def test_error_time_uses_the_median_time_when_the_study_has_it():
    rmse = {"mc": [1e-2, 5e-3, 2.5e-3, 1.2e-3]}
    mean_t = {"mc": [1e-4, 5e-5, 4e-4, 8e-4]}  # noisy means double back
    median_t = {"mc": [1e-4, 2e-4, 4e-4, 8e-4]}
    fig = error_time_figure(_frame(rmse, seconds=mean_t, seconds_median=median_t))
    np.testing.assert_allclose(fig.data[0].x, np.array(median_t["mc"]) * 1e3)
    assert "median" in fig.layout.xaxis.title.text
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    fallback = error_time_figure(_frame(rmse, seconds=mean_t))  # no timings: the mean, and the axis says so
    np.testing.assert_allclose(fallback.data[0].x, np.array(mean_t["mc"]) * 1e3)
    assert "mean" in fallback.layout.xaxis.title.text


def test_wall_time_axis_reads_as_decades():
    # the reported case: times from 0.2 ms to 30 ms used to read "2 5 1 2 5 10 2"
    frame = _frame({"mc": [1e-2, 5e-3, 2.5e-3, 1.2e-3]}, seconds={"mc": [2e-4, 1e-3, 6e-3, 3e-2]})
    fig = error_time_figure(frame)
    assert list(fig.layout.xaxis.ticktext) == ["0.1", "1", "10", "100"]


def test_w2_log_axis_labels_do_not_overlap_and_flows_are_distinct():
    steps = np.arange(0, 500, 50)
    w2a = 300 * np.exp(-steps / 60.0) + 1e-3
    fig = w2_figure([("MC", steps, w2a), ("LCV", steps, w2a.copy()), ("UCV", steps, w2a * 0.5)], "exact OT")
    assert fig.layout.yaxis.type == "log"
    vals = list(fig.layout.yaxis.tickvals)
    assert all(_is_power_of_ten(v) for v in vals) and 3 <= len(vals) <= 10
    assert len({t.line.dash for t in fig.data}) == 3 and len({t.marker.symbol for t in fig.data}) == 3
    assert "LCV coincide with MC" in fig.layout.title.text


def test_estimator_styles_are_unique_pairs():
    names = [f"e{i}" for i in range(54)]
    st = estimator_styles(names)
    assert len({(v["dash"], v["symbol"]) for v in st.values()}) == 54


@pytest.mark.slow
def test_a_centred_study_names_lcv_as_mc():
    import swviz

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = rng.standard_normal((200, 3)) * [1.5, 1.0, 0.6]
    x, y = x - x.mean(0), y - y.mean(0)  # both means at the origin: the lower CV is zero
    frame = swviz.variance_study(x, y, estimators=["mc", "lcv"], L_grid=[8, 32], n_repeats=6, seed=0,
                                 reference=1.0, timing=False)
    assert ["mc", "lcv"] in coincident_groups(frame)
    assert "LCV" in error_curves_figure(frame).layout.title.text
