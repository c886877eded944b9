// kiln — the shape pass: from input shapes to the concrete type and dims of every tensor.
//
// An engine's network keeps symbolic shapes. When a context's input shapes are set (or an input
// whose values decide shapes changes), the shape pass
//   1. binds the symbols of the input dims (`batch` = 8), checking static dims and consistency;
//   2. walks the layers in order, running shape inference on concrete dims (the authoritative
//      check of every shape rule), evaluating SymbolicConstants, and computing on the host the
//      few integer tensors whose values decide shapes ("shape tensors": Reshape targets, Slice
//      starts...) when they are not constants;
//   3. reports, per tensor, its concrete TensorDesc and, for shape tensors, its host values.
// The builder uses the same pass at the optimization profile's opt shapes to time tactics.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// Runs one layer on the host whose inputs are all given as constants (desc.constantInputs);
/// returns its outputs (desc.outputs must be set).
using HostEvaluator = std::function<Expected<std::vector<Weights>>(const LayerDesc&)>;

/// What the shape pass of one network needs; computed once per engine.
struct ShapeProgram {
  /// Per layer: run by a kernel (false for Constant, SymbolicConstant, and layers whose outputs
  /// only feed shape computations).
  std::vector<bool> executed;
  /// Per layer: evaluated on the host during the shape pass (its values decide shapes).
  std::vector<bool> hostEvaluated;
  /// Per tensor: its host values are needed by the shape pass.
  std::vector<bool> hostValue;
  /// Per tensor: read as data by an executed layer or a graph output (so it needs memory).
  std::vector<bool> dataUsed;
  /// Some graph input's values decide shapes: the pass reruns at every enqueue.
  bool readsInputValues = false;
};

/// Analyzes `net` (compacted, topologically ordered). Error when a layer's param input can
/// only be computed by a layer the host evaluator cannot run.
ShapeProgram analyzeShapes(const NetworkDefinition& net);

/// Concrete shapes of one set of input shapes.
struct ConcreteShapes {
  SymbolValues symbols;
  std::vector<TensorDesc> tensors;  ///< per tensor id
  std::vector<Weights> values;      ///< per tensor id: host values (shape tensors), else empty
};

/// Binds the symbols of the network's input shapes to `inputDims` (one per net.inputs()).
/// Errors name the input, the dim and the symbol.
Expected<SymbolValues> bindInputSymbols(const NetworkDefinition& net,
                                        const std::vector<Dims>& inputDims);

/// The shape pass. `inputData[i]` is the host data of input i, needed only for inputs whose
/// program.hostValue is set (nullptr otherwise). Errors name the layer or input at fault.
Status computeShapes(const NetworkDefinition& net, const ShapeProgram& program,
                     const std::vector<Dims>& inputDims, const std::vector<const void*>& inputData,
                     const HostEvaluator& evaluate, ConcreteShapes& out);

/// Concrete LayerDesc of layer `id` from computed shapes (constant inputs: the network's
/// constants, or the shape pass's host values).
LayerDesc concreteLayerDesc(const NetworkDefinition& net, LayerId id, const ConcreteShapes& cs);

/// Representative dims of every tensor with the symbols in `symbols` (others count as 1): for
/// creating kernels and timing tactics when the engine is built.
std::vector<TensorDesc> evaluateShapes(const NetworkDefinition& net, const SymbolValues& symbols);

}  // namespace kiln
