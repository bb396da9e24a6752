"""``python -m swviz.amortized train-default | autoencoder-results``: rebuild the shipped files.

Both run on one thread (``torch.set_num_threads(1)``), so the result does not depend on the
machine's thread count, and print progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swviz.amortized", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-default", help="train the default direction model and write its weights")
    t.add_argument("--out", default=None, help="output .npz (default: the shipped swviz/data file)")
    t.add_argument("--steps", type=int, default=None, help="override the recipe's steps (a short run)")
    r = sub.add_parser("autoencoder-results", help="train the autoencoder under each loss and write the results")
    r.add_argument("--out", default=None, help="output .npz (default: the shipped swviz/data file)")
    r.add_argument("--steps", type=int, default=None, help="override the steps per loss")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()

    def progress(step, total, value, *rest):
        if step % 25 == 0 or step == total:
            label = f" {rest[0]}" if rest else ""
            sys.stderr.write(f"[{time.perf_counter() - t0:6.1f} s]{label} step {step}/{total}: {value:.5g}\n")

    if args.command == "train-default":
        from .training import train_default
        from .weights import DEFAULT_WEIGHTS, save_model

        overrides = {} if args.steps is None else {"steps": args.steps}
        result = train_default(progress=progress, **overrides)
        meta = {**result.params, "seconds": round(result.seconds, 1), "torch": torch.__version__}
        path = save_model(result.model, args.out or DEFAULT_WEIGHTS, meta)
        sys.stderr.write(f"wrote {path} ({path.stat().st_size:,} bytes) in {result.seconds:.1f} s\n")
        return 0
    from .autoencoder import RESULTS, run_study, save_results

    overrides = {} if args.steps is None else {"steps": args.steps}
    study = run_study(progress=lambda loss, step, total, value: progress(step, total, value, loss), **overrides)
    path = save_results(study, args.out or RESULTS)
    sys.stderr.write(f"wrote {path} ({path.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
