#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/) from ../shared: ONNX models, .pb tensors,
and plans built from some of those models with the kiln CLI.

  python3 scripts/fuzz_seeds.py --kiln build/kiln --out build-fuzz/seeds [--cases N]

Writes OUT/onnx, OUT/tensor and OUT/plan. --cases picks that many ONNX conformance cases (an
even sample of the suite, the same every time); 0 takes every case. Nothing here is committed:
CI regenerates the seeds (seconds), and docs/fuzzing.md says how to run the targets on them.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
# Plans seeds are built with the fuzz targets' memory limits, so a fuzzed plan's run is small.
PLAN_FLAGS = ["--threads", "1", "--max-tensor-bytes", str(1 << 20), "--max-arena-bytes",
              str(8 << 20)]


def copy(src, out_dir, prefix):
    with open(src, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()[:12]
    shutil.copyfile(src, os.path.join(out_dir, f"{prefix}-{digest}"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", required=True, help="the kiln CLI (a normal build's build/kiln)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cases", type=int, default=150,
                    help="conformance cases to take (0: all)")
    ap.add_argument("--plan-cases", type=int, default=40,
                    help="of those, how many to build into plans")
    args = ap.parse_args()

    dirs = {k: os.path.join(args.out, k) for k in ("onnx", "tensor", "plan")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    models_dir = os.path.join(SHARED, "models")
    models = sorted(m for m in os.listdir(models_dir)
                    if os.path.isfile(os.path.join(models_dir, m, "model.onnx")))
    cases = []
    conf = os.path.join(SHARED, "onnx-conformance")
    for group in sorted(os.listdir(conf)):
        gdir = os.path.join(conf, group)
        if not os.path.isdir(gdir):
            continue
        for case in sorted(os.listdir(gdir)):
            if os.path.isfile(os.path.join(gdir, case, "model.onnx")):
                cases.append(os.path.join(gdir, case))
    if args.cases and args.cases < len(cases):
        step = len(cases) / args.cases
        cases = [cases[int(i * step)] for i in range(args.cases)]

    for m in models:
        copy(os.path.join(models_dir, m, "model.onnx"), dirs["onnx"], m)
        data = os.path.join(models_dir, m, "test_data_set_0")
        for pb in sorted(os.listdir(data)):
            if os.path.getsize(os.path.join(data, pb)) <= (64 << 10):
                copy(os.path.join(data, pb), dirs["tensor"], f"{m}-{pb}")
    for c in cases:
        name = os.path.basename(c)
        copy(os.path.join(c, "model.onnx"), dirs["onnx"], name)
        for ds in sorted(os.listdir(c)):
            ddir = os.path.join(c, ds)
            if ds.startswith("test_data_set") and os.path.isdir(ddir):
                for pb in sorted(os.listdir(ddir)):
                    copy(os.path.join(ddir, pb), dirs["tensor"], f"{name}-{pb}")

    # Plans: the small shared model on both backends, and conformance models that build.
    builds = [(os.path.join(models_dir, "digits_resnet", "model.onnx"), "digits_resnet", b)
              for b in ("reference", "cpu")]
    step = max(1, len(cases) // max(1, args.plan_cases))
    builds += [(os.path.join(c, "model.onnx"), os.path.basename(c), "reference")
               for c in cases[::step]]
    built = 0
    for model, name, backend in builds:
        plan = os.path.join(dirs["plan"], f"{name}-{backend}.plan")
        r = subprocess.run([args.kiln, "build", model, "-o", plan, "--backend", backend]
                           + PLAN_FLAGS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            built += 1
        elif os.path.exists(plan):
            os.remove(plan)
    for k, d in dirs.items():
        print(f"fuzz seeds: {len(os.listdir(d))} {k} files in {d}")
    if built == 0:
        sys.exit("fuzz seeds: no plan was built (is --kiln a working kiln CLI?)")


if __name__ == "__main__":
    main()
