"""Batch study configs: the TOML/YAML a study is described by, checked field by field, and written back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import tomllib

from .._validation import InputError
from ..estimators import get_estimator
from ..shapes import MODES, NORMALISATIONS, SHAPES

#: ``pairs = "library"``: a spread of library pairs, 3D meshes and 2D curves, that build fast.
LIBRARY_PAIRS = (
    ("sphere", "torus"),
    ("sphere", "cube"),
    ("cube", "cylinder"),
    ("torus", "capsule"),
    ("cone", "peanut"),
    ("bar", "bar (twisted)"),
    ("gaussian blobs", "helix"),
    ("circle", "square"),
    ("star", "annulus"),
    ("two moons", "spiral"),
)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class StudyConfig:
    """A validated study (see :func:`parse_config` for the file format).

    pairs : tuple of (source, target)
        Built-in shape names or point/mesh file paths (relative ones are read from ``base_dir``).
    estimators : tuple of str
        Keys of :data:`swviz.ESTIMATORS`.
    L : tuple of int
        Numbers of projections (sorted, distinct).
    repeats : int
        Independent estimates per random estimator, pair and L (deterministic sets: one).
    seed : int
        The study seed.
    p : float
        Ground cost exponent.
    n, mode, normalise, normal_weight
        How a shape becomes a measure, as in :func:`swviz.shapes.library_pair`.
    chunk : int
        Repeats per task (changes the split, never the table).
    baseline : str
        Estimator the variance-reduction factors divide by.
    name : str
        A label, used for the output folder and the page.
    base_dir : str
        Folder relative file paths are read from ("" is the working directory).
    """

    pairs: tuple
    estimators: tuple = ("mc", "lcv", "ucv")
    L: tuple = (16, 64, 256)
    repeats: int = 20
    seed: int = 0
    p: float = 2.0
    n: int = 256
    mode: str = "surface"
    normalise: str = "none"
    normal_weight: float = 1.0
    chunk: int = 10
    baseline: str = "mc"
    name: str = "study"
    base_dir: str = ""


_TOP = {"name", "seed", "repeats", "chunk", "p", "L", "estimators", "baseline", "pairs", "measure"}
_MEASURE = {"n", "mode", "normalise", "normal_weight"}


def _field_error(name: str, problem: str) -> InputError:
    return InputError(f"study config, field {name!r}: {problem}")


def _whole(value, name: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _field_error(name, f"must be a whole number >= {lo}; got {value!r}")
    if value < lo:
        raise _field_error(name, f"must be >= {lo}; got {value}")
    return int(value)


def _number(value, name: str, lo: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _field_error(name, f"must be a finite number >= {lo:g}; got {value!r}")
    if value < lo:
        raise _field_error(name, f"must be >= {lo:g}; got {value}")
    return float(value)


def _choice(value, name: str, options) -> str:
    if value not in options:
        raise _field_error(name, f"must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def _pairs(value, base_dir: str) -> tuple:
    if value == "library":
        return LIBRARY_PAIRS
    if not isinstance(value, list) or not value:
        raise _field_error("pairs", f'must be "library" or a non-empty list of [source, target]; got {value!r}')
    out = []
    for i, pair in enumerate(value):
        if isinstance(pair, dict) and set(pair) == {"source", "target"}:
            pair = [pair["source"], pair["target"]]
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) and s for s in pair)):
            raise _field_error("pairs", f"entry {i} must be [source, target] (two shape names or files); got {pair!r}")
        for s in pair:
            if s not in SHAPES and not (Path(base_dir) / s).is_file():
                raise _field_error("pairs", f"entry {i}: {s!r} is neither a built-in shape nor a readable file")
        out.append(tuple(pair))
    dup = [p for p in out if out.count(p) > 1]
    if dup:
        raise _field_error("pairs", f"{dup[0]} appears more than once (its seeds would repeat)")
    return tuple(out)


def config_from_dict(data: dict, base_dir: str = "") -> StudyConfig:
    """Validate a parsed config (a dict as read from TOML); every problem names its field."""
    if not isinstance(data, dict):
        raise InputError(f"study config must be a table of fields; got {type(data).__name__}")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise _field_error(unknown[0], f"unknown field; known fields are {', '.join(sorted(_TOP))}")
    if "pairs" not in data:
        raise _field_error("pairs", 'is required: "library" or a list of [source, target]')
    measure = data.get("measure", {})
    if not isinstance(measure, dict):
        raise _field_error("measure", f"must be a table ([measure]); got {measure!r}")
    unknown = sorted(set(measure) - _MEASURE)
    if unknown:
        raise _field_error(f"measure.{unknown[0]}", f"unknown field; known fields are {', '.join(sorted(_MEASURE))}")
    d = StudyConfig(pairs=())
    ests = data.get("estimators", list(d.estimators))
    if isinstance(ests, str):
        ests = [ests]
    if not isinstance(ests, list) or not ests or not all(isinstance(e, str) for e in ests):
        raise _field_error("estimators", f"must be a non-empty list of estimator names; got {ests!r}")
    for e in ests:
        try:
            get_estimator(e)
        except InputError as exc:
            raise _field_error("estimators", str(exc)) from None
    if len(set(ests)) != len(ests):
        raise _field_error("estimators", f"lists an estimator twice: {ests!r}")
    grid = data.get("L", list(d.L))
    if not isinstance(grid, list) or not grid:
        raise _field_error("L", f"must be a non-empty list of whole numbers >= 1; got {grid!r}")
    grid = sorted({_whole(v, "L") for v in grid})
    baseline = data.get("baseline", d.baseline)
    if baseline not in ests:
        raise _field_error("baseline", f"must be one of the study's estimators ({', '.join(ests)}); got {baseline!r}")
    name = data.get("name", d.name)
    if not isinstance(name, str) or not name.strip():
        raise _field_error("name", f"must be a non-empty string; got {name!r}")
    seed = data.get("seed", d.seed)
    cfg = StudyConfig(
        pairs=_pairs(data["pairs"], base_dir),
        estimators=tuple(ests),
        L=tuple(grid),
        repeats=_whole(data.get("repeats", d.repeats), "repeats"),
        seed=_whole(seed, "seed", 0),
        p=_number(data.get("p", d.p), "p", 1.0),
        n=_whole(measure.get("n", d.n), "measure.n"),
        mode=_choice(measure.get("mode", d.mode), "measure.mode", list(MODES)),
        normalise=_choice(measure.get("normalise", d.normalise), "measure.normalise", list(NORMALISATIONS)),
        normal_weight=_number(measure.get("normal_weight", d.normal_weight), "measure.normal_weight", 0.0),
        chunk=_whole(data.get("chunk", d.chunk), "chunk"),
        baseline=baseline,
        name=name.strip(),
        base_dir=str(base_dir),
    )
    if cfg.repeats < 2 and any(get_estimator(e).random for e in cfg.estimators):
        raise _field_error("repeats", "must be >= 2 for random estimators (a variance needs two estimates)")
    return cfg


def parse_config(text: str, base_dir: str = "", fmt: str = "toml") -> StudyConfig:
    """Read a study config from TOML (``fmt="toml"``) or YAML (``fmt="yaml"``) text.

    Format (TOML; every field but ``pairs`` has a default)::

        name = "library"                         # label of the study
        pairs = [["sphere", "torus"], ["circle", "square"]]   # or "library"; names or files
        estimators = ["mc", "lcv", "ucv"]         # keys of swviz.ESTIMATORS
        baseline = "mc"                           # what variance reductions divide by
        L = [16, 64, 256]                         # numbers of projections
        repeats = 20                              # estimates per estimator, pair and L
        chunk = 10                                # repeats per task (the split only)
        seed = 0
        p = 2

        [measure]                                 # as swviz.shapes.library_pair
        n = 256
        mode = "surface"                          # surface, vertices, varifold, points
        normalise = "none"                        # none, centre, unit-bbox, unit-rms, align
        normal_weight = 1.0

    A problem raises :class:`InputError` naming the field (``study config, field 'L': ...``).
    """
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"study config is not valid TOML: {exc}") from None
    elif fmt == "yaml":
        try:
            import yaml
        except ImportError:
            raise InputError("YAML study configs need PyYAML (pip install pyyaml); or write it in TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"study config is not valid YAML: {exc}") from None
    else:
        raise InputError(f"config format must be 'toml' or 'yaml'; got {fmt!r}")
    return config_from_dict(data, base_dir)


def load_config(path) -> StudyConfig:
    """:func:`parse_config` of a ``.toml`` (or ``.yaml`` / ``.yml``) file; relative shape files are read beside it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"study config {str(path)!r} is not a readable file")
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"study config {str(path)!r} cannot be read: {exc}") from None
    return parse_config(text, str(path.parent), fmt)


def _toml_value(v) -> str:
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float) and v.is_integer():
        return f"{v:.1f}"
    return repr(v)


def config_to_toml(cfg: StudyConfig) -> str:
    """TOML text that :func:`parse_config` reads back into ``cfg`` (the page's download).

    Shape files are written by absolute path, so the text runs the same study from any folder.
    """
    def where(s: str) -> str:  # files by absolute path, so the text reproduces the study from anywhere
        return s if s in SHAPES else str((Path(cfg.base_dir) / s).resolve())

    pairs = "library" if cfg.pairs == LIBRARY_PAIRS else [[where(s), where(t)] for s, t in cfg.pairs]
    top = {"name": cfg.name, "seed": cfg.seed, "pairs": pairs, "estimators": list(cfg.estimators),
           "baseline": cfg.baseline, "L": list(cfg.L), "repeats": cfg.repeats, "chunk": cfg.chunk, "p": cfg.p}
    lines = ["# swviz study: python -m swviz study THIS_FILE [--workers N | --scheduler ADDRESS]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    lines += ["", "[measure]"]
    lines += [f"{k} = {_toml_value(getattr(cfg, k))}" for k in ("n", "mode", "normalise", "normal_weight")]
    return "\n".join(lines) + "\n"
