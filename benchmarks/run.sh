#!/usr/bin/env bash
# `make bench`: every engine workload in Graft and, when PyTorch is importable, in PyTorch on the
# same cores, each in its own process (so peak memory is its own), then one table of medians and
# ratios. ONNX Runtime's ResNet34 eval figures are added when `onnxruntime` is importable: on
# torchvision's model exported by PyTorch, and on the file `graft export` writes for the same model.
#
#   benchmarks/run.sh [--iterations N] [--rounds R] [--threads T] [--sweep] [--kernels]
#     --rounds   repeat the Graft/PyTorch pairs R times (a noisy machine); the table shows medians
#     --threads  threads for both engines (default: every core): Graft's OpenMP team and OpenBLAS,
#                PyTorch's torch.set_num_threads, ONNX Runtime's intra-op threads
#     --sweep    also the transfer step against batch size (1…64) and image size (64…320)
#     --kernels  also the convolution-kernel comparisons (oneDNN vs im2col + OpenBLAS sgemm; oneDNN
#                direct vs Winograd per layer and batch size)
#   PYTHON=/path/to/python   interpreter with torch (default python3)
#   SWIFT=swift              Swift toolchain driver
#   GRAFT_BENCH=path         an already built graft-bench (skips the build)
#   BENCH_RESULTS=file       also keep the raw JSON lines there
set -euo pipefail
cd "$(dirname "$0")/.."

iterations=5
rounds=1
threads=$(nproc)
sweep=0
kernels=0
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --sweep) sweep=1; shift ;;
    --kernels) kernels=1; shift ;;
    *) echo "usage: $0 [--iterations N] [--rounds R] [--threads T] [--sweep] [--kernels]" >&2; exit 2 ;;
  esac
done

# Both engines run oneDNN on OpenMP; idle OpenMP threads sleep rather than spin (graft-bench sets
# this for itself too), so a busy machine slows both the same way instead of stalling every layer.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
# The same threads on both sides: Graft's oneDNN/OpenMP team and OpenBLAS get what PyTorch gets.
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
SWIFT="${SWIFT:-swift}"
PYTHON="${PYTHON:-python3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
results="$out/results.jsonl"

if [ -n "${GRAFT_BENCH:-}" ]; then
  bench="$GRAFT_BENCH"
else
  echo "Building graft-bench (release)…" >&2
  "$SWIFT" build -c release --product graft-bench >&2
  bench="$("$SWIFT" build -c release --show-bin-path)/graft-bench"
fi

have_torch=0
if "$PYTHON" -c "import torch" 2>/dev/null; then have_torch=1; else
  echo "PyTorch not importable with $PYTHON: Graft figures only (set PYTHON=… to compare)." >&2
fi
have_ort=0
if "$PYTHON" -c "import onnxruntime" 2>/dev/null; then have_ort=1; fi

# The machine, first: every table is one machine's. The ISA is what oneDNN may use:
# ONEDNN_MAX_CPU_ISA=AVX2 hides AVX-512 from it (and from PyTorch's oneDNN).
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
isa=avx2
if grep -qw avx512f /proc/cpuinfo && [ "${ONEDNN_MAX_CPU_ISA:-}" != AVX2 ]; then isa=avx512; fi
if ! grep -qw avx2 /proc/cpuinfo; then isa=sse; fi
torch_version=$([ $have_torch = 1 ] && "$PYTHON" -c "import torch; print(torch.__version__)" || echo none)
printf '{"machine":{"cpu":"%s","isa":"%s","cores":%d,"threads":%d,"date":"%s","onednn_max_cpu_isa":"%s","torch":"%s"}}\n' \
  "$cpu" "$isa" "$(nproc)" "$threads" "$(date -u +%F)" "${ONEDNN_MAX_CPU_ISA:-}" "$torch_version" >> "$results"

echo "sgemm peak…" >&2
"$bench" sgemm >> "$results"

