"""The GPU path against the CPU path: the differentiable slice op and a gradient flow.

    python benchmarks/bench_gpu.py [--quick] [--device cuda]

Where torch sees a CUDA device, this measures side by side in one run, at n = 10k, 100k and
1M points (d = 3, L = 100, equal sizes): the forward plus backward of ``swviz.sw_loss`` on the
CPU (the numpy slice engine) and on the GPU (torch's sort, float64), their ratio, and the
largest difference between the two gradients (they must agree to float tolerance); then 100
steps of :func:`swviz.gradient_flow` at n = 100k on both. Without a CUDA device it says so and
exits with status 0: there is nothing to compare.

Each timing is the best of a few runs; GPU timings synchronise the device before reading
the clock.
"""

import argparse
import time

import numpy as np


def _best(fn, repeats: int, sync) -> float:
    best = float("inf")
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    import torch

    import swviz
    from swviz.flows import gradient_flow

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="n = 10k and 100k only, fewer repeats")
    ap.add_argument("--device", default="cuda", help="the GPU device (default: cuda)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device on this machine (torch.cuda.is_available() is False): nothing to compare")
        return
    dev = torch.device(args.device)
    print(f"torch {torch.__version__}; GPU: {torch.cuda.get_device_name(dev)}; CPU threads {torch.get_num_threads()}")
    sync_gpu = lambda: torch.cuda.synchronize(dev)  # noqa: E731
    sync_cpu = lambda: None  # noqa: E731
    repeats = 3 if args.quick else 5
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)

    print(f"\n1. sw_loss forward + backward, d = 3, L = 100, estimator mc (best of {repeats})")
    print(f"{'n':>9s} {'CPU ms':>9s} {'GPU ms':>9s} {'CPU/GPU':>8s} {'max |grad diff| / max |grad|':>30s}")
    for n in sizes:
        rng = np.random.default_rng(0)
        xn, yn = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) + 1.0
        grads = {}

        def run(device, xn=xn, yn=yn, grads=grads):
            x = torch.tensor(xn, device=device, requires_grad=True)
            y = torch.tensor(yn, device=device)
            swviz.sw_loss(x, y, n_projections=100, seed=0).backward()
            grads[device.type] = x.grad

        t_cpu = _best(lambda run=run: run(torch.device("cpu")), repeats, sync_cpu)
        t_gpu = _best(lambda run=run: run(dev), repeats, sync_gpu)
        g_cpu, g_gpu = grads["cpu"], grads["cuda"].cpu()
        rel = float((g_cpu - g_gpu).abs().max() / g_cpu.abs().max())
        print(f"{n:9d} {1e3 * t_cpu:9.1f} {1e3 * t_gpu:9.1f} {t_cpu / t_gpu:8.2f} {rel:30.2e}")

    n, steps = 100_000, (30 if args.quick else 100)
    print(f"\n2. gradient_flow, n = {n:,}, L = 100, {steps} steps, estimator ucv")
    rng = np.random.default_rng(1)
    xn, yn = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * 0.5 + 2.0
    out = {}
    for name, device in (("CPU", "cpu"), ("GPU", args.device)):
        r = gradient_flow(xn, yn, estimator="ucv", n_projections=100, step_size=0.2, n_steps=steps,
                          record_every=steps, seed=0, w2_steps=[], device=device)
        out[name] = r
    diff = float(np.abs(out["CPU"].final - out["GPU"].final).max())
    print(f"CPU {out['CPU'].flow_seconds:.2f} s, GPU {out['GPU'].flow_seconds:.2f} s, "
          f"CPU/GPU {out['CPU'].flow_seconds / out['GPU'].flow_seconds:.2f}; "
          f"max |final CPU - final GPU| = {diff:.2e}")


if __name__ == "__main__":
    main()
