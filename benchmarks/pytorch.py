#!/usr/bin/env python3
"""The engine workloads of `graft-bench engine`, run in PyTorch on the same cores.

    python3 benchmarks/pytorch.py WORKLOAD [--iterations N] [--warmup K] [--batch B] [--size S]
                                           [--threads T] [--engine torch|onnxruntime [--onnx-file F]]
                                           [--form eager|channels_last|torchscript]
                                           [--images N --epochs E [--cache-trunk]]   (resnet34-transfer-epochs)

Prints one JSON line in the harness's format: images/s of the median step, the process's peak
resident memory (ru_maxrss) and its baseline before the model was built (the interpreter and
libraries), and the threads used. Run one workload per process so that peak memory is its own.

Forms: `eager` is the plain NCHW model; `channels_last` converts model and input to
channels_last, PyTorch's documented CPU setting (oneDNN's blocked kernels without reorders);
`torchscript` (inference only) is a traced, frozen channels_last module, whose convolutions
oneDNN fuses with their BatchNorm and ReLU.

`--engine onnxruntime` runs resnet34-eval in ONNX Runtime: torchvision's model exported by
`torch.onnx.export`, or with `--onnx-file F` the file `graft export` wrote (`graft-bench
export-onnx F`), which needs no PyTorch.

Each step matches the Swift harness exactly: same shapes, same trainable set (layer4 + a new
5-class head for the transfer step, with the frozen layers' BatchNorm in eval mode), zero_grad,
forward, cross-entropy, backward; no optimizer step in either. Weights are random (speed does not
depend on their values), the input is a fixed normal batch.

resnet34-transfer-epochs is a whole fine-tuning run instead: layer4 + head trained for --epochs
epochs over a fixed set of --images images, shuffled every epoch, with SGD steps, as a plain
PyTorch loop runs it (frozen trunk in eval mode, requires_grad=False). One step is the whole run.
With --cache-trunk the loop is the one a careful user writes, and the same work as Graft's feature
cache: the frozen trunk's output for every image computed once under no_grad, then layer4 + head
trained on it.
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
    "resnet18-transfer": (32, 224),
    "resnet18-full": (32, 224),
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


def resnet(torch, depth, num_classes=1000):
    """torchvision's ResNet18 or ResNet34, or, where torchvision is missing or cannot load (its
    PyPI wheel needs CUDA's libraries), the same modules under the same names."""
    try:
        import torchvision

        return getattr(torchvision.models, f"resnet{depth}")(weights=None, num_classes=num_classes)
    except (ImportError, RuntimeError, OSError):
        pass
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin, layers = 64, []
            stages = (2, 2, 2, 2) if depth == 18 else (3, 4, 6, 3)
            for cout, blocks, stride in zip((64, 128, 256, 512), stages, (1, 2, 2, 2)):
                layers.append(nn.Sequential(*[Block(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                                              for i in range(blocks)]))
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def build(torch, workload):
    if workload == "vanilla-train":
        model = vanilla_cnn(torch, 5)
        model.train()
        return model
    model = resnet(torch, 18 if workload.startswith("resnet18") else 34)
    if workload == "resnet34-eval":
        model.eval()
        return model
    model.fc = torch.nn.Linear(512, 5)
    model.train()
    if workload in ("resnet34-transfer", "resnet34-transfer-epochs", "resnet18-transfer"):
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
    if args.form in ("channels_last", "torchscript"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    if args.workload == "resnet34-eval":
        if args.form == "torchscript":
            with torch.inference_mode():
                model = torch.jit.freeze(torch.jit.trace(model, x))

        def step():
            with torch.inference_mode():
                model(x)
    elif args.workload == "resnet34-transfer-epochs":
        images = torch.randn(args.images, 3, size, size)
        if args.form == "channels_last":
            images = images.contiguous(memory_format=torch.channels_last)
        targets = torch.arange(args.images) % 5
        batches = (args.images + batch - 1) // batch  # the last one partial, as Graft's source
        trunk = torch.nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2,
                                    model.layer3)
        head = torch.nn.Sequential(model.layer4, model.avgpool, torch.nn.Flatten(), model.fc)

        def step():
            optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
            if args.cache_trunk:
                # Inside the timed run, as Graft's cache is filled in its first epoch.
                with torch.no_grad():
                    features = torch.cat([trunk(images[i:i + batch]) for i in range(0, len(images), batch)])
            for _ in range(args.epochs):
                order = torch.randperm(len(images))
                for b in range(batches):
                    idx = order[b * batch:(b + 1) * batch]
                    optimizer.zero_grad(set_to_none=True)
                    logits = head(features[idx]) if args.cache_trunk else model(images[idx])
                    loss_fn(logits, targets[idx]).backward()
                    optimizer.step()
    else:
        def step():
            model.zero_grad(set_to_none=True)
            loss_fn(model(x), labels).backward()
    return measure(step, args)


def run_onnxruntime(args, batch, size):
    """ResNet34 eval only, run by ONNX Runtime: the torchvision model exported to ONNX, or the
    file `--onnx-file` names (Graft's export)."""
    import numpy as np
    import onnxruntime as ort

    if args.onnx_file:
        with open(args.onnx_file, "rb") as f:
            model_bytes = f.read()
    else:
        import io

        import torch

        model = build(torch, "resnet34-eval")
        buffer = io.BytesIO()
        torch.onnx.export(model, torch.randn(1, 3, size, size), buffer, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
        model_bytes = buffer.getvalue()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(1).standard_normal((batch, 3, size, size), dtype=np.float32)
    return measure(lambda: session.run(None, {name: x}), args)


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
    parser.add_argument("--onnx-file", help="with --engine onnxruntime: run this ONNX file")
    parser.add_argument("--images", type=int, default=RUN_IMAGES)
    parser.add_argument("--epochs", type=int, default=RUN_EPOCHS)
    parser.add_argument("--form", choices=["eager", "channels_last", "torchscript"], default="eager")
    parser.add_argument("--cache-trunk", action="store_true")
    args = parser.parse_args()
    if args.form == "torchscript" and args.workload != "resnet34-eval":
        sys.exit("the torchscript form is for resnet34-eval (inference) only")
    if args.cache_trunk and args.workload != "resnet34-transfer-epochs":
        sys.exit("--cache-trunk is for resnet34-transfer-epochs only")
    # What the process holds before any model or tensor: the interpreter and its libraries.
    if args.onnx_file and args.engine != "onnxruntime":
        sys.exit("--onnx-file goes with --engine onnxruntime")
    if args.engine == "onnxruntime":
        import numpy  # noqa: F401
        import onnxruntime
    torch = None
    if not args.onnx_file:
        import torch
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
        "form": args.form if args.engine == "torch" else "default",
        "workload": args.workload, "batch": batch, "image_size": size,
        "images_per_s": round(images_per_step / statistics.median(times), 3), "peak_mb": round(peak_mb, 1),
        "baseline_mb": round(baseline_mb, 1),
        "threads": torch.get_num_threads() if args.engine == "torch" else args.threads,
        "version": torch.__version__ if torch else onnxruntime.__version__,
    }
    if args.onnx_file:
        result["model_file"] = "graft-export"
    if is_run:
        result.update(images=args.images, epochs=args.epochs, cached_trunk=args.cache_trunk)
    result["step_s"] = [round(t, 4) for t in times]
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
