"""A whole view in one small archive: both measures and every setting, as NPY arrays and JSON.

:func:`view_to_zip` writes a :class:`View` as a ``.zip`` holding ``view.json`` (the format
version, the page, its settings as the URL's key/value strings, and what each side is) and,
per side, ``{side}_points.npy`` and ``{side}_weights.npy`` (the measure), plus
``{side}_vertices.npy`` and ``{side}_faces.npy`` (the shape before normalisation) for a side
that is not rebuilt from the library by name, such as an upload. :func:`view_from_zip` reads
one back and checks everything on the way: a file that is not a zip, a missing or malformed
``view.json``, another format version, arrays that are pickled, of the wrong shape, not
finite, weights that are negative or do not sum to one, faces that point outside the vertices
are each an :class:`~swviz.InputError` whose message names the problem. Members are read by
fixed names only (a member's name is never used as a path), and sizes are capped before
anything is decompressed.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np

from ._validation import InputError

__all__ = ["MAX_VIEW_BYTES", "VIEW_VERSION", "View", "ViewError", "ViewSide", "view_from_zip", "view_to_zip"]

#: The archive format written by :func:`view_to_zip`; :func:`view_from_zip` reads this one only.
VIEW_VERSION = 1
#: Cap on the archive and on the total size of its decompressed members, in bytes.
MAX_VIEW_BYTES = 256 * 2**20
SIDES = ("source", "target")


class ViewError(InputError):
    """A view archive that cannot be read (a ``ValueError`` subclass)."""


@dataclass(frozen=True)
class ViewSide:
    """One side of a view.

    name : str
        The shape's name as shown ("sphere", "cow.obj").
    points : (n, d) float
        The measure's atoms.
    weights : (n,) float summing to 1, or None for uniform
    vertices : (k, e) float or None, e in {2, 3}
        The shape before normalisation, for a side the library cannot rebuild by name.
    faces : (f, 3) int or None
        Its triangles (None for a point cloud, or when ``vertices`` is None).
    """

    name: str
    points: np.ndarray
    weights: np.ndarray | None = None
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None


@dataclass(frozen=True)
class View:
    """What a page showed: its name, its settings (URL key -> value) and both measures."""

    page: str
    settings: dict
    source: ViewSide
    target: ViewSide


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def view_to_zip(view: View) -> bytes:
    """The bytes of a ``.zip`` archive holding ``view`` (deflate-compressed NPY and JSON)."""
    if not isinstance(view.settings, dict) or not all(isinstance(k, str) for k in view.settings):
        raise ViewError("settings must be a dict with string keys")
    meta = {"swviz_view": VIEW_VERSION, "page": str(view.page),
            "settings": {k: str(v) for k, v in view.settings.items()}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for side in SIDES:
            s: ViewSide = getattr(view, side)
            pts = np.asarray(s.points, dtype=np.float64)
            meta[side] = {"name": str(s.name), "n": int(pts.shape[0]), "dim": int(pts.shape[1]),
                          "weights": s.weights is not None, "shape": s.vertices is not None,
                          "mesh": s.faces is not None}
            zf.writestr(f"{side}_points.npy", _npy(pts))
            if s.weights is not None:
                zf.writestr(f"{side}_weights.npy", _npy(np.asarray(s.weights, dtype=np.float64)))
            if s.vertices is not None:
                zf.writestr(f"{side}_vertices.npy", _npy(np.asarray(s.vertices, dtype=np.float64)))
                if s.faces is not None:
                    zf.writestr(f"{side}_faces.npy", _npy(np.asarray(s.faces, dtype=np.int64)))
        zf.writestr("view.json", json.dumps(meta, indent=1))
    return buf.getvalue()


def _member(zf: zipfile.ZipFile, name: str, budget: list[int]) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ViewError(f"the archive has no {name}") from None
    if info.file_size > budget[0]:
        raise ViewError(f"{name} would decompress to {info.file_size:,} bytes; the limit is {MAX_VIEW_BYTES:,}")
    try:
        with zf.open(info) as f:
            data = f.read(budget[0] + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ViewError(f"{name} is damaged in the archive: {exc}") from None
    if len(data) > budget[0]:
        raise ViewError(f"the archive decompresses to more than {MAX_VIEW_BYTES:,} bytes")
    budget[0] -= len(data)
    return data


def _array(zf, name, budget, kind: str) -> np.ndarray:
    raw = _member(zf, name, budget)
    if not raw.startswith(b"\x93NUMPY"):
        raise ViewError(f"{name} is not a readable NumPy array (no .npy header)")
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ViewError(f"{name} holds Python objects (pickled); a view holds plain numeric arrays") from None
        raise ViewError(f"{name} is not a readable NumPy array: {str(exc).splitlines()[0][:160]}") from None
    except Exception as exc:  # noqa: BLE001 - np.load raises several kinds on garbage
        raise ViewError(f"{name} is not a readable NumPy array ({type(exc).__name__})") from None
    if not isinstance(arr, np.ndarray):
        raise ViewError(f"{name} is not a NumPy array")
    want = np.integer if kind == "int" else np.number
    if not np.issubdtype(arr.dtype, want) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ViewError(f"{name} has dtype {arr.dtype}; expected {'integers' if kind == 'int' else 'real numbers'}")
    if kind == "int":
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ViewError(f"{name} holds {int(np.count_nonzero(~np.isfinite(arr)))} NaN or infinite value(s)")
    return arr


def _side(zf, meta: dict, side: str, budget) -> ViewSide:
    info = meta.get(side)
    if not isinstance(info, dict):
        raise ViewError(f"view.json has no {side!r} entry")
    name = info.get("name")
    if not isinstance(name, str):
        raise ViewError(f"view.json: the {side}'s name must be a string")
    pts = _array(zf, f"{side}_points.npy", budget, "float")
    if pts.ndim != 2 or pts.shape[0] == 0 or pts.shape[1] == 0:
        raise ViewError(f"{side}_points.npy has shape {pts.shape}; expected (n, d) with n, d >= 1")
    weights = None
    if info.get("weights"):
        weights = _array(zf, f"{side}_weights.npy", budget, "float")
        if weights.shape != (pts.shape[0],):
            raise ViewError(f"{side}_weights.npy has shape {weights.shape}; the {side} has {pts.shape[0]} points")
        if (weights < 0).any() or not abs(weights.sum() - 1.0) < 1e-6:
            raise ViewError(f"{side}_weights.npy must be non-negative and sum to 1 (sum {weights.sum():.6g}, "
                            f"smallest {weights.min():.3g})")
    vertices = faces = None
    if info.get("shape"):
        vertices = _array(zf, f"{side}_vertices.npy", budget, "float")
        if vertices.ndim != 2 or vertices.shape[1] not in (2, 3) or vertices.shape[0] < 3:
            raise ViewError(f"{side}_vertices.npy has shape {vertices.shape}; expected (k, 3) or (k, 2), k >= 3")
        if info.get("mesh"):
            faces = _array(zf, f"{side}_faces.npy", budget, "int")
            if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
                raise ViewError(f"{side}_faces.npy has shape {faces.shape}; expected (f, 3) with f >= 1")
            if faces.min() < 0 or faces.max() >= vertices.shape[0]:
                raise ViewError(f"{side}_faces.npy indexes vertices {faces.min()}..{faces.max()}; "
                                f"the {side} has {vertices.shape[0]} vertices")
    return ViewSide(name, pts, weights, vertices, faces)


def view_from_zip(data) -> View:
    """The :class:`View` in the bytes of an archive written by :func:`view_to_zip`.

    Raises :class:`ViewError` (a ``ValueError``) naming what is wrong: not a zip, a missing
    member, bad JSON, another format version, bad arrays (pickled, wrong shape, not finite,
    weights not summing to 1, faces out of range), sides of different dimensions.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ViewError(f"expected the archive's bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_VIEW_BYTES:
        raise ViewError(f"the archive is {len(data):,} bytes; the limit is {MAX_VIEW_BYTES:,}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ViewError(f"not a view archive: this file is not a readable zip ({exc})") from None
    budget = [MAX_VIEW_BYTES]
    with zf:
        raw = _member(zf, "view.json", budget)
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ViewError(f"view.json is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or "swviz_view" not in meta:
            raise ViewError("view.json does not describe a swviz view (no 'swviz_view' version field)")
        version = meta["swviz_view"]
        if version != VIEW_VERSION:
            raise ViewError(f"this view archive has format version {version!r}; this swviz reads version "
                            f"{VIEW_VERSION}")
        page, settings = meta.get("page"), meta.get("settings")
        if not isinstance(page, str):
            raise ViewError("view.json: 'page' must be a string")
        if not isinstance(settings, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in settings.items()):
            raise ViewError("view.json: 'settings' must map setting names to strings")
        source, target = (_side(zf, meta, s, budget) for s in SIDES)
    if source.points.shape[1] != target.points.shape[1]:
        raise ViewError(f"the source's points are {source.points.shape[1]}-D but the target's are "
                        f"{target.points.shape[1]}-D")
    return View(page, dict(settings), source, target)
