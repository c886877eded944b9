#include "kiln/commands.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "kiln/compare.h"
#include "kiln/kiln.h"
#include "util/file_io.h"

namespace fs = std::filesystem;

namespace kiln::cli {

namespace {

int fail(const char* command, const Status& s) {
  std::cerr << "kiln " << command << ": error: " << s.toString() << "\n";
  return kExitError;
}

std::string showNumber(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

Status checkTolerance(const char* flag, double v) {
  if (!std::isfinite(v) || v < 0)
    return invalidArgument(std::string(flag) + " must be a finite number >= 0, got " +
                           showNumber(v));
  return Status::ok();
}

/// The command-line model options, checked: shapes parsed, precision known.
struct ModelSpec {
  std::string path;
  std::string backend;
  Precision precision = Precision::kFP32;
  std::map<std::string, Dims> shapes;          ///< --shapes
  std::optional<OptimizationProfile> profile;  ///< --min/--opt/--max-shapes
  int profileIndex = -1;                       ///< --profile
  int threads = 0;                             ///< --threads (0: the machine's cores)
  uint64_t maxTensorBytes = 0, maxArenaBytes = 0;
  bool verbose = false;
  std::vector<std::string> disabledPasses;  ///< --disable-pass
  std::string dumpIrDir;                    ///< --dump-ir
};

/// One shape dimension: a decimal integer in [0, 2^63 - 1]; never saturated.
Expected<int64_t> parseDim(const std::string& flag, const std::string& spec,
                           const std::string& tok) {
  if (tok.size() > 1 && tok[0] == '-' &&
      std::all_of(tok.begin() + 1, tok.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return invalidArgument(flag + " entry '" + spec + "': dimension " + tok + " is negative");
  int64_t v = 0;
  auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
  if (ec == std::errc::result_out_of_range && end == tok.data() + tok.size())
    return invalidArgument(flag + " entry '" + spec + "': dimension " + tok +
                           " is larger than 2^63 - 1");
  if (tok.empty() || ec != std::errc() || end != tok.data() + tok.size())
    return invalidArgument(flag + " entry '" + spec + "': '" + tok +
                           "' is not a dimension (a non-negative integer)");
  return v;
}

/// name=AxBxC (or trtexec's name:AxBxC) entries of a shape flag.
Expected<std::map<std::string, Dims>> parseShapes(const std::string& flag,
                                                  const std::vector<std::string>& specs) {
  std::map<std::string, Dims> out;
  for (const std::string& spec : specs) {
    auto eq = spec.rfind('=');
    if (eq == std::string::npos) eq = spec.rfind(':');
    if (eq == std::string::npos || eq == 0)
      return invalidArgument(flag + " entry '" + spec + "' is not name=AxBxC (or name:AxBxC)");
    const std::string name = spec.substr(0, eq);
    if (out.count(name)) return invalidArgument(flag + " gives input '" + name + "' twice");
    Dims dims;
    const std::string rest = spec.substr(eq + 1);
    for (size_t pos = 0; !rest.empty();) {
      size_t x = rest.find('x', pos);
      KILN_ASSIGN_OR_RETURN(
          int64_t d,
          parseDim(flag, spec,
                   rest.substr(pos, x == std::string::npos ? std::string::npos : x - pos)));
      dims.push_back(d);
      if (x == std::string::npos) break;
      pos = x + 1;
    }
    Expected<int64_t> count = elementCount(dims, name);
    if (!count) return invalidArgument(flag + " entry '" + spec + "': " + count.status().message());
    out[name] = std::move(dims);
  }
  return out;
}

Expected<ModelSpec> checkModelOptions(const ModelOptions& m) {
  ModelSpec spec;
  spec.path = m.model;
  spec.backend = m.backend;
  spec.verbose = m.verbose;
  spec.disabledPasses = m.disabledPasses;
  spec.dumpIrDir = m.dumpIrDir;
  spec.threads = m.threads;
  auto p = parsePrecision(m.precision);
  if (!p)
    return invalidArgument("--precision '" + m.precision +
                           "' is not a precision (fp32, tf32, fp16, bf16, int8)");
  spec.precision = *p;
  KILN_ASSIGN_OR_RETURN(spec.shapes, parseShapes("--shapes", m.shapes));
  KILN_ASSIGN_OR_RETURN(auto mins, parseShapes("--min-shapes", m.minShapes));
  KILN_ASSIGN_OR_RETURN(auto opts, parseShapes("--opt-shapes", m.optShapes));
  KILN_ASSIGN_OR_RETURN(auto maxs, parseShapes("--max-shapes", m.maxShapes));
  if (!mins.empty() || !opts.empty() || !maxs.empty()) {
    if (!spec.shapes.empty())
      return invalidArgument(
          "--shapes fixes input shapes; it cannot be combined with --min-shapes, --opt-shapes "
          "and --max-shapes, which give a range");
    OptimizationProfile profile;
    std::set<std::string> names;
    for (const auto* m2 : {&mins, &opts, &maxs})
      for (const auto& [name, dims] : *m2)
        names.insert(name);
    for (const std::string& name : names) {
      if (!mins.count(name) || !maxs.count(name))
        return invalidArgument("input '" + name +
                               "' needs both --min-shapes and --max-shapes (--opt-shapes "
                               "defaults to the max)");
      ShapeRange r{mins[name], opts.count(name) ? opts[name] : maxs[name], maxs[name]};
      profile.inputs[name] = std::move(r);
    }
    spec.profile = std::move(profile);
  }
  if (!m.profile.empty()) {
    KILN_ASSIGN_OR_RETURN(int64_t index, parseIntFlag("--profile", m.profile));
    if (index < 0 || index > 1000000)
      return invalidArgument("--profile must be a profile index >= 0, got " + m.profile);
    spec.profileIndex = static_cast<int>(index);
  }
  for (const auto& [flag, text, out] :
       {std::tuple<const char*, const std::string*, uint64_t*>{
            "--max-tensor-bytes", &m.maxTensorBytes, &spec.maxTensorBytes},
        std::tuple<const char*, const std::string*, uint64_t*>{
            "--max-arena-bytes", &m.maxArenaBytes, &spec.maxArenaBytes}}) {
    if (text->empty()) continue;
    KILN_ASSIGN_OR_RETURN(int64_t v, parseIntFlag(flag, *text));
    if (v < 1) return invalidArgument(std::string(flag) + " must be >= 1, got " + *text);
    *out = static_cast<uint64_t>(v);
  }
  return spec;
}

/// A tensor read from a file, with what binds it to an engine input or output.
struct TensorSource {
  NamedTensor tensor;  ///< tensor.name: the name stored in the file ("" when none)
  std::string file;
  std::string flagName;  ///< NAME of --input NAME=FILE; empty for folder files
  int position = -1;     ///< K of input_K.pb / output_K.pb; -1 for --input
};

/// NAME=FILE of each --input, checked for form only.
Expected<std::vector<std::pair<std::string, std::string>>> parseInputSpecs(
    const std::vector<std::string>& specs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& s : specs) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
      return invalidArgument("--input '" + s + "' is not NAME=FILE");
    out.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  return out;
}

/// The system's view of `dir` as a folder: an error with the reason when it is none.
Status checkFolder(const std::string& dir, const std::string& what) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    std::string m = what + " '" + dir + "': " + std::strerror(err);
    return err == ENOENT ? notFound(m) : ioError(m);
  }
  if (!S_ISDIR(st.st_mode))
    return invalidArgument(what + " '" + dir + "' is " + fileKindName(st.st_mode) +
                           ", not a folder");
  return Status::ok();
}

/// PREFIX_0.pb, PREFIX_1.pb, ... of a test_data_set folder, up to the first missing K.
Expected<std::vector<TensorSource>> readTensorFolder(const std::string& dir,
                                                     const std::string& prefix,
                                                     const std::string& what) {
  KILN_RETURN_IF_ERROR(checkFolder(dir, what));
  std::vector<TensorSource> out;
  for (int k = 0;; ++k) {
    fs::path p = fs::path(dir) / (prefix + "_" + std::to_string(k) + ".pb");
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) break;
    KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorFile(p.string()));
    out.push_back({std::move(t), p.string(), "", k});
  }
  if (out.empty()) return notFound("no " + prefix + "_0.pb in " + what + " '" + dir + "'");
  return out;
}

