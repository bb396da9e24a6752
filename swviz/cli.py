"""Command line: ``python -m swviz estimate SOURCE TARGET [options]``.

SOURCE and TARGET are built-in shape names (``python -m swviz shapes`` lists them) or
point/mesh files. Bad input prints one clear line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ._validation import InputError
from .estimators import ESTIMATORS, sliced_wasserstein
from .reference import reference_sw
from .shapes import PAIR_NORMALISATIONS, SHAPES, library_shape, load_shape, make_pair


def _shape(arg: str, n: int, seed: int):
    """The :class:`~swviz.shapes.Shape` of a built-in name or a file path."""
    if arg in SHAPES:
        return library_shape(arg, n, seed)
    path = Path(arg)
    if not path.is_file():
        raise InputError(f"{arg!r} is neither a built-in shape ({', '.join(SHAPES)}) nor a readable file")
    return load_shape(path.read_bytes(), path.name)


def _measures(args):
    """Both measures, built exactly as the app builds its pair (:func:`swviz.shapes.library_pair`)."""
    source = _shape(args.source, args.n, args.seed)
    target = _shape(args.target, args.n, args.seed + 1)
    return make_pair(source, target, args.mode, args.n, args.seed, args.normalise, args.normal_weight)


def _estimate(args) -> dict:
    src, tgt = _measures(args)
    x, a, sname = src.points, src.weights, args.source if args.source in SHAPES else Path(args.source).name
    y, b, tname = tgt.points, tgt.weights, args.target if args.target in SHAPES else Path(args.target).name
    t0 = time.perf_counter()
    res = sliced_wasserstein(x, y, a, b, estimator=args.estimator, n_projections=args.L, p=args.p,
                             seed=args.seed)
    seconds = time.perf_counter() - t0
    out = {
        "source": sname, "target": tname, "estimator": res.estimator, "n_projections": int(args.L),
        "p": res.p, "seed": args.seed, "value": res.value, "distance": res.distance,
        "stderr": None if np.isnan(res.stderr) else res.stderr, "seconds": seconds,
    }
    if args.reference:
        ref = reference_sw(x, y, a, b, p=args.p)
        out["reference"] = {"value": ref.value, "method": ref.method, "stderr": ref.stderr}
    return out


_last_bar = [0.0]


def _bar(done: int, total: int, left) -> None:
    """A one-line progress bar on stderr: tasks done and time left (redrawn at most 10 times a second)."""
    now = time.perf_counter()
    if done < total and now - _last_bar[0] < 0.1:
        return
    _last_bar[0] = now
    width = 30
    full = int(width * done / max(total, 1))
    eta = "" if left is None else f", {left:.0f} s left"
    print(f"\r[{'#' * full}{'.' * (width - full)}] {done}/{total} tasks{eta}   ", end="", file=sys.stderr, flush=True)


def _study(args) -> int:
    from . import batch

    try:
        cfg = batch.load_config(args.config)
        if args.workers is not None and args.workers < 1:
            raise InputError(f"--workers must be >= 1; got {args.workers}")
        if args.chunk is not None and args.chunk < 1:
            raise InputError(f"--chunk must be >= 1; got {args.chunk}")
        out = Path(args.out) if args.out else Path(args.config).parent / f"{Path(args.config).stem}-results"
        res = batch.run_study(cfg, workers=args.workers, scheduler=args.scheduler, chunk=args.chunk,
                              progress=None if args.quiet else _bar)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(file=sys.stderr)
    paths = res.write(out)
    bad = res.failures[~res.failures["kind"].isin(["cancelled", "skipped"])]
    for row in res.failures[res.failures["kind"] == "skipped"].itertuples():
        print(f"skipped: {row.pair}, estimator {row.estimator}: {row.message}", file=sys.stderr)
    print(f"{len(res.table)} estimates from {res.meta['n_tasks']} tasks ({res.meta['runner']}, "
          f"{res.meta['seconds']:.1f} s) written to {paths['parquet'].parent}")
    for row in bad.itertuples():
        print(f"failed: {row.pair}, estimator {row.estimator}, L = {row.L}, repeats {row.repeats}: {row.message}",
              file=sys.stderr)
    if res.interrupted:
        print("interrupted: the finished tasks are written, the rest are listed in failures.csv", file=sys.stderr)
        return 130
    return 1 if len(bad) else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m swviz", description="Sliced Wasserstein distances between shapes.")
    sub = ap.add_subparsers(dest="command", required=True)
    est = sub.add_parser("estimate", help="estimate SW_p^p between two shapes")
    est.add_argument("source", help="built-in shape name or a point/mesh file")
    est.add_argument("target", help="built-in shape name or a point/mesh file")
    est.add_argument("--estimator", "-e", default="mc", help=f"one of: {', '.join(ESTIMATORS)}")
    est.add_argument("-L", "--n-projections", dest="L", type=int, default=100)
    est.add_argument("-p", type=float, default=2.0)
    est.add_argument("-n", "--points", dest="n", type=int, default=1024, help="points sampled per shape")
    est.add_argument("--seed", type=int, default=0)
    est.add_argument("--mode", default="surface",
                     help="how a mesh becomes a measure: surface, vertices, varifold or points (as on the pages)")
    est.add_argument("--normalise", default="none",
                     help=f"how both shapes are normalised: {', '.join(PAIR_NORMALISATIONS)}")
    est.add_argument("--normal-weight", dest="normal_weight", type=float, default=1.0,
                     help="weight of the normal block of varifold atoms")
    est.add_argument("--reference", action="store_true", help="also compute the near-exact reference")
    est.add_argument("--json", action="store_true", help="print one JSON object")
    st = sub.add_parser(
        "study", help="run a batch study from a TOML config (in-process, local cluster or Dask scheduler)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a batch study (swviz.batch): every pair x estimator x L x repeat of CONFIG.\n"
                    "Writes results.parquet, results.csv, summary.csv, failures.csv, study.toml and\n"
                    "study.json (config, seed, package versions) into --out.\n\n"
                    "Exit status: 0 all tasks ran; 1 some tasks failed (listed in failures.csv);\n"
                    "2 bad config or usage; 130 interrupted (Ctrl-C: what finished is written).")
    st.add_argument("config", help="study config (.toml, or .yaml with PyYAML); see swviz.batch.parse_config")
    where = st.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="start a local cluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="use a running Dask scheduler, e.g. tcp://host:8786")
    st.add_argument("--out", metavar="DIR", help="output folder (default: <config name>-results beside the config)")
    st.add_argument("--chunk", type=int, metavar="K", help="repeats per task (changes the split, not the table)")
    st.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sub.add_parser("shapes", help="list the built-in shapes")
    sub.add_parser("estimators", help="list the estimators")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "shapes":
        for name, spec in SHAPES.items():
            print(f"{name:24s} {spec.dim}D  {spec.description}")
        return 0
    if args.command == "estimators":
        for name, desc in ESTIMATORS.items():
            print(f"{name:24s} {desc}")
        return 0
    if args.command == "study":
        return _study(args)
    try:
        out = _estimate(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out))
    else:
        se = "" if out["stderr"] is None else f" ± {out['stderr']:.3g}"
        print(f"{out['estimator']} estimate of SW_{out['p']:g}^{out['p']:g}({out['source']}, {out['target']}) "
              f"= {out['value']:.6g}{se}  (SW = {out['distance']:.6g}, L = {out['n_projections']}, "
              f"{out['seconds'] * 1e3:.1f} ms)")
        if "reference" in out:
            r = out["reference"]
            print(f"reference = {r['value']:.6g} ({r['method']})")
    return 0
