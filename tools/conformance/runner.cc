#include "conformance/runner.h"

#include <algorithm>
#include <filesystem>

#include "kiln/compare.h"
#include "kiln/kiln.h"

namespace fs = std::filesystem;

namespace kiln::conformance {

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kMismatch:
      return "mismatch";
    case Outcome::kUnsupported:
      return "unsupported";
  }
  return "?";
}

std::vector<std::string> listCases(const std::string& suiteDir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(suiteDir, ec))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::string oneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s.size() > 300 ? s.substr(0, 300) + "..." : s;
}

Expected<std::vector<Weights>> readTensors(const fs::path& dir, const std::string& prefix) {
  std::vector<Weights> out;
  for (int k = 0;; ++k) {
    fs::path p = dir / (prefix + "_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorFile(p.string()));
    out.push_back(std::move(t.value));
  }
  return out;
}

}  // namespace

CaseResult runCase(const std::string& caseDir, const std::string& name) {
  CaseResult r;
  r.name = name;
  auto fail = [&](Outcome o, const std::string& d) {
    r.outcome = o;
    r.detail = oneLine(d);
    return r;
  };
  auto net = OnnxParser::parseFile((fs::path(caseDir) / "model.onnx").string());
  if (!net) return fail(Outcome::kUnsupported, net.status().toString());
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(caseDir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return fail(Outcome::kUnsupported, "no test_data_set_N folder");
  for (const fs::path& set : sets) {
    auto inputs = readTensors(set, "input");
    if (!inputs) return fail(Outcome::kUnsupported, inputs.status().toString());
    auto expected = readTensors(set, "output");
    if (!expected) return fail(Outcome::kUnsupported, expected.status().toString());
    if (inputs->size() != net->inputs().size())
      return fail(Outcome::kUnsupported, std::to_string(inputs->size()) + " input files for " +
                                             std::to_string(net->inputs().size()) +
                                             " graph inputs");
    BuilderConfig config;
    for (size_t i = 0; i < inputs->size(); ++i)
      config.inputShapes[net->tensor(net->inputs()[i]).name] = (*inputs)[i].dims();
    auto engine = Builder::build(*net, config);
    if (!engine) return fail(Outcome::kUnsupported, engine.status().toString());
    const Engine& e = **engine;
    if (e.outputs().size() != expected->size())
      return fail(Outcome::kMismatch, std::to_string(e.outputs().size()) + " outputs, expected " +
                                          std::to_string(expected->size()));
    auto ctx = e.createExecutionContext();
    if (!ctx) return fail(Outcome::kUnsupported, ctx.status().toString());
    for (size_t i = 0; i < inputs->size(); ++i) {
      const Weights& w = (*inputs)[i];
      Status s = (*ctx)->setInputTensor(e.inputs()[i].name, w.data(), w.bytes(), w.dtype());
      if (!s.isOk()) return fail(Outcome::kMismatch, s.toString());
    }
    std::vector<Weights> outs;
    for (const IOTensorInfo& io : e.outputs()) {
      auto w = Weights::zeros(io.dtype, io.dims, "output '" + io.name + "'");
      if (!w) return fail(Outcome::kMismatch, w.status().toString());
      outs.push_back(std::move(w).value());
      Status s = (*ctx)->setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(),
                                          io.dtype);
      if (!s.isOk()) return fail(Outcome::kMismatch, s.toString());
    }
    if (Status s = (*ctx)->execute(); !s.isOk()) return fail(Outcome::kUnsupported, s.toString());
    for (size_t k = 0; k < outs.size(); ++k) {
      const Weights& want = (*expected)[k];
      if (outs[k].dtype() != want.dtype())
        return fail(Outcome::kMismatch, "output " + std::to_string(k) + " is " +
                                            dataTypeName(outs[k].dtype()) + ", expected " +
                                            dataTypeName(want.dtype()));
      Comparison c = compareTensors(outs[k], want, 1e-3, 1e-7);
      if (!c.ok)
        return fail(
            Outcome::kMismatch,
            set.filename().string() + " output " + std::to_string(k) + ": " +
                (c.message.empty()
                     ? std::to_string(c.mismatches) + " elements differ, worst " +
                           std::to_string(c.worstActual) + " vs " + std::to_string(c.worstExpected)
                     : c.message));
    }
  }
  r.outcome = Outcome::kPass;
  return r;
}

}  // namespace kiln::conformance
