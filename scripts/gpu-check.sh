#!/usr/bin/env bash
# The GPU checks of the cuda backend, in two steps:
#
#   bash scripts/gpu-check.sh --pack FILE.tar.xz [MODEL...]   on the build machine: packs the
#       built binaries (build/), the shared libraries they need that a bare GPU machine may lack,
#       and the named shared models (default: all of ../shared/models);
#   bash scripts/gpu-check.sh FILE.tar.xz [OUT]              on the GPU machine: runs the GPU tests
#       (every cuda tactic against the reference), compute-sanitizer memcheck over them when it
#       is there, and for each packed model builds a plan with --backend cuda, lists the layers
#       that fall back to the host, runs the plan against the model's reference outputs and
#       times it (kiln bench, median latency in the summary).
#       OUT (optional) receives summary.txt, gpu_tests.log and logs.tar.gz (every log); the
#       last lines printed are the summary.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--pack" ]; then
  archive=${2:?usage: gpu-check.sh --pack FILE.tar.xz [MODEL...]}
  shift 2
  build=${KILN_BUILD_DIR:-build}
  dir=$(mktemp -d)/kiln-gpu
  mkdir -p "$dir/lib" "$dir/models"
  cp "$build/kiln" "$build/tests/kiln_cuda_tests" "$dir/"
  cp "$build"/lib/*.so* "$dir/lib/"
  # Non-system libraries the binaries load (protobuf and the like from the build machine's
  # distribution); the C runtime, the C++ runtime and the CUDA driver stay the GPU machine's.
  for f in "$dir/kiln" "$dir/kiln_cuda_tests" "$dir"/lib/libkiln_cuda.so; do
    ldd "$f" | awk '/=> \// {print $3}'
  done | sort -u | grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcublas[^/]*|libcudnn[^/]*)\.so' |
    while read -r lib; do cp -Ln "$lib" "$dir/lib/" 2>/dev/null || true; done
  strip --strip-unneeded "$dir/kiln" "$dir/kiln_cuda_tests" "$dir/lib/libkiln_cuda.so" 2>/dev/null || true
  models=("$@")
  ((${#models[@]})) || models=(digits_resnet mobilenet_v2 vit_tiny bert_mini gpt2_tiny)
  for m in "${models[@]}"; do
    mkdir -p "$dir/models/$m"
    cp -r "../shared/models/$m/model.onnx" "../shared/models/$m/test_data_set_0" "$dir/models/$m/"
  done
  mkdir -p "$(dirname "$archive")"
  tar -C "$(dirname "$dir")" -cJf "$archive" kiln-gpu
  rm -rf "$(dirname "$dir")"
  du -sh "$archive"
  exit 0
fi

archive=${1:?usage: gpu-check.sh FILE.tar.xz [OUT]}
dir=/tmp/kiln-gpu
rm -rf "$dir" && tar -C /tmp -xJf "$archive" || exit 1
result=${2:-}
out=/tmp/kiln-gpu-out
rm -rf "$out" && mkdir -p "$out"
cuda_libs=/usr/local/cuda/targets/x86_64-linux/lib
[ -d "$cuda_libs" ] || cuda_libs=/usr/local/cuda-13.0/targets/x86_64-linux/lib
cudnn_libs=$(ls -d /opt/torch/.venv/lib/python3.*/site-packages/nvidia/cudnn/lib 2>/dev/null | head -1)
export LD_LIBRARY_PATH="${cudnn_libs:+$cudnn_libs:}$dir/lib:$cuda_libs:${LD_LIBRARY_PATH:-}"
export KILN_CUDA_LIBRARY="$dir/lib/libkiln_cuda.so"
export KILN_TEST_MODELS_DIR="$dir/models"  # the engine tests build digits_resnet
summary=()
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

"$dir/kiln_cuda_tests" 2>&1 | tee "$out/gpu_tests.log" | tail -n 30
rc=${PIPESTATUS[0]}
summary+=("gpu tests: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gpu_tests.log" | tr '\n' ' ') (exit $rc)")

sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -n "$sanitizer" ] && [ -z "${KILN_GPU_NO_SANITIZER:-}" ]; then
  timeout "${KILN_MEMCHECK_SECONDS:-300}" "$sanitizer" --tool memcheck --leak-check full --error-exitcode 9 \
    "$dir/kiln_cuda_tests" --gtest_brief=1 >"$out/memcheck.log" 2>&1
  src=$?
  summary+=("memcheck: exit $src, $(grep -c 'Invalid\|ERROR SUMMARY: [1-9]' "$out/memcheck.log") error lines; $(grep 'ERROR SUMMARY' "$out/memcheck.log" | tail -1)")
else
  summary+=("memcheck: skipped (compute-sanitizer not found)")
fi

for m in "$dir"/models/*/; do
  name=$(basename "$m")
  plan="/tmp/$name.plan"
  t0=$(date +%s.%N)
  if ! timeout 300 "$dir/kiln" build "$m/model.onnx" -o "$plan" --backend cuda >"$out/$name.build.log" 2>&1; then
    summary+=("$name: build FAILED: $(tail -1 "$out/$name.build.log")")
    continue
  fi
  t1=$(date +%s.%N)
  "$dir/kiln" inspect "$plan" >"$out/$name.inspect.txt" 2>&1
  host=$(grep -o 'cuda\.host\.[a-z_.]*' "$out/$name.inspect.txt" | sort | uniq -c | sort -rn |
         awk '{printf "%s x%s, ", $2, $1}')
  device=$(grep -o 'cuda\.[a-z_]*\.[a-z0-9_.]*' "$out/$name.inspect.txt" | grep -vc 'cuda\.host\.')
  timeout 300 "$dir/kiln" run "$plan" --inputs "$m/test_data_set_0" --expected "$m/test_data_set_0" \
    --rtol 1e-3 --atol 1e-4 >"$out/$name.run.log" 2>&1
  rrc=$?
  # Latency of the plan at the shapes of its test inputs (median over 2 s; layer times in the log).
  timeout 120 "$dir/kiln" bench "$plan" --inputs "$m/test_data_set_0" --duration 2 --layer-times \
    >"$out/$name.bench.log" 2>&1
  lat=$(grep -o 'median [0-9.]*' "$out/$name.bench.log" | head -1)
  summary+=("$name: build $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")s, run exit $rrc ($(tail -1 "$out/$name.run.log")); latency ms ${lat:-(bench failed)}; device layers $device; host fallback: ${host:-none}")
done

echo "==== summary"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
# Three files for the caller: the summary, the GPU test log, and every log packed.
if [ -n "$result" ]; then
  mkdir -p "$result"
  cp "$out/summary.txt" "$out/gpu_tests.log" "$result/"
  tar -C "$(dirname "$out")" -czf "$result/logs.tar.gz" "$(basename "$out")"
fi
