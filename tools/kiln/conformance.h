// kiln — running ONNX backend conformance cases (`<suite>/<case>/model.onnx` with
// test_data_set_N folders) and summarizing the results. Used by `kiln conformance` and by
// tests/conformance_test.cc.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::conformance {

/// How a case ended.
enum class Verdict {
  kPass,         ///< every data set's outputs match
  kFail,         ///< ran, but an output differs (count, dtype, shape or values)
  kUnsupported,  ///< kiln refused the model (a missing operator, type or feature)
  kError,        ///< anything else: an invalid-model or internal error, a crash, a time-out
};

/// "pass", "fail", "unsupported", "error".
const char* verdictName(Verdict v);
std::optional<Verdict> parseVerdict(std::string_view name);

/// The ONNX suite's default comparison: |out - ref| <= atol + rtol * |ref|.
constexpr double kDefaultRtol = 1e-3;
constexpr double kDefaultAtol = 1e-7;

/// The tolerance a case is compared with; `reason` says why when it is not the default.
struct Tolerance {
  double rtol = kDefaultRtol;
  double atol = kDefaultAtol;
  std::string reason;
};

/// The tolerance of case `name` ("node/test_x"): the default, or an override with its reason.
Tolerance toleranceFor(const std::string& name);

/// One thing kiln lacks that stops an unsupported case.
struct Blocker {
  /// "operator" (not implemented or its domain), "type" (an element or value type kiln has
  /// no type for), "opset" (the model's opset), "feature" (the importer refuses an attribute,
  /// input or output of an operator it has), "dynamic" (a parameter computed at run time),
  /// "backend" (the backend cannot run a layer, e.g. for its dtype), "other".
  std::string kind;
  std::string name;    ///< the operator ("LRN", "ai.onnx.ml.LabelEncoder") or the type
  std::string detail;  ///< one line
};

/// The element furthest outside the tolerance in a failing case.
struct Mismatch {
  std::string dataSet;  ///< "test_data_set_0"
  int output = 0;
  std::string index;  ///< "[0, 3, 1]"
  double actual = 0, expected = 0;
  int64_t mismatches = 0, elements = 0;
};

struct CaseResult {
  std::string name;  ///< "<suite>/<case>", e.g. "node/test_abs"
  Verdict verdict = Verdict::kError;
  std::string reason;             ///< one line; empty for a pass
  std::vector<Blocker> blockers;  ///< for kUnsupported: every one that is known
  std::optional<Mismatch> mismatch;
  int64_t opset = 0;                    ///< the model's default-domain opset
  std::vector<std::string> operators;   ///< qualified names of the model's operators, sorted
  std::vector<std::string> inputTypes;  ///< element types of the graph inputs ("f32")
  /// Per operator, the element types its layers ran with (passing cases only).
  std::map<std::string, std::vector<std::string>> operatorTypes;
  Tolerance tolerance;
  int dataSets = 0;
  double seconds = 0;  ///< wall time (not written to reports that are compared)

  std::string suite() const { return name.substr(0, name.find('/')); }
};

nlohmann::json toJson(const CaseResult& r);
/// Reads what toJson wrote; an error message when the JSON is not a case result.
std::optional<CaseResult> caseFromJson(const nlohmann::json& j, std::string* error);

/// One case folder to run.
struct CaseDir {
  std::string name;  ///< "<suite>/<case>": the folder's parent and own names
  std::string path;
};

/// The cases under `dir`: `dir` itself when it holds model.onnx, else its sub-folders that do
/// (a suite), else those of its sub-folders' sub-folders (a folder of suites). Sorted by name.
std::vector<CaseDir> findCases(const std::string& dir);

/// Runs one case in this process: checks what the importer supports (naming every missing
/// operator and type), then for each test_data_set_N builds for its input shapes on `backend`,
/// runs and compares with the expected outputs.
CaseResult runCase(const std::string& caseDir, const std::string& name,
                   const std::string& backend = "reference");

/// Counts over a set of results.
struct Counts {
  int cases = 0, passed = 0, failed = 0, unsupported = 0, errors = 0;
  void add(Verdict v);
};

/// The JSON report of a run: per case, per suite, per operator and per blocker.
nlohmann::json makeReport(const std::vector<CaseResult>& results, const std::string& backend);

/// "node" cases test one operator each; the other suites are small models.
bool isNodeSuite(const std::string& suite);

/// Reads an expectation list: one "<suite>/<case>" per line, '#' comments.
std::vector<std::string> readExpectedList(const std::string& path, std::string* error);
/// Writes the list (sorted, with a header that says how it is maintained).
bool writeExpectedList(const std::string& path, const std::vector<std::string>& cases);

}  // namespace kiln::conformance
