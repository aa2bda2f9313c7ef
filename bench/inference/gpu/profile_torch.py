"""GPU profile of the benchmark models, on a machine with an NVIDIA GPU and PyTorch.

The agent's own runtime (onnxruntime-node) ships without its CUDA execution provider, so this measures the
same architectures layer for layer with PyTorch's CUDA kernels (cuDNN convolutions, cuBLAS GEMMs) instead:
each spec from `bench/inference/measure-gpu.ts --specs` is rebuilt as Conv(k x k, same padding) -> ReLU ->
MaxPool(2) blocks, Flatten and a final Linear (conv nets), or Linear -> activation layers (MLPs). Weights are
random: dense fp32 kernels take the same time whatever the values.

The method is the agent's profile mode (agent/model-server/profile.ts): per batch size (powers of two), a
few warm-up runs, then timed runs until at least `--min-samples` and `--min-duration-ms` (at most
`--max-samples`). One run is what a serving replica does for a batch: copy the input from host memory to the
GPU, run the model, copy the output back (the copy back waits for the GPU). P50 and P99 are nearest-rank;
throughput is batch x runs / busy time. Like the CPU profiles, `--passes` interleaved passes are run and the
pass with the lowest P99 is kept per (model, batch).

After the passes, `--component-runs` more runs per (model, batch) time the three parts of a run on the GPU's
own clock (CUDA events): the host-to-GPU copy, the model's kernels and the copy back; their medians are
reported as `components`. A profile derived for another GPU scales each part by what bounds it there (the
host link for the copies, peak fp32 throughput and memory bandwidth for the kernels).

fp32 throughout: TF32 is off unless `--tf32` (the ONNX models are fp32, and TF32 changes the arithmetic).

usage: python3 profile_torch.py SPECS.json OUT.json [--passes 3] [--tf32] [--only id,id] [--component-runs 100]
"""

import argparse
import json
import math
import sys
import time

import torch
from torch import nn


def build(spec):
    if spec["kind"] == "conv":
        k = spec["kernelSize"]
        layers = []
        c, h, w = spec["channels"], spec["height"], spec["width"]
        for out in spec["convChannels"]:
            layers += [nn.Conv2d(c, out, k, padding=(k - 1) // 2), nn.ReLU(), nn.MaxPool2d(2, 2)]
            c, h, w = out, h // 2, w // 2
        layers += [nn.Flatten(), nn.Linear(c * h * w, spec["classes"])]
        return nn.Sequential(*layers), (spec["channels"], spec["height"], spec["width"])
    if spec["kind"] == "mlp":
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}.get(spec["activation"])
        layers = []
        size = spec["inputSize"]
        for hidden in spec["hiddenSizes"]:
            layers.append(nn.Linear(size, hidden))
            if act is not None:
                layers.append(act())
            size = hidden
        layers.append(nn.Linear(size, spec["outputSize"]))
        return nn.Sequential(*layers), (spec["inputSize"],)
    raise ValueError(f"unknown model kind {spec['kind']!r}")


def percentile(sorted_values, p):
    rank = min(len(sorted_values), max(1, math.ceil(p / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def profile_batch(model, shape, batch, args, device):
    x = torch.rand((batch, *shape), dtype=torch.float32)
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x.to(device)).cpu()
        latencies = []
        began = time.perf_counter()
        while len(latencies) < args.max_samples and (
            len(latencies) < args.min_samples or (time.perf_counter() - began) * 1000 < args.min_duration_ms
        ):
            t0 = time.perf_counter()
            model(x.to(device)).cpu()
            latencies.append((time.perf_counter() - t0) * 1000)
    busy = sum(latencies)
    latencies.sort()
    return {
        "batchSize": batch,
        "p50Ms": percentile(latencies, 50),
        "p99Ms": percentile(latencies, 99),
        "throughputQps": batch * len(latencies) * 1000 / busy,
        "samples": len(latencies),
    }


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def profile_components(model, shape, batch, runs, device):
    """Medians of the copy-in, kernel and copy-out times of one run, on the GPU's clock."""
    x = torch.rand((batch, *shape), dtype=torch.float32)
    marks = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
    parts = {"h2dMs": [], "computeMs": [], "d2hMs": []}
    with torch.inference_mode():
        for _ in range(max(3, runs // 10)):
            model(x.to(device)).cpu()
        for _ in range(runs):
            marks[0].record()
            on_gpu = x.to(device)
            marks[1].record()
            out = model(on_gpu)
            marks[2].record()
            out.cpu()
            marks[3].record()
            torch.cuda.synchronize()
            parts["h2dMs"].append(marks[0].elapsed_time(marks[1]))
            parts["computeMs"].append(marks[1].elapsed_time(marks[2]))
            parts["d2hMs"].append(marks[2].elapsed_time(marks[3]))
    return {"batchSize": batch, **{k: median(v) for k, v in parts.items()}, "runs": runs}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("specs")
    parser.add_argument("out")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-samples", type=int, default=30)
    parser.add_argument("--max-samples", type=int, default=2000)
    parser.add_argument("--min-duration-ms", type=float, default=500)
    parser.add_argument("--component-runs", type=int, default=100)
    args = parser.parse_args()

    if not torch.cuda.is_available():
        sys.exit("no CUDA device is visible to PyTorch")
    device = torch.device("cuda", 0)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)

    with open(args.specs) as f:
        specs = json.load(f)
    only = set(filter(None, args.only.split(",")))
    models = [m for m in specs["models"] if not only or m["id"] in only]
    built = {}
    for m in models:
        module, shape = build(m["spec"])
        built[m["id"]] = (module.to(device).eval(), shape)

    best = {}
    for p in range(1, args.passes + 1):
        for m in models:
            module, shape = built[m["id"]]
            for batch in m["batches"]:
                entry = profile_batch(module, shape, batch, args, device)
                key = (m["id"], batch)
                if key not in best or entry["p99Ms"] < best[key]["p99Ms"]:
                    best[key] = entry
                print(
                    f"pass {p} {m['id']} batch {batch}: p50 {entry['p50Ms']:.3f} ms, p99 {entry['p99Ms']:.3f} ms, "
                    f"{entry['throughputQps']:.0f} qps ({entry['samples']} runs)",
                    flush=True,
                )

    components = {}
    if args.component_runs > 0:
        for m in models:
            module, shape = built[m["id"]]
            for batch in m["batches"]:
                c = profile_components(module, shape, batch, args.component_runs, device)
                components[(m["id"], batch)] = c
                print(
                    f"components {m['id']} batch {batch}: copy in {c['h2dMs']:.3f} ms, kernels "
                    f"{c['computeMs']:.3f} ms, copy out {c['d2hMs']:.3f} ms",
                    flush=True,
                )

    props = torch.cuda.get_device_properties(0)
    result = {
        "device": torch.cuda.get_device_name(0),
        "gpuMemoryMiB": props.total_memory // (1024 * 1024),
        "multiprocessors": props.multi_processor_count,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "tf32": args.tf32,
        "passes": args.passes,
        "warmup": args.warmup,
        "minSamples": args.min_samples,
        "maxSamples": args.max_samples,
        "minDurationMs": args.min_duration_ms,
        "componentRuns": args.component_runs,
        "reports": [
            {
                "modelId": m["id"],
                "entries": [best[(m["id"], b)] for b in m["batches"]],
                **(
                    {"components": [components[(m["id"], b)] for b in m["batches"]]}
                    if components
                    else {}
                ),
            }
            for m in models
        ],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
