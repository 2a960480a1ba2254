#!/usr/bin/env python3
"""PyTorch ground truth for Graft's regularisers, one step each: loss and gradient.

    python3 scripts/make-regulariser-fixtures.py   (needs torch; writes Tests/Fixtures/*.json)

label-smoothing.json: `nn.CrossEntropyLoss(label_smoothing=ε)` (mean reduction) on fixed logits
and labels, in float64 so the reference carries no float32 rounding: the loss and its gradient
with respect to the logits, for several ε, including logits far apart (a saturated softmax).
Each case also records how far PyTorch's float32 result is from it (rel-to-max), the measured
difference the tests' tolerance sits above.
"""
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[1] / "Tests/Fixtures"


def label_smoothing():
    g = torch.Generator().manual_seed(0)
    cases = []
    for name, n, c, scale in (("small", 4, 5, 1.0), ("wide", 8, 10, 3.0), ("saturated", 3, 4, 40.0)):
        logits = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(torch.float32)
        labels = torch.randint(0, c, (n,), generator=g)
        for eps in (0.0, 0.1, 0.3):
            x = logits.to(torch.float64).requires_grad_(True)
            loss = torch.nn.CrossEntropyLoss(label_smoothing=eps)(x, labels)
            loss.backward()
            # PyTorch's own float32 result, for the tolerance: how far float32 is from the reference.
            x32 = logits.clone().requires_grad_(True)
            loss32 = torch.nn.CrossEntropyLoss(label_smoothing=eps)(x32, labels)
            loss32.backward()
            drift = max(abs(loss32.item() - loss.item()) / abs(loss.item()),
                        ((x32.grad.double() - x.grad).abs().max() / x.grad.abs().max()).item())
            cases.append({
                "float32_rel_to_max": drift,
                "name": f"{name}-eps{eps}", "label_smoothing": eps, "shape": [n, c],
                "logits": logits.flatten().tolist(), "labels": labels.tolist(),
                "loss": loss.item(), "gradient": x.grad.flatten().tolist(),
            })
    return {"torch": torch.__version__, "reduction": "mean", "dtype": "float64 reference, float32 logits",
            "cases": cases}


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "label-smoothing.json"
    path.write_text(json.dumps(label_smoothing(), indent=1) + "\n")
    print(f"wrote {path}")
