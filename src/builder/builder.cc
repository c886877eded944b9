#include "kiln/builder.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "backends/backend.h"
#include "backends/evaluate.h"
#include "backends/reference/reference.h"
#include "builder/memory_planner.h"
#include "ir/describe.h"
#include "passes/pass_manager.h"
#include "runtime/engine_data.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {

const char* precisionName(Precision p) {
  switch (p) {
    case Precision::kFP32:
      return "fp32";
    case Precision::kFP16:
      return "fp16";
    case Precision::kBF16:
      return "bf16";
    case Precision::kINT8:
      return "int8";
  }
  return "?";
}

std::optional<Precision> parsePrecision(std::string_view name) {
  for (Precision p : {Precision::kFP32, Precision::kFP16, Precision::kBF16, Precision::kINT8})
    if (name == precisionName(p)) return p;
  return std::nullopt;
}

namespace {

/// Times one tactic on scratch buffers: warm-up, then the median of `iterations` runs (ms).
Expected<double> timeTactic(const Backend& backend, const Tactic& tactic, const LayerDesc& desc,
                            const BuilderConfig& config) {
  KILN_ASSIGN_OR_RETURN(auto kernel, tactic.create(desc));
  KILN_RETURN_IF_ERROR(kernel->reshape(desc.inputs, desc.outputs));
  std::vector<void*> blocks;
  auto alloc = [&](size_t bytes) -> Expected<void*> {
    KILN_ASSIGN_OR_RETURN(void* p, backend.allocate(std::max<size_t>(bytes, 1)));
    blocks.push_back(p);
    return p;
  };
  struct Free {
    const Backend& b;
    std::vector<void*>& v;
    ~Free() {
      for (void* p : v)
        b.deallocate(p);
    }
  } freeAll{backend, blocks};
  std::vector<const void*> ins;
  for (size_t k = 0; k < desc.inputs.size(); ++k) {
    if (!desc.hasInput(k)) {
      ins.push_back(nullptr);
      continue;
    }
    KILN_ASSIGN_OR_RETURN(void* p, alloc(desc.inputs[k].bytes()));
    ins.push_back(p);
  }
  std::vector<void*> outs;
  for (const TensorDesc& o : desc.outputs) {
    KILN_ASSIGN_OR_RETURN(void* p, alloc(o.bytes()));
    outs.push_back(p);
  }
  KILN_ASSIGN_OR_RETURN(void* ws, alloc(kernel->workspaceBytes()));
  KILN_RETURN_IF_ERROR(kernel->setup(ins, outs, ws));
  auto stream = backend.createStream();
  std::vector<double> ms;
  for (int i = 0; i < config.timingWarmup + config.timingIterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    // Scratch inputs hold arbitrary bytes: a tactic may report a data error; only time matters.
    (void)kernel->run(*stream);
    (void)stream->synchronize();
    auto t1 = std::chrono::steady_clock::now();
    if (i >= config.timingWarmup)
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? 0.0 : ms[ms.size() / 2];
}

}  // namespace

Expected<std::shared_ptr<Engine>> Builder::build(const NetworkDefinition& network,
                                                 const BuilderConfig& config) {
  if (config.precision != Precision::kFP32)
    return unsupported(std::string("precision ") + precisionName(config.precision) +
                       " is not implemented yet; use fp32");
  KILN_ASSIGN_OR_RETURN(const Backend* backend, findBackend(config.backend));
  KILN_RETURN_IF_ERROR(network.verify());

  auto data = std::make_shared<EngineData>();
  data->kilnVersion = KILN_VERSION;
  data->backend = backend->name();
  data->device = backend->deviceSignature();
  BuildLog log;

  NetworkDefinition net = network;
  std::vector<Shape> inputSource, outputSource;
  for (TensorId t : net.inputs())
    inputSource.push_back(net.tensor(t).shape);
  for (TensorId t : net.outputs())
    outputSource.push_back(net.tensor(t).shape);
  log.add("import: " + std::to_string(net.liveLayerCount()) + " layers");

  KILN_RETURN_IF_ERROR(net.topologicalSort());
  // Constants are folded by the reference backend's kernels (the oracle), whatever the target.
  BackendEvaluator evaluator(referenceBackend());
  PassContext ctx{
      net, log, *backend, evaluator, config.inputShapes, config.symbols, config.foldLimitBytes, {}};
  PipelineOptions options;
  options.disabled = config.disabledPasses;
  options.dumpDir = config.dumpIrDir;
#ifdef NDEBUG
  const char* env = std::getenv("KILN_VERIFY_PASSES");
  options.verify = config.verifyPasses.value_or(env != nullptr && std::strcmp(env, "1") == 0);
#else
  options.verify = config.verifyPasses.value_or(true);
#endif
  KILN_RETURN_IF_ERROR(runPipeline(defaultPipeline(), ctx, options));
  for (const auto& [rule, n] : ctx.hits)
    log.add("rule " + rule + ": " + std::to_string(n) + " hits");
  KILN_RETURN_IF_ERROR(net.topologicalSort());
  net.compact();
  KILN_RETURN_IF_ERROR(net.verify());

  // Tactic selection: every executed layer gets the fastest supported tactic.
  const auto& layers = net.layers();
  data->tactics.assign(layers.size(), "");
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind() == LayerKind::kConstant) continue;
    KILN_ASSIGN_OR_RETURN(LayerDesc desc, describeLayer(net, static_cast<LayerId>(i)));
    auto candidates = backend->tactics(desc);
    if (candidates.empty()) return backend->supports(desc);
    const Tactic* best = candidates[0];
    if (candidates.size() > 1) {
      double bestMs = 1e300;
      std::string timings;
      for (const Tactic* t : candidates) {
        auto ms = timeTactic(*backend, *t, desc, config);
        if (!ms) {
          timings += " " + t->name() + "=failed(" + ms.status().message() + ")";
          continue;
        }
        timings += " " + t->name() + "=" + std::to_string(*ms) + "ms";
        if (*ms < bestMs) {
          bestMs = *ms;
          best = t;
        }
      }
      log.add("tactic: " + layers[i].name + ":" + timings + " -> " + best->name());
    }
    data->tactics[i] = best->name();
  }

  // Memory plan: every tensor written by an executed layer and not a graph output lives in the
  // arena from the layer that writes it to the last layer that reads it.
  std::vector<int> first(net.tensors().size(), -1), last(net.tensors().size(), -1);
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind() == LayerKind::kConstant) continue;
    for (TensorId t : layers[i].outputs)
      first[t] = last[t] = static_cast<int>(i);
    for (TensorId t : layers[i].inputs)
      if (t != kNoTensor && first[t] >= 0) last[t] = static_cast<int>(i);
  }
  std::vector<BufferRequest> requests;
  std::vector<TensorId> requestTensor;
  for (size_t t = 0; t < net.tensors().size(); ++t) {
    const Tensor& x = net.tensors()[t];
    if (first[t] < 0 || x.isOutput) continue;
    auto dims = staticDims(x.shape);
    requests.push_back(
        {static_cast<uint64_t>(volume(*dims)) * dataTypeSize(x.dtype), first[t], last[t]});
    requestTensor.push_back(static_cast<TensorId>(t));
  }
  MemoryPlan plan = planMemory(requests);
  data->arenaOffsets.assign(net.tensors().size(), -1);
  for (size_t r = 0; r < requests.size(); ++r)
    data->arenaOffsets[requestTensor[r]] = static_cast<int64_t>(plan.offsets[r]);
  data->arenaBytes = plan.arenaBytes;
  data->activationBytes = plan.totalBytes;
  log.add("memory: " + std::to_string(requests.size()) + " activations, " +
          std::to_string(plan.totalBytes) + " bytes in total, arena " +
          std::to_string(plan.arenaBytes) + " bytes");

  data->network = std::move(net);
  describeIO(*data, inputSource, outputSource);
  data->buildLog = std::move(log.lines);
  return std::make_shared<Engine>(std::move(data));
}

}  // namespace kiln