/// Input tensors from --inputs DIR and --input NAME=FILE.
Expected<std::vector<TensorSource>> readInputFiles(
    const std::string& dir, const std::vector<std::pair<std::string, std::string>>& specs) {
  std::vector<TensorSource> out;
  if (!dir.empty()) {
    KILN_ASSIGN_OR_RETURN(out, readTensorFolder(dir, "input", "inputs folder"));
  }
  for (const auto& [name, file] : specs) {
    KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorFile(file));
    out.push_back({std::move(t), file, name, -1});
  }
  return out;
}

std::string listNames(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string s;
  for (const std::string& n : names)
    s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}

/// Binds tensors to `names` (the engine's inputs or outputs; `kind` is "input" or "output"):
/// --input NAME=FILE by NAME; a folder file by the tensor name it stores, or, when it stores
/// none, by its position K. A name that is no `kind` of the model, a position past the last,
/// two files for one name and a name without a file are errors. Returns tensors in `names`
/// order, named as the model names them.
Expected<std::vector<NamedTensor>> bindTensors(const std::vector<std::string>& names,
                                               const std::vector<TensorSource>& sources,
                                               const std::string& kind) {
  std::vector<const TensorSource*> bound(names.size(), nullptr);
  auto indexOf = [&](const std::string& n) -> size_t {
    return static_cast<size_t>(std::find(names.begin(), names.end(), n) - names.begin());
  };
  for (const TensorSource& src : sources) {
    size_t i = names.size();
    if (!src.flagName.empty()) {
      i = indexOf(src.flagName);
      if (i == names.size())
        return invalidArgument("--input '" + src.flagName + "=" + src.file +
                               "': the model has no input '" + src.flagName + "'; its inputs are " +
                               listNames(names));
    } else if (!src.tensor.name.empty()) {
      i = indexOf(src.tensor.name);
      if (i == names.size())
        return invalidArgument("'" + src.file + "' holds tensor '" + src.tensor.name +
                               "', which is no " + kind + " of the model; its " + kind + "s are " +
                               listNames(names));
    } else {
      if (src.position < 0 || static_cast<size_t>(src.position) >= names.size())
        return invalidArgument("'" + src.file + "' holds an unnamed tensor at position " +
                               std::to_string(src.position) + ", but the model has " +
                               std::to_string(names.size()) + " " + kind + "s (" +
                               listNames(names) + ")");
      i = static_cast<size_t>(src.position);
    }
    if (bound[i])
      return invalidArgument(kind + " '" + names[i] + "' is given twice: by '" + bound[i]->file +
                             "' and by '" + src.file + "'");
    bound[i] = &src;
  }
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!bound[i])
      return invalidArgument("no data given for " + kind + " '" + names[i] + "' (the model's " +
                             kind + "s are " + listNames(names) + ")");
    out.push_back({names[i], bound[i]->tensor.value});
  }
  return out;
}

