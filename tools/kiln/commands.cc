#include "kiln/commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "kiln/compare.h"
#include "kiln/kiln.h"

namespace fs = std::filesystem;

namespace kiln::cli {

namespace {

int fail(const char* command, const Status& s) {
  std::cerr << "kiln " << command << ": error: " << s.toString() << "\n";
  return 1;
}

bool isPlanFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f && std::string(magic, 8) == "KILNPLAN";
}

Expected<std::map<std::string, Dims>> parseShapes(const std::vector<std::string>& specs) {
  std::map<std::string, Dims> out;
  for (const std::string& spec : specs) {
    auto eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0)
      return invalidArgument("--shapes entry '" + spec + "' is not name=AxBxC");
    Dims dims;
    std::string rest = spec.substr(eq + 1);
    size_t pos = 0;
    while (pos <= rest.size() && !rest.empty()) {
      size_t x = rest.find('x', pos);
      std::string tok = rest.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
      char* end = nullptr;
      long long v = std::strtoll(tok.c_str(), &end, 10);
      if (tok.empty() || *end != '\0' || v < 0)
        return invalidArgument("--shapes entry '" + spec + "': '" + tok + "' is not a dimension");
      dims.push_back(v);
      if (x == std::string::npos) break;
      pos = x + 1;
    }
    out[spec.substr(0, eq)] = dims;
  }
  return out;
}

/// Input tensors read from --inputs DIR and --input name=file, in the order given.
Expected<std::vector<NamedTensor>> readInputFiles(const std::string& dir,
                                                  const std::vector<std::string>& specs) {
  std::vector<NamedTensor> out;
  if (!dir.empty()) {
    if (!fs::is_directory(dir)) return notFound("inputs folder '" + dir + "' does not exist");
    for (int k = 0;; ++k) {
      fs::path p = fs::path(dir) / ("input_" + std::to_string(k) + ".pb");
      if (!fs::exists(p)) break;
      KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorFile(p.string()));
      out.push_back(std::move(t));
    }
    if (out.empty()) return notFound("no input_0.pb in '" + dir + "'");
  }
  for (const std::string& s : specs) {
    auto eq = s.find('=');
    if (eq == std::string::npos) return invalidArgument("--input '" + s + "' is not name=file.pb");
    KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorFile(s.substr(eq + 1)));
    t.name = s.substr(0, eq);
    out.push_back(std::move(t));
  }
  return out;
}

/// Matches input files to the network's inputs: by name when every file's name is an input
/// name, else by position. Returns tensors in the network's input order.
Expected<std::vector<NamedTensor>> matchInputs(const std::vector<std::string>& names,
                                               std::vector<NamedTensor> files) {
  bool byName =
      !files.empty() && std::all_of(files.begin(), files.end(), [&](const NamedTensor& t) {
        return std::find(names.begin(), names.end(), t.name) != names.end();
      });
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (byName) {
      auto it = std::find_if(files.begin(), files.end(),
                             [&](const NamedTensor& t) { return t.name == names[i]; });
      if (it == files.end()) return invalidArgument("no data given for input '" + names[i] + "'");
      out.push_back(*it);
    } else {
      if (i >= files.size())
        return invalidArgument("no data given for input '" + names[i] + "' (input " +
                               std::to_string(i) + "; " + std::to_string(files.size()) +
                               " input files)");
      out.push_back(files[i]);
      out.back().name = names[i];
    }
  }
  if (files.size() > names.size())
    return invalidArgument(std::to_string(files.size()) + " input files for " +
                           std::to_string(names.size()) + " model inputs");
  return out;
}

