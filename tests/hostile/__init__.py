"""Hostile upload files, generated in memory (no binaries in the repository).

``hostile_cases()`` returns :class:`Case` s: a file name, its bytes, the loader caps to use
(empty for the defaults) and words the error message must contain (lower case, any of them).
Every case must make ``swviz.shapes.load_shape`` raise a ``ShapeLoadError`` naming the file.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
from dataclasses import dataclass, field

import numpy as np
import trimesh


@dataclass(frozen=True)
class Case:
    id: str
    filename: str
    data: bytes
    expect: tuple[str, ...]  # the message contains at least one of these (lower case)
    caps: dict = field(default_factory=dict)


def _tetra():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return v, f


def _obj(v, f=None):
    lines = [f"v {' '.join(str(c) for c in row)}" for row in v]
    lines += [f"f {' '.join(str(i + 1) for i in row)}" for row in (f if f is not None else [])]
    return ("\n".join(lines) + "\n").encode()


def _ply_ascii(v, f=None, n_vertex=None, n_face=None):
    f = [] if f is None else f
    head = ["ply", "format ascii 1.0", f"element vertex {len(v) if n_vertex is None else n_vertex}",
            "property float x", "property float y", "property float z"]
    if len(f) or n_face is not None:
        head += [f"element face {len(f) if n_face is None else n_face}", "property list uchar int vertex_indices"]
    head += ["end_header"]
    body = [" ".join(str(c) for c in row) for row in v] + [f"3 {a} {b} {c}" for a, b, c in f]
    return ("\n".join(head + body) + "\n").encode()


def _off(v, f, n_vertex=None, n_face=None):
    lines = ["OFF", f"{len(v) if n_vertex is None else n_vertex} {len(f) if n_face is None else n_face} 0"]
    lines += [" ".join(str(c) for c in row) for row in v] + [f"3 {a} {b} {c}" for a, b, c in f]
    return ("\n".join(lines) + "\n").encode()


def _stl_binary(tris):
    tris = np.asarray(tris, dtype="<f4").reshape(-1, 3, 3)
    rec = np.zeros(len(tris), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tris
    return b"\0" * 80 + struct.pack("<I", len(tris)) + rec.tobytes()


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _glb_with_json(doc: dict) -> bytes:
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    return struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(js)) + struct.pack("<I4s", len(js), b"JSON") + js


def hostile_cases() -> list[Case]:
    rng = np.random.default_rng(2024)
    garbage = rng.integers(0, 256, 700, dtype=np.uint8).tobytes()
    v, f = _tetra()
    good_ply_bin = trimesh.Trimesh(*_tetra(), process=False).export(file_type="ply", encoding="binary")
    good_glb = trimesh.Trimesh(*_tetra(), process=False).export(file_type="glb")
    good_stl = _stl_binary(v[f])
    collinear = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]], float)
    flat_faces = np.array([[0, 1, 2], [1, 2, 3], [0, 0, 1]])
    nan_v = v.copy()
    nan_v[2, 1] = np.nan
    inf_v = v.copy()
    inf_v[1, 0] = np.inf
    cloud = rng.normal(size=(50, 3))
    num = ("nan", "infinite")
    unreadable = ("could not read", "not a", "no vertices", "truncated", "declares")

    cases = [
        # OBJ
        Case("obj-empty", "empty.obj", b"", ("empty",)),
        Case("obj-garbage-bytes", "noise.obj", garbage, unreadable),
        Case("obj-text-garbage", "words.obj", b"hello world\nthis is not a mesh\n", ("no vertices",)),
        Case("obj-png-bytes", "image.obj", b"\x89PNG\r\n\x1a\n" + garbage, unreadable),
        Case("obj-nan", "nan.obj", _obj(nan_v, f), num),
        Case("obj-inf", "inf.obj", _obj(inf_v, f), num),
        Case("obj-face-out-of-range", "badface.obj", _obj(v, [[0, 1, 9]]), ("index", "vertex", "could not read")),
        Case("obj-zero-area", "flat.obj", _obj(collinear, flat_faces), ("zero area",)),
        Case("obj-one-point", "one.obj", b"v 1 2 3\n", ("only 1 point",)),
        Case("obj-faces-only", "faces.obj", b"f 1 2 3\nf 2 3 4\n", ("could not read", "no vertices")),
        Case("obj-huge-coords", "huge.obj", _obj(v * 1e300, f), ("too large", "overflow")),
        Case("obj-truncated", "cut.obj", _obj(v, f)[:-9] + b"9999", ("index", "vertex", "could not read")),
        # PLY
        Case("ply-empty", "empty.ply", b"", ("empty",)),
        Case("ply-garbage", "noise.ply", garbage, ("not a ply",)),
        Case("ply-truncated-binary", "cut.ply", good_ply_bin[: len(good_ply_bin) - 30], unreadable),
        Case("ply-nan", "nan.ply", _ply_ascii(nan_v, f), num),
        Case("ply-face-out-of-range", "badface.ply", _ply_ascii(v, [[0, 1, 7]]), ("refers to vertex", "index")),
        Case("ply-over-vertex-cap", "giant.ply", _ply_ascii(v, f, n_vertex=10**9), ("declares", "limit")),
        Case("ply-text-in-binary", "text.ply",
             good_ply_bin[: good_ply_bin.index(b"end_header") + 11] + b"0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n",
             unreadable),
        Case("ply-zero-area", "flat.ply", _ply_ascii(collinear, flat_faces), ("zero area",)),
        Case("ply-one-point", "one.ply", _ply_ascii(np.array([[1.0, 2.0, 3.0]])), ("only 1 point",)),
        Case("ply-no-end-header", "header.ply", b"ply\nformat ascii 1.0\nelement vertex 3\n", ("not a ply",)),
        # STL
        Case("stl-empty", "empty.stl", b"", ("empty",)),
        Case("stl-garbage", "noise.stl", garbage, unreadable),
        Case("stl-truncated", "cut.stl", good_stl[:-20], ("truncated",)),
        Case("stl-ascii-garbage", "words.stl", b"solid thing\n this is not a facet\nendsolid\n", unreadable),
        Case("stl-zero-area", "flat.stl", _stl_binary(collinear[flat_faces]), ("zero area",)),
        Case("stl-nan", "nan.stl", _stl_binary(nan_v[f]), num),
        Case("stl-over-face-cap", "giant.stl", good_stl[:80] + struct.pack("<I", 10**8) + good_stl[84:],
             ("declares", "limit")),
        # OFF
        Case("off-empty", "empty.off", b"", ("empty",)),
        Case("off-garbage", "noise.off", b"OFF\nthis is not numbers\n", unreadable + ("header",)),
        Case("off-no-magic", "nomagic.off", b"4 4 0\n0 0 0\n", ("not an off",)),
        Case("off-truncated", "cut.off", _off(v, f)[:40], unreadable),
        Case("off-face-out-of-range", "badface.off", _off(v, [[0, 1, 8]]), ("refers to vertex", "index", "could not")),
        Case("off-nan", "nan.off", _off(nan_v, f), num),
        Case("off-over-cap", "giant.off", _off(v, f, n_vertex=5 * 10**9), ("declares", "limit")),
        # GLB
        Case("glb-empty", "empty.glb", b"", ("empty",)),
        Case("glb-garbage", "noise.glb", garbage, unreadable),
        Case("glb-truncated", "cut.glb", good_glb[: len(good_glb) // 2], unreadable),
        Case("glb-bad-json", "json.glb", struct.pack("<4sII", b"glTF", 2, 32) + struct.pack("<I4s", 12, b"JSON")
             + b"{not json}  ", unreadable),
        Case("glb-text-gltf", "text.glb", json.dumps({"asset": {"version": "2.0"}}).encode(), unreadable),
        Case("glb-no-meshes", "nomesh.glb", _glb_with_json({"asset": {"version": "2.0"}, "scenes": [{"nodes": []}],
                                                            "scene": 0}), unreadable),
        # point clouds: CSV / TXT / XYZ
        Case("csv-empty", "empty.csv", b"", ("empty",)),
        Case("csv-words", "words.csv", b"a,b,c\nd,e,f\ng,h,i\n", ("could not read",)),
        Case("csv-four-columns", "four.csv", b"1,2,3,4\n5,6,7,8\n9,1,2,3\n", ("columns",)),
        Case("csv-ragged", "ragged.csv", b"1,2,3\n4,5\n6,7,8\n", ("could not read",)),
        Case("csv-nan", "nan.csv", b"x,y,z\n1,2,3\nnan,1,2\n3,4,5\n", num),
        Case("csv-header-only", "header.csv", b"x,y,z\n", ("header",)),
        Case("xyz-one-point", "one.xyz", b"1 2 3\n", ("only 1 point",)),
        Case("xyz-same-point", "same.xyz", b"1 2 3\n1 2 3\n1 2 3\n1 2 3\n", ("same point",)),
        Case("xyz-inf", "inf.xyz", b"1 2 3\n1e999 2 3\n4 5 6\n", num),
        Case("txt-binary", "binary.txt", b"\x00\x01\x02" + garbage, ("not a text file",)),
        Case("txt-latin1", "latin.txt", "1 2 3\n4 5 6\nœ\n".encode("cp1252"), ("utf-8",)),
        # NPY
        Case("npy-empty", "empty.npy", b"", ("empty",)),
        Case("npy-pickled-object-array", "objects.npy", _npy(np.array([{"a": 1}, None], dtype=object)), ("pickled",)),
        Case("npy-raw-pickle", "pickle.npy", pickle.dumps(np.zeros((3, 3))), ("not a numpy",)),
        Case("npy-text", "text.npy", b"1 2 3\n4 5 6\n", ("not a numpy",)),
        Case("npy-four-columns", "four.npy", _npy(np.zeros((5, 4))), ("shape",)),
        Case("npy-1d", "flat.npy", _npy(np.zeros(9)), ("shape",)),
        Case("npy-truncated", "cut.npy", _npy(cloud)[:-100], ("truncated",)),
        Case("npy-nan", "nan.npy", _npy(np.array([[0, 0, 0], [1, np.nan, 0], [0, 1, 0]], float)), num),
        Case("npy-complex", "complex.npy", _npy(cloud.astype(complex)), ("dtype",)),
        Case("npy-strings", "strings.npy", _npy(np.array([["a", "b", "c"]] * 4)), ("dtype",)),
        Case("npy-huge-header", "giant.npy", _npy_header((10**11, 3)) + cloud.tobytes(), ("declares", "limit")),
        # names and caps
        Case("unsupported-extension", "mesh.exe", _obj(v, f), ("unsupported",)),
        Case("no-extension", "mesh", _obj(v, f), ("unsupported",)),
        Case("over-byte-cap", "big.obj", _obj(v, f), ("limit",), {"max_bytes": 40}),
        Case("over-vertex-cap", "many.xyz", "\n".join(" ".join(map(str, p)) for p in cloud).encode(), ("limit",),
             {"max_vertices": 20}),
        Case("over-face-cap", "faces.ply", _ply_ascii(v, f), ("limit",), {"max_faces": 2}),
    ]
    return cases
