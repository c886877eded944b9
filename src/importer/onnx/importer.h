// kiln — ONNX importer internals: the per-model state, the per-node context that every op
// importer receives, and the op importer declarations (one per line of ops.def).
//
// Contract for an op importer `Status importX(NodeContext& ctx)`:
//   - read inputs and attributes through ctx (typed, defaulted, errors name the attribute);
//   - build layers through ctx.addOutputLayer / addInternal / addConstant / setOutput, so that
//     the node's outputs get their ONNX names and every layer gets the node as its origin;
//   - return plain messages: the driver prefixes every error with
//     "node 'NAME' (OpType, #index): " exactly once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kiln/network.h"
#include "kiln/onnx_parser.h"
#include "kiln/status.h"

namespace onnx {
class AttributeProto;
class ModelProto;
class NodeProto;
class TensorProto;
class TypeProto;
}  // namespace onnx

namespace kiln::onnx_import {

/// An ONNX sequence whose length and element positions are known at build time: the list of
/// the tensors it holds (kiln has no runtime sequence type). `dtype` is the element type when
/// known (SequenceEmpty's `dtype`, or that of the elements).
struct SequenceValue {
  std::optional<DataType> dtype;
  std::vector<TensorId> elements;
};

/// The most elements a sequence may hold: each one is a tensor of the network (a hostile
/// SplitToSequence of a huge dim must not make millions of layers).
constexpr int64_t kMaxSequenceElements = 4096;

/// Everything that lives for the import of one model.
struct ImportState {
  NetworkDefinition net;
  int64_t opset = 0;    ///< version of the default ONNX domain
  std::string baseDir;  ///< folder for external data ("" when parsing a buffer)
  /// ONNX value name -> the tensor that holds it (aliases such as Identity share a tensor).
  std::unordered_map<std::string, TensorId> values;
  /// ONNX value name -> the sequence it holds (values of sequence type are never in `values`).
  std::unordered_map<std::string, SequenceValue> sequences;
  /// Values of optional type known to be empty (Optional without an input); an optional that
  /// holds a value is an alias of that value, in `values` or `sequences`.
  std::unordered_set<std::string> emptyOptionals;
  /// Every value name in the graph: generated names avoid them, so a later ONNX name never
  /// collides with a tensor the importer made up.
  std::unordered_set<std::string> reservedNames;
  /// Names read by some node or listed as graph outputs.
  std::unordered_set<std::string> consumedNames;
  std::unordered_set<std::string> graphOutputs;
  /// Declared types (graph inputs, outputs, value_info), used where an importer needs a dtype
  /// or rank before shape inference has run.
  std::unordered_map<std::string, const ::onnx::TypeProto*> declaredTypes;

  /// `base`, or `base_K` for the first K that is free in the network and in the graph.
  std::string freshName(const std::string& base) const;
};

/// The name of a node's layers: the node name, or "<OpType>_<index>" when the node has none.
std::string nodeLayerName(const ::onnx::NodeProto& node, int index);

/// The view of one node that an op importer works with.
class NodeContext {
 public:
  NodeContext(ImportState& state, const ::onnx::NodeProto& node, int index,
              std::vector<TensorId> inputs);

  // ---- sequences and optionals (ops_sequence.cc) ----
  /// The sequence that input `i` holds, or nullptr when it is absent or not a sequence.
  const SequenceValue* sequenceInput(int i) const;
  /// Input `i` as a sequence; an error naming the input when it is absent or a tensor.
  Expected<const SequenceValue*> requireSequence(int i) const;
  /// True when input `i` is named and holds an empty optional.
  bool isEmptyOptional(int i) const;
  /// Makes node output `k` the sequence `seq` (its dtype checked against the elements').
  Status setSequenceOutput(int k, SequenceValue seq);
  /// Makes node output `k` an empty optional.
  Status setEmptyOptionalOutput(int k);
  /// Makes node output `k` an alias of input `i`, whatever it holds (tensor or sequence).
  Status forwardInput(int i, int k);
  /// The value of input `i` as one int64 when it is known at build time (a constant, or a
  /// value computed from static shapes); an error naming `what` otherwise.
  Expected<int64_t> constantScalarInt(int i, const std::string& what) const;

  const ::onnx::NodeProto& node() const { return node_; }
  const std::string& opType() const;
  /// Position of the node in the graph.
  int index() const { return index_; }
  /// Layer name: the node name, or "<OpType>_<index>" when the node has none.
  const std::string& name() const { return name_; }
  int64_t opset() const { return state_.opset; }
  NetworkDefinition& net() { return state_.net; }
  /// The import state, for ops that import a subgraph into the network (SequenceMap).
  ImportState& state() { return state_; }

  // ---- inputs ----
  /// Number of inputs as written in the node (absent optional ones included).
  int numInputs() const { return static_cast<int>(inputs_.size()); }
  bool hasInput(int i) const { return i < numInputs() && inputs_[i] != kNoTensor; }
  /// A required input; an error naming the input position when absent.
  Expected<TensorId> input(int i) const;
  /// An optional input, kNoTensor when absent.
  TensorId optionalInput(int i) const { return hasInput(i) ? inputs_[i] : kNoTensor; }
  /// All inputs as written, kNoTensor for absent ones.
  const std::vector<TensorId>& inputs() const { return inputs_; }
  /// The value of input `i` when it is a constant (initializer or Constant node), else nullptr.
  const Weights* constantInput(int i) const;
  /// Element type / rank of a tensor when known before shape inference (graph inputs,
  /// constants, value_info).
  std::optional<DataType> dtypeOf(TensorId t) const;
  std::optional<int64_t> rankOf(TensorId t) const;