std::vector<std::string> ioNames(const std::vector<IOTensorInfo>& v) {
  std::vector<std::string> names;
  for (const IOTensorInfo& io : v)
    names.push_back(io.name);
  return names;
}

/// True when `path` starts with the plan magic (read from the regular file only).
Expected<bool> isPlanFile(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(RegularFile f, RegularFile::open(path, "model"));
  char magic[8] = {};
  if (f.size() < sizeof magic) return false;
  KILN_RETURN_IF_ERROR(f.readAt(0, magic, sizeof magic));
  return std::string(magic, 8) == "KILNPLAN";
}

/// Loads a plan, or parses and builds an ONNX model (shapes from --shapes, else from the input
/// files bound to the model's inputs by bindTensors' rules).
Expected<std::shared_ptr<Engine>> loadEngine(const ModelSpec& m,
                                             const std::vector<TensorSource>* files) {
  KILN_ASSIGN_OR_RETURN(bool plan, isPlanFile(m.path));
  std::shared_ptr<Engine> engine;
  if (plan) {
    KILN_ASSIGN_OR_RETURN(engine, Runtime::deserializeFile(m.path));
  } else {
    KILN_ASSIGN_OR_RETURN(NetworkDefinition net, OnnxParser::parseFile(m.path));
    BuilderConfig config;
    config.backend = m.backend;
    config.precision = m.precision;
    config.threads = m.threads;
    config.inputShapes = m.shapes;
    config.maxTensorBytes = m.maxTensorBytes;
    config.maxArenaBytes = m.maxArenaBytes;
    if (m.profile) config.profiles.push_back(*m.profile);
    config.disabledPasses = m.disabledPasses;
    config.dumpIrDir = m.dumpIrDir;
    if (files && config.inputShapes.empty() && !m.profile) {
      std::vector<std::string> names;
      for (TensorId t : net.inputs())
        names.push_back(net.tensor(t).name);
      KILN_ASSIGN_OR_RETURN(auto inputs, bindTensors(names, *files, "input"));
      for (const NamedTensor& t : inputs)
        config.inputShapes[t.name] = t.value.dims();
    }
    KILN_ASSIGN_OR_RETURN(engine, Builder::build(net, config));
  }
  if (m.verbose)
    for (const std::string& line : engine->buildLog())
      std::cerr << "[build] " << line << "\n";
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
    KILN_ASSIGN_OR_RETURN(Dims dims, ctx.getTensorShape(io.name));
    KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(io.dtype, dims, "output '" + io.name + "'"));
    outs.push_back(std::move(w));
    KILN_RETURN_IF_ERROR(
        ctx.setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(), io.dtype));
  }
  KILN_RETURN_IF_ERROR(ctx.execute());
  return outs;
}

