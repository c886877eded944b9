#!/usr/bin/env bash
# Installs what kiln's build and tests need, from Debian packages and PyPI. Idempotent: a second
# run installs nothing and takes seconds.
set -euo pipefail

debs=(cmake ninja-build g++ ccache python3 python3-pip pkg-config
      libprotobuf-dev protobuf-compiler libflatbuffers-dev flatbuffers-compiler
      libxxhash-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev clang-format)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The ONNX schema (onnx.proto) comes from the onnx Python package; protoc compiles it at build.
# ONNX Runtime is the peer the tests compare dynamic-shape outputs with (tests/tools).
pips=()
python3 -c "import onnx" 2>/dev/null || pips+=(onnx)
python3 -c "import onnxruntime" 2>/dev/null || pips+=(onnxruntime)
python3 -c "import numpy" 2>/dev/null || pips+=(numpy)
if ((${#pips[@]})); then
  echo "setup: pip install ${pips[*]}"
  python3 -m pip install -q "${pips[@]}" || python3 -m pip install -q --break-system-packages "${pips[@]}"
fi
echo "setup: ok"
