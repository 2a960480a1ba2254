#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ with the fuzzer and address sanitizers and runs each for
# FUZZ_SECONDS seconds (default 60), one after another on one core (`make fuzz`).
#
#   FUZZ_SECONDS=600 scripts/fuzz.sh            # every target, 10 minutes each
#   FUZZ_TARGETS="pth jpeg" scripts/fuzz.sh     # a subset: pth safetensors hdf5 jpeg png
#   scripts/fuzz.sh --build-only
#
# Seeds: the committed Fuzz/corpus/<target>/ plus files made from the PyTorch fixtures
# (../shared/fixtures, or GRAFT_FIXTURES) and the PNG fixtures (Tests/Fixtures/png) by
# scripts/fuzz-seeds.py. Inputs that add coverage go
# to out/fuzz/<target>/corpus (kept between runs); a crash is written to
# out/fuzz/<target>/artifacts/ and makes the script fail. Replay one with the normal build:
#   swift build --product FuzzPth && .build/debug/FuzzPth out/fuzz/pth/artifacts/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-pth safetensors hdf5 jpeg png}
fixtures=${GRAFT_FIXTURES:-../shared/fixtures}
out=${FUZZ_OUT:-out/fuzz}
scratch=.build-fuzz
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1

product() {
  case "$1" in
    pth) echo FuzzPth ;;
    safetensors) echo FuzzSafetensors ;;
    hdf5) echo FuzzHDF5 ;;
    jpeg) echo FuzzJPEG ;;
    png) echo FuzzPNG ;;
    *) echo "unknown fuzz target '$1' (pth safetensors hdf5 jpeg png)" >&2; exit 2 ;;
  esac
}

start=$(date +%s)
for t in $targets; do
  # SwiftPM's --sanitize=fuzzer --sanitize=address passes swiftc two -sanitize= flags, and swiftc
  # keeps only the last: coverage or ASan is lost. The trailing -sanitize=fuzzer,address wins;
  # --sanitize=fuzzer stays so that SwiftPM links libFuzzer's main instead of the target's.
  swift build -c release --scratch-path "$scratch" --product "$(product "$t")" --sanitize=fuzzer \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -DFUZZING 2>&1 \
    | grep -v '^\[' || true
  test -x "$scratch/release/$(product "$t")" || { echo "fuzz build of $t failed" >&2; exit 1; }
done
echo "fuzz build: $(( $(date +%s) - start )) s"
[ "$build_only" = 1 ] && exit 0

mkdir -p "$out"
seeds=$(cd "$out" && pwd)/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
if [ -d "$fixtures" ] && command -v python3 >/dev/null; then
  python3 scripts/fuzz-seeds.py "$fixtures" "$seeds"
else
  echo "no fixtures at $fixtures (or no python3): fuzzing from the committed seeds only" >&2
fi

# libFuzzer needs the crash itself, not Swift's backtracer (which hangs on a trap under it).
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}allocator_may_return_null=0"

# Where an HDF5 failure happened: "libhdf5" when the first frame below the sanitizer's and
# libFuzzer's own is in libhdf5, "graft" when it is anywhere else, "unknown" without a stack.
triage_hdf5() {
  local frame
  frame=$(timeout 120 "$1" -timeout=10 -rss_limit_mb=2048 "$2" 2>&1 | grep -E '^ +#[0-9]+ 0x' \
    | grep -v -E 'compiler-rt|libc\.so|in fuzzer::|in LLVMFuzzer|in main ' | head -1 || true)
  case "$frame" in
    "") echo unknown ;;
    *libhdf5*) echo libhdf5 ;;
    *) echo graft ;;
  esac
}

summary=()
failed=0
for t in $targets; do
  bin="$root/$scratch/release/$(product "$t")"
  dir="$out/$t"
  mkdir -p "$dir/corpus" "$dir/artifacts" "$seeds/$t"
  rm -f "$dir"/fuzz*.log
  touch "$dir/.start"
  dict=()
  [ -f "Fuzz/dict/$t.dict" ] && dict=("-dict=$root/Fuzz/dict/$t.dict")
  mode=(-jobs=1 -workers=1 -timeout=20)   # one fuzzing process, its output in $dir/fuzz-0.log
  if [ "$t" = hdf5 ]; then
    # libhdf5 1.10 trusts the file: on damaged metadata it reads out of bounds or after free,
    # allocates whatever length a damaged string claims, or loops for ever, before Graft sees an
    # error, and its API gives Graft nothing to check first. Fork mode (still one process at a
    # time) records those inputs and carries on; each is then replayed, and only a failure
    # whose stack starts in Graft's code fails the run.
    mode=(-fork=1 -ignore_ooms=1 -ignore_timeouts=1 -ignore_crashes=1 -timeout=10)
  fi
  echo "== $t: $seconds s"
  (cd "$dir" && nice -n 10 "$bin" corpus "$root/Fuzz/corpus/$t" "$seeds/$t" "${dict[@]}" "${mode[@]}" \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix=artifacts/ -print_final_stats=1 >fuzz.log 2>&1) || true
  log="$dir/fuzz.log"
  [ -f "$dir/fuzz-0.log" ] && log="$dir/fuzz-0.log"
  if [ "$t" = hdf5 ]; then   # fork mode: the parent's "#N: cov: …" lines count every process
    execs=$(grep -o '^#[0-9]*:' "$log" | tail -1 | tr -d '#:' || true)
  else
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  fi
  found() { find "$dir/artifacts" -newer "$dir/.start" -name "$1-*" | wc -l; }
  crashes=$(( $(found crash) + $(found leak) ))
  ooms=$(found oom)
  timeouts=$(found timeout)
  extra=""
  if [ "$t" = hdf5 ]; then
    in_lib=0; in_graft=0; unknown=0
    for a in $(find "$dir/artifacts" -newer "$dir/.start" -type f); do
      case $(triage_hdf5 "$bin" "$a") in
        libhdf5) in_lib=$((in_lib + 1)) ;;
        graft) in_graft=$((in_graft + 1)); echo "   in Graft's code: $a" ;;
        *) unknown=$((unknown + 1)) ;;
      esac
    done
    extra="  (inside libhdf5: $in_lib, in Graft: $in_graft, no stack: $unknown)"
    [ "$in_graft" -gt 0 ] && failed=1
  elif [ $(( crashes + ooms + timeouts )) -gt 0 ] || grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)' "$log"; then
    failed=1
    echo "   CRASH: see $log and $dir/artifacts/"
    grep -m3 'ERROR: \|Fatal error\|SUMMARY' "$log" | sed 's/^/   /' || true
  fi
  summary+=("$(printf '%-12s %6s s %12s execs  %s crashes  %s out-of-memory  %s timeouts%s' \
    "$t" "$seconds" "${execs:-?}" "$crashes" "$ooms" "$timeouts" "$extra")")
done
echo
printf '%s\n' "${summary[@]}"
exit $failed