/// Loads a plan, or parses and builds an ONNX model (shapes from --shapes, else from `inputs`).
Expected<std::shared_ptr<Engine>> loadEngine(const ModelOptions& m,
                                             const std::vector<NamedTensor>* files,
                                             std::vector<NamedTensor>* matched) {
  if (!fs::exists(m.model)) return notFound("model file '" + m.model + "' does not exist");
  std::shared_ptr<Engine> engine;
  if (isPlanFile(m.model)) {
    KILN_ASSIGN_OR_RETURN(engine, Runtime::deserializeFile(m.model));
  } else {
    KILN_ASSIGN_OR_RETURN(NetworkDefinition net, OnnxParser::parseFile(m.model));
    BuilderConfig config;
    config.backend = m.backend;
    auto p = parsePrecision(m.precision);
    if (!p)
      return invalidArgument("unknown precision '" + m.precision + "' (fp32, fp16, bf16, int8)");
    config.precision = *p;
    KILN_ASSIGN_OR_RETURN(config.inputShapes, parseShapes(m.shapes));
    config.disabledPasses = m.disabledPasses;
    config.dumpIrDir = m.dumpIrDir;
    if (files && config.inputShapes.empty()) {
      std::vector<std::string> names;
      for (TensorId t : net.inputs())
        names.push_back(net.tensor(t).name);
      KILN_ASSIGN_OR_RETURN(auto inputs, matchInputs(names, *files));
      for (const NamedTensor& t : inputs)
        config.inputShapes[t.name] = t.value.dims();
    }
    KILN_ASSIGN_OR_RETURN(engine, Builder::build(net, config));
  }
  if (m.verbose)
    for (const std::string& line : engine->buildLog())
      std::cerr << "[build] " << line << "\n";
  if (files && matched) {
    std::vector<std::string> names;
    for (const auto& io : engine->inputs())
      names.push_back(io.name);
    KILN_ASSIGN_OR_RETURN(*matched, matchInputs(names, *files));
  }
  return engine;
}

/// Binds inputs (checked) and freshly allocated outputs, then runs once.
Expected<std::vector<Weights>> bindAndRun(ExecutionContext& ctx, const Engine& engine,
                                          const std::vector<NamedTensor>& inputs) {
  for (const NamedTensor& t : inputs) {
    KILN_RETURN_IF_ERROR(ctx.setInputShape(t.name, t.value.dims()));
    KILN_RETURN_IF_ERROR(
        ctx.setInputTensor(t.name, t.value.data(), t.value.bytes(), t.value.dtype()));
  }
  std::vector<Weights> outs;
  for (const IOTensorInfo& io : engine.outputs()) {
    outs.push_back(Weights::zeros(io.dtype, io.dims));
    KILN_RETURN_IF_ERROR(
        ctx.setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(), io.dtype));
  }
  KILN_RETURN_IF_ERROR(ctx.execute());
  return outs;
}

std::string humanBytes(uint64_t b) {
  char buf[64];
  if (b >= (1u << 20))
    std::snprintf(buf, sizeof buf, "%.2f MiB", b / 1048576.0);
  else if (b >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

nlohmann::json layersJson(const std::vector<LayerInfo>& layers) {
  nlohmann::json a = nlohmann::json::array();
  for (const LayerInfo& l : layers)
    a.push_back({{"name", l.name},
                 {"kind", l.kind},
                 {"tactic", l.tactic},
                 {"attributes", l.attributes},
                 {"inputs", l.inputs},
                 {"input_shapes", l.inputShapes},
                 {"outputs", l.outputs},
                 {"output_shapes", l.outputShapes},
                 {"origins", l.origins},
                 {"rules", l.rules}});
  return a;
}

/// The optimizer's account as JSON: rule hits and every source node's fate.
void explanationJson(const Engine& e, nlohmann::json& j) {
  Explanation x = explain(e);
  j["rule_hits"] = x.ruleHits;
  j["source_nodes"] = nlohmann::json::array();
  size_t counts[4] = {0, 0, 0, 0};
  for (const SourceNodeFate& n : x.nodes) {
    ++counts[static_cast<int>(n.fate)];
    nlohmann::json node = {{"name", n.name},
                           {"op", n.op},
                           {"fate", fateName(n.fate)},
                           {"layers", n.layers},
                           {"rules", n.rules}};
    if (!n.removedBy.empty()) node["removed_by"] = n.removedBy;
    j["source_nodes"].push_back(node);
  }
  j["summary"] = {{"source_nodes", x.nodes.size()}, {"executed_layers", x.executedLayers},
                  {"in_layers", counts[0]},         {"folded_to_constants", counts[1]},
                  {"removed", counts[2]},           {"unaccounted", counts[3]}};
}

/// Per layer: source nodes and rules; then rule hits and every source node's fate.
void printExplanation(const Engine& e, std::ostream& os) {
  auto layers = e.layers();
  os << "layers: " << layers.size() << "\n";
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerInfo& l = layers[i];
    os << "  " << i << "  " << l.kind << " '" << l.name << "'\n      from:";
    for (const std::string& o : l.origins)
      os << " " << o;
    os << "\n";
    if (!l.rules.empty()) {
      os << "      rules:";
      for (const std::string& r : l.rules)
        os << " " << r;
      os << "\n";
    }
  }
  Explanation x = explain(e);
  os << "rule hits:\n";
  for (const auto& [rule, n] : x.ruleHits)
    os << "  " << rule << ": " << n << "\n";
  size_t counts[4] = {0, 0, 0, 0};
  for (const SourceNodeFate& n : x.nodes)
    ++counts[static_cast<int>(n.fate)];
  os << "source nodes: " << x.nodes.size() << " -> " << x.executedLayers << " executed layers ("
     << counts[0] << " in layers, " << counts[1] << " folded to constants, " << counts[2]
     << " removed, " << counts[3] << " unaccounted)\n";
  for (const SourceNodeFate& n : x.nodes) {
    os << "  " << n.name << " (" << n.op << "): " << fateName(n.fate);
    if (n.fate == SourceNodeFate::Fate::kRemoved) os << " by " << n.removedBy;
    if (!n.layers.empty()) {
      os << " in";
      for (const std::string& l : n.layers)
        os << " '" << l << "'";
    }
    if (!n.rules.empty()) {
      os << "  [rules:";
      for (const std::string& r : n.rules)
        os << " " << r;
      os << "]";
    }
    os << "\n";
  }
}

}  // namespace

