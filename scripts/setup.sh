#!/usr/bin/env bash
# Installs what kiln's build and tests need, from Debian packages and PyPI. Idempotent: a second
# run installs nothing and takes seconds.
set -euo pipefail

debs=(cmake ninja-build g++ ccache python3 python3-pip pkg-config
      libprotobuf-dev protobuf-compiler libflatbuffers-dev flatbuffers-compiler
      libxxhash-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev clang-format
      clang libclang-rt-14-dev libomp-14-dev)
# clang, its sanitizer and libFuzzer runtimes (libclang-rt-14-dev) and its OpenMP (libomp-14-dev)
# build the fuzz targets (scripts/fuzz.sh, docs/fuzzing.md).
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

pip_install() {
  echo "setup: pip install $*"
  python3 -m pip install -q "$@" || python3 -m pip install -q --break-system-packages "$@"
}
# The ONNX schema (onnx.proto) comes from the onnx Python package; protoc compiles it at build.
python3 -c "import onnx" 2>/dev/null || pip_install onnx
# oneDNN for the cpu backend: the PyPI build with GNU OpenMP threading (oneDNN 3.2; headers, library
# and CMake config land in the Python data prefix, where CMakeLists.txt looks). docs/benchmarks.md
# says why this build rather than Debian's 2.6 or the SYCL/TBB 2026.1 wheel.
dnnl_prefix=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['data'])")
[ -f "$dnnl_prefix/lib/cmake/dnnl/dnnl-config.cmake" ] ||
  pip_install onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0
# ONNX Runtime and numpy: the peer of bench/compare_ort.py (CI runs it once as a smoke test).
python3 -c "import onnxruntime, numpy" 2>/dev/null || pip_install onnxruntime numpy
echo "setup: ok"
