#!/usr/bin/env python3
"""Formats the JSON lines of benchmarks/run.sh as Markdown tables: the machine, then Graft beside
each form of PyTorch (eager, channels_last, traced and frozen) and ONNX Runtime, with the speed
ratio against the fastest PyTorch form, peak memory and memory above each process's baseline, and
the fraction of the sgemm peak reached. A workload measured in several rounds shows the median of
its rounds."""
import json
import statistics
import sys


# Speed targets, Graft / the fastest PyTorch form (benchmarks/README.md).
TARGETS = {
    "resnet34-eval": 1.2,
    "resnet34-transfer": 1.5,
    "resnet34-full": 1.0,
    "vanilla-train": 1.5,
    "resnet34-transfer-epochs": 1.5,
    "resnet18-transfer": 1.5,
    "resnet18-full": 1.0,
}
# At small images (32² and below) the goal is 2× the fastest PyTorch for every workload.
SMALL_IMAGE_TARGET = 2.0
FORMS = ["eager", "channels_last", "torchscript"]


def key(r):
    # Whole-run workloads also differ by the set's size and the epochs of a run.
    return (r["workload"], r.get("batch"), r.get("image_size"), r.get("images"), r.get("epochs"))


def label(k):
    return f"{k[0]} ({k[3]} images × {k[4]} epochs)" if k[3] is not None else k[0]


def medians(rows, select):
    """Per workload key, the median images/s and memory over the rounds of the rows selected."""
    groups = {}
    for r in rows:
        if "peak_mb" in r and select(r):
            groups.setdefault(key(r), []).append(r)
    out = {}
    for k, rs in groups.items():
        m = dict(rs[0])
        for field in ("images_per_s", "peak_mb", "baseline_mb"):
            if all(field in r for r in rs):
                m[field] = statistics.median(r[field] for r in rs)
        m["rounds"] = len(rs)
        out[k] = m
    return out


