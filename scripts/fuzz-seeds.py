#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets (scripts/fuzz.sh) from the PyTorch fixtures.

    fuzz-seeds.py FIXTURES_DIR OUT_DIR

writes OUT_DIR/{pth,safetensors,hdf5,jpeg,png}/: small well-formed files taken from the fixtures
(a .pth with the fixture's own tensors in torch.save's zip layout, a safetensors subset, HDF5
files in Graft's layout when h5py is available) and damaged copies of them (truncated at several
points, bytes flipped). Standard library only, except h5py for the HDF5 seeds; deterministic.
"""
import collections
import io
import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import types
import zipfile

fixtures, out = sys.argv[1], sys.argv[2]
rng = random.Random(20240601)


def write(folder, name, data):
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    with open(os.path.join(out, folder, name), "wb") as f:
        f.write(data)


def damaged(folder, name, data, cuts=(0.1, 0.5, 0.9), flips=4):
    """Truncated copies and copies with a few random bytes changed."""
    for c in cuts:
        write(folder, f"{name}.cut{int(c * 100)}", data[: max(1, int(len(data) * c))])
    for i in range(flips):
        b = bytearray(data)
        for _ in range(1 + i):
            b[rng.randrange(len(b))] = rng.randrange(256)
        write(folder, f"{name}.flip{i}", bytes(b))


# ---------------------------------------------------------------------------------------------
# .pth: torch.save's zip layout, pickled through stand-ins for the torch globals it names.
# ---------------------------------------------------------------------------------------------
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
sys.modules["torch"], sys.modules["torch._utils"] = torch, torch_utils


def _rebuild_tensor_v2(*args):
    return args


def _rebuild_parameter(*args):
    return args


for f in (_rebuild_tensor_v2, _rebuild_parameter):
    f.__module__ = "torch._utils"
    setattr(torch_utils, f.__name__, f)

STORAGES = {"F32": "FloatStorage", "F64": "DoubleStorage", "F16": "HalfStorage", "BF16": "BFloat16Storage",
            "I64": "LongStorage", "I32": "IntStorage", "U8": "ByteStorage", "BOOL": "BoolStorage"}
for cls in STORAGES.values():
    setattr(torch, cls, type(cls, (), {"__module__": "torch"}))


class Storage:
    def __init__(self, dtype, key, data, itemsize):
        self.dtype, self.key, self.data, self.count = dtype, key, data, len(data) // itemsize


class Tensor:
    def __init__(self, storage, offset, size, stride, parameter=False):
        self.storage, self.offset, self.size, self.stride, self.parameter = storage, offset, size, stride, parameter

    def __reduce__(self):
        args = (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, collections.OrderedDict())
        if self.parameter:
            inner = Tensor(self.storage, self.offset, self.size, self.stride)
            return (_rebuild_parameter, (inner, False, collections.OrderedDict()))
        return (_rebuild_tensor_v2, args)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", getattr(torch, STORAGES[obj.dtype]), obj.key, "cpu", obj.count)
        return None


def pth(entries, storages, prefix="archive", protocol=2, wrap=None, deflate=False):
    state = collections.OrderedDict(entries)
    state._metadata = collections.OrderedDict([("", {"version": 1})])
    top = {wrap: state, "epoch": 3} if wrap else state
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=protocol).dump(top)
    data = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(data, "w", method) as z:
        z.writestr(f"{prefix}/data.pkl", buffer.getvalue())
        z.writestr(f"{prefix}/.format_version", "1")
        z.writestr(f"{prefix}/byteorder", "little")
        for s in storages:
            z.writestr(f"{prefix}/data/{s.key}", s.data)
        z.writestr(f"{prefix}/version", "3\n")
    return data.getvalue()


def safetensors_tensors(path):
    """(name, dtype, shape, bytes) of every tensor of a safetensors file."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    return [(k, v["dtype"], v["shape"], raw[base + v["data_offsets"][0] : base + v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"]


vanilla = os.path.join(fixtures, "vanilla_cnn", "vanilla-seed0.safetensors")
small = [t for t in safetensors_tensors(vanilla) if len(t[3]) <= 1024] if os.path.exists(vanilla) else [
    ("fc.bias", "F32", [5], struct.pack("<5f", 0.5, -1, 2, 0, 3)),
    ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 7)),
]
small = small[:8]

