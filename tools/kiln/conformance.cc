#include "kiln/conformance.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "kiln/compare.h"
#include "kiln/kiln.h"

namespace fs = std::filesystem;

namespace kiln::conformance {

const char* verdictName(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
    case Verdict::kUnsupported:
      return "unsupported";
    case Verdict::kError:
      return "error";
  }
  return "?";
}

std::optional<Verdict> parseVerdict(std::string_view name) {
  for (Verdict v : {Verdict::kPass, Verdict::kFail, Verdict::kUnsupported, Verdict::kError})
    if (name == verdictName(v)) return v;
  return std::nullopt;
}

Tolerance toleranceFor(const std::string& name) {
  // Cases whose reference outputs need another tolerance, each with the reason. Keep this
  // table short: a loose tolerance hides wrong answers.
  static const std::string kFloat32Fft =
      "the reference outputs come from a float32 FFT: entries that are exactly 0 hold rounding "
      "noise up to 2e-7 (float32 epsilon times the signal's magnitude), beyond the default atol";
  static const std::map<std::string, Tolerance> overrides = {
      {"node/test_dft_inverse", {kDefaultRtol, 1e-6, kFloat32Fft}},
      {"node/test_dft_inverse_opset19", {kDefaultRtol, 1e-6, kFloat32Fft}},
  };
  auto it = overrides.find(name);
  return it == overrides.end() ? Tolerance{} : it->second;
}

bool isNodeSuite(const std::string& suite) {
  return suite == "node";
}

void Counts::add(Verdict v) {
  ++cases;
  passed += v == Verdict::kPass;
  failed += v == Verdict::kFail;
  unsupported += v == Verdict::kUnsupported;
  errors += v == Verdict::kError;
}

// ---- JSON -----------------------------------------------------------------------------------

nlohmann::json toJson(const CaseResult& r) {
  nlohmann::json j = {{"name", r.name},
                      {"suite", r.suite()},
                      {"status", verdictName(r.verdict)},
                      {"reason", r.reason},
                      {"opset", r.opset},
                      {"operators", r.operators},
                      {"input_types", r.inputTypes},
                      {"operator_types", r.operatorTypes},
                      {"data_sets", r.dataSets},
                      {"seconds", r.seconds}};
  nlohmann::json blockers = nlohmann::json::array();
  for (const Blocker& b : r.blockers)
    blockers.push_back({{"kind", b.kind}, {"name", b.name}, {"detail", b.detail}});
  j["blockers"] = blockers;
  if (r.mismatch) {
    const Mismatch& m = *r.mismatch;
    j["mismatch"] = {{"data_set", m.dataSet},  {"output", m.output},
                     {"index", m.index},       {"actual", m.actual},
                     {"expected", m.expected}, {"mismatches", m.mismatches},
                     {"elements", m.elements}};
  }
  if (!r.tolerance.reason.empty())
    j["tolerance"] = {
        {"rtol", r.tolerance.rtol}, {"atol", r.tolerance.atol}, {"reason", r.tolerance.reason}};
  return j;
}