int runBuild(const BuildOptions& o) {
  auto engine = loadEngine(o.model, nullptr, nullptr);
  if (!engine) return fail("build", engine.status());
  Status s = (*engine)->serializeToFile(o.output);
  if (!s.isOk()) return fail("build", s);
  MemoryInfo m = (*engine)->memory();
  if (o.explain && o.json) {
    nlohmann::json j;
    j["plan"] = o.output;
    j["layers"] = layersJson((*engine)->layers());
    explanationJson(**engine, j);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "built " << o.output << ": " << (*engine)->layers().size() << " layers, weights "
            << humanBytes(m.weightBytes) << ", arena " << humanBytes(m.arenaBytes) << "\n";
  if (o.explain) printExplanation(**engine, std::cout);
  return 0;
}

int runRun(const RunOptions& o) {
  auto files = readInputFiles(o.inputsDir, o.inputs);
  if (!files) return fail("run", files.status());
  std::vector<NamedTensor> inputs;
  auto engine = loadEngine(o.model, &*files, &inputs);
  if (!engine) return fail("run", engine.status());
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx) return fail("run", ctx.status());
  auto outs = bindAndRun(**ctx, **engine, inputs);
  if (!outs) return fail("run", outs.status());
  const auto& infos = (*engine)->outputs();
  if (!o.outputDir.empty()) {
    std::error_code ec;
    fs::create_directories(o.outputDir, ec);
    for (size_t k = 0; k < outs->size(); ++k) {
      Status s = writeTensorFile(
          (fs::path(o.outputDir) / ("output_" + std::to_string(k) + ".pb")).string(), infos[k].name,
          (*outs)[k]);
      if (!s.isOk()) return fail("run", s);
    }
  }
  bool allOk = true;
  for (size_t k = 0; k < outs->size(); ++k) {
    std::cout << "output " << k << " '" << infos[k].name << "': " << dataTypeName(infos[k].dtype)
              << dimsToString(infos[k].dims);
    if (o.expectedDir.empty()) {
      std::cout << "\n";
      continue;
    }
    auto ref = readTensorFile(
        (fs::path(o.expectedDir) / ("output_" + std::to_string(k) + ".pb")).string());
    if (!ref) return fail("run", ref.status());
    Comparison c = compareTensors((*outs)[k], ref->value, o.rtol, o.atol);
    allOk = allOk && c.ok;
    if (!c.message.empty()) {
      std::cout << "  MISMATCH: " << c.message << "\n";
      continue;
    }
    std::printf(
        "  %s: max |out-ref| = %.3g (max |ref| = %.3g), %lld of %lld elements outside "
        "atol %.3g + rtol %.3g * |ref|; worst at %s: %.9g vs %.9g\n",
        c.ok ? "ok" : "MISMATCH", c.maxAbsError, c.maxAbsExpected,
        static_cast<long long>(c.mismatches), static_cast<long long>((*outs)[k].count()), o.atol,
        o.rtol, unflattenIndex(c.worstIndex, (*outs)[k].dims()).c_str(), c.worstActual,
        c.worstExpected);
  }
  if (!allOk) {
    std::cerr << "kiln run: outputs differ from " << o.expectedDir << "\n";
    return 1;
  }
  return 0;
}