  // ---- outputs ----
  int numOutputs() const;
  /// True when output `k` is named and read by a later node or is a graph output.
  bool outputUsed(int k) const;
  /// Error when any output from index `first` on is used (outputs the importer cannot make).
  Status requireUnusedOutputs(int first) const;

  // ---- attributes (typed, defaulted; errors name the attribute) ----
  bool hasAttr(const std::string& name) const;
  Expected<int64_t> getInt(const std::string& name, int64_t defaultValue) const;
  Expected<int64_t> requireInt(const std::string& name) const;
  Expected<float> getFloat(const std::string& name, float defaultValue) const;
  Expected<std::string> getString(const std::string& name, const std::string& defaultValue) const;
  Expected<std::vector<int64_t>> getInts(const std::string& name,
                                         std::vector<int64_t> defaultValue = {}) const;
  Expected<std::vector<int64_t>> requireInts(const std::string& name) const;
  Expected<std::vector<float>> getFloats(const std::string& name) const;
  /// The tensor attribute `name`; an error when absent.
  Expected<const ::onnx::TensorProto*> requireTensor(const std::string& name) const;
  /// Decodes a tensor attribute or initializer-like proto (external data resolved).
  Expected<Weights> decodeTensor(const ::onnx::TensorProto& proto) const;

  // ---- building ----
  /// Adds the layer that produces node outputs [0, numOutputs), named as in ONNX.
  Status addOutputLayer(LayerAttrs attrs, const std::vector<TensorId>& inputs, int numOutputs = 1);
  /// Adds a helper layer named "<node>/<suffix>" with one output; returns that output.
  Expected<TensorId> addInternal(const std::string& suffix, LayerAttrs attrs,
                                 const std::vector<TensorId>& inputs);
  /// Adds a helper layer named "<node>/<suffix>" with `numOutputs` outputs; returns them.
  Expected<std::vector<TensorId>> addInternalOutputs(const std::string& suffix, LayerAttrs attrs,
                                                     const std::vector<TensorId>& inputs,
                                                     int numOutputs);
  /// Adds a helper constant named "<node>/<suffix>".
  TensorId addConstant(const std::string& suffix, Weights value);
  /// A constant int64 vector (for params that older opsets gave as attributes).
  TensorId addIntsConstant(const std::string& suffix, const std::vector<int64_t>& values);
  /// A scalar constant of type `dtype` (float and integer types).
  Expected<TensorId> addScalarConstant(const std::string& suffix, double value, DataType dtype);
  /// Adds a constant that is node output 0, named as in ONNX (the Constant op).
  Status addOutputConstant(Weights value);
  /// Makes node output `k` an alias of `t` (Identity-like ops). When the output is a graph
  /// output, a Unary Identity layer is added instead so that the output keeps its ONNX name.
  Status setOutput(int k, TensorId t);

 private:
  const ::onnx::AttributeProto* findAttr(const std::string& name) const;
  Status checkAttrType(const ::onnx::AttributeProto& a, int expectedType) const;
  Status registerOutput(int k, TensorId t);

  ImportState& state_;
  const ::onnx::NodeProto& node_;
  int index_;
  std::string name_;
  std::vector<TensorId> inputs_;
};

/// Shuffle attributes of one mode, the other fields defaulted.
inline ShuffleAttrs shuffleAttrs(ShuffleMode mode) {
  ShuffleAttrs a;
  a.mode = mode;
  return a;
}

/// An op importer.
using ImportFn = Status (*)(NodeContext& ctx);

#define KILN_ONNX_OP(opType, fn, firstOpset) Status fn(NodeContext& ctx);
#include "importer/onnx/ops.def"
#undef KILN_ONNX_OP

/// One line of ops.def.
struct OpEntry {
  ImportFn fn = nullptr;
  int64_t firstOpset = 1;  ///< the ONNX version that introduced the operator
};

/// The oldest and newest default-domain opsets the importer handles.
constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 28;  // the newest opset of the onnx.proto kiln is built with

/// The ops.def entry of a default-domain op type, or nullptr.
const OpEntry* findOp(const std::string& opType);
/// The importer for a default-domain op type, or nullptr.
ImportFn findImporter(const std::string& opType);

/// Imports one node of the graph or of a subgraph that is inlined into it (its value names
/// already unique in the network); errors carry the "node 'NAME' (OpType, #index): " prefix.
Status importNodeWithContext(const ::onnx::NodeProto& node, int index, ImportState& s);

/// True for operators that take sequence or optional values as inputs (every other operator
/// is refused such an input, with a message that names it).
bool takesSequenceInputs(const std::string& opType);

/// True for "" and "ai.onnx".
bool isDefaultDomain(const std::string& domain);

/// Parses a serialized ModelProto that must have a graph; errors name `source`.
Status parseModelProto(const void* data, size_t size, const std::string& source,
                       ::onnx::ModelProto* model);

/// Reads `model` without importing it: its default-domain opset, every operator with whether
/// the importer handles it, and the types kiln has no type for (OnnxParser::checkSupport*).
OnnxSupportReport checkModelSupport(const ::onnx::ModelProto& model,
                                    const OnnxParseOptions& options);

}  // namespace kiln::onnx_import
