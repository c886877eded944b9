// kiln — the fuzz targets' bodies, shared by the libFuzzer entry points (fuzz/*_fuzzer.cc) and
// the regression test that replays the inputs they found (tests/fuzz_regressions_test.cc), so
// that a saved input runs through the same calls in every build.
//
// Small memory limits make kiln refuse a hostile input with an error long before libFuzzer's
// own limits (-rss_limit_mb, -malloc_limit_mb) could stop it: an input that reaches those is a
// finding, not noise. Each function returns false only when an invariant fails (a finding);
// errors from kiln are expected outcomes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "kiln/onnx_parser.h"
#include "kiln/tensor_file.h"
#include "kiln/types.h"

namespace kiln::fuzz {

/// BuilderConfig::maxTensorBytes and maxArenaBytes of the engines the ONNX target builds.
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxArenaBytes = uint64_t{8} << 20;
/// An engine is run only when its inputs and outputs together, and its arena, fit in these (a
/// loaded plan carries its own limits, which the plan target cannot choose).
constexpr uint64_t kMaxRunIOBytes = uint64_t{4} << 20;
constexpr uint64_t kMaxRunArenaBytes = uint64_t{32} << 20;
/// Nor when its weights exceed this: the instrumented reference kernels take seconds on the
/// convolutions of digits_resnet (440 KiB of weights); such engines are built and loaded only.
constexpr uint64_t kMaxRunWeightBytes = uint64_t{64} << 10;
/// Dynamic dimensions of a model's inputs are fixed to this.
constexpr int64_t kSymbolValue = 2;
/// Models larger than this (the shared models, as seeds) are imported but not built, and
/// networks with more layers than this are not built: one input must take milliseconds.
constexpr size_t kMaxBuildModelBytes = size_t{1} << 20;
constexpr size_t kMaxBuildLayers = 256;

/// Runs `engine` once on zero-filled inputs of its representative shapes when it is small
/// enough (see above).
inline void runEngineOnce(const Engine& engine) {
  MemoryInfo memory = engine.memory();
  if (memory.arenaBytes > kMaxRunArenaBytes || memory.weightBytes > kMaxRunWeightBytes) return;
  uint64_t ioBytes = 0;
  for (const auto* list : {&engine.inputs(), &engine.outputs()}) {
    for (const IOTensorInfo& io : *list) {
      auto bytes = byteSize(io.dtype, io.dims, io.name);
      if (!bytes) return;
      ioBytes += *bytes;
      if (ioBytes > kMaxRunIOBytes) return;
    }
  }
  auto ctx = engine.createExecutionContext();
  if (!ctx) return;
  std::vector<Weights> inputs;
  for (const IOTensorInfo& io : engine.inputs()) {
    auto w = Weights::zeros(io.dtype, io.dims, io.name);
    if (!w) return;
    if (io.isDynamic() && !(*ctx)->setInputShape(io.name, io.dims).isOk()) return;
    if (!(*ctx)->setInputTensor(io.name, w->data(), w->bytes(), io.dtype).isOk()) return;
    inputs.push_back(std::move(w).value());
  }
  (void)(*ctx)->execute();
}

/// The ONNX importer on arbitrary bytes, then (when the model imports) the builder on the
/// reference backend with small shapes and limits, so that shape inference, constant folding
/// and the other passes are fuzzed too, then one run of the engine.
inline bool onnxImport(const uint8_t* data, size_t size) {
  auto network = OnnxParser::parseBuffer(data, size, "fuzz.onnx");
  if (!network) return true;
  if (size > kMaxBuildModelBytes || network->liveLayerCount() > kMaxBuildLayers) return true;
  BuilderConfig config;
  config.backend = "reference";
  config.threads = 1;
  config.maxTensorBytes = kMaxTensorBytes;
  config.maxArenaBytes = kMaxArenaBytes;
  config.foldLimitBytes = size_t{64} << 10;
  config.timingWarmup = 0;
  config.timingIterations = 0;  // tactics are set up, not run: runEngineOnce runs the engine
  for (TensorId id : network->inputs()) {
    const Tensor& t = network->tensor(id);
    Dims dims;
    bool dynamic = false;
    for (const Dim& d : t.shape) {
      dynamic |= !d.isStatic();
      dims.push_back(d.isStatic() ? d.value() : kSymbolValue);
    }
    if (dynamic) config.inputShapes[t.name] = dims;
  }
  auto engine = Builder::build(*network, config);
  if (!engine) return true;
  runEngineOnce(**engine);
  return true;
}

/// The plan loader on arbitrary bytes. A plan that loads is a valid engine: it serializes to a
/// plan that loads again (else false), and it is run once when small.
inline bool planLoad(const uint8_t* data, size_t size) {
  auto engine = Runtime::deserialize(data, size, "fuzz.plan");
  if (!engine) return true;
  const Engine& e = **engine;
  (void)e.layers();
  auto again = e.serialize();
  if (!again) return true;  // out of memory is an error, not a finding
  auto reloaded = Runtime::deserialize(again->data(), again->size(), "reserialized.plan");
  if (!reloaded) {
    std::fprintf(stderr, "a loaded plan serialized to a plan that does not load: %s\n",
                 reloaded.status().toString().c_str());
    return false;
  }
  runEngineOnce(e);
  return true;
}

/// The .pb tensor reader (onnx.TensorProto, as in input_K.pb files) on arbitrary bytes. A
/// tensor that parses has a valid size and is read whole, so that a size that disagrees with
/// its buffer is an ASan report.
inline bool tensorParse(const uint8_t* data, size_t size) {
  auto tensor = parseTensorProto(data, size, "fuzz.pb");
  if (!tensor) return true;
  const Weights& w = tensor->value;
  if (w.empty()) return true;
  auto bytes = byteSize(w.dtype(), w.dims(), tensor->name);
  if (!bytes) {
    std::fprintf(stderr, "a parsed tensor has an invalid size: %s\n",
                 bytes.status().toString().c_str());
    return false;
  }
  const auto* p = static_cast<const uint8_t*>(w.data());
  volatile uint8_t sink = 0;
  for (uint64_t i = 0; i < *bytes; ++i)
    sink = sink ^ p[i];
  (void)w.toDoubles();
  return true;
}

}  // namespace kiln::fuzz
