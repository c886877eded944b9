// kiln — builds small ONNX models in memory, for tests.
//
// The generated protobuf classes are private to the kiln library, so tests (and tools) that
// need an ONNX model without a file describe it here in kiln terms and get serialized bytes.
// Deliberately permissive: it writes whatever it is told, so tests can build invalid models.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "kiln/types.h"

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace kiln::onnx_import {

/// A node attribute value; the variant alternative picks the ONNX attribute type
/// (INT, FLOAT, STRING, INTS, FLOATS, TENSOR).
using AttrValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, Weights>;

struct NodeAttr {
  std::string name;
  AttrValue value;
};

/// One node. Empty input names are absent optional inputs.
struct NodeSpec {
  NodeSpec(std::string op, std::vector<std::string> in, std::vector<std::string> out,
           std::vector<NodeAttr> attributes = {}, std::string nodeName = "",
           std::string nodeDomain = "")
      : opType(std::move(op)),
        inputs(std::move(in)),
        outputs(std::move(out)),
        attrs(std::move(attributes)),
        name(std::move(nodeName)),
        domain(std::move(nodeDomain)) {}

  std::string opType;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<NodeAttr> attrs;
  std::string name;
  std::string domain;
};

/// Accumulates a ModelProto (ir_version 8) and serializes it.
class ModelBuilder {
 public:
  /// A model importing the default domain at `opset` (no opset import when opset <= 0).
  explicit ModelBuilder(int64_t opset = 17);
  ~ModelBuilder();
  ModelBuilder(const ModelBuilder&) = delete;
  ModelBuilder& operator=(const ModelBuilder&) = delete;

  /// A graph input; a Dim with neither value nor symbol is written as an unknown dim.
  ModelBuilder& input(const std::string& name, DataType dtype, const Shape& shape);
  /// A graph input with any ONNX element type code (kiln's or not).
  ModelBuilder& inputWithOnnxType(const std::string& name, int32_t onnxElemType, const Dims& dims);
  /// A graph input of type sequence(tensor(dtype)).
  ModelBuilder& sequenceInput(const std::string& name, DataType dtype);
  /// A graph input of type sequence(tensor(dtype, elementShape)).
  ModelBuilder& sequenceInput(const std::string& name, DataType dtype, const Shape& elementShape);
  /// A graph input of type optional(tensor(dtype, shape)).
  ModelBuilder& optionalInput(const std::string& name, DataType dtype, const Shape& shape);
  /// A graph input with a declared type but no shape.
  ModelBuilder& inputWithoutShape(const std::string& name, DataType dtype);
  /// A graph output (type not declared).
  ModelBuilder& output(const std::string& name);
  /// A value_info entry declaring the type and rank (all dims unknown) of an inner value.
  ModelBuilder& valueInfo(const std::string& name, DataType dtype, int rank);
  /// An initializer stored as raw_data.
  ModelBuilder& initializer(const std::string& name, const Weights& value);
  /// An initializer stored in the typed repeated fields (float_data, int32_data, int64_data,
  /// double_data, per ONNX's rules for `dtype`).
  ModelBuilder& typedInitializer(const std::string& name, DataType dtype, const Dims& dims,
                                 const std::vector<double>& values);
  /// An initializer whose bytes live in `location` (relative to the model file).
  ModelBuilder& externalInitializer(const std::string& name, DataType dtype, const Dims& dims,
                                    const std::string& location, int64_t offset, int64_t length);
  ModelBuilder& node(const NodeSpec& spec);
  /// Adds a GRAPH attribute `name` holding `body`'s graph to the node added last (for
  /// subgraph ops such as SequenceMap; the body's own opset imports are not used).
  ModelBuilder& graphAttribute(const std::string& name, const ModelBuilder& body);
  ModelBuilder& opsetImport(const std::string& domain, int64_t version);
  /// Sets the model's IR version (8 by default).
  ModelBuilder& irVersion(int64_t version);

  std::string serialize() const;

 private:
  std::unique_ptr<::onnx::ModelProto> model_;
};

/// Serialized TensorProto with an arbitrary ONNX type code and raw bytes (for malformed-input
/// tests: mismatched sizes, unsupported types).
std::string encodeTensorProto(const std::string& name, int32_t onnxType, const Dims& dims,
                              const std::string& rawData);

}  // namespace kiln::onnx_import
