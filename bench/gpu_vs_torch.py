#!/usr/bin/env python3
"""kiln's cuda engines against PyTorch eager and torch.compile, in one run on one GPU.

For each model (torchvision resnet50; transformers bert-base, seq 128; random weights) it
exports ONNX once (fp32, dynamic batch), then for each precision and batch:
  - builds a kiln engine (`kiln build --backend cuda --precision P --shapes ...`), timing the
    build, and checks it against PyTorch's fp32 outputs on one input (`kiln run --expected`);
  - times `kiln bench` (median latency, throughput; replayed graphs) and PyTorch eager and
    torch.compile(mode="reduce-overhead") with CUDA events (median of --iterations runs).
PyTorch runs the same precision: fp32 with TF32 off, tf32 with TF32 on, fp16 with the model and
input in half. kiln's engines keep the model's fp32 inputs and outputs (their casts are timed).

    python3 bench/gpu_vs_torch.py --kiln /tmp/kiln-gpu/kiln --work /tmp/gvt \\
        [--model resnet50] [--precision fp16] [--batch 1 --batch 128] [--json FILE]

Prints one table row per case with the ratio kiln / torch.compile (latency; below 1 is faster).
"""
import argparse
import json
import os
import subprocess
import sys
import time

from torch_gpu_peer import timed  # CUDA-event median, shared with the mobilenet peer

DEFAULT_BATCHES = {"resnet50": [1, 128], "bert_base": [1, 32]}
SEQ = 128


def make_model(name, torch):
    if name == "resnet50":
        import torchvision

        return torchvision.models.resnet50(weights=None).eval().cuda()
    import transformers

    config = transformers.BertConfig()  # bert-base: 12 layers, hidden 768, 12 heads
    return transformers.BertModel(config, add_pooling_layer=False).eval().cuda()


def make_inputs(name, batch, torch, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    if name == "resnet50":
        return (torch.randn(batch, 3, 224, 224, device="cuda", generator=g),)
    ids = torch.randint(0, 30522, (batch, SEQ), device="cuda", generator=g)
    mask = torch.ones(batch, SEQ, dtype=torch.int64, device="cuda")
    return (ids, mask)


def export(name, model, path, torch):
    if os.path.exists(path):
        return
    args = make_inputs(name, 2, torch)
    if name == "resnet50":
        names, outs = ["input"], ["output"]
        axes = {"input": {0: "batch"}, "output": {0: "batch"}}
    else:
        names, outs = ["input_ids", "attention_mask"], ["last_hidden_state"]
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                "last_hidden_state": {0: "batch", 1: "seq"}}
    kwargs = dict(input_names=names, output_names=outs, dynamic_axes=axes, opset_version=17)
    try:
        torch.onnx.export(model, args, path, dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, args, path, **kwargs)


def save_case(name, model, batch, folder, torch):
    """One input set and PyTorch's fp32 outputs, as the ONNX test-data files kiln reads."""
    import onnx.numpy_helper as nh

    os.makedirs(folder, exist_ok=True)
    args = make_inputs(name, batch, torch, seed=1)
    with torch.inference_mode():
        out = model(*args)
    out = out if torch.is_tensor(out) else out[0]
    for k, a in enumerate(args):
        with open(os.path.join(folder, f"input_{k}.pb"), "wb") as f:
            f.write(nh.from_array(a.cpu().numpy()).SerializeToString())
    with open(os.path.join(folder, "output_0.pb"), "wb") as f:
        f.write(nh.from_array(out.float().cpu().numpy()).SerializeToString())