std::optional<CaseResult> caseFromJson(const nlohmann::json& j, std::string* error) {
  try {
    CaseResult r;
    r.name = j.at("name").get<std::string>();
    auto v = parseVerdict(j.at("status").get<std::string>());
    if (!v) {
      *error = "unknown status '" + j.at("status").get<std::string>() + "'";
      return std::nullopt;
    }
    r.verdict = *v;
    r.reason = j.value("reason", "");
    r.opset = j.value("opset", int64_t{0});
    r.operators = j.value("operators", std::vector<std::string>{});
    r.inputTypes = j.value("input_types", std::vector<std::string>{});
    r.operatorTypes = j.value("operator_types", std::map<std::string, std::vector<std::string>>{});
    r.dataSets = j.value("data_sets", 0);
    r.seconds = j.value("seconds", 0.0);
    for (const auto& b : j.value("blockers", nlohmann::json::array()))
      r.blockers.push_back({b.at("kind").get<std::string>(), b.at("name").get<std::string>(),
                            b.value("detail", "")});
    if (j.contains("mismatch")) {
      const auto& m = j.at("mismatch");
      r.mismatch = Mismatch{m.at("data_set").get<std::string>(), m.at("output").get<int>(),
                            m.at("index").get<std::string>(),    m.at("actual").get<double>(),
                            m.at("expected").get<double>(),      m.at("mismatches").get<int64_t>(),
                            m.at("elements").get<int64_t>()};
    }
    if (j.contains("tolerance"))
      r.tolerance = {j["tolerance"].at("rtol").get<double>(),
                     j["tolerance"].at("atol").get<double>(),
                     j["tolerance"].at("reason").get<std::string>()};
    return r;
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

// ---- finding cases --------------------------------------------------------------------------

namespace {

bool isCaseDir(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p / "model.onnx", ec);
}

std::vector<fs::path> subdirs(const fs::path& p) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(p, ec))
    if (e.is_directory(ec)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

CaseDir caseDir(const fs::path& p) {
  fs::path abs = fs::absolute(p).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  return {abs.parent_path().filename().string() + "/" + abs.filename().string(), p.string()};
}

}  // namespace

std::vector<CaseDir> findCases(const std::string& dir) {
  std::vector<CaseDir> out;
  fs::path root(dir);
  if (isCaseDir(root)) return {caseDir(root)};
  for (const fs::path& sub : subdirs(root)) {
    if (isCaseDir(sub)) {
      out.push_back(caseDir(sub));
      continue;
    }
    for (const fs::path& c : subdirs(sub))
      if (isCaseDir(c)) out.push_back(caseDir(c));
  }
  std::sort(out.begin(), out.end(),
            [](const CaseDir& a, const CaseDir& b) { return a.name < b.name; });
  return out;
}

// ---- running one case -----------------------------------------------------------------------

namespace {

std::string oneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s.size() > 600 ? s.substr(0, 600) + "..." : s;
}

/// The inputs or expected outputs of a data set (`prefix` "input" or "output"), in the order
/// of the network's inputs or outputs: a value of sequence type (`sequences[k]`, an
/// onnx.SequenceProto file) stands for one tensor per element, one of optional type
/// (`optionals[k]`, an onnx.OptionalProto file) for its value or for nothing. `lengths` gets
/// the number of tensors of each sequence, `present` whether each optional holds a value.
Expected<std::vector<Weights>> readValues(const fs::path& dir, const std::string& prefix,
                                          const std::vector<bool>& sequences,
                                          const std::vector<bool>& optionals = {},
                                          std::map<int, int64_t>* lengths = nullptr,
                                          std::map<int, bool>* present = nullptr) {
  std::vector<Weights> out;
  auto flag = [](const std::vector<bool>& v, int k) {
    return static_cast<size_t>(k) < v.size() && v[static_cast<size_t>(k)];
  };
  for (int k = 0;; ++k) {
    fs::path p = dir / (prefix + "_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    std::vector<NamedTensor> tensors;
    if (flag(optionals, k)) {
      KILN_ASSIGN_OR_RETURN(OptionalTensors opt, readTensorOptionalFile(p.string()));
      if (present) (*present)[k] = opt.present;
      if (opt.sequence && lengths) (*lengths)[k] = static_cast<int64_t>(opt.tensors.size());
      tensors = std::move(opt.tensors);
    } else if (flag(sequences, k)) {
      KILN_ASSIGN_OR_RETURN(tensors, readTensorSequenceFile(p.string()));
      if (lengths) (*lengths)[k] = static_cast<int64_t>(tensors.size());
    } else {
      KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorFile(p.string()));
      tensors.push_back(std::move(t));
    }
    for (NamedTensor& t : tensors)
      out.push_back(std::move(t.value));
  }
  return out;
}

/// The operator of the node that made layer `layer` ("conv1" or "conv1/mul" for a helper
/// layer of node conv1), from the support report's node lists.
std::string operatorOfLayer(const OnnxSupportReport& support, const std::string& layer) {
  for (const OnnxOperatorUse& op : support.operators)
    for (const std::string& node : op.nodes)
      if (layer == node || (layer.size() > node.size() &&
                            layer.compare(0, node.size(), node) == 0 && layer[node.size()] == '/'))
        return op.qualifiedName();
  return "";
}

bool mentionsRuntimeParam(const std::string& m) {
  return m.find("must be a build-time constant") != std::string::npos ||
         m.find("must be a constant") != std::string::npos;
}

/// What stops a model that the support check accepted: the importer's or the builder's
/// refusal, read from its message ("node 'NAME' (OpType, #i): ..." from the importer,
/// "layer 'NAME' (Kind): ..." from the builder and backends).
Blocker classifyRefusal(const kiln::Status& s, const OnnxSupportReport& support) {
  static const std::regex nodeRe(R"(node '([^']*)' \(([^,()]+), #\d+\): (.*))");
  static const std::regex layerRe(R"(layer '([^']*)' \(([^()]+)\):? (.*))");
  const std::string& m = s.message();
  std::smatch g;
  if (std::regex_search(m, g, nodeRe)) {
    std::string detail = g[3].str();
    return {mentionsRuntimeParam(detail) ? "dynamic" : "feature", g[2].str(), oneLine(detail)};
  }
  if (std::regex_search(m, g, layerRe)) {
    std::string op = operatorOfLayer(support, g[1].str());
    if (op.empty()) op = g[2].str();
    std::string detail = g[3].str();
    return {mentionsRuntimeParam(detail) ? "dynamic" : "backend", op, oneLine(detail)};
  }
  return {"other", "", oneLine(m)};
}

/// Blockers from the support report: every missing operator and type.
std::vector<Blocker> supportBlockers(const OnnxSupportReport& support) {
  std::vector<Blocker> out;
  for (const std::string& issue : support.modelIssues)
    out.push_back({"opset", "opset " + std::to_string(support.opset), issue});
  for (const OnnxOperatorUse& op : support.unsupportedOperators())
    out.push_back({"operator", op.qualifiedName(), op.unsupportedReason});
  for (const OnnxTypeUse& t : support.unsupportedTypes) {
    std::string uses;
    for (const std::string& u : t.uses)
      uses += (uses.empty() ? "" : ", ") + u;
    out.push_back({"type", t.type, oneLine(uses)});
  }
  return out;
}

/// The element type of a layer from its shape text ("f32[2, 3]" -> "f32").
std::string dtypeOfShapeText(const std::string& s) {
  return s.substr(0, s.find('['));
}

void recordOperatorTypes(const Engine& e, const OnnxSupportReport& support, CaseResult& r) {
  std::map<std::string, std::set<std::string>> types;
  for (const LayerInfo& l : e.layers()) {
    std::string dtype;
    for (const std::string& in : l.inputShapes)
      if (!in.empty()) {
        dtype = dtypeOfShapeText(in);
        break;
      }
    if (dtype.empty() && !l.outputShapes.empty()) dtype = dtypeOfShapeText(l.outputShapes[0]);
    if (dtype.empty()) continue;
    for (const std::string& origin : l.origins) {
      std::string op = operatorOfLayer(support, origin);
      if (!op.empty()) types[op].insert(dtype);
    }
  }
  for (auto& [op, set] : types) {
    auto& v = r.operatorTypes[op];
    for (const std::string& t : set)
      if (std::find(v.begin(), v.end(), t) == v.end()) v.push_back(t);
    std::sort(v.begin(), v.end());
  }
}

/// Runs one data set; sets r.verdict/reason when it does not pass. Returns false to stop.
bool runDataSet(const NetworkDefinition& net, const fs::path& set, const std::string& backend,
                const OnnxSupportReport& support, CaseResult& r) {
  auto fail = [&](Verdict v, const std::string& why) {
    r.verdict = v;
    r.reason = oneLine(set.filename().string() + ": " + why);
    return false;
  };
  auto refuse = [&](const kiln::Status& s) {
    if (s.code() != StatusCode::kUnsupported) return fail(Verdict::kError, s.toString());
    r.blockers.push_back(classifyRefusal(s, support));
    return fail(Verdict::kUnsupported, s.toString());
  };
  auto inputs = readValues(set, "input", support.sequenceInputs, support.optionalInputs);
  if (!inputs) return refuse(inputs.status());
  auto expected = readValues(set, "output", support.sequenceOutputs);
  if (!expected) return refuse(expected.status());
  if (inputs->size() != net.inputs().size())
    return fail(Verdict::kError, std::to_string(inputs->size()) + " input files for " +
                                     std::to_string(net.inputs().size()) + " graph inputs");
  BuilderConfig config;
  config.backend = backend;
  for (size_t i = 0; i < inputs->size(); ++i)
    config.inputShapes[net.tensor(net.inputs()[i]).name] = (*inputs)[i].dims();
  auto engine = Builder::build(net, config);
  if (!engine) return refuse(engine.status());
  const Engine& e = **engine;
  if (e.outputs().size() != expected->size())
    return fail(Verdict::kFail, std::to_string(e.outputs().size()) + " outputs, expected " +
                                    std::to_string(expected->size()));
  auto ctx = e.createExecutionContext();
  if (!ctx) return refuse(ctx.status());
  for (size_t i = 0; i < inputs->size(); ++i) {
    const Weights& w = (*inputs)[i];
    kiln::Status s = (*ctx)->setInputTensor(e.inputs()[i].name, w.data(), w.bytes(), w.dtype());
    if (!s.isOk()) return refuse(s);
  }
  std::vector<Weights> outs;
  for (const IOTensorInfo& io : e.outputs()) {
    auto dims = (*ctx)->getTensorShape(io.name);
    if (!dims) return refuse(dims.status());
    auto w = Weights::zeros(io.dtype, *dims, "output '" + io.name + "'");
    if (!w) return refuse(w.status());
    outs.push_back(std::move(w).value());
    kiln::Status s =
        (*ctx)->setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(), io.dtype);
    if (!s.isOk()) return refuse(s);
  }
  if (kiln::Status s = (*ctx)->execute(); !s.isOk()) return refuse(s);
  for (size_t k = 0; k < outs.size(); ++k) {
    const Weights& want = (*expected)[k];
    const std::string what = "output " + std::to_string(k) + " '" + e.outputs()[k].name + "'";
    if (outs[k].dtype() != want.dtype())
      return fail(Verdict::kFail, what + " is " + dataTypeName(outs[k].dtype()) + ", expected " +
                                      dataTypeName(want.dtype()));
    Comparison c = compareTensors(outs[k], want, r.tolerance.rtol, r.tolerance.atol);
    if (!c.message.empty()) return fail(Verdict::kFail, what + ": " + c.message);
    if (c.ok) continue;
    Mismatch m{set.filename().string(),
               static_cast<int>(k),
               unflattenIndex(c.worstMismatchIndex, want.dims()),
               c.worstMismatchActual,
               c.worstMismatchExpected,
               c.mismatches,
               outs[k].count()};
    r.mismatch = m;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ": %lld of %lld elements differ%s; worst at %s: %.9g, expected %.9g",
                  static_cast<long long>(m.mismatches), static_cast<long long>(m.elements),
                  c.exact ? " (compared exactly)" : "", m.index.c_str(), m.actual, m.expected);
    return fail(Verdict::kFail, what + buf);
  }
  recordOperatorTypes(e, support, r);
  return true;
}

}  // namespace

