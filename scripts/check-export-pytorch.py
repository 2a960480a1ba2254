#!/usr/bin/env python3
"""Loads a model that `graft export` wrote into PyTorch, as a user would, and checks it runs.

    python3 scripts/check-export-pytorch.py MODEL.safetensors MODEL.onnx

The safetensors file goes through `safetensors.torch.load_file` into torchvision's resnet18 or
resnet34 with a new head of the card's class count (where torchvision cannot load, the same modules
under the same names from benchmarks/pytorch.py), or into the vanilla CNN's PyTorch definition
in ../shared/fixtures/generate.py, with `load_state_dict(strict=True)`. The ONNX file of the same
model runs in ONNX Runtime. Both get the same random batch in eval mode; their logits must agree
to rel-to-max 1e-4 (the fixtures README's notation: max|x − ref| ≤ 1e-4 · max|ref|).

Needs torch, torchvision, safetensors and onnxruntime (a virtual environment of its own; never
part of `make test`). Prints one line per check and exits 1 on a failure.
"""
import importlib.util
import json
import pathlib
import sys
import types

import numpy as np
import onnxruntime as ort
import torch
from safetensors import safe_open
from safetensors.torch import load_file


ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytorch_model(architecture, num_classes):
    if architecture in ("resnet18", "resnet34"):
        bench = load_module("bench_pytorch", ROOT / "benchmarks/pytorch.py")
        return bench.resnet(torch, int(architecture[len("resnet"):]), num_classes=num_classes)
    if architecture == "vanilla-cnn":
        # The fixtures' own definition. Its module imports torchvision for other fixtures; where
        # torchvision cannot load, a placeholder stands in, as VanillaCNN does not use it.
        try:
            import torchvision  # noqa: F401
        except (ImportError, RuntimeError, OSError):
            sys.modules["torchvision"] = types.ModuleType("torchvision")
        return load_module("fixtures_generate", ROOT / "../shared/fixtures/generate.py").VanillaCNN(num_classes)
    sys.exit(f"unknown architecture '{architecture}'")


def main(safetensors_path, onnx_path):
    with safe_open(safetensors_path, framework="pt") as f:
        card = f.metadata()
    num_classes = int(card["num_classes"])
    input_size = json.loads(card["input_size"])
    model = pytorch_model(card["architecture"], num_classes)
    model.load_state_dict(load_file(safetensors_path), strict=True)
    model.eval()
    x = np.random.default_rng(0).standard_normal([2] + input_size, dtype=np.float32)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"input": x})
    delta = float(np.abs(torch_logits - onnx_logits).max())
    scale = float(np.abs(onnx_logits).max())
    ok = delta <= 1e-4 * scale
    definition = type(model).__module__
    print(f"{safetensors_path}: {card['architecture']} ({definition}), {num_classes} classes, input {input_size}: "
          f"load_state_dict(strict=True) ok; max |Δlogit| PyTorch vs ONNX Runtime {delta:.2e} "
          f"(max |logit| {scale:.2f}) {'ok' if ok else 'FAILED'}")
    return ok


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(0 if main(sys.argv[1], sys.argv[2]) else 1)
