#!/usr/bin/env bash
# Installs the Debian packages Graft builds and tests with. Idempotent and quiet when
# everything is already there.
set -euo pipefail

packages=(
  pkg-config
  libopenblas-dev      # sgemm for convolutions and linear layers
  libdnnl-dev          # oneDNN convolution kernels
  libhdf5-dev          # weights and checkpoint files
  hdf5-tools           # h5dump, used by the interop tests
  libjpeg62-turbo-dev  # JPEG decoding (libjpeg-turbo)
  libpng-dev           # PNG decoding
  zlib1g-dev           # gzip (Fashion-MNIST IDX files)
  libsqlite3-dev       # the catalog
  libpq-dev            # the catalog on a PostgreSQL server (--catalog postgresql://…)
  libssl-dev           # SHA-256 of weights, checkpoints and datasets (OpenSSL's libcrypto)
  postgresql           # the catalog tests start a server of their own in a temporary directory
  dataset-fashion-mnist
  python3-h5py         # h5py for the interop tests, run with Debian's /usr/bin/python3
  python3-numpy
  python3-onnx         # onnx.checker for the ONNX export tests
)

# `--cluster`: also a single-node Slurm for `make cluster-test` (the daemons are started by the
# test itself, in a temporary directory).
if [ "${1:-}" = "--cluster" ]; then
  packages+=(slurm-wlm munge)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
