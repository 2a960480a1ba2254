#!/usr/bin/env python3
"""PyTorch ground truth for Graft's regularisers, one step each: loss and gradient.

    python3 scripts/make-regulariser-fixtures.py   (needs torch; writes Tests/Fixtures/*.json)

torchvision is not needed: mixup-cutmix.json follows torchvision.transforms.v2.MixUp/CutMix's
reference math, written out below with torch alone, and is given lam (and CutMix's box centre)
explicitly, so the file does not depend on any random generator.

label-smoothing.json: `nn.CrossEntropyLoss(label_smoothing=ε)` (mean reduction) on fixed logits
and labels, in float64 so the reference carries no float32 rounding: the loss and its gradient
with respect to the logits, for several ε, including logits far apart (a saturated softmax).
Each case also records how far PyTorch's float32 result is from it (rel-to-max), the measured
difference the tests' tolerance sits above.
"""
import json
import math
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



def small_model(classes, generator):
    """Conv (no bias: BatchNorm cancels it) → BatchNorm (batch statistics) → ReLU → global average pool → Linear, with
    `nn.Sequential`'s keys (0.weight, 1.running_mean, 5.bias, …)."""
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, classes))
    with torch.no_grad():  # BatchNorm's affine parameters away from 1 and 0, so they matter
        model[1].weight.uniform_(0.5, 1.5, generator=generator)
        model[1].bias.normal_(0, 0.1, generator=generator)
    return model


def state(model):
    return {k: (v.tolist() if v.dim() else v.item()) if not v.is_floating_point() else v.flatten().tolist()
            for k, v in model.state_dict().items()}


def one_hot_mix(labels, classes, lam):
    """torchvision v2 `_BaseMixUpCutMix._mixup_label`: one-hot, then `roll(1, 0)·(1−lam) + ·lam`."""
    label = torch.nn.functional.one_hot(labels, num_classes=classes).float()
    return label.roll(1, 0).mul_(1.0 - lam).add_(label.mul(lam))


def mixup_images(x, lam):
    """torchvision v2 `MixUp.transform` on a batch."""
    return x.roll(1, 0).mul_(1.0 - lam).add_(x.mul(lam))


def cutmix_box(lam, r_x, r_y, height, width):
    """torchvision v2 `CutMix.make_params` with its draws (lam, r_x, r_y) given: the box, clipped to
    the image, and lam corrected to the area actually pasted."""
    r = 0.5 * math.sqrt(1.0 - lam)
    r_w_half, r_h_half = int(r * width), int(r * height)
    x1, y1 = max(r_x - r_w_half, 0), max(r_y - r_h_half, 0)
    x2, y2 = min(r_x + r_w_half, width), min(r_y + r_h_half, height)
    return (x1, y1, x2, y2), float(1.0 - (x2 - x1) * (y2 - y1) / (width * height))


def cutmix_images(x, box):
    """torchvision v2 `CutMix.transform` on a batch."""
    x1, y1, x2, y2 = box
    rolled = x.roll(1, 0)
    out = x.clone()
    out[..., y1:y2, x1:x2] = rolled[..., y1:y2, x1:x2]
    return out


