"""Weights files: a model's parameters in a NumPy ``.npz`` read without unpickling.

A file holds ``__format__`` (the string ``swviz-amortized``), ``__version__`` (an int),
``__config__`` (the model's config as JSON), ``__meta__`` (how it was trained, as JSON) and one
array per parameter. :func:`load_model` reads it with ``allow_pickle=False`` and checks the
header, the parameter names and every shape against a model built from the config, so a
corrupt, truncated or foreign file is a clear :class:`swviz.InputError` and nothing in a file
can run code.
"""

from __future__ import annotations

import io
import json
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .._validation import InputError
from .models import DirectionModel, build_model

__all__ = ["DEFAULT_WEIGHTS", "FORMAT", "VERSION", "load_default", "load_model", "save_model", "weights_bytes"]

FORMAT = "swviz-amortized"
VERSION = 1
DATA = Path(__file__).resolve().parents[1] / "data"
#: The shipped default model (3D, efficient attention), made by ``python -m swviz.amortized train-default``.
DEFAULT_WEIGHTS = DATA / "amortized_default.npz"


def weights_bytes(model: DirectionModel, meta: dict | None = None) -> bytes:
    """The ``.npz`` bytes of ``model`` (float64 parameters, compressed)."""
    arrays = {"__format__": np.array(FORMAT), "__version__": np.array(VERSION),
              "__config__": np.array(json.dumps(model.config, sort_keys=True)),
              "__meta__": np.array(json.dumps(meta or {}, sort_keys=True))}
    for name, t in model.state_dict().items():
        arrays[name] = t.detach().cpu().numpy().astype(np.float64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def save_model(model: DirectionModel, path, meta: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (see :func:`weights_bytes`); returns the path."""
    path = Path(path)
    path.write_bytes(weights_bytes(model, meta))
    return path


def _text(z, key: str, what: str) -> str:
    if key not in z.files:
        raise InputError(f"{what} has no {key} entry: it is not a swviz direction-model file")
    arr = z[key]
    if arr.shape != () or arr.dtype.kind != "U":
        raise InputError(f"{what}: {key} is not a string entry")
    return str(arr)


def load_model(source, name: str | None = None) -> tuple[DirectionModel, dict]:
    """Read a weights file: ``(model, meta)``.

    Parameters
    ----------
    source : path, bytes or file-like
    name : str, optional
        How to name the file in messages.

    Raises
    ------
    InputError
        The file is not a zip/npz, is truncated, has another format or version, a config that
        builds no model, missing or extra parameters, a parameter of the wrong shape, or
        non-finite values.
    """
    what = name or (str(source) if isinstance(source, (str, Path)) else "the weights file")
    try:
        raw = Path(source).read_bytes() if isinstance(source, (str, Path)) else (
            bytes(source) if isinstance(source, (bytes, bytearray)) else source.read())
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc}") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise InputError(f"{what} is a single array, not a swviz direction-model file (.npz)")
            fmt = _text(z, "__format__", what)
            if fmt != FORMAT:
                raise InputError(f"{what} has format {fmt!r}, not {FORMAT!r}")
            version = z["__version__"] if "__version__" in z.files else None
            if version is None or version.shape != () or int(version) != VERSION:
                raise InputError(f"{what} has version {None if version is None else version.tolist()!r}; this swviz "
                                 f"reads version {VERSION}")
            try:
                config = json.loads(_text(z, "__config__", what))
                meta = json.loads(_text(z, "__meta__", what))
            except json.JSONDecodeError as exc:
                raise InputError(f"{what}: its config is not valid JSON ({exc})") from None
            if not isinstance(config, dict):
                raise InputError(f"{what}: its config is not a JSON object")
            model = build_model(config)
            expected = model.state_dict()
            names = [k for k in z.files if not k.startswith("__")]
            missing, extra = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
            if missing or extra:
                raise InputError(f"{what} does not match its config: missing {missing[:4]}, unexpected {extra[:4]}")
            state = {}
            for k, ref in expected.items():
                arr = z[k]
                if tuple(arr.shape) != tuple(ref.shape) or arr.dtype.kind != "f":
                    raise InputError(f"{what}: parameter {k} has shape {arr.shape} ({arr.dtype}); the model needs "
                                     f"{tuple(ref.shape)} floats")
                if not np.all(np.isfinite(arr)):
                    raise InputError(f"{what}: parameter {k} holds NaN or infinite values")
                state[k] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    except InputError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zipfile.LargeZipFile) as exc:
        raise InputError(f"{what} is corrupt or truncated: {type(exc).__name__}: {exc}") from None
    model.load_state_dict(state)
    model.eval()
    return model, meta


@lru_cache(maxsize=1)
def _default() -> tuple[DirectionModel, dict]:
    if not DEFAULT_WEIGHTS.is_file():
        raise InputError(f"the default direction model {DEFAULT_WEIGHTS} is missing; make it with "
                         "`python -m swviz.amortized train-default`")
    return load_model(DEFAULT_WEIGHTS, DEFAULT_WEIGHTS.name)


def load_default() -> DirectionModel:
    """The shipped default model: 3D, efficient attention, trained by :func:`swviz.amortized.train_default`.

    The same object on every call (read once); do not train it in place (copy it first).
    """
    return _default()[0]


def default_meta() -> dict:
    """How the default model was trained (seed, steps, data, timing), as stored in its file."""
    return dict(_default()[1])
