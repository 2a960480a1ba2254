"""Writes Tests/Fixtures/augment/: torchvision's augmentation ops with fixed parameters on two small
crops of the shared fixture photos, for the tests that Graft's training augmentation gives the same
pixels (GraftDataTests, AugmentationFixtureTests).

    python scripts/augment-fixtures.py [--fixtures ../shared/fixtures] [--out Tests/Fixtures/augment]

Needs torch, torchvision, Pillow and numpy (CPU only). Every output comes from torchvision's own
functions on a PIL image (its PIL path, which calls Pillow):

* `F.adjust_brightness/contrast/saturation/hue/sharpness`, `F.rotate` (nearest and bilinear,
  fill 0), `F.posterize/solarize/autocontrast/equalize`;
* TrivialAugmentWide's ops through `autoaugment._apply_op(img, op, magnitude, NEAREST, None)`,
  the magnitude taken from `TrivialAugmentWide()._augmentation_space(31)` at a given bin and sign;
* `F.erase` on `Normalize(ToTensor(img))` (RandomErasing works on the normalised tensor).

Inputs (`<name>.rgb.npy`, uint8 [H, W, 3]) are `Image.open(photo).convert("RGB")` cropped and
resized with `Image.resize(size, BILINEAR)`: `flower` 72x48 (not square), `china` 56x56 (square,
so a 90 degree rotation takes Pillow's transpose path). `cases.json` lists every case: input,
op, parameters and output file. `magnitudes.json` holds TrivialAugmentWide's magnitude table
(the float32 values, as Python floats) and its op order. `generation_info.json` records versions.
"""

import argparse
import json
import os
import platform

import numpy as np
import PIL
import torch
import torch.library

# A CPU-only torch wheel cannot load the compiled operators of a torchvision wheel built for CUDA;
# the functions used here are pure Python (see scripts/tencrop-fixture.py).
try:
    import torchvision  # noqa: F401
except RuntimeError:
    torch.library.register_fake = lambda *args, **kwargs: (lambda f: f)
    import importlib
    import sys

    for name in [m for m in sys.modules if m.startswith("torchvision")]:
        del sys.modules[name]
    torchvision = importlib.import_module("torchvision")
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment as AA
from torchvision.transforms import functional as F

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
NEAREST, BILINEAR = InterpolationMode.NEAREST, InterpolationMode.BILINEAR


def inputs(fixtures):
    def load(name):
        return Image.open(os.path.join(fixtures, "images", name)).convert("RGB")

    return {
        "flower": load("flower.jpg").crop((100, 40, 460, 280)).resize((72, 48), Image.BILINEAR),
        "china": load("china.jpg").crop((150, 60, 430, 340)).resize((56, 56), Image.BILINEAR),
    }


def functional_cases():
    """(op, params, function of a PIL image) for torchvision's functional ops."""
    cases = []
    for f in [0.0, 0.6, 1.7]:
        cases.append(("brightness", {"factor": f}, lambda im, f=f: F.adjust_brightness(im, f)))
    for f in [0.4, 1.6]:
        cases.append(("contrast", {"factor": f}, lambda im, f=f: F.adjust_contrast(im, f)))
    for f in [0.2, 1.9]:
        cases.append(("saturation", {"factor": f}, lambda im, f=f: F.adjust_saturation(im, f)))
    for f in [0.08, -0.3, 0.5, -0.5]:
        cases.append(("hue", {"factor": f}, lambda im, f=f: F.adjust_hue(im, f)))
    for f in [0.3, 1.9]:
        cases.append(("sharpness", {"factor": f}, lambda im, f=f: F.adjust_sharpness(im, f)))
    for angle, interp in [(17.5, NEAREST), (-42.0, NEAREST), (90.0, NEAREST), (180.0, NEAREST),
                          (-270.0, NEAREST), (23.25, BILINEAR), (-8.0, BILINEAR), (90.0, BILINEAR)]:
        cases.append((
            "rotate", {"degrees": angle, "bilinear": interp == BILINEAR},
            lambda im, a=angle, i=interp: F.rotate(im, a, interpolation=i, fill=0),
        ))
    for bits in [1, 3, 6]:
        cases.append(("posterize", {"bits": bits}, lambda im, b=bits: F.posterize(im, b)))
    for t in [100.5, 0.0, 255.0]:
        cases.append(("solarize", {"threshold": t}, lambda im, t=t: F.solarize(im, t)))
    cases.append(("autocontrast", {}, F.autocontrast))
    cases.append(("equalize", {}, F.equalize))
    return cases


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixtures", default=os.path.join(here, "..", "..", "shared", "fixtures"))
    parser.add_argument("--out", default=os.path.join(here, "..", "Tests", "Fixtures", "augment"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    images = inputs(args.fixtures)
    for name, image in images.items():
        np.save(os.path.join(args.out, f"{name}.rgb.npy"), np.asarray(image, dtype=np.uint8))

    cases = []

    def record(image_name, op, params, out):
        file = f"{image_name}.{len(cases):02d}.{op}.npy"
        np.save(os.path.join(args.out, file), out)
        cases.append({"image": image_name, "op": op, "params": params, "file": file})

    for image_name, image in images.items():
        for op, params, fn in functional_cases():
            record(image_name, op, params, np.asarray(fn(image), dtype=np.uint8))

    space = AA.TrivialAugmentWide()._augmentation_space(31)
    op_names = list(space.keys())
    trivial = [("ShearX", 12, True), ("ShearY", 30, False), ("TranslateX", 7, True), ("TranslateY", 30, False),
               ("Rotate", 19, True), ("Rotate", 30, False), ("Brightness", 25, True), ("Color", 30, False),
               ("Contrast", 14, True), ("Sharpness", 30, False), ("Sharpness", 9, True), ("Posterize", 30, False),
               ("Posterize", 13, False), ("Solarize", 10, False), ("AutoContrast", 0, False),
               ("Equalize", 0, False), ("Identity", 0, False)]
    for image_name, image in images.items():
        for op, bin_, negative in trivial:
            magnitudes, signed = space[op]
            magnitude = float(magnitudes[bin_].item()) if magnitudes.ndim > 0 else 0.0
            if signed and negative:
                magnitude *= -1.0
            out = AA._apply_op(image, op, magnitude, interpolation=NEAREST, fill=None)
            params = {"name": op, "bin": bin_, "negative": negative, "magnitude": magnitude}
            record(image_name, "trivial", params, np.asarray(out, dtype=np.uint8))

    # RandomErasing acts on the normalised tensor: F.erase with fixed box and value.
    for image_name, image in images.items():
        tensor = F.normalize(F.to_tensor(image), MEAN, STD)
        for i, j, h, w, value in [(5, 7, 20, 30, [0.0]), (0, 0, 10, 56, [0.5, -1.0, 2.0])]:
            v = torch.tensor(value, dtype=torch.float32)[:, None, None]
            out = F.erase(tensor, i, j, h, w, v).numpy().astype("<f4")
            record(image_name, "erase", {"top": i, "left": j, "height": h, "width": w, "value": value}, out)

    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    table = {
        "ops": op_names,
        "magnitudes": {k: (m.tolist() if m.ndim > 0 else []) for k, (m, _) in space.items()},
        "signed": [k for k, (_, s) in space.items() if s],
    }
    with open(os.path.join(args.out, "magnitudes.json"), "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
    }
    with open(os.path.join(args.out, "generation_info.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