int runInspect(const InspectOptions& o) {
  auto engine = loadEngine(o.model, nullptr, nullptr);
  if (!engine) return fail("inspect", engine.status());
  const Engine& e = **engine;
  auto layers = e.layers();
  MemoryInfo m = e.memory();
  if (o.json) {
    nlohmann::json j;
    j["backend"] = e.backend();
    auto io = [](const std::vector<IOTensorInfo>& v) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& x : v)
        a.push_back({{"name", x.name},
                     {"dtype", dataTypeName(x.dtype)},
                     {"dims", x.dims},
                     {"model_shape", shapeToString(x.sourceShape)}});
      return a;
    };
    j["inputs"] = io(e.inputs());
    j["outputs"] = io(e.outputs());
    j["layers"] = layersJson(layers);
    explanationJson(e, j);
    j["memory"] = {{"arena_bytes", m.arenaBytes},
                   {"activation_bytes", m.activationBytes},
                   {"activation_count", m.activationCount},
                   {"weight_bytes", m.weightBytes}};
    j["build_log"] = e.buildLog();
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "backend: " << e.backend() << "\n";
  for (const auto& x : e.inputs())
    std::cout << "input  " << x.name << ": " << dataTypeName(x.dtype) << dimsToString(x.dims)
              << " (model " << shapeToString(x.sourceShape) << ")\n";
  for (const auto& x : e.outputs())
    std::cout << "output " << x.name << ": " << dataTypeName(x.dtype) << dimsToString(x.dims)
              << " (model " << shapeToString(x.sourceShape) << ")\n";
  std::cout << "layers: " << layers.size() << "\n";
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerInfo& l = layers[i];
    std::cout << "  " << i << "  " << l.kind << " '" << l.name << "'  tactic=" << l.tactic << "\n";
    std::cout << "      in:";
    for (size_t k = 0; k < l.inputs.size(); ++k)
      std::cout << " " << (l.inputs[k].empty() ? "-" : l.inputs[k] + ":" + l.inputShapes[k]);
    std::cout << "\n      out:";
    for (size_t k = 0; k < l.outputs.size(); ++k)
      std::cout << " " << l.outputs[k] << ":" << l.outputShapes[k];
    std::cout << "\n";
    if (!l.attributes.empty()) std::cout << "      attrs: " << l.attributes << "\n";
    if (!l.origins.empty() && !(l.origins.size() == 1 && l.origins[0] == l.name)) {
      std::cout << "      from:";
      for (const std::string& o : l.origins)
        std::cout << " " << o;
      std::cout << "\n";
    }
    if (!l.rules.empty()) {
      std::cout << "      rules:";
      for (const std::string& r : l.rules)
        std::cout << " " << r;
      std::cout << "\n";
    }
  }
  {
    Explanation x = explain(e);
    std::cout << "rule hits:";
    for (const auto& [rule, n] : x.ruleHits)
      std::cout << " " << rule << "=" << n;
    std::cout << "\n";
    size_t counts[4] = {0, 0, 0, 0};
    for (const SourceNodeFate& n : x.nodes)
      ++counts[static_cast<int>(n.fate)];
    std::cout << "source nodes: " << x.nodes.size() << " (" << counts[0] << " in layers, "
              << counts[1] << " folded to constants, " << counts[2] << " removed, " << counts[3]
              << " unaccounted)\n";
    for (const SourceNodeFate& n : x.nodes) {
      if (n.fate == SourceNodeFate::Fate::kLayer) continue;
      std::cout << "  " << n.name << " (" << n.op << "): " << fateName(n.fate);
      if (!n.removedBy.empty() && n.fate == SourceNodeFate::Fate::kRemoved)
        std::cout << " by " << n.removedBy;
      for (const std::string& l : n.layers)
        std::cout << " '" << l << "'";
      std::cout << "\n";
    }
  }
  std::cout << "weights: " << humanBytes(m.weightBytes) << " (" << m.weightBytes << " bytes)\n";
  std::cout << "activations: " << m.activationCount << " tensors, " << humanBytes(m.activationBytes)
            << " (" << m.activationBytes << " bytes) if unshared\n";
  std::cout << "arena: " << humanBytes(m.arenaBytes) << " (" << m.arenaBytes << " bytes)";
  if (m.activationBytes)
    std::printf(", %.1f%% of the unshared total\n", 100.0 * m.arenaBytes / m.activationBytes);
  else
    std::cout << "\n";
  return 0;
}