# The fixture's small tensors, as torch.save writes them.
storages, entries = [], []
for i, (name, dtype, shape, data) in enumerate(small):
    s = Storage(dtype, str(i), data, 8 if dtype == "I64" else 4)
    storages.append(s)
    stride = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        stride[d] = stride[d + 1] * shape[d + 1]
    entries.append((name, Tensor(s, 0, shape, stride)))
real = pth(entries, storages)
write("pth", "fixture-subset.pth", real)
damaged("pth", "fixture-subset.pth", real)
write("pth", "fixture-subset-p4.pth", pth(entries, storages, prefix="model", protocol=4))
write("pth", "wrapped.pth", pth(entries[:3], storages[:3], wrap="state_dict"))
write("pth", "deflated.pth", pth(entries[:2], storages[:2], deflate=True))

# Views, parameters and the other storage types.
f32 = Storage("F32", "0", struct.pack("<12f", *range(12)), 4)
views = [
    ("transposed", Tensor(f32, 0, [3, 4], [1, 3])),
    ("offset", Tensor(f32, 2, [2, 3], [3, 1])),
    ("strided", Tensor(f32, 1, [2, 2], [6, 2])),
    ("scalar", Tensor(f32, 5, [], [])),
    ("empty", Tensor(f32, 0, [0, 4], [4, 1])),
    ("param", Tensor(f32, 0, [12], [1], parameter=True)),
]
others = []
for i, (dtype, fmt, values) in enumerate([("F64", "<3d", (1.5, -2, 1e300)), ("F16", "<3e", (0.5, -1, 65504)),
                                           ("I64", "<3q", (1, -1, 1 << 62)), ("I32", "<3i", (1, -1, 7)),
                                           ("U8", "<3B", (0, 1, 255)), ("BOOL", "<3B", (0, 1, 1))]):
    s = Storage(dtype, str(i + 1), struct.pack(fmt, *values), struct.calcsize(fmt) // 3)
    others.append(s)
    views.append((f"{dtype.lower()}", Tensor(s, 0, [3], [1])))
bf16 = Storage("BF16", "9", struct.pack("<3H", 0x3F80, 0xC000, 0x7F80), 2)
views.append(("bf16", Tensor(bf16, 1, [2], [1])))
mixed = pth(views, [f32, bf16] + others, protocol=2)
write("pth", "views-and-dtypes.pth", mixed)
damaged("pth", "views-and-dtypes.pth", mixed, cuts=(0.3, 0.7), flips=3)

# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------
def safetensors(tensors, metadata=None, pad=True):
    header, offset, blob = {}, 0, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blob += data
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob


st = safetensors(small, {"format": "pt"})
write("safetensors", "fixture-subset.safetensors", st)
damaged("safetensors", "fixture-subset.safetensors", st)
dtypes = safetensors([("f64", "F64", [2], struct.pack("<2d", 1, -2)), ("f16", "F16", [2, 1], struct.pack("<2e", 1, 2)),
                      ("bf16", "BF16", [1], struct.pack("<H", 0x3F80)), ("i32", "I32", [1], struct.pack("<i", -5)),
                      ("i16", "I16", [1], struct.pack("<h", 3)), ("i8", "I8", [2], b"\x01\xff"),
                      ("u8", "U8", [1], b"\x07"), ("bool", "BOOL", [1], b"\x01"), ("empty", "F32", [0, 3], b""),
                      ("scalar", "F32", [], struct.pack("<f", 2.5))], pad=False)
write("safetensors", "dtypes.safetensors", dtypes)
damaged("safetensors", "dtypes.safetensors", dtypes, cuts=(0.5,), flips=3)

# ---------------------------------------------------------------------------------------------
# HDF5 in Graft's weights layout (needs h5py; Debian's python3-h5py is in install-deps.sh).
# ---------------------------------------------------------------------------------------------
H5_SCRIPT = r'''
import sys, numpy as np, h5py
out = sys.argv[1]
def graft_attrs(f, keys):
    f.attrs["model_id"] = "vanilla-cnn"; f.attrs["architecture"] = "vanilla_cnn"
    f.attrs["num_classes"] = np.int64(5)
    f.attrs.create("class_names", ["daisy", "rose", "tulip"], dtype=h5py.string_dtype())
    f.attrs["input_size"] = np.array([3, 8, 8], dtype=np.int64)
    f.attrs["mean"] = np.array([0.485, 0.456, 0.406]); f.attrs["std"] = np.array([0.229, 0.224, 0.225])
    f.attrs["source_file"] = "vanilla-seed0.pth"; f.attrs["source_sha256"] = "00" * 32
    f.attrs["converted_at"] = "2024-06-01T00:00:00Z"; f.attrs["graft_format_version"] = np.int64(1)
    f.attrs.create("graft_key_order", keys, dtype=h5py.string_dtype())
with h5py.File(out + "/graft-layout.h5", "w", libver="earliest") as f:
    f["conv.weight"] = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    f["conv.bias"] = np.array([0.5, -1], dtype=np.float32)
    f["bn.num_batches_tracked"] = np.int64(3)
    graft_attrs(f, ["conv.weight", "conv.bias", "bn.num_batches_tracked"])
    g = f.create_group("optimizer")
    g["conv.weight.momentum"] = np.ones((2, 3), dtype=np.float32)
    g.attrs["step"] = np.int64(10); g.attrs["lr"] = 0.01
with h5py.File(out + "/chunked-gzip.h5", "w", libver="latest") as f:
    f.create_dataset("w", data=np.linspace(0, 1, 64, dtype=np.float64).reshape(8, 8), chunks=(4, 4), compression="gzip")
    f.create_dataset("h", data=np.arange(6, dtype=np.float16)); f.create_dataset("u", data=np.arange(4, dtype=np.uint8))
    f.create_dataset("fill", shape=(3,), dtype=np.float32)
    f.attrs["model_id"] = np.bytes_(b"fixed-length"); f.attrs["num_classes"] = 2.0
'''
h5_folder = os.path.join(out, "hdf5")
os.makedirs(h5_folder, exist_ok=True)
for python in ("/usr/bin/python3", sys.executable):
    if os.path.exists(python) and subprocess.run([python, "-c", "import h5py"], capture_output=True).returncode == 0:
        subprocess.run([python, "-c", H5_SCRIPT, h5_folder], check=True)
        for name in ("graft-layout.h5", "chunked-gzip.h5"):
            damaged("hdf5", name, open(os.path.join(h5_folder, name), "rb").read(), cuts=(0.05, 0.3, 0.6, 0.95), flips=6)
        break
else:
    print("fuzz-seeds: no h5py, HDF5 seeds are the committed ones only", file=sys.stderr)

# ---------------------------------------------------------------------------------------------
# JPEG: the fixture photos up to 64 KB, the bad files, every EXIF orientation, damaged copies.
# ---------------------------------------------------------------------------------------------
jpegs = []
for folder, _, names in os.walk(fixtures):
    for name in sorted(names):
        path = os.path.join(folder, name)
        if name.lower().endswith((".jpg", ".jpeg")) and os.path.getsize(path) <= 65536:
            jpegs.append(path)
for path in jpegs:
    data = open(path, "rb").read()
    name = os.path.relpath(path, fixtures).replace("/", "-")
    write("jpeg", name, data)
    if len(data) > 100 and "bad" not in path:
        damaged("jpeg", name, data, cuts=(0.02, 0.3, 0.8), flips=2)
rotated = os.path.join(fixtures, "images", "flower_exif_rot6.jpg")
if os.path.exists(rotated):
    data = open(rotated, "rb").read()
    tag = data.find(b"\x01\x12\x00\x03")        # big-endian Orientation tag, SHORT
    if tag > 0:
        for o in range(0, 10):
            b = bytearray(data)
            b[tag + 8 : tag + 10] = struct.pack(">H", o)
            write("jpeg", f"orientation{o}.jpg", bytes(b))

# ---------------------------------------------------------------------------------------------
# PNG: the committed PNG fixtures (every colour type, bit depth, Adam7), the PNG among the bad
# files, damaged copies (the fuzz target also runs each input with its chunk CRCs put right).
# ---------------------------------------------------------------------------------------------
png_fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "png")
pngs = [os.path.join(png_fixtures, n) for n in sorted(os.listdir(png_fixtures)) if n.endswith(".png")] \
    if os.path.isdir(png_fixtures) else []
renamed = os.path.join(fixtures, "images", "bad", "png_renamed.jpg")
if os.path.exists(renamed):
    pngs.append(renamed)
for path in pngs:
    data = open(path, "rb").read()
    name = os.path.basename(path)
    write("png", name, data)
    damaged("png", name, data, cuts=(0.1, 0.5, 0.9), flips=2)