run_pair() {  # workload [extra options]
  local w="$1"; shift
  # A step of resnet34-transfer-epochs is a whole run (128 images × 4 epochs, the harness's
  # --images/--epochs defaults): fewer timed repetitions.
  local n="$iterations"
  if [ "$w" = resnet34-transfer-epochs ]; then n=2; fi
  echo "  $w $*: graft" >&2
  "$bench" engine "$w" --iterations "$n" "$@" >> "$results"
  if [ $have_torch = 1 ]; then
    # PyTorch as written plainly, and in its documented CPU form; inference also traced and frozen.
    local forms=(eager channels_last)
    if [ "$w" = resnet34-eval ]; then forms+=(torchscript); fi
    for form in "${forms[@]}"; do
      echo "  $w $*: pytorch $form" >&2
      "$PYTHON" benchmarks/pytorch.py "$w" --iterations "$n" --threads "$threads" --form "$form" "$@" >> "$results"
    done
    if [ "$w" = resnet34-transfer-epochs ]; then
      # The same work as Graft's feature cache: the frozen trunk's output computed once.
      echo "  $w $*: pytorch channels_last, trunk features cached" >&2
      "$PYTHON" benchmarks/pytorch.py "$w" --iterations "$n" --threads "$threads" --form channels_last \
        --cache-trunk "$@" >> "$results"
    fi
  fi
}

echo "Workloads ($cpu, $isa, $threads threads on both sides, $iterations timed steps each, $rounds round(s)):" >&2
for _ in $(seq "$rounds"); do
  for w in resnet34-eval resnet34-transfer resnet34-full vanilla-train; do run_pair "$w"; done
  run_pair resnet34-transfer-epochs
  # Small images, where users train: CIFAR-sized 32² and Fashion-MNIST's 28², batch 128.
  for w in resnet18-full resnet18-transfer resnet34-full resnet34-transfer; do run_pair "$w" --batch 128 --size 32; done
  for s in 28 32; do run_pair vanilla-train --batch 128 --size "$s"; done
done
if [ $have_ort = 1 ]; then
  if [ $have_torch = 1 ]; then
    echo "  resnet34-eval: onnxruntime, torchvision's model exported by PyTorch" >&2
    "$PYTHON" benchmarks/pytorch.py resnet34-eval --engine onnxruntime --iterations "$iterations" \
      --threads "$threads" >> "$results" || true
  fi
  echo "  resnet34-eval: onnxruntime, the file graft export writes" >&2
  "$bench" export-onnx "$out/resnet34.onnx"
  "$PYTHON" benchmarks/pytorch.py resnet34-eval --engine onnxruntime --onnx-file "$out/resnet34.onnx" \
    --iterations "$iterations" --threads "$threads" >> "$results" || true
fi

if [ $sweep = 1 ]; then
  echo "Transfer-step sweep:" >&2
  for b in 1 4 16 32 64; do run_pair resnet34-transfer --batch "$b" --size 224; done
  for s in 64 128 160 256 320; do run_pair resnet34-transfer --batch 32 --size "$s"; done
fi

