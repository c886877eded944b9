// kiln — docs/operators.md, generated from the importer's operator table and the conformance
// reports of the backends (never edited by hand; `kiln operators --check` catches a stale
// file).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::cli {

/// The markdown page: per ONNX operator its opsets, and per backend (one conformance report
/// each, from `kiln conformance --json`) its status and the element types it passed with.
std::string operatorsMarkdown(const std::vector<nlohmann::json>& reports);

}  // namespace kiln::cli
