"""View archives: exact round trip of measures, shapes and settings; clear errors for bad archives."""

import io
import json
import zipfile

import numpy as np
import pytest

from swviz import InputError
from swviz.view import MAX_VIEW_BYTES, VIEW_VERSION, View, ViewSide, view_from_zip, view_to_zip


def _view():
    rng = np.random.default_rng(0)
    w = rng.random(40)
    src = ViewSide("sphere", rng.normal(size=(40, 3)), w / w.sum())
    verts = rng.normal(size=(12, 3))
    faces = rng.integers(0, 12, size=(20, 3))
    tgt = ViewSide("cow.obj", rng.normal(size=(30, 3)), None, verts, faces)
    return View("home", {"src": "sphere", "tgt": "@" + "a" * 24, "L": "100", "est": "ucv"}, src, tgt)


def _rezip(data: bytes, replace: dict) -> bytes:
    """The archive with some members replaced (None drops a member)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            if name in replace:
                if replace[name] is not None:
                    zout.writestr(name, replace[name])
            else:
                zout.writestr(name, zin.read(name))
        for name, value in replace.items():
            if name not in zin.namelist() and value is not None:
                zout.writestr(name, value)
    return out.getvalue()


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def test_round_trip_is_exact():
    view = _view()
    back = view_from_zip(view_to_zip(view))
    assert back.page == "home" and back.settings == view.settings
    for a, b in ((view.source, back.source), (view.target, back.target)):
        assert a.name == b.name
        np.testing.assert_array_equal(a.points, b.points)
        assert (a.weights is None) == (b.weights is None)
        if a.weights is not None:
            np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(back.target.vertices, view.target.vertices)
    np.testing.assert_array_equal(back.target.faces, view.target.faces)
    assert back.source.vertices is None and back.source.faces is None


def test_archive_is_small():
    assert len(view_to_zip(_view())) < 8000  # 70 points, 12 vertices: a few kB


@pytest.mark.parametrize("junk", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_not_a_zip(junk):
    with pytest.raises(InputError, match="not a view archive"):
        view_from_zip(junk)


def test_wrong_version_is_named():
    data = view_to_zip(_view())
    meta = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("view.json"))
    meta["swviz_view"] = VIEW_VERSION + 1
    with pytest.raises(InputError, match=f"version {VIEW_VERSION + 1}.*reads version {VIEW_VERSION}"):
        view_from_zip(_rezip(data, {"view.json": json.dumps(meta)}))
    del meta["swviz_view"]
    with pytest.raises(InputError, match="does not describe a swviz view"):
        view_from_zip(_rezip(data, {"view.json": json.dumps(meta)}))


@pytest.mark.parametrize("member, content, message", [
    ("view.json", None, "no view.json"),
    ("view.json", "{not json", "not valid JSON"),
    ("source_points.npy", None, "no source_points.npy"),
    ("source_points.npy", b"garbage", "not a readable NumPy array"),
    ("source_points.npy", _npy(np.array([{"a": 1}], dtype=object)), "pickled"),
    ("source_points.npy", _npy(np.array([[1.0, np.nan, 0.0]] * 40)), "NaN or infinite"),
    ("source_points.npy", _npy(np.zeros(40)), "expected \\(n, d\\)"),
    ("source_points.npy", _npy(np.array([["a", "b", "c"]] * 40)), "expected real numbers"),
    ("source_weights.npy", _npy(np.full(40, 1.0)), "sum to 1"),
    ("source_weights.npy", _npy(np.full(39, 1 / 39)), "has shape \\(39,\\)"),
    ("target_faces.npy", _npy(np.array([[0, 1, 99]])), "indexes vertices"),
    ("target_faces.npy", _npy(np.array([[0.0, 1.0, 2.0]])), "expected integers"),
    ("target_points.npy", _npy(np.zeros((30, 2))), "3-D but the target's are 2-D"),
])
def test_bad_members_are_named(member, content, message):
    data = _rezip(view_to_zip(_view()), {member: content})
    with pytest.raises(InputError, match=message):
        view_from_zip(data)


def test_settings_must_be_strings():
    data = view_to_zip(_view())
    meta = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("view.json"))
    meta["settings"] = {"L": 5}
    with pytest.raises(InputError, match="settings"):
        view_from_zip(_rezip(data, {"view.json": json.dumps(meta)}))


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("view.json", b" " * (MAX_VIEW_BYTES + 1))
    assert len(buf.getvalue()) < 2**20
    with pytest.raises(InputError, match="decompress"):
        view_from_zip(buf.getvalue())