def mixup_cutmix():
    """One training step on a mixed batch: the batch, the soft targets, the loss
    (`CrossEntropyLoss(label_smoothing=ε)` with probability targets), its gradient with respect to
    the logits and every parameter gradient of a small model in training mode. The reference runs
    the model in float64 on the same float32 numbers; `float32_rel_to_max` is how far PyTorch's own
    float32 step is from it (the largest over loss, logits gradient and parameter gradients)."""
    g = torch.Generator().manual_seed(28)
    n, classes, height, width = 4, 5, 6, 8
    model32 = small_model(classes, g)
    initial = {k: v.clone() for k, v in model32.state_dict().items()}
    images = torch.randn(n, 3, height, width, generator=g)
    labels = torch.tensor([2, 0, 2, 4])
    cases = []
    for name, kind, lam, centre, eps in (
        ("mixup-0.3", "mixup", 0.3, None, 0.0),
        ("mixup-0.8-smoothed", "mixup", 0.8, None, 0.1),
        ("cutmix-inside", "cutmix", 0.55, (4, 3), 0.0),
        ("cutmix-clipped-smoothed", "cutmix", 0.2, (7, 0), 0.1),
    ):
        if kind == "mixup":
            mixed, lam_used, box = mixup_images(images.clone(), lam), lam, None
        else:
            box, lam_used = cutmix_box(lam, centre[0], centre[1], height, width)
            mixed = cutmix_images(images, box)
        targets = one_hot_mix(labels, classes, lam_used)
        results = {}
        for dtype in (torch.float64, torch.float32):
            model = small_model(classes, torch.Generator().manual_seed(0)).to(dtype)
            model.load_state_dict(initial)
            model.train()
            x = mixed.to(dtype)
            logits = model(x)
            logits.retain_grad()
            loss = torch.nn.CrossEntropyLoss(label_smoothing=eps)(logits, targets.to(dtype))
            loss.backward()
            results[dtype] = (loss, logits, {k: p.grad for k, p in model.named_parameters()})
        loss, logits, grads = results[torch.float64]
        loss32, logits32, grads32 = results[torch.float32]

        def rel(a, b):
            return ((a.double() - b).abs().max() / b.abs().max()).item()

        drift = max([abs(loss32.item() - loss.item()) / abs(loss.item()), rel(logits32.grad, logits.grad)]
                    + [rel(grads32[k], grads[k]) for k in grads])
        cases.append({
            "name": name, "kind": kind, "lam": lam, "label_smoothing": eps,
            "box_centre": list(centre) if centre else None, "box": list(box) if box else None,
            "lam_adjusted": lam_used,
            "mixed_images": mixed.flatten().tolist(), "targets": targets.flatten().tolist(),
            "loss": loss.item(), "logits_gradient": logits.grad.flatten().tolist(),
            "parameter_gradients": {k: v.flatten().tolist() for k, v in grads.items()},
            "float32_rel_to_max": drift,
        })
    return {"torch": torch.__version__, "reduction": "mean",
            "dtype": "float64 reference, float32 images and weights",
            "image_shape": [n, 3, height, width], "classes": classes, "labels": labels.tolist(),
            "images": images.flatten().tolist(), "model": state(model32), "cases": cases}


def weight_ema():
    """`AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)` updated
    after every step of SGD (lr 0.1, momentum 0.9) on a small model in training mode: the model's
    state after each step and, for two decays, the averaged state. Everything is float32, as the
    averaging itself runs in float32."""
    g = torch.Generator().manual_seed(5)
    classes, steps = 3, 4
    model = small_model(classes, g)
    initial = state(model)
    batches = [(torch.randn(4, 3, 6, 6, generator=g), torch.randint(0, classes, (4,), generator=g))
               for _ in range(steps)]
    decays = (0.9, 0.25)
    averaged = [torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(d), use_buffers=True) for d in decays]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    records = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = torch.nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        optimizer.step()
        for a in averaged:
            a.update_parameters(model)
        records.append({"loss": loss.item(), "model": state(model),
                        "ema": [state(a.module) for a in averaged]})
    return {"torch": torch.__version__, "decays": list(decays), "optimizer": "SGD(lr=0.1, momentum=0.9)",
            "initial": initial, "batches": [{"images": x.flatten().tolist(), "shape": list(x.shape),
                                             "labels": y.tolist()} for x, y in batches],
            "steps": records}


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    for name, make in (("label-smoothing.json", label_smoothing), ("mixup-cutmix.json", mixup_cutmix),
                       ("weight-ema.json", weight_ema)):
        path = OUT / name
        path.write_text(json.dumps(make(), indent=1) + "\n")
        print(f"wrote {path}")