int runBench(const BenchOptions& o) {
  std::vector<NamedTensor> files;
  if (!o.inputsDir.empty()) {
    auto f = readInputFiles(o.inputsDir, {});
    if (!f) return fail("bench", f.status());
    files = std::move(*f);
  }
  std::vector<NamedTensor> inputs;
  auto engine = loadEngine(o.model, o.inputsDir.empty() ? nullptr : &files,
                           o.inputsDir.empty() ? nullptr : &inputs);
  if (!engine) return fail("bench", engine.status());
  const Engine& e = **engine;
  if (o.inputsDir.empty()) {
    // Random inputs: floats in [-1, 1), integers in [0, 2) (valid ids and masks for any model).
    std::mt19937 rng(1234);
    for (const IOTensorInfo& io : e.inputs()) {
      Weights w = Weights::zeros(io.dtype, io.dims);
      for (int64_t i = 0; i < w.count(); ++i) {
        switch (io.dtype) {
          case DataType::kFloat32:
            static_cast<float*>(w.mutableData())[i] =
                std::uniform_real_distribution<float>(-1, 1)(rng);
            break;
          case DataType::kInt64:
            static_cast<int64_t*>(w.mutableData())[i] = rng() % 2;
            break;
          case DataType::kInt32:
            static_cast<int32_t*>(w.mutableData())[i] = rng() % 2;
            break;
          default:
            break;
        }
      }
      inputs.push_back({io.name, w});
    }
  }
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx) return fail("bench", ctx.status());
  auto first = bindAndRun(**ctx, e, inputs);
  if (!first) return fail("bench", first.status());
  for (int i = 0; i < o.warmup; ++i) {
    Status s = (*ctx)->execute();
    if (!s.isOk()) return fail("bench", s);
  }
  std::vector<double> ms;
  auto start = std::chrono::steady_clock::now();
  while (true) {
    auto t0 = std::chrono::steady_clock::now();
    Status s = (*ctx)->execute();
    auto t1 = std::chrono::steady_clock::now();
    if (!s.isOk()) return fail("bench", s);
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (o.iterations > 0 ? static_cast<int>(ms.size()) >= o.iterations
                         : std::chrono::duration<double>(t1 - start).count() >= o.duration)
      break;
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(idx, sorted.size() - 1)];
  };
  int64_t batch = e.inputs().empty() || e.inputs()[0].dims.empty() ? 1 : e.inputs()[0].dims[0];
  double ips = static_cast<double>(ms.size()) / total;
  if (o.json) {
    nlohmann::json j = {{"model", o.model.model},
                        {"backend", e.backend()},
                        {"iterations", ms.size()},
                        {"batch", batch},
                        {"latency_ms",
                         {{"min", sorted.front()},
                          {"median", pct(50)},
                          {"p90", pct(90)},
                          {"p99", pct(99)},
                          {"max", sorted.back()}}},
                        {"inferences_per_s", ips},
                        {"samples_per_s", ips * batch}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%s on %s: %zu runs, batch %lld\n", o.model.model.c_str(), e.backend().c_str(),
                ms.size(), static_cast<long long>(batch));
    std::printf("latency ms: min %.3f  median %.3f  p90 %.3f  p99 %.3f  max %.3f\n", sorted.front(),
                pct(50), pct(90), pct(99), sorted.back());
    std::printf("throughput: %.1f inferences/s, %.1f samples/s\n", ips, ips * batch);
  }
  return 0;
}

}  // namespace kiln::cli
