#!/usr/bin/env python3
"""Writes a test data set for an ONNX model: generated inputs and ONNX Runtime's outputs.

    ort_reference.py MODEL OUT_DIR --shape NAME=AxB [--shape ...] [--seed N] [--max-id N]

Integer inputs named like masks get ones; other integer inputs get ids in [0, max-id); float
inputs get standard normal values. Inputs go to OUT_DIR/input_K.pb, ONNX Runtime's outputs
(all graph optimizations on) to OUT_DIR/output_K.pb, in the model's order. Exit code 3 when
onnxruntime is not installed.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out_dir")
    ap.add_argument("--shape", action="append", default=[])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-id", type=int, default=1000)
    a = ap.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed", file=sys.stderr)
        return 3
    shapes = {}
    for s in a.shape:
        name, dims = s.split("=", 1)
        shapes[name] = [int(d) for d in dims.split("x")] if dims else []
    rng = np.random.default_rng(a.seed)
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    feeds = {}
    os.makedirs(a.out_dir, exist_ok=True)
    for k, inp in enumerate(sess.get_inputs()):
        dims = shapes[inp.name]
        if "int" in inp.type:
            dtype = np.int64 if "int64" in inp.type else np.int32
            if "mask" in inp.name:
                x = np.ones(dims, dtype=dtype)
            else:
                x = rng.integers(0, a.max_id, size=dims).astype(dtype)
        else:
            x = rng.standard_normal(dims).astype(np.float32)
        feeds[inp.name] = x
        t = numpy_helper.from_array(x, inp.name)
        with open(os.path.join(a.out_dir, "input_%d.pb" % k), "wb") as f:
            f.write(t.SerializeToString())
    outs = sess.run(None, feeds)
    for k, (o, y) in enumerate(zip(sess.get_outputs(), outs)):
        t = numpy_helper.from_array(np.ascontiguousarray(y), o.name)
        with open(os.path.join(a.out_dir, "output_%d.pb" % k), "wb") as f:
            f.write(t.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
