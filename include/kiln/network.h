// kiln — NetworkDefinition: the graph IR of canonical layers.
//
// A network is a list of layers in topological order over a table of tensors. It is produced by
// the ONNX parser or written by hand, then optimized and compiled by the Builder. Tensors and
// layers are addressed by small integer ids that stay valid while the network lives (removed
// entries become tombstones until compact()).
#pragma once

#include <cstdint>
#include <deque>
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
  /// Names of the optimizer rules whose rewrites produced this layer, in firing order.
  std::vector<std::string> rules;
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

/// One node of the source model (an ONNX node), as the importer saw it.
struct SourceNode {
  std::string name;
  std::string op;  ///< "Conv"
};

/// One firing of an optimizer rule (or one step of a pass that rewrites: folding, dead-code
/// removal). Together with SourceNode they account for every source node: each one ends in a
/// layer (Layer::origins) or in the `removedSources` of some event.
struct RewriteEvent {
  std::string pass;                   ///< the pipeline pass that ran the rule
  std::string rule;                   ///< rule name ("fuse-conv-activation")
  std::vector<std::string> matched;   ///< layers the rule consumed or changed, by name
  std::vector<std::string> produced;  ///< layers it created or changed
  std::vector<std::string> sources;   ///< source nodes behind the matched layers
  /// Source nodes that no layer carries any more after this event (their work was folded,
  /// absorbed into attributes, or found to be a no-op).
  std::vector<std::string> removedSources;
};

/// Where a network came from and how it was rewritten; copied with the network into engines
/// and plans, for `kiln build --explain` and `kiln inspect`.
struct Provenance {
  std::vector<SourceNode> sourceNodes;  ///< in source order
  std::vector<RewriteEvent> events;     ///< in firing order
};

/// The graph IR. Not thread-safe.
///
/// A use-def index (which layers read each tensor) is kept up to date by the mutators below,
/// so consumers() is O(users). Passes change a layer's inputs only through setLayerInput(s) /
/// replaceAllUses; verify() checks the index, so an edit that bypasses it is caught.
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

  /// Tensors and layers by id. Both live in deques: adding a tensor or layer never moves the
  /// others, so a reference held across an add (a rule that binds `const Layer&` and then adds
  /// layers) stays valid. compact() and topologicalSort() renumber, and invalidate references.
  const std::deque<Tensor>& tensors() const { return tensors_; }
  const std::deque<Layer>& layers() const { return layers_; }
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
  /// Replaces every use of `from` (layer inputs and graph outputs) by `to`. O(users of from).
  void replaceAllUses(TensorId from, TensorId to);
  /// Replaces every use of `from` by layer inputs (not graph outputs) by `to`.
  void replaceLayerUses(TensorId from, TensorId to);
  /// Sets input `k` of a layer (kNoTensor for an absent optional input).
  void setLayerInput(LayerId id, size_t k, TensorId t);
  /// Replaces all inputs of a layer.
  void setLayerInputs(LayerId id, const std::vector<TensorId>& inputs);
  /// Makes tensor `t` the graph output at position `index` (the old one stops being an output
  /// unless it is listed elsewhere).
  void setOutput(size_t index, TensorId t);
  /// Renames a tensor (the caller keeps names unique). Use this rather than assigning
  /// Tensor::name, so that findTensor() stays correct.
  void renameTensor(TensorId t, const std::string& name);
  /// Removes a layer and its output tensors (they must be unused).
  void removeLayer(LayerId id);
  /// Live layers reading tensor `t` (each once, in the order they started reading it).
  const std::vector<LayerId>& consumers(TensorId t) const;
  /// Whether `t` is read by exactly one layer and is not a graph output.
  bool hasSingleUse(TensorId t) const;
  /// Drops tombstones and renumbers ids; layer order is kept.
  void compact();
  /// Sorts layers topologically (stable for already ordered networks). Error on a cycle.
  Status topologicalSort();

  /// Checks structure: ids in range (layers and tensors are public structs that callers may
  /// edit; nothing indexes with an id before this check), each tensor produced once by the layer
  /// it names, every layer of a kind, inputs defined before use, outputs exist, unique names,
  /// and the use-def index. Returns the first violation found. Builder::build runs it first.
  Status verify() const;

  /// Source nodes and rewrite events (explainable builds).
  const Provenance& provenance() const { return provenance_; }
  Provenance& provenance() { return provenance_; }

  /// Readable text dump, one layer per line:
  ///   %name = Kind(attr=..)(inputs) -> [dims] dtype
  std::string toString() const;

 private:
  TensorId newTensor(const std::string& name);
  void addUse(TensorId t, LayerId l);
  void dropUse(TensorId t, LayerId l);
  void rebuildUses();

 public:
  /// A tensor name not used yet: `base`, else base_1, base_2, ...
  std::string uniqueName(const std::string& base) const;

 private:
  std::deque<Tensor> tensors_;
  std::deque<Layer> layers_;
  std::vector<TensorId> inputs_;
  std::vector<TensorId> outputs_;
  /// Live tensors by name.
  std::unordered_map<std::string, TensorId> byName_;
  /// Per tensor: the live layers that read it.
  std::vector<std::vector<LayerId>> users_;
  Provenance provenance_;
};

/// Appends "name=value" pairs of a layer's attributes (weights summarized) to `out`.
std::string attrsToString(const LayerAttrs& attrs);

}  // namespace kiln
