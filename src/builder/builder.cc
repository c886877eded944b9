#include "kiln/builder.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>

#include "backends/backend.h"
#include "backends/evaluate.h"
#include "backends/reference/reference.h"
#include "builder/precision.h"
#include "ir/shape_inference.h"
#include "passes/pass_manager.h"
#include "runtime/engine_data.h"
#include "util/api_guard.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {

const char* precisionName(Precision p) {
  switch (p) {
    case Precision::kFP32:
      return "fp32";
    case Precision::kTF32:
      return "tf32";
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
  for (Precision p :
       {Precision::kFP32, Precision::kTF32, Precision::kFP16, Precision::kBF16, Precision::kINT8})
    if (name == precisionName(p)) return p;
  return std::nullopt;
}

uint64_t physicalMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || size <= 0) return uint64_t{1} << 40;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(size);
}

namespace {

/// Times one tactic on scratch buffers: warm-up, then the fastest of `iterations` runs (ms).
/// The minimum, not the median: interference from other work on the machine only ever adds
/// time, and on a busy host the median of a few runs can rank tactics by luck.
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
  return ms.empty() ? 0.0 : *std::min_element(ms.begin(), ms.end());
}

}  // namespace

Expected<std::shared_ptr<Engine>> Builder::build(const NetworkDefinition& network,
                                                 const BuilderConfig& config) try {
  if (config.precision == Precision::kINT8)
    return unsupported("precision int8 is not implemented yet; use fp32, tf32, fp16 or bf16");
  KILN_ASSIGN_OR_RETURN(const Backend* backend, findBackend(config.backend));
  KILN_RETURN_IF_ERROR(network.verify());

  auto data = std::make_shared<EngineData>();
  data->kilnVersion = KILN_VERSION;
  data->backend = backend->name();
  data->device = backend->deviceSignature();
  if (config.threads < 0 || config.threads > 4096)
    return invalidArgument("threads must be in [0, 4096] (0: the machine's cores), got " +
                           std::to_string(config.threads));
  data->threads = config.threads > 0 ? config.threads : hostCoreCount();
  BuildLog log;

  NetworkDefinition net = network;
  std::vector<Shape> inputSource, outputSource;
  for (TensorId t : net.inputs())
    inputSource.push_back(net.tensor(t).shape);
  log.add("import: " + std::to_string(net.liveLayerCount()) + " layers");

  KILN_RETURN_IF_ERROR(net.topologicalSort());
  // Constants are folded by the reference backend's kernels (the oracle), whatever the target.
  BackendEvaluator evaluator(referenceBackend());
  PassContext ctx{net, log, *backend, evaluator, config, config.foldLimitBytes};
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
  BoundProfiles bound = std::move(ctx.bound);
  outputSource = std::move(ctx.outputSource);
  KILN_RETURN_IF_ERROR(net.topologicalSort());
  net.compact();
  KILN_RETURN_IF_ERROR(net.verify());

  if (config.precision == Precision::kFP16 || config.precision == Precision::kBF16) {
    const DataType narrow =
        config.precision == Precision::kFP16 ? DataType::kFloat16 : DataType::kBFloat16;
    ConcreteShapes at;
    at.tensors = evaluateShapes(net, bound.opt);
    at.values.assign(net.tensors().size(), Weights());
    KILN_ASSIGN_OR_RETURN(PrecisionReport r, lowerPrecision(net, *backend, narrow, at));
    log.add("precision " + std::string(precisionName(config.precision)) + ": " +
            std::to_string(r.lowered) + " layers lowered, " + std::to_string(r.reformats) +
            " reformat layers, " + std::to_string(r.converted) + " constants stored narrow, " +
            std::to_string(r.keptFloat32.size()) + " float layers kept float32");
    for (const std::string& line : r.keptFloat32)
      log.add("precision: kept float32: " + line);
  }
  const bool allowTf32 = config.precision != Precision::kFP32;

  // Tactic selection at the representative shape: every executed layer gets the fastest
  // supported tactic. Layers whose representative dims are not exact (they depend on data) get
  // the first supported tactic, untimed.
  const ShapeProgram program = analyzeShapes(net);
  ConcreteShapes opt;
  opt.tensors = evaluateShapes(net, bound.opt);
  opt.values.assign(net.tensors().size(), Weights());
  auto exact = [&](TensorId t) {
    std::set<std::string> syms;
    for (const Dim& d : net.tensor(t).shape)
      d.collectSymbols(syms);
    for (const std::string& s : syms)
      if (!bound.opt.count(s)) return false;
    return true;
  };
  const auto& layers = net.layers();
  data->tactics.assign(layers.size(), "");
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!program.executed[i]) continue;
    LayerDesc desc = concreteLayerDesc(net, static_cast<LayerId>(i), opt);
    desc.threads = data->threads;
    desc.allowTf32 = allowTf32;
    auto candidates = backend->tactics(desc);
    if (candidates.empty()) return backend->supports(desc);
    const Tactic* best = candidates[0];
    bool timeable = true;
    for (TensorId t : layers[i].inputs)
      timeable = timeable && (t == kNoTensor || exact(t));
    for (size_t k = 0; k < layers[i].inputs.size(); ++k)
      timeable = timeable && !(desc.hasInput(k) && isParamInput(layers[i].kind(), k) &&
                               desc.constantInputs[k] == nullptr);
    if (candidates.size() > 1 && timeable) {
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

  data->network = std::move(net);
  data->profiles = std::move(bound.profiles);
  data->optSymbols = std::move(bound.opt);
  data->maxTensorBytes = config.maxTensorBytes ? config.maxTensorBytes : physicalMemoryBytes();
  data->maxArenaBytes = config.maxArenaBytes ? config.maxArenaBytes : physicalMemoryBytes();
  KILN_RETURN_IF_ERROR(finalizeEngineData(*data, inputSource, outputSource));
  // The largest shapes of every profile must fit the limits too.
  for (size_t p = 0; p < data->profiles.size(); ++p) {
    std::vector<Dims> maxDims;
    bool complete = true;
    for (TensorId t : data->network.inputs()) {
      auto it = data->profiles[p].inputs.find(data->network.tensor(t).name);
      if (it != data->profiles[p].inputs.end())
        maxDims.push_back(it->second.max);
      else if (auto dims = staticDims(data->network.tensor(t).shape))
        maxDims.push_back(*dims);
      else
        complete = false;
    }
    if (!complete) continue;
    auto symbols = bindInputSymbols(data->network, maxDims);
    if (!symbols) return symbols.status().withContext("profile " + std::to_string(p));
    ConcreteShapes cs;
    cs.tensors = evaluateShapes(data->network, *symbols);
    const std::string when = "at the largest shapes of profile " + std::to_string(p);
    KILN_RETURN_IF_ERROR(checkMemoryLimits(*data, cs, 0, when));
    KILN_RETURN_IF_ERROR(
        checkMemoryLimits(*data, cs, planArena(data->network, data->program, cs).arenaBytes, when));
  }
  log.add("memory: " + std::to_string(data->activationCount) + " activations, " +
          std::to_string(data->activationBytes) + " bytes in total, arena " +
          std::to_string(data->arenaBytes) + " bytes at the representative shape");
  data->buildLog = std::move(log.lines);
  return std::make_shared<Engine>(std::move(data));
} catch (...) {
  return exceptionToStatus("Builder::build");
}

}  // namespace kiln
