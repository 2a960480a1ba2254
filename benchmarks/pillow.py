#!/usr/bin/env python3
"""Pillow's side of the JPEG-pipeline benchmark.

Decode + Resize(256) + CenterCrop(224) + ToTensor + Normalize(ImageNet) over every JPEG under a
folder, batched, with 2 worker processes (Graft's loader uses 2 threads). The DataLoader's workers
are started and one untimed pass made first (persistent workers), so the timed pass measures the
pipeline, not process start-up; Graft's side also makes an untimed pass first. Uses torchvision's
transforms and DataLoader when importable, otherwise Pillow + numpy with a 2-process pool doing the
same arithmetic. Prints one JSON line: {"images_per_second": ..., "images": ..., ...}.

With `--augment PRESET`, times Graft's training pipeline of that preset in torchvision instead.

usage: python3 benchmarks/pillow.py FOLDER [--batch 32] [--workers 2] [--augment standard]
"""
import argparse
import json
import os
import sys
import time

from PIL import Image

# The loader's transforms run single-threaded (torch.set_num_threads(1) below); an OpenMP team
# started in this process before the DataLoader forks its workers can deadlock them (libgomp is
# not fork-safe), so none is started.
os.environ["OMP_NUM_THREADS"] = "1"

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
JPEG_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif"}


def list_jpegs(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in JPEG_EXTENSIONS:
                found.append(os.path.join(root, name))
    return sorted(found)


def numpy_transform(path):
    """Resize(256) → CenterCrop(224) → ToTensor → Normalize, as torchvision does on a PIL image."""
    import numpy as np

    img = Image.open(path).convert("RGB")
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = 256, int(256 * long / short)
    size = (new_short, new_long) if w <= h else (new_long, new_short)
    img = img.resize(size, Image.BILINEAR)
    w, h = img.size
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
    mean = np.asarray(MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(STD, dtype=np.float32)[:, None, None]
    return (x - mean) / std


def import_transforms():
    """torchvision.transforms; its pure-Python transforms also load where a CPU-only torch wheel
    cannot register a CUDA torchvision wheel's compiled operators (see scripts/tencrop-fixture.py)."""
    try:
        from torchvision import transforms
    except RuntimeError:
        import importlib

        import torch.library

        torch.library.register_fake = lambda *args, **kwargs: (lambda f: f)
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        transforms = importlib.import_module("torchvision.transforms")
    return transforms


def train_transforms(transforms, augment):
    """The training pipeline of Graft's `--augment PRESET` for a 224 px model on photos: Resize(256)
    → RandomResizedCrop(224) → RandomHorizontalFlip → (TrivialAugmentWide for standard and strong)
    → ToTensor → Normalize → (RandomErasing(0.25) for strong)."""
    ops = [transforms.Resize(256), transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()]
    if augment in ("standard", "strong"):
        ops.append(transforms.TrivialAugmentWide())
    ops += [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    if augment == "strong":
        ops.append(transforms.RandomErasing(0.25))
    return transforms.Compose(ops)


def run_dataloader(paths, batch, workers, augment=None):
    """PyTorch's DataLoader, with torchvision's transforms when it loads, else the same arithmetic
    in numpy (`numpy_transform`; not for `augment`, which needs torchvision)."""
    import torch

    torch.set_num_threads(1)
    try:
        if augment:
            tf = train_transforms(import_transforms(), augment)
        else:
            from torchvision import transforms

            tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                     transforms.Normalize(MEAN, STD)])
        load = lambda path: tf(Image.open(path).convert("RGB"))  # noqa: E731
        backend = "torchvision"
    except (ImportError, RuntimeError):
        if augment:
            raise ImportError("--augment needs torchvision")
        load = lambda path: torch.from_numpy(numpy_transform(path))  # noqa: E731
        backend = "torch DataLoader + Pillow/numpy"

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return load(paths[i])

    loader = torch.utils.data.DataLoader(Files(), batch_size=batch, shuffle=False, num_workers=workers,
                                         persistent_workers=workers > 0)
    for _ in loader:  # starts the workers and warms them up
        pass
    start = time.perf_counter()
    n = 0
    for x in loader:
        n += x.shape[0]
    return backend, n, time.perf_counter() - start


def run_numpy(paths, batch, workers):
    import numpy as np
    from multiprocessing import Pool

    n = 0
    with Pool(workers) as pool:
        pool.map(numpy_transform, paths[:workers])  # workers started and warm
        start = time.perf_counter()
        for i in range(0, len(paths), batch):
            arrays = pool.map(numpy_transform, paths[i:i + batch])
            n += np.stack(arrays).shape[0]
        return n, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--augment", choices=["light", "standard", "strong"],
                        help="time that preset's training pipeline instead (needs torchvision)")
    args = parser.parse_args()
    paths = list_jpegs(args.folder)
    if not paths:
        print(f"{args.folder}: no JPEG files", file=sys.stderr)
        return 2
    for p in paths:  # warm the page cache, as the Swift side does
        with open(p, "rb") as f:
            f.read()
    try:
        import torch  # noqa: F401
        backend, n, seconds = run_dataloader(paths, args.batch, args.workers, args.augment)
    except ImportError:
        if args.augment:
            print("--augment needs torch and torchvision", file=sys.stderr)
            return 0
        backend = "pillow+numpy"
        n, seconds = run_numpy(paths, args.batch, args.workers)
    name = f"jpeg_train_pipeline_{args.augment}" if args.augment else "jpeg_eval_pipeline"
    print(json.dumps({"benchmark": name, "backend": backend, "pillow": Image.__version__,
                      "images": n, "seconds": round(seconds, 4), "images_per_second": round(n / seconds, 2),
                      "batch": args.batch, "workers": args.workers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