/// True when `a` and `b` name the same existing file or folder (same device and inode).
bool sameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

/// Peak resident memory of this process in KiB (VmHWM; 0 where /proc is unavailable).
int64_t peakRssKib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  return 0;
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

int usageError(const char* command, const Status& s) {
  std::cerr << "kiln " << command << ": error: " << s.message()
            << "\nRun with --help for more information.\n";
  return kExitUsage;
}

Expected<int64_t> parseIntFlag(const std::string& flag, const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range && end == text.data() + text.size())
    return invalidArgument(flag + " " + text + " is out of range (a 64-bit integer)");
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return invalidArgument(flag + " '" + text + "' is not an integer");
  return v;
}

Expected<double> parseRealFlag(const std::string& flag, const std::string& text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range && end == text.data() + text.size())
    return invalidArgument(flag + " " + text + " is out of range (a double)");
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return invalidArgument(flag + " '" + text + "' is not a number");
  return v;
}

int runBuild(const BuildOptions& o) {
  auto spec = checkModelOptions(o.model);
  if (!spec) return usageError("build", spec.status());
  // Same device and inode: also catches another spelling of the path, a symlink or a hard link.
  if (sameFile(o.output, o.model.model))
    return usageError("build",
                      invalidArgument("-o '" + o.output + "' is the model file '" + o.model.model +
                                      "' itself; refusing to overwrite it"));
  auto engine = loadEngine(*spec, nullptr);
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
  return kExitOk;
}