CaseResult runCase(const std::string& caseDir, const std::string& name,
                   const std::string& backend) {
  const auto start = std::chrono::steady_clock::now();
  CaseResult r;
  r.name = name;
  r.tolerance = toleranceFor(name);
  auto finish = [&]() {
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::sort(r.operators.begin(), r.operators.end());
    return r;
  };
  const std::string modelPath = (fs::path(caseDir) / "model.onnx").string();
  auto support = OnnxParser::checkSupportFile(modelPath);
  if (!support) {
    r.verdict = Verdict::kError;
    r.reason = oneLine(support.status().toString());
    return finish();
  }
  r.opset = support->opset;
  for (const OnnxOperatorUse& op : support->operators)
    r.operators.push_back(op.qualifiedName());
  std::vector<fs::path> sets;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(caseDir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  // A model with sequence or optional inputs is built per data set, for the lengths of its
  // sequences and the values its optionals hold.
  auto any = [](const std::vector<bool>& v) {
    return std::find(v.begin(), v.end(), true) != v.end();
  };
  const bool sequenceInputs = any(support->sequenceInputs) || any(support->optionalInputs);
  auto refuseSupport = [&](const OnnxSupportReport& report) {
    kiln::Status s = report.toStatus();
    r.verdict = s.code() == StatusCode::kUnsupported ? Verdict::kUnsupported : Verdict::kError;
    r.reason = oneLine(s.toString());
    r.blockers = supportBlockers(report);
  };
  auto parse = [&](const OnnxSupportReport& report,
                   const OnnxParseOptions& options) -> std::optional<NetworkDefinition> {
    auto net = OnnxParser::parseFile(modelPath, options);
    if (!net) {
      r.verdict =
          net.status().code() == StatusCode::kUnsupported ? Verdict::kUnsupported : Verdict::kError;
      r.reason = oneLine(net.status().toString());
      if (r.verdict == Verdict::kUnsupported)
        r.blockers.push_back(classifyRefusal(net.status(), report));
      return std::nullopt;
    }
    if (r.inputTypes.empty())
      for (TensorId t : net->inputs())
        r.inputTypes.push_back(dataTypeName(net->tensor(t).dtype));
    return std::move(net).value();
  };
  if (!sequenceInputs || sets.empty()) {
    if (!support->supported()) {
      refuseSupport(*support);
      return finish();
    }
    std::optional<NetworkDefinition> net = parse(*support, OnnxParseOptions{});
    if (!net) return finish();
    if (sets.empty()) {
      r.verdict = Verdict::kError;
      r.reason = "no test_data_set_N folder";
      return finish();
    }
    for (const fs::path& set : sets) {
      ++r.dataSets;
      if (!runDataSet(*net, set, backend, *support, r)) return finish();
    }
  } else {
    for (const fs::path& set : sets) {
      ++r.dataSets;
      std::map<int, int64_t> lengths;
      std::map<int, bool> present;
      auto inputs = readValues(set, "input", support->sequenceInputs, support->optionalInputs,
                               &lengths, &present);
      if (!inputs) {
        r.verdict = inputs.status().code() == StatusCode::kUnsupported ? Verdict::kUnsupported
                                                                       : Verdict::kError;
        r.reason = oneLine(set.filename().string() + ": " + inputs.status().toString());
        return finish();
      }
      OnnxParseOptions options;
      for (const auto& [k, n] : lengths)
        if (static_cast<size_t>(k) < support->inputNames.size())
          options.sequenceInputLengths[support->inputNames[static_cast<size_t>(k)]] = n;
      for (const auto& [k, has] : present)
        if (static_cast<size_t>(k) < support->inputNames.size())
          options.optionalInputsPresent[support->inputNames[static_cast<size_t>(k)]] = has;
      auto withLengths = OnnxParser::checkSupportFile(modelPath, options);
      if (!withLengths) {
        r.verdict = Verdict::kError;
        r.reason = oneLine(withLengths.status().toString());
        return finish();
      }
      if (!withLengths->supported()) {
        refuseSupport(*withLengths);
        return finish();
      }
      std::optional<NetworkDefinition> net = parse(*withLengths, options);
      if (!net) return finish();
      if (!runDataSet(*net, set, backend, *withLengths, r)) return finish();
    }
  }
  r.verdict = Verdict::kPass;
  return finish();
}

// ---- the report -----------------------------------------------------------------------------

namespace {

nlohmann::json countsJson(const Counts& c) {
  return {{"cases", c.cases},
          {"passed", c.passed},
          {"failed", c.failed},
          {"unsupported", c.unsupported},
          {"errors", c.errors}};
}

}  // namespace

nlohmann::json makeReport(const std::vector<CaseResult>& results, const std::string& backend) {
  Counts all, node, model;
  std::map<std::string, Counts> bySuite;
  struct OpStats {
    Counts counts;
    int refusedForIt = 0;  // unsupported cases refused for this operator (see below)
    std::set<int64_t> opsets;
    std::set<std::string> passedTypes;
  };
  std::map<std::string, OpStats> ops;
  struct BlockerStats {
    int cases = 0, onlyBlocker = 0, nodeCases = 0, modelCases = 0;
    std::string example;
  };
  std::map<std::pair<std::string, std::string>, BlockerStats> blockers;
  nlohmann::json cases = nlohmann::json::array();
  for (const CaseResult& r : results) {
    all.add(r.verdict);
    (isNodeSuite(r.suite()) ? node : model).add(r.verdict);
    bySuite[r.suite()].add(r.verdict);
    // An unsupported case is refused for operator X when a blocker names X, or when a type or
    // opset blocker stops a case whose only operator (Constant aside) is X.
    std::vector<std::string> mainOps;
    for (const std::string& op : r.operators)
      if (op != "Constant") mainOps.push_back(op);
    std::set<std::string> refusedFor;
    for (const Blocker& b : r.blockers) {
      if (b.kind == "type" || b.kind == "opset") {
        if (mainOps.size() == 1) refusedFor.insert(mainOps[0]);
      } else if (!b.name.empty()) {
        refusedFor.insert(b.name);
      }
    }
    for (const std::string& op : r.operators) {
      OpStats& s = ops[op];
      s.counts.add(r.verdict);
      s.opsets.insert(r.opset);
      s.refusedForIt += r.verdict == Verdict::kUnsupported && refusedFor.count(op) > 0;
    }
    for (const auto& [op, types] : r.operatorTypes)
      ops[op].passedTypes.insert(types.begin(), types.end());
    std::set<std::pair<std::string, std::string>> seen;
    for (const Blocker& b : r.blockers) {
      if (!seen.insert({b.kind, b.name}).second) continue;
      BlockerStats& s = blockers[{b.kind, b.name}];
      ++s.cases;
      s.onlyBlocker += r.blockers.size() == 1;
      ++(isNodeSuite(r.suite()) ? s.nodeCases : s.modelCases);
      if (s.example.empty()) s.example = r.name + ": " + b.detail;
    }
    nlohmann::json j = toJson(r);
    j.erase("seconds");  // reports are compared between runs: keep them deterministic
    cases.push_back(std::move(j));
  }
  nlohmann::json suites = nlohmann::json::object();
  for (const auto& [suite, c] : bySuite)
    suites[suite] = countsJson(c);
  nlohmann::json opsJson = nlohmann::json::object();
  for (const auto& [op, s] : ops) {
    nlohmann::json o = countsJson(s.counts);
    o["refused_for_this_operator"] = s.refusedForIt;
    o["opsets"] = s.opsets;
    o["passed_types"] = s.passedTypes;
    opsJson[op] = o;
  }
  std::vector<std::pair<std::pair<std::string, std::string>, BlockerStats>> sorted(blockers.begin(),
                                                                                   blockers.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second.cases > b.second.cases; });
  nlohmann::json blockersJson = nlohmann::json::array();
  for (const auto& [key, s] : sorted)
    blockersJson.push_back({{"kind", key.first},
                            {"name", key.second},
                            {"cases", s.cases},
                            {"only_blocker_cases", s.onlyBlocker},
                            {"node_cases", s.nodeCases},
                            {"model_cases", s.modelCases},
                            {"example", s.example}});
  return {{"backend", backend},
          {"tolerance", {{"rtol", kDefaultRtol}, {"atol", kDefaultAtol}}},
          {"summary", countsJson(all)},
          {"node_cases", countsJson(node)},
          {"model_cases", countsJson(model)},
          {"suites", suites},
          {"operators", opsJson},
          {"blockers", blockersJson},
          {"cases", cases}};
}

// ---- the expectation list -------------------------------------------------------------------

std::vector<std::string> readExpectedList(const std::string& path, std::string* error) {
  std::vector<std::string> out;
  std::ifstream f(path);
  if (!f) {
    *error = "cannot read the expectation list '" + path + "'";
    return out;
  }
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

bool writeExpectedList(const std::string& path, const std::vector<std::string>& cases) {
  std::vector<std::string> sorted = cases;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::ofstream f(path);
  f << "# ONNX conformance cases that pass on the reference backend. CI fails when one of them\n"
       "# stops passing (tests/conformance_test.cc); a case that passes but is not listed is\n"
       "# reported. Add new passes with:\n"
       "#   kiln conformance ../shared/onnx-conformance --expected tests/conformance_passing.txt "
       "--update-expected\n";
  for (const std::string& c : sorted)
    f << c << "\n";
  return static_cast<bool>(f);
}

}  // namespace kiln::conformance
