// kiln — ONNX importer: ModelProto -> NetworkDefinition.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// Parses ONNX models into networks of canonical layers. Every error names the node (its name,
/// op type and index) and says what was expected.
class OnnxParser {
 public:
  /// Parses a model file (weights embedded; external data files are resolved next to it).
  static Expected<NetworkDefinition> parseFile(const std::string& path);
  /// Parses a serialized ModelProto; `sourceName` names it in errors.
  static Expected<NetworkDefinition> parseBuffer(const void* data, size_t size,
                                                 const std::string& sourceName = "<buffer>");
  /// ONNX operator types (default domain) the importer handles, sorted.
  static std::vector<std::string> supportedOps();
};

}  // namespace kiln
