// kiln — shape and dtype inference over concrete shapes.
//
// One function per layer kind (src/ir/infer_*.cc), dispatched from layers.def. Inference runs
// after the builder has bound every symbolic dimension (optimization profile), so it works on
// concrete dims; "param" inputs (layers.def) are read through LayerDesc::intsInput and must be
// constants by then.
#pragma once

#include <string>
#include <vector>

#include "ir/layer_desc.h"
#include "kiln/status.h"

namespace kiln {

/// Output types and dims of `desc.layer` given `desc.inputs`, `desc.inputPresent` and
/// `desc.constantInputs` (desc.outputs is ignored). Errors name the layer and its kind.
Expected<std::vector<TensorDesc>> inferOutputs(const LayerDesc& desc);

/// An InvalidModel error "layer 'NAME' (Kind): MESSAGE".
Status layerError(const LayerDesc& desc, const std::string& message);

/// Normalizes a possibly negative axis against `rank`; error naming the layer if out of range.
Expected<int64_t> normalizeAxis(const LayerDesc& desc, int64_t axis, int64_t rank);

/// Numpy-style broadcast of two shapes; error naming the layer when incompatible.
Expected<Dims> broadcastDims(const LayerDesc& desc, const Dims& a, const Dims& b);

/// Effective explicit pads (begin, end per spatial dim) of a convolution or pooling window,
/// resolving auto padding against the input's spatial dims.
struct WindowGeometry {
  std::vector<int64_t> kernel, strides, dilations, padsBegin, padsEnd;
  std::vector<int64_t> inputSpatial, outputSpatial;
};
Expected<WindowGeometry> resolveWindow(const LayerDesc& desc, const std::vector<int64_t>& kernel,
                                       const std::vector<int64_t>& strides,
                                       const std::vector<int64_t>& dilations,
                                       const std::vector<int64_t>& padsBegin,
                                       const std::vector<int64_t>& padsEnd, PaddingMode padding,
                                       bool ceilMode, const Dims& input /* N, C, spatial... */);

/// Checks the epilogue inputs of a Convolution or MatrixMultiply against its output
/// (infer_epilogue.cc).
Status checkEpilogue(const LayerDesc& desc, const TensorDesc& out, ActivationKind activation,
                     ResidualMode residual);

// Per-kind inference functions (defined in src/ir/infer_*.cc).
#define KILN_LAYER(kind, attrs, summary) \
  Expected<std::vector<TensorDesc>> infer##kind(const LayerDesc& desc);
#include "kiln/layers.def"
#undef KILN_LAYER

}  // namespace kiln
