"""Writes Tests/Fixtures/tencrop/: torchvision's TenCrop views of two shared fixture photos, for
the test that Graft's test-time augmentation crops the same pixels (GraftDataTests).

    python scripts/tencrop-fixture.py [--fixtures ../shared/fixtures] [--out Tests/Fixtures/tencrop]

Needs torch, torchvision, Pillow and numpy (CPU only). Each file is float32
[10, 3, S, S]: torchvision's documented TenCrop recipe,

    Compose([<resize>, TenCrop(S),
             Lambda(lambda crops: torch.stack([Normalize(mean, std)(ToTensor()(c)) for c in crops]))])

with ImageNet's mean and std, on `Image.open(f).convert("RGB")` (Pillow's decode, no colour
management), so views 0-4 are FiveCrop (top-left, top-right, bottom-left, bottom-right,
centre) and 5-9 the same crops of the horizontally flipped image.

* `flower.resize64.tencrop56.npy`: Resize(64) → TenCrop(56), a photo's evaluation at 56 px
  (Graft's Resize(S·256/224) → CenterCrop(S) with the centre crop replaced by the ten crops).
* `china.resize32x32.tencrop28.npy`: Resize((32, 32)) → TenCrop(28), what Graft does for a
  pipeline that resizes straight to 28×28 (Fashion-MNIST): crops of the image resized to
  round(28 / 0.875) = 32.

`generation_info.json` records the versions used.
"""

import argparse
import json
import os
import platform

import numpy as np
import PIL
import torch
import torch.library

# TenCrop, Resize, ToTensor and Normalize are pure Python. A CPU-only torch wheel cannot load
# the compiled operators of a torchvision wheel built for CUDA, and torchvision's import then
# fails while registering those operators (nms, roi_align, ...), which this script does not use.
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
from torchvision import transforms as T

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def ten_crop(resize, size):
    return T.Compose(
        [
            resize,
            T.TenCrop(size),
            T.Lambda(lambda crops: torch.stack([T.Normalize(MEAN, STD)(T.ToTensor()(c)) for c in crops])),
        ]
    )


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixtures", default=os.path.join(here, "..", "..", "shared", "fixtures"))
    parser.add_argument("--out", default=os.path.join(here, "..", "Tests", "Fixtures", "tencrop"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    cases = [
        ("flower.jpg", "flower.resize64.tencrop56.npy", ten_crop(T.Resize(64), 56)),
        ("china.jpg", "china.resize32x32.tencrop28.npy", ten_crop(T.Resize((32, 32)), 28)),
    ]
    for source, name, transform in cases:
        image = Image.open(os.path.join(args.fixtures, "images", source)).convert("RGB")
        views = transform(image).numpy().astype("<f4")
        np.save(os.path.join(args.out, name), views)
        print(name, views.shape)

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


if __name__ == "__main__":
    main()