int runRun(const RunOptions& o) {
  const char* cmd = "run";
  for (auto [flag, v] : {std::pair{"--rtol", o.rtol}, std::pair{"--atol", o.atol}})
    if (Status s = checkTolerance(flag, v); !s) return usageError(cmd, s);
  auto spec = checkModelOptions(o.model);
  if (!spec) return usageError(cmd, spec.status());
  auto specs = parseInputSpecs(o.inputs);
  if (!specs) return usageError(cmd, specs.status());
  // Outputs are compared before any is written, and never written over the reference.
  if (!o.outputDir.empty() && !o.expectedDir.empty() && sameFile(o.outputDir, o.expectedDir))
    return usageError(
        cmd, invalidArgument("--output-dir '" + o.outputDir + "' is the --expected folder '" +
                             o.expectedDir + "'; writing there would overwrite the reference"));

  auto files = readInputFiles(o.inputsDir, *specs);
  if (!files) return fail(cmd, files.status());
  auto engine = loadEngine(*spec, &*files);
  if (!engine) return fail(cmd, engine.status());
  auto inputs = bindTensors(ioNames((*engine)->inputs()), *files, "input");
  if (!inputs) return fail(cmd, inputs.status());
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx) return fail(cmd, ctx.status());
  if (spec->profileIndex >= 0) {
    Status ps = (*ctx)->setOptimizationProfile(spec->profileIndex);
    if (!ps.isOk()) return fail(cmd, ps);
  }
  auto outs = bindAndRun(**ctx, **engine, *inputs);
  if (!outs) return fail(cmd, outs.status());
  const auto& infos = (*engine)->outputs();

  std::vector<NamedTensor> refs;
  if (!o.expectedDir.empty()) {
    auto expected = readTensorFolder(o.expectedDir, "output", "--expected folder");
    if (!expected) return fail(cmd, expected.status());
    auto bound = bindTensors(ioNames(infos), *expected, "output");
    if (!bound) return fail(cmd, bound.status().withContext("--expected '" + o.expectedDir + "'"));
    refs = std::move(*bound);
  }
  bool allOk = true;
  for (size_t k = 0; k < outs->size(); ++k) {
    std::cout << "output " << k << " '" << infos[k].name << "': " << dataTypeName(infos[k].dtype)
              << dimsToString((*outs)[k].dims());
    if (refs.empty()) {
      std::cout << "\n";
      continue;
    }
    Comparison c = compareTensors((*outs)[k], refs[k].value, o.rtol, o.atol);
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
  std::cout.flush();
  if (!o.outputDir.empty()) {
    std::error_code ec;
    fs::create_directories(o.outputDir, ec);
    if (ec)
      return fail(cmd,
                  ioError("cannot create --output-dir '" + o.outputDir + "': " + ec.message()));
    for (size_t k = 0; k < outs->size(); ++k) {
      Status s = writeTensorFile(
          (fs::path(o.outputDir) / ("output_" + std::to_string(k) + ".pb")).string(), infos[k].name,
          (*outs)[k]);
      if (!s.isOk()) return fail(cmd, s);
    }
  }
  if (!allOk) {
    std::cerr << "kiln run: outputs differ from " << o.expectedDir << "\n";
    return kExitMismatch;
  }
  return kExitOk;
}

int runInspect(const InspectOptions& o) {
  auto spec = checkModelOptions(o.model);
  if (!spec) return usageError("inspect", spec.status());
  auto engine = loadEngine(*spec, nullptr);
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
                     {"shape", shapeToString(x.shape)},
                     {"dims", x.dims},
                     {"dynamic", x.isDynamic()},
                     {"model_shape", shapeToString(x.sourceShape)}});
      return a;
    };
    j["inputs"] = io(e.inputs());
    j["outputs"] = io(e.outputs());
    j["profiles"] = nlohmann::json::array();
    for (const OptimizationProfile& p : e.profiles()) {
      nlohmann::json pj = nlohmann::json::object();
      for (const auto& [name, r] : p.inputs)
        pj[name] = {{"min", r.min}, {"opt", r.opt}, {"max", r.max}};
      j["profiles"].push_back(pj);
    }
    j["layers"] = layersJson(layers);
    explanationJson(e, j);
    j["memory"] = {{"arena_bytes", m.arenaBytes},
                   {"activation_bytes", m.activationBytes},
                   {"activation_count", m.activationCount},
                   {"weight_bytes", m.weightBytes}};
    j["build_log"] = e.buildLog();
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "backend: " << e.backend() << "\n";
  auto ioLine = [](const char* what, const IOTensorInfo& x) {
    std::cout << what << x.name << ": " << dataTypeName(x.dtype) << shapeToString(x.shape);
    if (x.isDynamic()) std::cout << ", representative " << dimsToString(x.dims);
    std::cout << " (model " << shapeToString(x.sourceShape) << ")\n";
  };
  for (const auto& x : e.inputs())
    ioLine("input  ", x);
  for (const auto& x : e.outputs())
    ioLine("output ", x);
  for (size_t p = 0; p < e.profiles().size(); ++p) {
    const OptimizationProfile& prof = e.profiles()[p];
    if (prof.inputs.empty()) {
      bool dynamic = false;
      for (const auto& x : e.inputs())
        dynamic = dynamic || x.isDynamic();
      if (dynamic) std::cout << "profile " << p << ": every dynamic dimension is free\n";
      continue;
    }
    std::cout << "profile " << p << ":";
    for (const auto& [name, r] : prof.inputs)
      std::cout << " " << name << " min " << dimsToString(r.min) << " opt " << dimsToString(r.opt)
                << " max " << dimsToString(r.max) << ";";
    std::cout << "\n";
  }
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
  return kExitOk;
}

