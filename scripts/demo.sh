#!/usr/bin/env bash
# Graft's main job on built-in defaults, on real data (Debian's Fashion-MNIST), through the photo
# path: the images are exported as a JPEG ImageFolder first. Every step writes to the catalog
# (Catalog/catalog.sqlite), so `graft ckpt list` afterwards shows it all. Re-running picks up
# what is done: the export and finished comparison runs are kept.
#
# Sizes can be changed through the environment: DEMO_PER_CLASS (JPEGs per class, default 500),
# DEMO_EPOCHS (comparison epochs, default 8 = four triangular cycles), DEMO_SIZE (image side, 32).
set -euo pipefail
cd "$(dirname "$0")/.."

graft=.build/release/graft
per_class=${DEMO_PER_CLASS:-500}
epochs=${DEMO_EPOCHS:-8}
size=${DEMO_SIZE:-32}
data=data/fashion-mnist-jpeg
out=out/demo
mkdir -p "$out" Weights
classes_a="t-shirt-top,trouser,pullover,dress,coat"
classes_b="sandal,shirt,sneaker,bag,ankle-boot"
common=(--model vanilla-cnn --image-size "$size" --batch 64 --seed 0)

step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)

step "1/6 Fashion-MNIST as a JPEG ImageFolder ($per_class per class) in $data"
if [ ! -f "$data/.complete-$per_class" ]; then
  rm -rf "$data"
  "$graft" data export-fashion-mnist "$data" --per-class "$per_class"
  touch "$data/.complete-$per_class"
else
  echo "already exported"
fi

step "2/6 LR range test: vanilla CNN, SGD with momentum, classes A ($classes_a)"
"$graft" lr-find "${common[@]}" --data "$data" --classes "$classes_a" --optimizer sgd --momentum 0.9 \
  --epochs 2 --plot "$out/lr-find.svg" | tee "$out/lr-find.txt"

# The study's rule: the upper bound is the lr at the minimum loss / 10, the lower bound a sixth of it.
clr_max=$(sed -n 's/^  min_loss_div10: lr \([0-9.e+-]*\).*/\1/p' "$out/lr-find.txt" | head -1)

step "3/6 Comparison on classes A: SGD with a triangular CLR (max ${clr_max:-from a range test}) vs Adam, snapshots at every CLR minimum"
"$graft" compare ${clr_max:+--clr-max "$clr_max"} "${common[@]}" --data "$data" --classes "$classes_a" --optimizers sgd-clr,adam --runs 1 \
  --epochs "$epochs" --clr-step 1 --name "demo: SGD+CLR vs Adam" | tee "$out/compare.txt"
comparison=$(sed -n 's/^comparison \([0-9]*\) done.*/\1/p' "$out/compare.txt" | tail -1)
sgd_run=$(sed -n 's/^runs sgd-clr: \([0-9]*\).*/\1/p' "$out/compare.txt" | tail -1)

step "4/6 Snapshot ensemble and SWA of run $sgd_run against its best single checkpoint"
"$graft" ensemble --run "$sgd_run" --minima --method all --plot "$out/ensemble.svg" | tee "$out/ensemble.txt"

step "5/6 Transfer: classes A weights -> classes B ($classes_b), block4+head trainable, vs from scratch"
"$graft" ckpt export --run "$sgd_run" --best val_acc --output Weights/vanilla-cnn-fashion-a.h5
transfer=(--data "$data" --classes "$classes_b" --train-per-class 100 --epochs 6 --optimizer adam --lr 1e-3)
# With block1-3 frozen and no augmentation, epochs 2+ train block4+head on cached block3 output.
"$graft" train "${common[@]}" "${transfer[@]}" --weights Weights/vanilla-cnn-fashion-a.h5 --trainable block4,head \
  --name "demo: transfer A->B (block4,head)" 2>&1 | grep -v "^epoch [0-9]*/[0-9]* [0-9]*/" | tee "$out/transfer.txt"
"$graft" train "${common[@]}" "${transfer[@]}" --quiet --name "demo: B from scratch" | tee "$out/scratch.txt"

step "6/6 Report"
"$graft" report --compare "$comparison" --output "$out/report.html"

elapsed=$(( $(date +%s) - started ))
printf '\n== Summary (%dm %02ds)\n' $((elapsed / 60)) $((elapsed % 60))
grep -h "min_loss_div10\|steepest\|valley" "$out/lr-find.txt" || true
echo "transfer A->B, block4+head: $(grep 'best val acc' "$out/transfer.txt")"
echo "B from scratch:             $(grep 'best val acc' "$out/scratch.txt")"
tail -n 8 "$out/ensemble.txt"
echo
echo "Open $out/report.html; the catalog: $graft runs list, $graft ckpt list"
