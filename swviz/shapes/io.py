"""Loading shapes from uploaded bytes, and writing them back out.

:func:`load_shape` reads meshes (OBJ, PLY, STL, OFF, GLB) and point clouds (XYZ, TXT, CSV,
NPY, PLY without faces) from bytes. The file name only chooses the format and the name that
is shown: it is never opened as a path. Indexed formats (OBJ, PLY, OFF, GLB) keep their
vertices exactly as in the file (no merging, no reordering), so two uploads with the same
connectivity correspond vertex to vertex. STL is the exception: it stores every triangle
apart, three corners each, so its corners with bit-identical coordinates are merged into
one vertex, numbered in order of first appearance (see :func:`merge_coincident`); an STL
then gives the same vertices, areas and vertex measures as the same mesh in any other format.

What a loader decided on the user's behalf (a header line skipped, STL corners merged) is
returned in :attr:`Shape.notes <swviz.shapes.shape.Shape.notes>`, one sentence each.
Every failure is a :class:`ShapeLoadError` (a ``ValueError``) whose message says what is
wrong with which file, naming lines by their 1-based number in the file; caps on the file
size and the vertex and face counts are checked before the heavy parsing where the format
declares its counts in a header.
"""

from __future__ import annotations

import hashlib
import io
import re
from types import MappingProxyType

import numpy as np

from .._validation import InputError
from .measures import Measure, to_measure
from .shape import Shape, face_areas

__all__ = [
    "CLOUD_FORMATS",
    "FORMATS",
    "MAX_FACES",
    "MAX_FILE_BYTES",
    "MAX_FILE_MB",
    "MAX_VERTICES",
    "MESH_FORMATS",
    "ShapeLoadError",
    "load_measure",
    "load_shape",
    "merge_coincident",
    "points_to_csv",
    "points_to_npy",
    "shape_to_ply",
]

MAX_FILE_MB = 50  # keep equal to server.maxUploadSize in .streamlit/config.toml
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
MAX_VERTICES = 1_000_000
MAX_FACES = 2_000_000
MAX_COORD = 1e15  # larger coordinates overflow areas and distances

MESH_FORMATS = ("obj", "ply", "stl", "off", "glb")
CLOUD_FORMATS = ("xyz", "txt", "csv", "npy")
FORMATS = MappingProxyType({
    "obj": "Wavefront OBJ mesh",
    "ply": "PLY mesh, or point cloud when it has no faces",
    "stl": "STL mesh (binary or ASCII)",
    "off": "OFF mesh",
    "glb": "binary glTF scene, merged into one mesh",
    "xyz": "point cloud: 3 or 2 numeric columns",
    "txt": "point cloud: 3 or 2 numeric columns",
    "csv": "point cloud: 3 or 2 numeric columns, optional header",
    "npy": "point cloud: NumPy array of shape (n, 3) or (n, 2)",
})


class ShapeLoadError(InputError):
    """A file that cannot be used as a shape (a ``ValueError`` subclass)."""


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MB" if nbytes >= 2**20 // 10 else f"{nbytes:,} bytes"


def display_name(filename) -> str:
    """The last path component of ``filename`` with control characters removed (for messages)."""
    name = re.split(r"[\\/]", str(filename))[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name[:77] + "...") if len(name) > 80 else (name or "unnamed file")


