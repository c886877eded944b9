#!/usr/bin/env python3
"""Side-by-side latency of kiln and ONNX Runtime (CPU) on the shared models, in one run.

    python3 bench/compare_ort.py [--kiln build/kiln] [--models-dir ../shared/models]
                                 [--iterations 20] [--threads 1]

For each model: builds a kiln plan for the stored input's shapes, times `kiln bench --json`
with the stored inputs, times ONNX Runtime on the same inputs (same thread count, same
warm-up and iteration count), and prints median latencies and the ratio kiln / ORT
(below 1 means kiln is faster). Needs `pip install onnxruntime onnx numpy`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--kiln", default=os.path.join(here, "..", "build", "kiln"))
    ap.add_argument("--models-dir", default=os.path.join(here, "..", "..", "shared", "models"))
    ap.add_argument("--models", default="digits_resnet,mobilenet_v2,bert_mini,vit_tiny,gpt2_tiny")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import numpy as np
    import onnx
    import onnx.numpy_helper
    import onnxruntime as ort

    print(f"| model | kiln backend | kiln median ms | ORT median ms | kiln / ORT |")
    print(f"|---|---|---|---|---|")
    for name in args.models.split(","):
        d = os.path.join(args.models_dir, name)
        data = os.path.join(d, "test_data_set_0")
        model = os.path.join(d, "model.onnx")
        inputs = []
        k = 0
        while os.path.exists(os.path.join(data, f"input_{k}.pb")):
            t = onnx.TensorProto()
            with open(os.path.join(data, f"input_{k}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            inputs.append(onnx.numpy_helper.to_array(t))
            k += 1
        sess_opts = ort.SessionOptions()
        sess_opts.intra_op_num_threads = args.threads
        sess_opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model, sess_opts, providers=["CPUExecutionProvider"])
        feed = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}
        shapes = ",".join(f"{i.name}={'x'.join(str(s) for s in x.shape)}" for i, x in zip(sess.get_inputs(), inputs))
        for _ in range(args.warmup):
            sess.run(None, feed)
        times = []
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            sess.run(None, feed)
            times.append((time.perf_counter() - t0) * 1e3)
        ort_ms = statistics.median(times)

        with tempfile.TemporaryDirectory() as tmp:
            plan = os.path.join(tmp, "m.plan")
            subprocess.run([args.kiln, "build", model, "-o", plan, "--shapes", shapes], check=True,
                           stdout=subprocess.DEVNULL)
            out = subprocess.run([args.kiln, "bench", plan, "--inputs", data, "--warmup", str(args.warmup),
                                  "--iterations", str(args.iterations), "--json"],
                                 check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        kiln_ms = r["latency_ms"]["median"]
        print(f"| {name} {shapes} | {r['backend']} | {kiln_ms:.3f} | {ort_ms:.3f} | {kiln_ms / ort_ms:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
