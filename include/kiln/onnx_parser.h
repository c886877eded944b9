// kiln — ONNX importer: ModelProto -> NetworkDefinition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// One operator of the importer's table: it imports `opType` (default ONNX domain) for models
/// of opsets [firstOpset, lastOpset].
struct OnnxOperatorSupport {
  std::string opType;
  int64_t firstOpset = 1;  ///< the ONNX version that introduced the operator
  int64_t lastOpset = 1;   ///< the newest opset kiln imports
};

/// An operator (domain + type) used by a model, with the nodes that use it.
struct OnnxOperatorUse {
  std::string domain;  ///< "" for the default ONNX domain
  std::string opType;
  int64_t opset = 0;               ///< the model's version of `domain` (0: not imported)
  std::vector<std::string> nodes;  ///< node names ("<OpType>_<index>" for unnamed nodes)
  /// Empty when the importer handles the operator at that opset; else why not ("not
  /// implemented", "domain 'ai.onnx.ml' is not supported", ...).
  std::string unsupportedReason;

  /// "LRN" for the default domain, "ai.onnx.ml.LabelEncoder" otherwise.
  std::string qualifiedName() const;
};

/// A type used by a model that kiln has no type for: an element type ("string", "uint16",
/// "float8e4m3fn") or a value kind ("sequence", "optional", "map", "sparse_tensor").
struct OnnxTypeUse {
  std::string type;
  std::vector<std::string> uses;  ///< "input 'x'", "initializer 'w'", "node 'c' (Cast 'to')"
};

/// What the importer can and cannot handle in a model, found by reading it without importing
/// it. The importer refuses a model with this report's message (every unsupported operator and
/// type at once, with the nodes), and `kiln conformance` classifies refusals with it.
struct OnnxSupportReport {
  /// The model's version of the default ONNX domain: the imported version, 1 for a model of
  /// IR version < 3 without opset imports (ONNX's rule), 0 when the model imports none.
  int64_t opset = 0;
  /// Every operator the model uses (subgraphs included), sorted by domain then type.
  std::vector<OnnxOperatorUse> operators;
  /// Element and value types kiln has no type for, sorted by type.
  std::vector<OnnxTypeUse> unsupportedTypes;
  /// Model-level reasons kiln refuses it (an opset outside 1..newest), each one sentence.
  std::vector<std::string> modelIssues;
  /// Why the model is invalid (a default-domain node without a default-domain opset import).
  std::vector<std::string> invalidReasons;
  /// Graph inputs that are not initializers, in order (the order of input_K.pb files), and
  /// per input whether it is a sequence of tensors or an optional (see OnnxParseOptions).
  std::vector<std::string> inputNames;
  std::vector<bool> sequenceInputs;
  std::vector<bool> optionalInputs;
  /// Per graph output, in order: true for a sequence of tensors. The network has one output
  /// per element of such a sequence, named "NAME[K]", in place of the sequence.
  std::vector<bool> sequenceOutputs;

  /// The operators with an unsupportedReason.
  std::vector<OnnxOperatorUse> unsupportedOperators() const;
  /// True when nothing above stops the import (operators, types, model issues, validity).
  /// The import can still fail later on an attribute or input that the importer refuses.
  bool supported() const;
  /// Ok when supported(); else an InvalidModel or Unsupported status whose message lists
  /// everything, e.g. "2 operators are not supported: LRN (nodes conv1/lrn, conv2/lrn),
  /// Foo (node x); 1 element type is not supported: string (input 'text')".
  Status toStatus() const;
};

/// What the importer must be told about a model that the model does not say.
struct OnnxParseOptions {
  /// Per graph input of sequence type, the number of tensors it holds: kiln has no run-time
  /// sequences, so such an input becomes that many network inputs "NAME[0]", "NAME[1]", ...
  /// (each with the declared element type and shape, unknown dims its own). A sequence input
  /// without a length here is refused.
  std::map<std::string, int64_t> sequenceInputLengths;
  /// Per graph input of optional type, whether it holds a value: a present one is an input of
  /// its element type (a sequence also needs its length above), an absent one an empty
  /// optional with no network input. An optional input not listed here is refused.
  std::map<std::string, bool> optionalInputsPresent;
};

/// Parses ONNX models into networks of canonical layers. Every error names the node (its name,
/// op type and index) and says what was expected.
class OnnxParser {
 public:
  /// Parses a model file (weights embedded; external data files are resolved next to it).
  static Expected<NetworkDefinition> parseFile(const std::string& path);
  static Expected<NetworkDefinition> parseFile(const std::string& path,
                                               const OnnxParseOptions& options);
  /// Parses a serialized ModelProto; `sourceName` names it in errors.
  static Expected<NetworkDefinition> parseBuffer(const void* data, size_t size,
                                                 const std::string& sourceName = "<buffer>");
  /// Reads a model file and reports which of its operators and types the importer cannot
  /// handle. Errors only when the file cannot be read or parsed as a ModelProto.
  static Expected<OnnxSupportReport> checkSupportFile(const std::string& path);
  /// The same, with sequence inputs whose length `options` gives, and optional inputs whose
  /// presence it gives, counted as supported.
  static Expected<OnnxSupportReport> checkSupportFile(const std::string& path,
                                                      const OnnxParseOptions& options);
  /// The same for a serialized ModelProto.
  static Expected<OnnxSupportReport> checkSupportBuffer(const void* data, size_t size,
                                                        const std::string& sourceName = "<buffer>");
  /// ONNX operator types (default domain) the importer handles, sorted.
  static std::vector<std::string> supportedOps();
  /// The importer's operator table with the opsets of each operator, sorted by type.
  static std::vector<OnnxOperatorSupport> operators();
  /// The oldest and newest default-domain opsets kiln imports.
  static int64_t minOpset();
  static int64_t maxOpset();
};

}  // namespace kiln
