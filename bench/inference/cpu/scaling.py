"""How one model replica's CPU throughput grows with the vCPUs it is given, on a many-core machine.

The bench derives the larger c7i sizes from a 2-vCPU measurement with an assumed scaling table
(CPU_VCPU_SCALE in lib/core/inference/derivation.ts). This measures that scaling for the bench models: each
spec from `bench/inference/measure-gpu.ts --specs` is rebuilt as the same ONNX graph the project's builder
writes (Conv -> Relu -> MaxPool(2) blocks, Flatten, Gemm; or Gemm -> activation layers; opset 13, random
fp32 weights), and run with onnxruntime's CPU provider the way the agent runs it (all graph optimisations,
sequential execution, intra-op threads = vCPUs). For N vCPUs the process is pinned to N logical CPUs taken
as whole physical cores (both hyper-threads of a core, as an EC2 vCPU is), N/2 cores in all.

Per (model, vCPUs, batch): two warm-up runs, then timed runs until at least `--min-runs` and
`--min-duration-s`; throughput is batch x runs / busy time. Passes are interleaved and the best throughput
of `--passes` is kept, as the profile mode keeps its lowest-P99 pass.

usage: python3 scaling.py SPECS.json OUT.json [--vcpus 2,4,8,16] [--batches 1,8] [--passes 2] [--only id,id]
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def tensor(rng, name, shape, fan_in):
    limit = np.sqrt(6.0 / max(1, fan_in))
    return numpy_helper.from_array(rng.uniform(-limit, limit, shape).astype(np.float32), name)


def build(spec):
    rng = np.random.default_rng(spec.get("seed", 1))
    nodes, inits = [], []
    if spec["kind"] == "conv":
        k = spec["kernelSize"]
        c, h, w = spec["channels"], spec["height"], spec["width"]
        in_shape = ["N", c, h, w]
        current = "input"
        for i, out in enumerate(spec["convChannels"]):
            inits.append(tensor(rng, f"cw{i}", (out, c, k, k), c * k * k))
            inits.append(tensor(rng, f"cb{i}", (out,), 200))
            pad = (k - 1) // 2
            nodes.append(
                helper.make_node(
                    "Conv", [current, f"cw{i}", f"cb{i}"], [f"conv{i}"],
                    kernel_shape=[k, k], pads=[pad] * 4, strides=[1, 1],
                )
            )
            nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
            nodes.append(helper.make_node("MaxPool", [f"relu{i}"], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2]))
            current, c, h, w = f"pool{i}", out, h // 2, w // 2
        flat = c * h * w
        nodes.append(helper.make_node("Flatten", [current], ["flat"], axis=1))
        inits.append(tensor(rng, "fw", (flat, spec["classes"]), flat))
        inits.append(tensor(rng, "fb", (spec["classes"],), 200))
        nodes.append(helper.make_node("Gemm", ["flat", "fw", "fb"], ["output"]))
        out_size = spec["classes"]
    elif spec["kind"] == "mlp":
        act = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}.get(spec["activation"])
        size = spec["inputSize"]
        in_shape = ["N", size]
        current = "input"
        sizes = list(spec["hiddenSizes"]) + [spec["outputSize"]]
        for i, out in enumerate(sizes):
            inits.append(tensor(rng, f"w{i}", (size, out), size))
            inits.append(tensor(rng, f"b{i}", (out,), 200))
            last = i == len(sizes) - 1
            name = "output" if last else f"h{i}"
            nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [name]))
            current = name
            if not last and act is not None:
                nodes.append(helper.make_node(act, [name], [f"a{i}"]))
                current = f"a{i}"
            size = out
        out_size = spec["outputSize"]
    else:
        raise ValueError(f"unknown model kind {spec['kind']!r}")
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", out_size])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString(), in_shape[1:]


def cores():
    """Logical CPUs this process may use, grouped by physical core (package, core id), in core order."""
    groups = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{base}/core_id") as f:
                core = int(f.read())
            with open(f"{base}/physical_package_id") as f:
                package = int(f.read())
        except OSError:
            core, package = cpu, 0
        groups.setdefault((package, core), []).append(cpu)
    return [groups[k] for k in sorted(groups)]


def pick(core_list, vcpus):
    """`vcpus` logical CPUs as whole cores where the cores have two threads, else one CPU per vCPU."""
    chosen = []
    for group in core_list:
        if len(chosen) >= vcpus:
            break
        chosen += group[: vcpus - len(chosen)]
    if len(chosen) < vcpus:
        sys.exit(f"asked for {vcpus} vCPUs, only {len(chosen)} logical CPUs are available")
    return chosen


def measure(session, shape, batch, args):
    x = np.random.default_rng(7).random((batch, *shape), dtype=np.float32)
    feed = {"input": x}
    for _ in range(2):
        session.run(None, feed)
    runs, busy = 0, 0.0
    while runs < args.min_runs or busy < args.min_duration_s:
        t0 = time.perf_counter()
        session.run(None, feed)
        busy += time.perf_counter() - t0
        runs += 1
    return batch * runs / busy, runs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("specs")
    parser.add_argument("out")
    parser.add_argument("--vcpus", default="2,4,8,16")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--only", default="")
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--min-duration-s", type=float, default=0.6)
    args = parser.parse_args()
    vcpus = [int(v) for v in args.vcpus.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    with open(args.specs) as f:
        specs = json.load(f)
    only = set(filter(None, args.only.split(",")))
    models = [m for m in specs["models"] if not only or m["id"] in only]
    core_list = cores()
    all_cpus = sorted(os.sched_getaffinity(0))
    best = {}
    for p in range(1, args.passes + 1):
        for m in models:
            blob, shape = build(m["spec"])
            for n in vcpus:
                cpus = pick(core_list, n)
                os.sched_setaffinity(0, cpus)
                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                options.intra_op_num_threads = n
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
                for b in batches:
                    qps, runs = measure(session, shape, b, args)
                    key = (m["id"], n, b)
                    best[key] = max(best.get(key, 0.0), qps)
                    print(f"pass {p} {m['id']} {n} vCPUs (cpus {cpus}) batch {b}: {qps:.1f} qps ({runs} runs)", flush=True)
                del session
                os.sched_setaffinity(0, all_cpus)
    model_name = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model_name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model_name)
    except OSError:
        pass
    result = {
        "machine": {
            "processor": model_name,
            "logicalCpus": len(all_cpus),
            "physicalCores": len(core_list),
            "threadsPerCore": max(len(g) for g in core_list),
        },
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "passes": args.passes,
        "minRuns": args.min_runs,
        "minDurationS": args.min_duration_s,
        "vcpus": vcpus,
        "batches": batches,
        "results": [
            {
                "modelId": m["id"],
                "entries": [
                    {"vcpus": n, "batchSize": b, "throughputQps": best[(m["id"], n, b)]} for n in vcpus for b in batches
                ],
            }
            for m in models
        ],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
