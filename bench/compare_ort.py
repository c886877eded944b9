#!/usr/bin/env python3
"""kiln against ONNX Runtime on the same machine, models, inputs and thread count, in one run.

    python3 bench/compare_ort.py [--cases mobilenet_v2:1,bert_mini:8,...] [--threads 2]
                                 [--rounds 5] [--iterations 20] [--warmup 5]
                                 [--backend cpu] [--json results.json] [--markdown table.md]

Per case (model:batch; the sequence length is the stored input's): builds a kiln plan for the
case's shapes (timed: the build time), starts an ONNX Runtime worker (bench/ort_worker.py:
CPUExecutionProvider, all graph optimizations, the same intra-op thread count; its session
creation time is ORT's build time), checks once that kiln's outputs match ORT's, then alternates
rounds of `kiln bench` and ORT runs (warm-up, then timed runs each), pooling the per-run latencies
of all rounds. Reports median and p90 latency, throughput (samples/s), kiln/ORT ratio of medians
(below 1: kiln is faster) and their geometric mean, build time, and peak resident memory (VmHWM)
of the `kiln bench` process and of the ORT worker (with the worker's resident memory after
importing Python, numpy, onnx and onnxruntime and loading the inputs, before the session). Inputs: the model's stored test inputs, tiled or cut along the
batch axis (digits_resnet uses its held-out images). Needs `pip install onnxruntime onnx numpy`
(scripts/setup.sh).
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

DEFAULT_CASES = ("mobilenet_v2:1,mobilenet_v2:8,vit_tiny:1,vit_tiny:8,bert_mini:1,bert_mini:8,"
                 "gpt2_tiny:1,digits_resnet:1,digits_resnet:64")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def run_with_rusage(cmd):
    """Runs cmd; returns (exit code, stdout, stderr, peak RSS in KiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read().decode(), err.read().decode(), ru.ru_maxrss


def load_tensor(path):
    import onnx
    import onnx.numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t), t.name


