#!/usr/bin/env python3
"""ONNX Runtime side of bench/compare_ort.py: one process per case, driven over stdin/stdout.

    python3 bench/ort_worker.py MODEL INPUTS_DIR THREADS

Loads the inputs (input_K.pb), creates an InferenceSession (CPUExecutionProvider, all graph
optimizations, THREADS intra-op threads, sequential execution) and prints one JSON line with the
session creation time and the process's resident memory before the session existed. Then, per
line read from stdin:
    run WARMUP ITERATIONS   -> {"ms": [per-run latency, ...]}
    outputs DIR             -> writes output_K.pb of one run to DIR, {"ok": true}
    quit                    -> {"peak_rss_kib": ...} and exit
"""
import json
import os
import resource
import sys
import time


def rss_kib(field="VmHWM"):
    """This process's peak (VmHWM) or current (VmRSS) resident memory. Not getrusage: Linux
    keeps ru_maxrss across exec, so a child would report its parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    model, inputs_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import numpy as np  # noqa: F401  (imported before the baseline is taken)
    import onnx
    import onnx.numpy_helper
    import onnxruntime as ort

    arrays = []
    k = 0
    while os.path.exists(os.path.join(inputs_dir, f"input_{k}.pb")):
        t = onnx.TensorProto()
        with open(os.path.join(inputs_dir, f"input_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        arrays.append(onnx.numpy_helper.to_array(t))
        k += 1
    baseline = rss_kib("VmRSS")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    init_s = time.perf_counter() - t0
    feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
    print(json.dumps({"init_s": init_s, "baseline_rss_kib": baseline, "ort_version": ort.__version__}),
          flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            warmup, iterations = int(cmd[1]), int(cmd[2])
            for _ in range(warmup):
                sess.run(None, feed)
            ms = []
            for _ in range(iterations):
                t = time.perf_counter()
                sess.run(None, feed)
                ms.append((time.perf_counter() - t) * 1e3)
            print(json.dumps({"ms": ms}), flush=True)
        elif cmd[0] == "outputs":
            outs = sess.run(None, feed)
            os.makedirs(cmd[1], exist_ok=True)
            for k, (o, info) in enumerate(zip(outs, sess.get_outputs())):
                with open(os.path.join(cmd[1], f"output_{k}.pb"), "wb") as f:
                    f.write(onnx.numpy_helper.from_array(o, info.name).SerializeToString())
            print(json.dumps({"ok": True}), flush=True)
        elif cmd[0] == "quit":
            print(json.dumps({"peak_rss_kib": rss_kib()}), flush=True)
            return


if __name__ == "__main__":
    main()
