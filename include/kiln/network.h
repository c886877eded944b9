// kiln — NetworkDefinition: the graph IR of canonical layers.
//
// A network is a list of layers in topological order over a table of tensors. It is produced by
// the ONNX parser or written by hand, then optimized and compiled by the Builder. Tensors and
// layers are addressed by small integer ids that stay valid while the network lives (removed
// entries become tombstones until compact()).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/layers.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

using TensorId = int32_t;
using LayerId = int32_t;
/// An absent optional input.
constexpr TensorId kNoTensor = -1;

/// A tensor of the network: a graph input, a layer output, or a constant.
struct Tensor {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Shape shape;              ///< dims: constants, symbols of the inputs, or expressions of them
  bool shapeKnown = false;  ///< shape and dtype have been set or inferred
  /// Values of a small integer tensor when they are known from shapes alone (a shape
  /// computation such as Shape -> Gather -> Concat), row-major; see valuesKnown.
  std::vector<Dim> values;
  bool valuesKnown = false;
  LayerId producer = -1;  ///< -1 for graph inputs
  bool isInput = false;
  bool isOutput = false;
  bool removed = false;
};

/// A layer: kind, typed attributes, inputs and outputs.
struct Layer {
  std::string name;
  LayerAttrs attrs;
  std::vector<TensorId> inputs;  ///< kNoTensor for an absent optional input
  std::vector<TensorId> outputs;
  /// Source nodes this layer came from (ONNX node names), for explainable builds.
  std::vector<std::string> origins;
  bool removed = false;

  LayerKind kind() const { return attrsKind(attrs); }
  template <class A>
  const A& as() const {
    return std::get<A>(attrs);
  }
  template <class A>
  A& as() {
    return std::get<A>(attrs);
  }
};

/// The graph IR. Not thread-safe.
class NetworkDefinition {
 public:
  NetworkDefinition() = default;

  /// Declares a graph input. Names must be unique among tensors.
  Expected<TensorId> addInput(const std::string& name, DataType dtype, const Shape& shape);
  /// Adds a constant layer holding `value` and returns its output tensor.
  TensorId addConstant(const std::string& name, Weights value);
  /// Adds a layer; `numOutputs` output tensors are created, named "<name>:<k>" unless
  /// `outputNames` gives names. Inputs must exist (kNoTensor allowed for optional inputs).
  Expected<LayerId> addLayer(const std::string& name, LayerAttrs attrs,
                             const std::vector<TensorId>& inputs, int numOutputs = 1,
                             const std::vector<std::string>& outputNames = {});
  /// Marks a tensor as a graph output (in call order).
  Status markOutput(TensorId tensor);

  // Convenience builders for hand-written networks.
  Expected<TensorId> addActivation(TensorId x, ActivationKind kind, float alpha = 0,
                                   float beta = 0);
  Expected<TensorId> addElementwise(TensorId a, TensorId b, ElementwiseKind kind);
  Expected<TensorId> addConvolution(TensorId x, TensorId w, TensorId b, ConvolutionAttrs attrs);
  Expected<TensorId> addMatrixMultiply(TensorId a, TensorId b, TensorId c = kNoTensor,
                                       MatrixMultiplyAttrs attrs = {});

  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::vector<Layer>& layers() const { return layers_; }
  /// The tensor or layer with an id this network returned; std::out_of_range for any other id
  /// (a programming error: the only exception kiln's API lets out besides the ones noted at
  /// Weights::fromInts).
  Tensor& tensor(TensorId id) { return tensors_.at(static_cast<size_t>(id)); }
  const Tensor& tensor(TensorId id) const { return tensors_.at(static_cast<size_t>(id)); }
  Layer& layer(LayerId id) { return layers_.at(static_cast<size_t>(id)); }
  const Layer& layer(LayerId id) const { return layers_.at(static_cast<size_t>(id)); }
  const std::vector<TensorId>& inputs() const { return inputs_; }
  const std::vector<TensorId>& outputs() const { return outputs_; }

  /// Finds a live tensor by name; -1 when absent.
  TensorId findTensor(const std::string& name) const;
  /// The constant weights of `t` when it is produced by a Constant layer, else nullptr.
  const Weights* constantValue(TensorId t) const;
  /// Number of live layers.
  size_t liveLayerCount() const;

  // ---- mutation used by passes ----
  /// Replaces every use of `from` (layer inputs and graph outputs) by `to`.
  void replaceAllUses(TensorId from, TensorId to);
  /// Makes tensor `t` the graph output at position `index` (the old one stops being an output
  /// unless it is listed elsewhere).
  void setOutput(size_t index, TensorId t);
  /// Renames a tensor (the caller keeps names unique). Use this rather than assigning
  /// Tensor::name, so that findTensor() stays correct.
  void renameTensor(TensorId t, const std::string& name);
  /// Removes a layer and its output tensors (they must be unused).
  void removeLayer(LayerId id);
  /// Layers reading tensor `t`, computed on demand (O(layers)).
  std::vector<LayerId> consumers(TensorId t) const;
  /// Drops tombstones and renumbers ids; layer order is kept.
  void compact();
  /// Sorts layers topologically (stable for already ordered networks). Error on a cycle.
  Status topologicalSort();

  /// Checks structure: ids in range (layers and tensors are public structs that callers may
  /// edit; nothing indexes with an id before this check), each tensor produced once by the layer
  /// it names, every layer of a kind, inputs defined before use, outputs exist, unique names.
  /// Returns the first violation found. Builder::build runs it first.
  Status verify() const;

  /// Readable text dump, one layer per line:
  ///   %name = Kind(attr=..)(inputs) -> [dims] dtype
  std::string toString() const;

 private:
  TensorId newTensor(const std::string& name);
  std::string uniqueName(const std::string& base);

  std::vector<Tensor> tensors_;
  std::vector<Layer> layers_;
  std::vector<TensorId> inputs_;
  std::vector<TensorId> outputs_;
  /// Live tensors by name.
  std::unordered_map<std::string, TensorId> byName_;
};

/// Appends "name=value" pairs of a layer's attributes (weights summarized) to `out`.
std::string attrsToString(const LayerAttrs& attrs);

}  // namespace kiln