def make_inputs(model_dir, batch, out_dir):
    """Writes input_K.pb for `batch` into out_dir; returns [(name, shape)]."""
    import numpy as np
    import onnx
    import onnx.numpy_helper
    m = onnx.load(os.path.join(model_dir, "model.onnx"), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    data = os.path.join(model_dir, "test_data_set_0")
    arrays = [load_tensor(os.path.join(data, f"input_{k}.pb"))[0] for k in range(len(names))]
    held_out = os.path.join(model_dir, "dataset", "test_x.pb")
    if len(arrays) == 1 and os.path.exists(held_out):
        arrays = [load_tensor(held_out)[0]]
    out = []
    os.makedirs(out_dir, exist_ok=True)
    for k, (name, a) in enumerate(zip(names, arrays)):
        reps = -(-batch // a.shape[0])
        a = np.concatenate([a] * reps, axis=0)[:batch] if reps > 1 else a[:batch]
        a = np.ascontiguousarray(a)
        with open(os.path.join(out_dir, f"input_{k}.pb"), "wb") as f:
            f.write(onnx.numpy_helper.from_array(a, name).SerializeToString())
        out.append((name, a.shape))
    return out


def outputs_match(kiln_dir, ort_dir):
    """Max |kiln - ORT| <= 1e-4 * max |ORT| + 1e-5 for every output; returns (ok, worst ratio)."""
    import numpy as np
    k, worst, ok = 0, 0.0, True
    while os.path.exists(os.path.join(ort_dir, f"output_{k}.pb")):
        o = load_tensor(os.path.join(ort_dir, f"output_{k}.pb"))[0].astype(np.float64)
        kp = os.path.join(kiln_dir, f"output_{k}.pb")
        if not os.path.exists(kp):
            return False, math.inf
        x = load_tensor(kp)[0].astype(np.float64)
        if x.shape != o.shape:
            return False, math.inf
        bound = 1e-4 * float(np.max(np.abs(o))) + 1e-5
        err = float(np.max(np.abs(x - o))) if o.size else 0.0
        worst = max(worst, err / bound)
        ok = ok and err <= bound
        k += 1
    return ok and k > 0, worst


class OrtWorker:
    def __init__(self, model, inputs_dir, threads):
        here = os.path.dirname(os.path.abspath(__file__))
        self.p = subprocess.Popen([sys.executable, os.path.join(here, "ort_worker.py"), model,
                                   inputs_dir, str(threads)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.hello = self._read()

    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("ORT worker exited early")
        return json.loads(line)

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self):
        r = self.ask("quit")
        os.waitpid(self.p.pid, 0)
        return r["peak_rss_kib"]


def run_case(args, model_name, batch, tmp):
    model_dir = os.path.join(args.models_dir, model_name)
    model = os.path.join(model_dir, "model.onnx")
    case_dir = os.path.join(tmp, f"{model_name}_b{batch}")
    inputs_dir = os.path.join(case_dir, "inputs")
    shapes = make_inputs(model_dir, batch, inputs_dir)
    shape_arg = ",".join(f"{n}={'x'.join(str(d) for d in s)}" for n, s in shapes)
    plan = os.path.join(case_dir, "model.plan")

    t0 = time.perf_counter()
    rc, out, err, _ = run_with_rusage([args.kiln, "build", model, "-o", plan, "--backend",
                                       args.backend, "--threads", str(args.threads), "--shapes",
                                       shape_arg])
    build_s = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"kiln build failed for {model_name}:{batch}: {err}")

    ort = OrtWorker(model, inputs_dir, args.threads)
    match, worst = True, 0.0
    if not args.skip_check:
        kiln_out, ort_out = os.path.join(case_dir, "kiln_out"), os.path.join(case_dir, "ort_out")
        rc, out, err, _ = run_with_rusage([args.kiln, "run", plan, "--inputs", inputs_dir,
                                           "--output-dir", kiln_out])
        if rc != 0:
            raise RuntimeError(f"kiln run failed for {model_name}:{batch}: {err}")
        ort.ask("outputs " + ort_out)
        match, worst = outputs_match(kiln_out, ort_out)

    kiln_ms, ort_ms, kiln_rss = [], [], 0
    for r in range(args.rounds):
        # Alternate which side goes first so that neither always runs right after the other.
        order = ("kiln", "ort") if r % 2 == 0 else ("ort", "kiln")
        for side in order:
            if side == "kiln":
                rc, out, err, rss = run_with_rusage(
                    [args.kiln, "bench", plan, "--inputs", inputs_dir, "--warmup",
                     str(args.warmup), "--iterations", str(args.iterations), "--json",
                     "--samples"])
                if rc != 0:
                    raise RuntimeError(f"kiln bench failed for {model_name}:{batch}: {err}")
                r_json = json.loads(out)
                kiln_ms += r_json["latencies_ms"]
                # kiln's own VmHWM: getrusage of a child carries the parent's peak across exec.
                kiln_rss = max(kiln_rss, r_json.get("peak_rss_kib", rss))
            else:
                ort_ms += ort.ask(f"run {args.warmup} {args.iterations}")["ms"]
    ort_rss = ort.close()

    def stats(ms):
        med = statistics.median(ms)
        return {"median_ms": med, "p90_ms": percentile(ms, 90), "min_ms": min(ms),
                "samples_per_s": batch * 1e3 / statistics.mean(ms), "runs": len(ms)}

    return {
        "case": f"{model_name}:{batch}", "model": model_name, "batch": batch, "shapes": shape_arg,
        "kiln": dict(stats(kiln_ms), build_s=build_s, peak_rss_mib=kiln_rss / 1024.0),
        "ort": dict(stats(ort_ms), init_s=ort.hello["init_s"], peak_rss_mib=ort_rss / 1024.0,
                    baseline_rss_mib=ort.hello["baseline_rss_kib"] / 1024.0),
        "ratio": statistics.median(kiln_ms) / statistics.median(ort_ms),
        "outputs_match": match, "worst_error_over_bound": worst,
        "ort_version": ort.hello["ort_version"],
    }


def markdown(results, meta):
    lines = [
        "| case | shapes | kiln median / p90 ms | ORT median / p90 ms | kiln / ORT | kiln samples/s "
        "| ORT samples/s | kiln build s | ORT session s | kiln peak RSS MiB | ORT peak RSS MiB "
        "(baseline) | outputs match ORT |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        k, o = r["kiln"], r["ort"]
        lines.append(
            f"| {r['case']} | {r['shapes']} | {k['median_ms']:.3f} / {k['p90_ms']:.3f} | "
            f"{o['median_ms']:.3f} / {o['p90_ms']:.3f} | **{r['ratio']:.2f}** | "
            f"{k['samples_per_s']:.1f} | {o['samples_per_s']:.1f} | {k['build_s']:.2f} | "
            f"{o['init_s']:.2f} | {k['peak_rss_mib']:.0f} | {o['peak_rss_mib']:.0f} "
            f"({o['baseline_rss_mib']:.0f}) | {'yes' if r['outputs_match'] else 'NO'} |")
    lines.append("")
    lines.append(f"Geometric mean of kiln / ORT: **{meta['geomean_ratio']:.3f}**; "
                 f"worst: {meta['max_ratio']:.2f} ({meta['max_case']}).")
    return "\n".join(lines)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(here, "..", "build", "kiln"))
    ap.add_argument("--models-dir", default=os.path.join(here, "..", "..", "shared", "models"))
    ap.add_argument("--cases", default=DEFAULT_CASES, help="model:batch, comma-separated")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20, help="timed runs per side per round")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs per side per round")
    ap.add_argument("--skip-check", action="store_true", help="skip the kiln vs ORT output check")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--markdown", help="write the table here")
    args = ap.parse_args()

    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            model_name, batch = case.split(":")
            r = run_case(args, model_name, int(batch), tmp)
            results.append(r)
            print(f"{r['case']}: kiln {r['kiln']['median_ms']:.3f} ms, ORT "
                  f"{r['ort']['median_ms']:.3f} ms, ratio {r['ratio']:.2f}, outputs "
                  f"{'match' if r['outputs_match'] else 'DIFFER'}", file=sys.stderr, flush=True)
    ratios = [r["ratio"] for r in results]
    worst = max(results, key=lambda r: r["ratio"])
    meta = {
        "threads": args.threads, "backend": args.backend, "rounds": args.rounds,
        "iterations_per_round": args.iterations, "warmup_per_round": args.warmup,
        "geomean_ratio": math.exp(sum(math.log(x) for x in ratios) / len(ratios)),
        "max_ratio": worst["ratio"], "max_case": worst["case"],
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "ort_version": results[0]["ort_version"] if results else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    meta["machine"]["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    table = markdown(results, meta)
    print(table)
    print(f"load average before {load_before[0]:.2f}, after {meta['load_average_after'][0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    return 0 if all(r["outputs_match"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