def shapes(name, batch):
    if name == "resnet50":
        return f"input={batch}x3x224x224"
    return f"input_ids={batch}x{SEQ},attention_mask={batch}x{SEQ}"


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", required=True, help="the kiln binary")
    ap.add_argument("--work", required=True, help="folder for ONNX files, plans and test data")
    ap.add_argument("--model", action="append", choices=sorted(DEFAULT_BATCHES))
    ap.add_argument("--precision", action="append", choices=["fp32", "tf32", "fp16", "bf16"])
    ap.add_argument("--batch", type=int, action="append", help="batch sizes (default per model)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--duration", type=float, default=3.0, help="kiln bench seconds per case")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_vs_torch: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    os.makedirs(args.work, exist_ok=True)
    results = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cases": []}
    rows = []
    for name in args.model or ["resnet50"]:
        model = make_model(name, torch)
        onnx_path = os.path.join(args.work, f"{name}.onnx")
        export(name, model, onnx_path, torch)
        for precision in args.precision or ["fp16"]:
            tf32 = precision != "fp32"
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            half = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
            peer = make_model(name, torch)
            peer.load_state_dict(model.state_dict())
            if half:
                peer = peer.to(half)
            compiled = None if args.no_compile else torch.compile(peer, mode="reduce-overhead")
            for batch in args.batch or DEFAULT_BATCHES[name]:
                case = {"model": name, "precision": precision, "batch": batch}
                x = make_inputs(name, batch, torch)
                if half and name == "resnet50":
                    x = (x[0].to(half),)
                with torch.inference_mode():
                    case["eager_ms"] = timed(peer, x, args.warmup, args.iterations, torch)["median_ms"]
                    if compiled is not None:
                        t0 = time.time()
                        compiled(*x)
                        case["compile_s"] = round(time.time() - t0, 1)
                        case["compiled_ms"] = timed(compiled, x, args.warmup, args.iterations, torch)[
                            "median_ms"]
                plan = os.path.join(args.work, f"{name}_{precision}_b{batch}.plan")
                t0 = time.time()
                rc, log = run([args.kiln, "build", onnx_path, "-o", plan, "--backend", "cuda",
                               "--precision", precision, "--shapes", shapes(name, batch)], 900)
                case["build_s"] = round(time.time() - t0, 1)
                if rc != 0:
                    case["error"] = "build: " + log[-400:]
                    results["cases"].append(case)
                    print(f"{name} {precision} b{batch}: kiln build failed: {log[-400:]}", flush=True)
                    continue
                data = os.path.join(args.work, f"{name}_b{batch}_data")
                save_case(name, model, batch, data, torch)
                tol = ["--rtol", "1e-2", "--atol", "1e-2"] if half else ["--rtol", "1e-3", "--atol", "1e-3"]
                rc, log = run([args.kiln, "run", plan, "--inputs", data, "--expected", data] + tol, 600)
                case["check"] = {"exit": rc, "report": log.splitlines()[-1] if log else ""}
                rc, log = run([args.kiln, "bench", plan, "--duration", str(args.duration), "--json"], 600)
                if rc == 0:
                    b = json.loads(log[log.index("{"):])
                    case["kiln_ms"] = b["latency_ms"]["median"]
                    case["kiln_samples_per_s"] = b["samples_per_s"]
                    case["replayed"] = b.get("replayed")
                else:
                    case["error"] = "bench: " + log[-400:]
                rc, log = run([args.kiln, "inspect", plan, "--json"], 120)
                if rc == 0:
                    try:
                        case["memory"] = json.loads(log[log.index("{"):]).get("memory")
                    except ValueError:
                        pass
                results["cases"].append(case)
                ratio = case.get("kiln_ms", float("nan")) / case.get("compiled_ms", float("nan"))
                rows.append((name, precision, batch, case["eager_ms"], case.get("compiled_ms", float("nan")),
                             case.get("kiln_ms", float("nan")), ratio, case["build_s"],
                             case["check"]["exit"]))
                print(f"{name} {precision} b{batch}: eager {case['eager_ms']:.3f} ms, compile "
                      f"{case.get('compiled_ms', float('nan')):.3f} ms, kiln {case.get('kiln_ms', float('nan')):.3f} ms "
                      f"(x{ratio:.2f}), build {case['build_s']} s, check exit {case['check']['exit']}: "
                      f"{case['check']['report']}", flush=True)
            del peer, compiled
            torch.cuda.empty_cache()
    print(f"\n{results['gpu']}, torch {results['torch']}")
    print("| model | precision | batch | eager ms | torch.compile ms | kiln ms | kiln / compile | kiln build s | check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.2f} | {r[7]} | "
              f"{'ok' if r[8] == 0 else 'FAIL'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
