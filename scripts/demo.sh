#!/usr/bin/env bash
# Graft's main job on built-in defaults, on real data (Debian's Fashion-MNIST):
#   1. a pretrained source model: ResNet18 trained on five classes (A), published to the zoo;
#   2. fine-tuning it on the five other classes (B), 25 images per class, in one command: an LR
#      range test, the new head alone, then layer4 + head with a triangular CLR, stopping early;
#   3. the study's comparison on the same set-up (layer4 + a new head): SGD with a triangular CLR,
#      its bounds from an LR range test, against Adam;
#   4. the checkpoints at CLR minima, queried in the catalog;
#   5. the same target set from scratch and with a linear probe, for comparison;
#   6. the snapshot ensemble of the SGD run's minima, with its diversity and the advisor's choice;
#   7. the HTML report.
# Every accuracy in the summary is measured on the 5,000 test images of classes B, for the
# checkpoint each run chose on its validation split (3,000 images). Every step writes to the
# catalog (Catalog/catalog.sqlite). Re-running picks up what is done: the published source
# model and finished comparison runs are kept.
#
# Sizes can be changed through the environment: DEMO_PER_CLASS (training images per class of B,
# default 25), DEMO_EPOCHS (fine-tuning epochs, default 12 = six triangular cycles),
# DEMO_SOURCE_EPOCHS (source model epochs, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

graft=.build/release/graft
per_class=${DEMO_PER_CLASS:-25}
epochs=${DEMO_EPOCHS:-12}
source_epochs=${DEMO_SOURCE_EPOCHS:-3}
out=out/demo
source_model=resnet18-fmnist-a
mkdir -p "$out" Weights
classes_a="t-shirt-top,trouser,pullover,dress,coat"
classes_b="sandal,shirt,sneaker,bag,ankle-boot"
data=(--data fashion-mnist --image-size 32 --val 0.1)
target=("${data[@]}" --classes "$classes_b" --train-per-class "$per_class" --batch 32 --seed 0)

# Each step's wall time, for the summary.
step_names=() step_seconds=() step_started=""
step_done() {
  if [ -n "$step_started" ]; then
    step_names+=("$step_name")
    step_seconds+=($(($(date +%s) - step_started)))
    step_started=""
  fi
}
step() {
  step_done
  step_name="$*" step_started=$(date +%s)
  printf '\n== %s\n' "$*"
}
duration() { printf '%dm %02ds' $(($1 / 60)) $(($1 % 60)); }
# Test accuracy of a run's best checkpoint on validation, on the test images of its classes.
test_accuracy() {
  "$graft" evaluate --run "$1" --best val_acc --data fashion-mnist --quiet --no-record --json \
    | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["summary"]["accuracy"], 4))'
}
started=$(date +%s)

step "0/7 Build (release)"
make -s build

step "1/7 Source model: ResNet18 on Fashion-MNIST classes A ($classes_a), 30,000 images, published as $source_model"
if [ -f "Weights/$source_model.card.json" ] && [ -f "Weights/$source_model.h5" ]; then
  echo "already published: $graft models show $source_model"
else
  "$graft" train --model resnet18 "${data[@]}" --classes "$classes_a" --batch 128 --seed 0 --epochs "$source_epochs" \
    --optimizer sgd --momentum 0.9 --weight-decay 5e-4 --schedule onecycle --lr 0.1 \
    --name "demo: source ResNet18 on classes A" | tee "$out/source.txt"
  source_run=$(sed -n 's/^run \([0-9]*\):.*/\1/p' "$out/source.txt" | tail -1)
  "$graft" models publish --run "$source_run" --id "$source_model" --replace
fi
"$graft" models show "$source_model" | grep -E "^(classes|accuracy|trained by|weights sha256) "

tuned_data=(--model "$source_model" --weights "Weights/$source_model.h5" "${target[@]}")
tuned=("${tuned_data[@]}" --trainable layer4,head)

