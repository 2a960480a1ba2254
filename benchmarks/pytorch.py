#!/usr/bin/env python3
"""The engine workloads of `graft-bench engine`, run in PyTorch on the same cores.

    python3 benchmarks/pytorch.py WORKLOAD [--iterations N] [--warmup K] [--batch B] [--size S]
                                           [--threads T] [--engine torch|onnxruntime]
                                           [--images N --epochs E]   (resnet34-transfer-epochs)

Prints one JSON line in the harness's format: images/s of the median step and the process's peak
resident memory (ru_maxrss). Run one workload per process so that peak memory is its own.

Each step matches the Swift harness exactly: same shapes, same trainable set (layer4 + a new
5-class head for the transfer step, with the frozen layers' BatchNorm in eval mode), zero_grad,
forward, cross-entropy, backward; no optimizer step in either. Weights are random (speed does not
depend on their values), the input is a fixed normal batch.

resnet34-transfer-epochs is a whole fine-tuning run instead: layer4 + head trained for --epochs
epochs over a fixed set of --images images, shuffled every epoch, with SGD steps, as a plain
PyTorch loop runs it (frozen trunk in eval mode, requires_grad=False). One step is the whole run.
"""
import argparse
import json
import resource
import statistics
import sys
import time

WORKLOADS = {
    "resnet34-eval": (16, 224),
    "resnet34-transfer": (32, 224),
    "resnet34-full": (32, 224),
    "vanilla-train": (64, 128),
    "resnet34-transfer-epochs": (32, 224),
}
# resnet34-transfer-epochs: images in the set and epochs of one timed run (--images, --epochs).
RUN_IMAGES, RUN_EPOCHS = 128, 4


def vanilla_cnn(torch, num_classes):
    nn = torch.nn
    layers, cin = [], 3
    for cout in (32, 64, 128, 256):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(
        nn.Sequential(*layers),
        nn.AdaptiveAvgPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(1024, 256), nn.ReLU(), nn.Dropout(0.5),
                      nn.Linear(256, num_classes)),
    )


def build(torch, workload):
    import torchvision

    if workload == "vanilla-train":
        model = vanilla_cnn(torch, 5)
        model.train()
        return model
    model = torchvision.models.resnet34(weights=None)
    if workload == "resnet34-eval":
        model.eval()
        return model
    model.fc = torch.nn.Linear(512, 5)
    model.train()
    if workload in ("resnet34-transfer", "resnet34-transfer-epochs"):
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("layer4.") or name.startswith("fc.")
        # Frozen blocks' BatchNorm in eval mode, as Graft's default BatchNormPolicy.eval.
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d) and not name.startswith("layer4."):
                m.eval()
    return model


def run_torch(args, batch, size):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = build(torch, args.workload)
    x = torch.randn(batch, 3, size, size)
    labels = torch.arange(batch) % 5
    loss_fn = torch.nn.CrossEntropyLoss()

    if args.workload == "resnet34-eval":
        def step():
            with torch.inference_mode():
                model(x)
    elif args.workload == "resnet34-transfer-epochs":
        images = torch.randn(args.images, 3, size, size)
        targets = torch.arange(args.images) % 5
        batches = (args.images + batch - 1) // batch  # the last one partial, as Graft's source

        def step():
            optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
            for _ in range(args.epochs):
                order = torch.randperm(len(images))
                for b in range(batches):
                    idx = order[b * batch:(b + 1) * batch]
                    optimizer.zero_grad(set_to_none=True)
                    loss_fn(model(images[idx]), targets[idx]).backward()
                    optimizer.step()
    else:
        def step():
            model.zero_grad(set_to_none=True)
            loss_fn(model(x), labels).backward()
    return measure(step, args)


def run_onnxruntime(args, batch, size):
    """ResNet34 eval only: the torchvision model exported to ONNX, run by ONNX Runtime."""
    import io

    import numpy as np
    import onnxruntime as ort
    import torch

    model = build(torch, "resnet34-eval")
    buffer = io.BytesIO()
    torch.onnx.export(model, torch.randn(1, 3, size, size), buffer, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((batch, 3, size, size), dtype=np.float32)
    return measure(lambda: session.run(None, {"x": x}), args)


def measure(step, args):
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--images", type=int, default=RUN_IMAGES)
    parser.add_argument("--epochs", type=int, default=RUN_EPOCHS)
    args = parser.parse_args()
    batch, size = WORKLOADS[args.workload]
    batch, size = args.batch or batch, args.size or size

    if args.engine == "onnxruntime":
        if args.workload != "resnet34-eval":
            sys.exit("onnxruntime runs resnet34-eval only")
        times = run_onnxruntime(args, batch, size)
    else:
        times = run_torch(args, batch, size)
    is_run = args.workload == "resnet34-transfer-epochs"
    images_per_step = args.images * args.epochs if is_run else batch
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {
        "engine": "pytorch" if args.engine == "torch" else "onnxruntime",
        "workload": args.workload, "batch": batch, "image_size": size,
        "images_per_s": round(images_per_step / statistics.median(times), 3), "peak_mb": round(peak_mb, 1),
    }
    if is_run:
        result.update(images=args.images, epochs=args.epochs)
    result["step_s"] = [round(t, 4) for t in times]
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
