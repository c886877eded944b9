#!/usr/bin/env python3
"""The GPU peer of the cuda backend: PyTorch eager and torch.compile on the same model and GPU.

Times torchvision's mobilenet_v2 (the architecture of ../shared/models/mobilenet_v2, random
weights) in fp32 with TF32 off, as kiln's fp32 engines compute, at the batch sizes given. CUDA
events around each run, warm-up first, median and p90 in milliseconds. torch.compile uses
mode="reduce-overhead" (Inductor with CUDA graphs), the fastest setting a user would pick.

    python3 bench/torch_gpu_peer.py --batch 1 --batch 8 [--json FILE]

Run on the GPU machine next to `kiln bench` of the same model (scripts/gpu-check.sh); report
the ratio kiln / torch.compile.
"""
import argparse
import json
import statistics
import sys
import time


def timed(fn, args, warmup, iters, torch):
    """Median and p90 (ms) of fn(*args) over `iters` runs after `warmup`, by CUDA events."""
    for _ in range(warmup):
        fn(*args)
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*args)
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    samples.sort()
    return {"median_ms": statistics.median(samples), "p90_ms": samples[int(0.9 * (len(samples) - 1))]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, action="append", help="batch size (repeatable; default 1)")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--no-compile", action="store_true", help="eager only")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.warmup < 0 or args.iterations < 1:
        ap.error("--warmup must be >= 0 and --iterations >= 1")
    import torch
    import torchvision

    if not torch.cuda.is_available():
        print("torch_gpu_peer: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    model = torchvision.models.mobilenet_v2(weights=None).eval().cuda()
    results = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cases": []}
    with torch.inference_mode():
        compiled = None
        for batch in args.batch or [1]:
            x = torch.randn(batch, 3, 224, 224, device="cuda")
            case = {"model": "mobilenet_v2", "batch": batch, "precision": "fp32"}
            case["eager"] = timed(model, (x,), args.warmup, args.iterations, torch)
            if not args.no_compile:
                if compiled is None:
                    compiled = torch.compile(model, mode="reduce-overhead")
                t0 = time.time()
                compiled(x)  # compiles (again for a new batch size)
                case["compile_seconds"] = round(time.time() - t0, 1)
                case["compiled"] = timed(compiled, (x,), args.warmup, args.iterations, torch)
            results["cases"].append(case)
            line = f"mobilenet_v2 fp32 batch {batch}: eager median {case['eager']['median_ms']:.3f} ms"
            if "compiled" in case:
                line += f", torch.compile median {case['compiled']['median_ms']:.3f} ms"
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