int runBench(const BenchOptions& o) {
  const char* cmd = "bench";
  if (o.warmup < 0)
    return usageError(cmd,
                      invalidArgument("--warmup must be >= 0, got " + std::to_string(o.warmup)));
  if (o.iterations < 0 || o.iterations > kMaxBenchIterations)
    return usageError(
        cmd, invalidArgument("--iterations must be in [0, " + std::to_string(kMaxBenchIterations) +
                             "], got " + std::to_string(o.iterations)));
  if (!std::isfinite(o.duration) || o.duration <= 0 || o.duration > kMaxBenchSeconds)
    return usageError(
        cmd, invalidArgument("--duration must be a finite number of seconds in (0, " +
                             showNumber(kMaxBenchSeconds) + "], got " + showNumber(o.duration)));
  auto spec = checkModelOptions(o.model);
  if (!spec) return usageError(cmd, spec.status());
  std::vector<TensorSource> files;
  if (!o.inputsDir.empty()) {
    auto f = readInputFiles(o.inputsDir, {});
    if (!f) return fail(cmd, f.status());
    files = std::move(*f);
  }
  auto engine = loadEngine(*spec, o.inputsDir.empty() ? nullptr : &files);
  if (!engine) return fail(cmd, engine.status());
  std::vector<NamedTensor> inputs;
  if (!o.inputsDir.empty()) {
    auto bound = bindTensors(ioNames((*engine)->inputs()), files, "input");
    if (!bound) return fail(cmd, bound.status());
    inputs = std::move(*bound);
  }
  const Engine& e = **engine;
  if (o.inputsDir.empty()) {
    // Random inputs: floats in [-1, 1), integers in [0, 2) (valid ids and masks for any model).
    std::mt19937 rng(1234);
    for (const IOTensorInfo& io : e.inputs()) {
      // The shape: --shapes when given, else the engine's representative shape.
      auto given = spec->shapes.find(io.name);
      auto allocated =
          Weights::zeros(io.dtype, given != spec->shapes.end() ? given->second : io.dims,
                         "input '" + io.name + "'");
      if (!allocated) return fail("bench", allocated.status());
      Weights w = std::move(allocated).value();
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
  if (!ctx) return fail(cmd, ctx.status());
  if (spec->profileIndex >= 0) {
    Status ps = (*ctx)->setOptimizationProfile(spec->profileIndex);
    if (!ps.isOk()) return fail(cmd, ps);
  }
  auto first = bindAndRun(**ctx, e, inputs);
  if (!first) return fail(cmd, first.status());
  for (int64_t i = 0; i < o.warmup; ++i) {
    Status s = (*ctx)->execute();
    if (!s.isOk()) return fail(cmd, s);
  }
  std::vector<double> ms;
  auto start = std::chrono::steady_clock::now();
  while (true) {
    auto t0 = std::chrono::steady_clock::now();
    Status s = (*ctx)->execute();
    auto t1 = std::chrono::steady_clock::now();
    if (!s.isOk()) return fail(cmd, s);
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    const auto runs = static_cast<int64_t>(ms.size());
    if (o.iterations > 0 ? runs >= o.iterations
                         : std::chrono::duration<double>(t1 - start).count() >= o.duration ||
                               runs >= kMaxBenchIterations)
      break;
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool replayed = (*ctx)->lastRunReplayed();
  // Per-layer times come from runs of their own: timing a layer waits for it to finish, which
  // would add one synchronization per layer to the latencies above (on a GPU, most of them).
  if (o.profile) {
    (*ctx)->setProfiling(true);
    const size_t profiled = std::clamp<size_t>(ms.size(), 10, 200);
    for (size_t i = 0; i < profiled; ++i) {
      Status s = (*ctx)->execute();
      if (!s.isOk()) return fail(cmd, s);
    }
    (*ctx)->setProfiling(false);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(idx, sorted.size() - 1)];
  };
  int64_t batch = inputs.empty() || inputs[0].value.dims().empty() ? 1 : inputs[0].value.dims()[0];
  double ips = static_cast<double>(ms.size()) / total;
  // Per-layer medians, slowest first, and per layer kind totals.
  struct LayerRow {
    std::string name, kind, tactic;
    double median = 0;
  };
  std::vector<LayerRow> layerRows;
  std::map<std::string, double> kindMs;
  double layerSum = 0;
  if (o.profile) {
    for (const auto& lt : (*ctx)->layerTimes()) {
      std::vector<double> v = lt.ms;
      std::sort(v.begin(), v.end());
      double med = v.empty() ? 0.0 : v[v.size() / 2];
      layerRows.push_back({lt.name, lt.kind, lt.tactic, med});
      kindMs[lt.kind] += med;
      layerSum += med;
    }
    std::stable_sort(layerRows.begin(), layerRows.end(),
                     [](const LayerRow& a, const LayerRow& b) { return a.median > b.median; });
  }
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
                        {"replayed", replayed},
                        {"samples_per_s", ips * batch},
                        {"threads", e.threads()},
                        {"peak_rss_kib", peakRssKib()}};
    if (o.samples) j["latencies_ms"] = ms;
    if (o.profile) {
      j["layers"] = nlohmann::json::array();
      for (const LayerRow& r : layerRows)
        j["layers"].push_back(
            {{"name", r.name}, {"kind", r.kind}, {"tactic", r.tactic}, {"median_ms", r.median}});
      j["kinds_ms"] = kindMs;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%s on %s: %zu runs, batch %lld\n", o.model.model.c_str(), e.backend().c_str(),
                ms.size(), static_cast<long long>(batch));
    std::printf("latency ms: min %.3f  median %.3f  p90 %.3f  p99 %.3f  max %.3f\n", sorted.front(),
                pct(50), pct(90), pct(99), sorted.back());
    std::printf("throughput: %.1f inferences/s, %.1f samples/s\n", ips, ips * batch);
    if (e.backend() != "reference" && e.backend() != "cpu")
      std::printf("launch: %s\n",
                  replayed ? "one recorded graph per run" : "layer by layer (no recorded graph)");
    if (o.profile) {
      std::printf("per layer kind (sum of per-layer medians %.3f ms):\n", layerSum);
      std::vector<std::pair<double, std::string>> kinds;
      for (const auto& [k, v] : kindMs)
        kinds.push_back({v, k});
      std::sort(kinds.rbegin(), kinds.rend());
      for (const auto& [v, k] : kinds)
        std::printf("  %-16s %9.3f ms  %5.1f%%\n", k.c_str(), v,
                    layerSum > 0 ? 100.0 * v / layerSum : 0.0);
      std::printf("slowest layers (median ms):\n");
      for (size_t i = 0; i < layerRows.size() && i < 25; ++i)
        std::printf("  %9.3f  %-14s %-40s %s\n", layerRows[i].median, layerRows[i].kind.c_str(),
                    layerRows[i].tactic.c_str(), layerRows[i].name.c_str());
    }
  }
  return kExitOk;
}

}  // namespace kiln::cli