if [ $kernels = 1 ]; then
  echo "Convolution kernels (oneDNN vs im2col + sgemm):" >&2
  g++ -O2 -std=c++17 benchmarks/kernels/conv_kernels.cpp -ldnnl -lopenblas -o "$out/conv_kernels"
  "$out/conv_kernels" "$iterations" | tee "$out/kernels.jsonl" >&2
  # oneDNN direct vs Winograd on every 3x3 stride-1 shape, at the workloads' batch and small ones:
  # the measurements behind ConvKernels.usesWinograd.
  for b in 0 1 4 16; do
    echo "Direct vs Winograd, batch ${b/#0/of the workloads}:" >&2
    "$out/conv_kernels" "$iterations" algorithms "$b" | tee -a "$out/kernels.jsonl" >&2
  done
  # Graft's own Winograd against oneDNN's kernel for the same layer (direct where oneDNN has no
  # Winograd for this CPU; also against oneDNN's Winograd where it has one): the measurements
  # behind ConvKernels.graftWinogradMinimumPixels.
  cc -O2 -ISources/CDNNL/include -ISources/CGraftKernels/include $(pkg-config --cflags openblas) \
    Sources/CDNNL/graft_dnnl.c Sources/CGraftKernels/*.c benchmarks/kernels/winograd_kernels.c \
    -ldnnl $(pkg-config --libs openblas) -lm -o "$out/winograd_kernels"
  echo "Graft's Winograd vs oneDNN's kernel, batch of the workloads, 1, 2, 4, 8:" >&2
  "$out/winograd_kernels" "$iterations" 0 1 2 4 8 | tee -a "$out/kernels.jsonl" >&2
  echo "Graft's Winograd vs oneDNN's Winograd (where this CPU has it):" >&2
  "$out/winograd_kernels" "$iterations" onednn-winograd | tee -a "$out/kernels.jsonl" >&2
fi

# The JPEG pipeline: a folder of real photos through decode + Resize(256) + CenterCrop(224) +
# Normalize, Graft and Pillow. 600 distinct photos made from the fixture photos (crops at other
# sizes and JPEG qualities, as a real folder's photos differ), or copies where Pillow is missing.
photos="$out/photos"
if [ ! -d "$photos" ] && [ -d ../shared/fixtures/images ]; then
  mkdir -p "$photos"
  if ! "$PYTHON" - "$photos" ../shared/fixtures/images <<'PY' 2>/dev/null
import os, random, sys
from PIL import Image
out, src = sys.argv[1], sys.argv[2]
rng = random.Random(0)
sources = [Image.open(os.path.join(src, f)).convert("RGB") for f in sorted(os.listdir(src)) if f.endswith(".jpg")]
for i in range(600):
    img = sources[i % len(sources)]
    w, h = img.size
    cw, ch = rng.randint(w // 2, w), rng.randint(h // 2, h)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    side = rng.randint(300, 900)
    crop = img.crop((x, y, x + cw, y + ch)).resize((side, max(1, side * ch // cw)), Image.BILINEAR)
    crop.save(os.path.join(out, f"photo-{i:03d}.jpg"), quality=rng.randint(75, 95))
PY
  then
    for i in $(seq 1 200); do
      for f in flower china rocket; do cp "../shared/fixtures/images/$f.jpg" "$photos/$f-$i.jpg"; done
    done
  fi
fi
if [ -d "$photos" ]; then
  # Three alternating runs each: a pass over 600 photos takes well under a second.
  for _ in 1 2 3; do
    echo "JPEG pipeline ($(ls "$photos" | wc -l) photos): graft" >&2
    "$bench" data "$photos" --batch 32 | tee -a "$out/jpeg.jsonl" "$results" >&2
    if "$PYTHON" -c "import PIL" 2>/dev/null; then
      echo "JPEG pipeline: pillow" >&2
      "$PYTHON" benchmarks/pillow.py "$photos" --batch 32 | tee -a "$out/jpeg.jsonl" "$results" >&2
    fi
    # The training pipeline with `--augment standard`: crop, flip, TrivialAugmentWide.
    echo "JPEG pipeline, --augment standard: graft" >&2
    "$bench" data "$photos" --batch 32 --augment standard | tee -a "$out/jpeg.jsonl" "$results" >&2
    if "$PYTHON" -c "import torchvision" 2>/dev/null; then
      echo "JPEG pipeline, --augment standard: torchvision" >&2
      "$PYTHON" benchmarks/pillow.py "$photos" --batch 32 --augment standard | tee -a "$out/jpeg.jsonl" "$results" >&2
    fi
  done
fi

python3 benchmarks/table.py "$results"
if [ -n "${BENCH_RESULTS:-}" ]; then cp "$results" "$BENCH_RESULTS"; fi