step "2/7 Fine-tuning in one command: $source_model on classes B ($classes_b), $per_class images per class"
# An LR range test of the new head on the frozen trunk, one epoch of that head, then layer4 + head
# with a triangular CLR (half cycles of an epoch), stopping when validation loss has not improved
# for 2 cycles. The same choices as step 3's SGD run, but no rate chosen by hand.
"$graft" finetune "${tuned_data[@]}" --unfreeze layer4 --optimizer sgd --momentum 0.9 --schedule triangular \
  --freeze-epochs 1 --epochs "$epochs" --lr auto --patience 2 --keep minima,best:1 --quiet \
  --name "demo: finetune $source_model on B" | tee "$out/finetune.txt"
finetune_run=$(sed -n 's/^run \([0-9]*\):.*/\1/p' "$out/finetune.txt" | tail -1)

step "3/7 The study's comparison: SGD with a triangular CLR (bounds from an LR range test) vs Adam, a checkpoint at every CLR minimum"
# With stem … layer3 frozen and no augmentation, epochs 2+ train layer4 + head on cached layer3 output.
"$graft" compare "${tuned[@]}" --optimizers sgd-clr,adam --lr auto --lr-for adam=1e-3 \
  --runs 1 --epochs "$epochs" --clr-step 1 --keep minima,best:1 --name "demo: fine-tune $source_model on B" | tee "$out/compare.txt"
comparison=$(sed -n 's/^comparison \([0-9]*\) done.*/\1/p' "$out/compare.txt" | tail -1)
sgd_run=$(sed -n 's/^runs sgd-clr: \([0-9]*\).*/\1/p' "$out/compare.txt" | tail -1)
adam_run=$(sed -n 's/^runs adam: \([0-9]*\).*/\1/p' "$out/compare.txt" | tail -1)

step "4/7 The catalog: checkpoints at CLR minima, and the best checkpoint per optimizer"
"$graft" ckpt list --comparison "$comparison" --minima
"$graft" ckpt best --comparison "$comparison" --per optimizer

step "5/7 Baselines on the same images: ResNet18 from scratch, and a linear probe (head only) of $source_model"
"$graft" train --model resnet18 "${target[@]}" --optimizer adam --lr 1e-3 --epochs "$epochs" --keep best:1 --quiet \
  --name "demo: B from scratch" | tee "$out/scratch.txt"
"$graft" train "${tuned[@]}" --trainable head --optimizer adam --lr 1e-2 --epochs "$epochs" --keep best:1 --quiet \
  --name "demo: B linear probe" | tee "$out/probe.txt"
scratch_run=$(sed -n 's/^run \([0-9]*\):.*/\1/p' "$out/scratch.txt" | tail -1)
probe_run=$(sed -n 's/^run \([0-9]*\):.*/\1/p' "$out/probe.txt" | tail -1)

step "6/7 Snapshot ensemble and SWA of run $sgd_run's last 3 CLR minima against its best single checkpoint, on the test split"
# The last snapshots: in a short run the first ones are weaker rather than different.
"$graft" ensemble --run "$sgd_run" --minima --last 3 --method all --split test --plot "$out/ensemble.svg" | tee "$out/ensemble.txt"

step "7/7 Report"
"$graft" report --compare "$comparison" --output "$out/report.html"

step_done
elapsed=$(( $(date +%s) - started ))
printf '\n== Summary (%s, build included)\n' "$(duration "$elapsed")"
echo "Time per step ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores):"
for i in "${!step_names[@]}"; do
  printf '  %-9s %s\n' "$(duration "${step_seconds[$i]}")" "${step_names[$i]%%:*}"
done
grep -h "^lr auto" "$out/finetune.txt" "$out/compare.txt" || true
echo "Test accuracy on the 5,000 test images of classes B, $per_class training images per class:"
printf '  %-52s %s\n' \
  "graft finetune --lr auto (head, then layer4+head):" "$(test_accuracy "$finetune_run")" \
  "fine-tuned $source_model, layer4+head, SGD+CLR:" "$(test_accuracy "$sgd_run")" \
  "fine-tuned $source_model, layer4+head, Adam:" "$(test_accuracy "$adam_run")" \
  "linear probe of $source_model (head only):" "$(test_accuracy "$probe_run")" \
  "ResNet18 from scratch:" "$(test_accuracy "$scratch_run")"
grep -h "^Use \|^Keep \|does not pay" "$out/ensemble.txt" || tail -n 2 "$out/ensemble.txt"
echo
echo "Open $out/report.html; the catalog: $graft runs list, $graft ckpt list"
