#!/usr/bin/env python3
"""Formats the JSON lines of benchmarks/run.sh as Markdown tables: Graft beside PyTorch (and
ONNX Runtime), with the speed and peak-memory ratios and the fraction of the sgemm peak reached.
A workload measured in several rounds shows the median of its rounds."""
import json
import statistics
import sys


# Speed targets, Graft / PyTorch (benchmarks/README.md).
TARGETS = {
    "resnet34-eval": 1.0,
    "resnet34-transfer": 1.5,
    "resnet34-full": 1.0,
    "vanilla-train": 1.0,
    "resnet34-transfer-epochs": 1.5,
}


def key(r):
    # Whole-run workloads also differ by the set's size and the epochs of a run.
    return (r["workload"], r.get("batch"), r.get("image_size"), r.get("images"), r.get("epochs"))


def label(k):
    return f"{k[0]} ({k[3]} images × {k[4]} epochs)" if k[3] is not None else k[0]


def medians(rows, engine):
    """Per workload key, the median images/s and peak memory over its rounds."""
    groups = {}
    for r in rows:
        if r.get("engine") == engine and "peak_mb" in r:
            groups.setdefault(key(r), []).append(r)
    out = {}
    for k, rs in groups.items():
        m = dict(rs[0])
        m["images_per_s"] = statistics.median(r["images_per_s"] for r in rs)
        m["peak_mb"] = statistics.median(r["peak_mb"] for r in rs)
        m["rounds"] = len(rs)
        out[k] = m
    return out


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    sgemm = max((r for r in rows if r.get("workload") == "sgemm"), key=lambda r: r["gflops"], default=None)
    peak = sgemm["gflops"] if sgemm else None
    graft, torch, ort = (medians(rows, e) for e in ("graft", "pytorch", "onnxruntime"))
    if peak:
        print(f"sgemm peak, all cores: {peak:.1f} GFLOP/s (OpenBLAS {sgemm.get('openblas_gflops', '?')}, "
              f"oneDNN {sgemm.get('onednn_gflops', '?')})\n")
    print("| workload | batch | size | Graft img/s | PyTorch img/s | speed ratio | target | Graft peak MB "
          "| PyTorch peak MB | memory ratio | Graft % sgemm peak | PyTorch % sgemm peak |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, g in graft.items():
        t = torch.get(k)
        gflop = g.get("gflop_per_image", 0)

        def frac(ips):
            return f"{100 * ips * gflop / peak:.0f}%" if peak and gflop else "–"

        target = f"≥ {TARGETS[k[0]]:.1f}×" if k[0] in TARGETS else "–"
        cells = [label(k), str(k[1]), str(k[2]), f"{g['images_per_s']:.2f}"]
        if t:
            cells += [f"{t['images_per_s']:.2f}", f"**{g['images_per_s'] / t['images_per_s']:.2f}×**", target,
                      f"{g['peak_mb']:.0f}", f"{t['peak_mb']:.0f}", f"{g['peak_mb'] / t['peak_mb']:.2f}×",
                      frac(g["images_per_s"]), frac(t["images_per_s"])]
        else:
            cells += ["–", "–", target, f"{g['peak_mb']:.0f}", "–", "–", frac(g["images_per_s"]), "–"]
        print("| " + " | ".join(cells) + " |")
    for k, o in ort.items():
        g = graft.get(k)
        ratio = f"{g['images_per_s'] / o['images_per_s']:.2f}×" if g else "–"
        print(f"\nONNX Runtime {label(k)} (batch {k[1]}, {k[2]}²): {o['images_per_s']:.2f} img/s, "
              f"peak {o['peak_mb']:.0f} MB; Graft/ONNX Runtime speed {ratio}")

    jpeg_graft = [r["images_per_s"] for r in rows if r.get("workload") == "jpeg-pipeline"]
    jpeg_pillow = [r["images_per_second"] for r in rows if r.get("benchmark") == "jpeg_eval_pipeline"]
    if jpeg_graft:
        g = statistics.median(jpeg_graft)
        line = f"\nJPEG folder → normalised 224² batches: Graft {g:.0f} img/s (median of {len(jpeg_graft)})"
        if jpeg_pillow:
            p = statistics.median(jpeg_pillow)
            line += f", Pillow + torchvision {p:.0f} img/s (median of {len(jpeg_pillow)}): **{g / p:.2f}×** (target ≥ 2×)"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
