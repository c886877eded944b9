// kiln — running ONNX backend conformance cases (../shared/onnx-conformance/<suite>/<case>).
#pragma once

#include <string>
#include <vector>

namespace kiln::conformance {

enum class Outcome {
  kPass,         ///< every data set's outputs match (rtol 1e-3, atol 1e-7)
  kMismatch,     ///< ran, but an output differs (shape, dtype or values)
  kUnsupported,  ///< kiln refused it with an error (unsupported op, dtype, data-dependent shape)
};

const char* outcomeName(Outcome o);

struct CaseResult {
  std::string name;  ///< "<suite>/<case>"
  Outcome outcome = Outcome::kUnsupported;
  std::string detail;  ///< the error or the mismatch, one line
};

/// Runs one case folder: parse, then for each test_data_set_N build for its input shapes, run
/// on the reference backend and compare with the expected outputs.
CaseResult runCase(const std::string& caseDir, const std::string& name);

/// Case folders of a suite, sorted.
std::vector<std::string> listCases(const std::string& suiteDir);

}  // namespace kiln::conformance