def load_shape(
    data,
    filename: str,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_vertices: int = MAX_VERTICES,
    max_faces: int = MAX_FACES,
) -> Shape:
    """A :class:`Shape` from the bytes of an uploaded file.

    data : bytes
        The file's content.
    filename : str
        Used for its extension (the format) and as the shape's name; never opened.
    max_bytes, max_vertices, max_faces : int
        Caps; a file over any of them is refused with a message giving both numbers.

    Raises :class:`ShapeLoadError` for anything that is not a usable shape: empty or garbage
    files, truncated or inconsistent ones, NaN or infinite coordinates, face indices out of
    range, meshes whose faces all have zero area, fewer than 3 points, pickled NPY arrays.
    """
    name = display_name(filename)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ShapeLoadError(f"{name}: expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in FORMATS:
        raise ShapeLoadError(
            f"{name}: unsupported file type {('.' + ext) if ext else '(no extension)'}; "
            f"supported: {', '.join('.' + e for e in FORMATS)}"
        )
    if len(data) == 0:
        raise ShapeLoadError(f"{name} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ShapeLoadError(f"{name} is {_size(len(data))}; the limit is {_size(max_bytes)}")
    caps = (max_vertices, max_faces)
    notes: list[str] = []
    try:
        vertices, faces = _READERS[ext](data, name, caps, notes)
    except ShapeLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - third-party parsers raise anything on bad bytes
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ShapeLoadError(f"could not read {name} as {ext.upper()}: {detail}") from None
    vertices, faces = _check_geometry(vertices, faces, name, caps)
    if ext == "stl":
        corners = len(vertices)
        vertices, faces = merge_coincident(vertices, faces)
        if len(vertices) < corners:
            notes.append(f"STL stores each triangle apart: its {corners:,} corners were merged into "
                         f"{len(vertices):,} vertices (corners with identical coordinates are one vertex).")
    key = f"upload:{name}:{hashlib.sha1(data).hexdigest()}"  # the name too: it is shown
    return Shape(name, vertices, faces, "upload", key, notes=tuple(notes))


def merge_coincident(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices whose coordinates are bit-for-bit equal; number them by first appearance.

    vertices : (n, 3) float; faces : (m, 3) int. Returns ``(vertices (k, 3) float, faces (m, 3) int)``
    with ``k <= n``, the same triangles (``new_vertices[new_faces] == vertices[faces]``), and
    vertex ``j`` the ``j``-th distinct coordinate met in ``vertices`` (so two files with the same
    triangles in the same order give the same vertex order). ``-0.0`` equals ``0.0``.

    Exact equality, not a tolerance: an STL writer writes a shared corner as the same float32
    each time, so equality finds every shared corner and never merges two distinct vertices,
    whatever the mesh's units. (trimesh's ``merge_vertices`` rounds to 8 decimal places,
    an absolute tolerance: a mesh measured in units near 1e-9 collapses to one vertex.)
    """
    v = np.asarray(vertices, dtype=np.float64) + 0.0  # -0.0 -> 0.0, so both are one key
    _, first, inverse = np.unique(v, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct coordinates in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return v[first[order]], rank[inverse.reshape(-1)][np.asarray(faces)]


def load_measure(
    data,
    filename: str,
    mode: str = "surface",
    n: int = 1024,
    seed=0,
    normalise_how: str = "none",
    normal_weight: float = 1.0,
    **caps,
) -> Measure:
    """:func:`load_shape` then :func:`~swviz.shapes.measures.to_measure`: an uploaded file as a measure.

    ``caps`` are ``max_bytes``, ``max_vertices`` and ``max_faces`` as in :func:`load_shape`.
    """
    return to_measure(load_shape(data, filename, **caps), mode, n, seed, normalise_how, normal_weight)


# -- validation ----------------------------------------------------------------------------


def _check_geometry(vertices, faces, name, caps):
    max_vertices, max_faces = caps
    v = np.asarray(vertices)
    if v.dtype.kind not in "biuf":
        raise ShapeLoadError(f"{name}: coordinates must be numbers, got values of type {v.dtype}")
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] not in (2, 3):
        raise ShapeLoadError(f"{name}: expected points with 2 or 3 coordinates, got an array of shape {v.shape}")
    n = v.shape[0]
    if n == 0:
        raise ShapeLoadError(f"{name} contains no vertices or points")
    if n > max_vertices:
        raise ShapeLoadError(f"{name} has {n:,} vertices; the limit is {max_vertices:,}")
    bad = ~np.isfinite(v)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise ShapeLoadError(
            f"{name}: {rows.size:,} point(s) have NaN or infinite coordinates (first at index {rows[0]}: "
            f"{v[rows[0]].tolist()}); every coordinate must be finite"
        )
    if np.abs(v).max() > MAX_COORD:
        raise ShapeLoadError(f"{name}: coordinates up to {np.abs(v).max():.3g} are too large (limit {MAX_COORD:.0e})")
    if faces is None or len(faces) == 0:
        if n < 3:
            raise ShapeLoadError(f"{name} has only {n} point(s); a shape needs at least 3")
        if np.all(v == v[0]):
            raise ShapeLoadError(f"{name}: all {n:,} points are the same point {v[0].tolist()}")
        return v, None
    f = np.asarray(faces)
    if f.dtype.kind not in "iu" or f.ndim != 2 or f.shape[1] != 3:
        raise ShapeLoadError(f"{name}: faces must be triangles given as integer indices; got shape {f.shape}")
    f = f.astype(np.int64)
    if f.shape[0] > max_faces:
        raise ShapeLoadError(f"{name} has {f.shape[0]:,} faces; the limit is {max_faces:,}")
    if v.shape[1] != 3:
        raise ShapeLoadError(f"{name}: a mesh needs 3D vertices; got {v.shape[1]} coordinates")
    if f.min() < 0 or f.max() >= n:
        bad_face = int(np.flatnonzero((f < 0).any(1) | (f >= n).any(1))[0])
        raise ShapeLoadError(
            f"{name}: face {bad_face} refers to vertex {f[bad_face].tolist()} but there are only {n:,} vertices "
            f"(valid indices 0..{n - 1})"
        )
    area = face_areas(v, f)
    if not np.isfinite(area).all():
        raise ShapeLoadError(f"{name}: face areas overflow; coordinates are too large")
    if not (area > 0).any():
        raise ShapeLoadError(f"{name}: all {f.shape[0]:,} faces have zero area, so there is no surface to sample")
    return v, f


def _cap(name, what, count, limit):
    if count > limit:
        raise ShapeLoadError(f"{name} declares {count:,} {what}; the limit is {limit:,}")


# -- readers: bytes -> (vertices, faces or None) ---------------------------------------


def _ply_precheck(data, name, caps):
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ShapeLoadError(f"{name} is not a PLY file (it must start with 'ply' and have an 'end_header' line)")
    header = data[:end].decode("ascii", errors="replace")
    for kind, count in re.findall(r"^\s*element\s+(\w+)\s+(\S+)", header, flags=re.M):
        try:
            count = int(count)
        except ValueError:
            raise ShapeLoadError(f"{name}: PLY header has a bad element count {count!r} for {kind!r}") from None
        if count < 0:
            raise ShapeLoadError(f"{name}: PLY header declares a negative count for {kind!r}")
        if kind == "vertex":
            _cap(name, "vertices", count, caps[0])
        elif kind == "face":
            _cap(name, "faces", count, caps[1])


def _off_precheck(data, name, caps):
    text = data[:4096].decode("ascii", errors="replace")
    tokens = re.sub(r"#[^\n]*", " ", text).split()
    if not tokens or not tokens[0].upper().endswith("OFF"):
        raise ShapeLoadError(f"{name} is not an OFF file (it must start with 'OFF')")
    try:
        nv, nf = int(tokens[1]), int(tokens[2])
    except (IndexError, ValueError):
        raise ShapeLoadError(f"{name}: the OFF header must give the vertex and face counts") from None
    if nv < 0 or nf < 0:
        raise ShapeLoadError(f"{name}: the OFF header declares negative counts ({nv}, {nf})")
    _cap(name, "vertices", nv, caps[0])
    _cap(name, "faces", nf, caps[1])


def _stl_precheck(data, name, caps):
    if len(data) >= 84 and not data[:5].lower() == b"solid":
        count = int(np.frombuffer(data[80:84], "<u4")[0])
        _cap(name, "faces", count, caps[1])
        if len(data) != 84 + 50 * count:
            raise ShapeLoadError(
                f"{name}: binary STL declares {count:,} triangles ({84 + 50 * count:,} bytes) "
                f"but the file has {len(data):,} bytes (truncated or not an STL file)"
            )


def _from_trimesh(loaded, name):
    """Vertices and faces of a trimesh load result; a scene is merged in node order."""
    import trimesh

    if isinstance(loaded, trimesh.Scene):
        parts = loaded.dump(concatenate=False) if not loaded.is_empty else []
    else:
        parts = [loaded]
    meshes = [g for g in parts if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    clouds = [g for g in parts if isinstance(g, (trimesh.PointCloud, trimesh.Trimesh)) and len(g.vertices)]
    if meshes:
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
        v = np.concatenate([np.asarray(m.vertices) for m in meshes])
        f = np.concatenate([np.asarray(m.faces) + o for m, o in zip(meshes, offsets)])
        return v, f
    if clouds:
        return np.concatenate([np.asarray(c.vertices) for c in clouds]), None
    raise ShapeLoadError(f"{name}: no vertices or faces found (the file is empty, garbage or not of this format)")


def _trimesh_reader(ext, precheck=None):
    def read(data, name, caps, notes):
        import trimesh

        if precheck is not None:
            precheck(data, name, caps)
        # no resolver: references to other files (OBJ mtllib, glTF external buffers) are never opened
        loaded = trimesh.load(io.BytesIO(data), file_type=ext, process=False, maintain_order=True, resolver=None)
        return _from_trimesh(loaded, name)

    return read


def _quote(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[: limit - 3] + "...")


def _read_text_points(data, name, caps, notes):
    if b"\x00" in data[:8192]:
        raise ShapeLoadError(f"{name} is not a text file (it contains NUL bytes); expected numeric columns")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ShapeLoadError(
            f"{name} is not UTF-8 text (bad byte at position {exc.start}); expected numeric columns"
        ) from None
    # (1-based line number in the file, content without comment) for every line holding data;
    # only \n, \r\n and \r end a line, as in an editor (str.splitlines also splits on \x0c...)
    lines = [(no, ln) for no, raw in enumerate(re.split(r"\r\n|\r|\n", text), start=1)
             if (ln := raw.split("#", 1)[0].strip())]
    if not lines:
        raise ShapeLoadError(f"{name} has no data lines")
    if len(lines) > caps[0] + 1:
        raise ShapeLoadError(f"{name} has {len(lines):,} lines of points; the limit is {caps[0]:,} points")
    first_no, first = lines[0]
    delimiter = "," if "," in first else (";" if ";" in first else None)

    def tokens(line):
        return [t.strip() for t in line.split(delimiter)] if delimiter else line.split()

    def numeric(toks):
        try:
            [float(t) for t in toks]
            return True
        except ValueError:
            return False

    header = None if numeric(tokens(first)) else (first_no, first)  # one header line is allowed
    columns = None
    if header is not None:
        if len(lines) < 2:
            raise ShapeLoadError(f"{name}: line {first_no} ({_quote(first)}) is not numeric and no line follows it; "
                                 "expected 2 or 3 numeric columns per line")
        # a header naming x, y (and z) picks those columns, e.g. our own downloads with a weight column
        names = [t.strip("\"'").lower() for t in tokens(first)]
        if "x" in names and "y" in names:
            columns = [names.index(c) for c in ("x", "y", "z") if c in names]
        picked = f"; its names chose the columns {', '.join(names[c] for c in columns)}" if columns else ""
        notes.append(f"Line {first_no} ({_quote(first)}) is not numeric, so it was read as a header and "
                     f"skipped{picked}.")
    body = lines[1:] if header is not None else lines
    try:
        arr = np.loadtxt([ln for _, ln in body], delimiter=delimiter, dtype=np.float64, ndmin=2, usecols=columns)
    except ValueError as exc:
        raise _text_error(name, body, tokens, numeric, columns, header, exc) from None
    if arr.shape[1] not in (2, 3):
        raise ShapeLoadError(f"{name} has {arr.shape[1]} columns; expected 3 (x y z) or 2 (x y), "
                             "or a header naming the x, y (and z) columns")
    return arr, None


def _text_error(name, body, tokens, numeric, columns, header, exc) -> ShapeLoadError:
    """The first line of ``body`` that spoils the table, named by its line number in the file."""
    skipped = (f" (line {header[0]}, {_quote(header[1])}, was taken as a header)" if header is not None else "")
    width = len(tokens(body[0][1]))
    for no, line in body:
        toks = tokens(line)
        used = toks if columns is None else [toks[c] for c in columns if c < len(toks)]
        if not numeric(used):
            bad = next(t for t in used if not numeric([t]))
            return ShapeLoadError(f"{name}: could not read line {no}: {_quote(bad)} is not a number in "
                                  f"{_quote(line)}{skipped}; expected 2 or 3 numeric columns per line")
        if (columns is None and len(toks) != width) or (columns is not None and len(toks) <= max(columns)):
            first_no = body[0][0]
            return ShapeLoadError(f"{name}: could not read line {no}: it has {len(toks)} value(s) but line {first_no} "
                                  f"has {width}"
                                  f"{skipped}; every line needs the same columns")
    msg = str(exc).splitlines()[0]
    return ShapeLoadError(f"{name}: could not read numeric columns ({msg}){skipped}")


def _read_npy(data, name, caps, notes):
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
    except ValueError:
        raise ShapeLoadError(f"{name} is not a NumPy .npy file (bad magic bytes)") from None
    try:
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except ValueError as exc:
        raise ShapeLoadError(f"{name}: bad .npy header ({exc})") from None
    if dtype.hasobject:
        raise ShapeLoadError(f"{name} holds Python objects (pickled data), which are never loaded; "
                             "save a numeric array")
    if dtype.names is not None or dtype.kind not in "biuf":
        raise ShapeLoadError(f"{name}: expected a real numeric array, got dtype {dtype}")
    if len(shape) != 2 or shape[1] not in (2, 3):
        raise ShapeLoadError(f"{name}: expected an array of shape (n, 3) or (n, 2), got {tuple(shape)}")
    _cap(name, "points", int(shape[0]), caps[0])
    need = int(np.prod(shape)) * dtype.itemsize
    have = len(data) - f.tell()
    if have < need:
        raise ShapeLoadError(f"{name} is truncated: the header needs {need:,} bytes of data, the file has {have:,}")
    return np.load(io.BytesIO(data), allow_pickle=False), None


_READERS = {
    "obj": _trimesh_reader("obj"),
    "ply": _trimesh_reader("ply", _ply_precheck),
    "stl": _trimesh_reader("stl", _stl_precheck),
    "off": _trimesh_reader("off", _off_precheck),
    "glb": _trimesh_reader("glb"),
    "xyz": _read_text_points,
    "txt": _read_text_points,
    "csv": _read_text_points,
    "npy": _read_npy,
}


# -- writers ------------------------------------------------------------------------------


def shape_to_ply(shape: Shape) -> bytes:
    """Binary PLY bytes of ``shape``: a mesh, or a point cloud (2D points get z = 0)."""
    return shape.to_trimesh().export(file_type="ply", encoding="binary")


def points_to_npy(points: np.ndarray) -> bytes:
    """``.npy`` bytes of ``points : (n, d) float``."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(points, dtype=np.float64), allow_pickle=False)
    return buf.getvalue()


def points_to_csv(points: np.ndarray, weights: np.ndarray | None = None) -> bytes:
    """CSV bytes with a header: coordinates (x, y, z, then nx, ny, nz for varifold atoms) and weight.

    points : (n, d) float; weights : (n,) float or None (uniform, 1 / n each).
    """
    points = np.asarray(points, dtype=np.float64)
    n, d = points.shape
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
    names = ["x", "y", "z", "nx", "ny", "nz"][:d] if d <= 6 else [f"x{i}" for i in range(d)]
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([points, w]), delimiter=",", header=",".join(names + ["weight"]),
               comments="", fmt="%.9g")
    return buf.getvalue().encode()