def above(r):
    return f"{r['peak_mb'] - r['baseline_mb']:.0f}" if "baseline_mb" in r else "–"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    machine = next((r["machine"] for r in rows if "machine" in r), None)
    if machine:
        limit = f", ONEDNN_MAX_CPU_ISA={machine['onednn_max_cpu_isa']}" if machine.get("onednn_max_cpu_isa") else ""
        print(f"**{machine['cpu']}**, ISA {machine['isa'].upper()}{limit}, {machine['cores']} cores; "
              f"{machine['threads']} threads for each engine; {machine['date']}; PyTorch {machine['torch']}\n")
    sgemm = max((r for r in rows if r.get("workload") == "sgemm"), key=lambda r: r["gflops"], default=None)
    peak = sgemm["gflops"] if sgemm else None
    graft = medians(rows, lambda r: r.get("engine") == "graft")
    torch = {f: medians(rows, lambda r, f=f: r.get("engine") == "pytorch" and r.get("form", "eager") == f
                        and not r.get("cached_trunk")) for f in FORMS}
    cached = medians(rows, lambda r: r.get("engine") == "pytorch" and r.get("cached_trunk"))
    ort = medians(rows, lambda r: r.get("engine") == "onnxruntime" and not r.get("model_file"))
    ort_graft = medians(rows, lambda r: r.get("engine") == "onnxruntime" and r.get("model_file") == "graft-export")
    if peak:
        print(f"sgemm peak, all cores: {peak:.1f} GFLOP/s (OpenBLAS {sgemm.get('openblas_gflops', '?')}, "
              f"oneDNN {sgemm.get('onednn_gflops', '?')})\n")
    print("| workload | Graft img/s | PyTorch eager | PyTorch channels_last | PyTorch traced+frozen "
          "| Graft / fastest PyTorch | target | Graft peak MB (above baseline) "
          "| fastest PyTorch peak MB (above baseline) | memory ratio | Graft % sgemm peak | threads G/P |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, g in graft.items():
        forms = {f: torch[f].get(k) for f in FORMS}
        present = {f: t for f, t in forms.items() if t}
        gflop = g.get("gflop_per_image", 0)
        frac = f"{100 * g['images_per_s'] * gflop / peak:.0f}%" if peak and gflop else "–"
        goal = SMALL_IMAGE_TARGET if k[2] is not None and k[2] <= 32 else TARGETS.get(k[0])
        target = f"≥ {goal:.1f}×" if goal else "–"
        name = label(k) + (", Graft's trunk cache vs PyTorch recomputing the trunk" if k[3] is not None else "")
        cells = [f"{name} (batch {k[1]}, {k[2]}²)", f"{g['images_per_s']:.2f}"]
        cells += [f"{forms[f]['images_per_s']:.2f}" if forms[f] else "–" for f in FORMS]
        if present:
            best = max(present.values(), key=lambda t: t["images_per_s"])
            cells += [f"**{g['images_per_s'] / best['images_per_s']:.2f}×** ({best.get('form', 'eager')})", target,
                      f"{g['peak_mb']:.0f} ({above(g)})", f"{best['peak_mb']:.0f} ({above(best)})",
                      f"{g['peak_mb'] / best['peak_mb']:.2f}×", frac,
                      f"{g.get('threads', '?')}/{best.get('threads', '?')}"]
        else:
            cells += ["–", target, f"{g['peak_mb']:.0f} ({above(g)})", "–", "–", frac, f"{g.get('threads', '?')}/–"]
        print("| " + " | ".join(cells) + " |")
        c = cached.get(k)
        if c:
            print(f"| {label(k)}, **both caching the trunk's features** (PyTorch: computed once under no_grad) "
                  f"| {g['images_per_s']:.2f} | – | {c['images_per_s']:.2f} | – "
                  f"| **{g['images_per_s'] / c['images_per_s']:.2f}×** (cached) | {target} "
                  f"| {g['peak_mb']:.0f} ({above(g)}) | {c['peak_mb']:.0f} ({above(c)}) "
                  f"| {g['peak_mb'] / c['peak_mb']:.2f}× | – | {g.get('threads', '?')}/{c.get('threads', '?')} |")
    for what, runs in (("torchvision's model exported by PyTorch", ort), ("the file graft export writes", ort_graft)):
        for k, o in runs.items():
            g = graft.get(k)
            ratio = f"**{g['images_per_s'] / o['images_per_s']:.2f}×** (target ≥ 1.0×)" if g else "–"
            print(f"\nONNX Runtime on {what}, {label(k)} (batch {k[1]}, {k[2]}², {o.get('threads', '?')} threads): "
                  f"{o['images_per_s']:.2f} img/s, peak {o['peak_mb']:.0f} MB ({above(o)} above baseline); "
                  f"Graft / ONNX Runtime {ratio}")

    jpeg_graft = [r["images_per_s"] for r in rows if r.get("workload") == "jpeg-pipeline"]
    jpeg_pillow = [r["images_per_second"] for r in rows if r.get("benchmark") == "jpeg_eval_pipeline"]
    jpeg_backend = next((r.get("backend") for r in rows if r.get("benchmark") == "jpeg_eval_pipeline"), "Pillow")
    if jpeg_graft:
        g = statistics.median(jpeg_graft)
        line = f"\nJPEG folder → normalised 224² batches: Graft {g:.0f} img/s (median of {len(jpeg_graft)})"
        if jpeg_pillow:
            p = statistics.median(jpeg_pillow)
            line += (f", {jpeg_backend} {p:.0f} img/s (median of {len(jpeg_pillow)}, workers started and "
                     f"warm): **{g / p:.2f}×**")
        print(line)
    aug_graft = [r["images_per_s"] for r in rows if r.get("workload") == "jpeg-pipeline-augment-standard"]
    aug_torch = [r["images_per_second"] for r in rows if r.get("benchmark") == "jpeg_train_pipeline_standard"]
    if aug_graft:
        g = statistics.median(aug_graft)
        line = (f"JPEG folder → augmented 224² training batches (`--augment standard`: crop, flip, "
                f"TrivialAugmentWide): Graft {g:.0f} img/s (median of {len(aug_graft)})")
        if aug_torch:
            p = statistics.median(aug_torch)
            line += f", torchvision {p:.0f} img/s (median of {len(aug_torch)}): **{g / p:.2f}×**"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
