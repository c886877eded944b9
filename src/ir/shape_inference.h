// kiln — shape and type inference over symbolic shapes.
//
// One function per layer kind (src/ir/infer_*.cc), dispatched from layers.def. The same
// functions serve two purposes with one formula:
//   - at import and build time, on symbolic shapes (dims such as `batch`, `seq*4`), so ranks and
//     dtypes are always known and shapes stay exact expressions of the input dims;
//   - at run time, on concrete dims (every Dim a constant) when a context's input shapes change:
//     that pass is authoritative and checks everything (broadcasting, matching inner dims...).
// Symbolic inference never rejects what might be valid: it reports an error only when a check
// fails for every value of the symbols (Dim::provablyDifferent); anything it cannot decide is
// checked again on concrete dims at run time.
//
// "param" inputs (layers.def: Reshape's shape, Slice's starts...) are small integer tensors whose
// values decide output shapes. Their values come from constants, from symbolic values (a shape
// subgraph such as Shape -> Gather -> Concat evaluates to dims of the inputs), or, at run time,
// from the tensor itself. When a value is unknown when building, inference still gives the
// output's rank and dtype, with fresh opaque dims where the value matters (see inferLayer).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/layer_desc.h"
#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// Element type and (possibly symbolic) shape of a tensor.
struct TensorType {
  DataType dtype = DataType::kFloat32;
  Shape shape;
  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
};

/// The (possibly symbolic) values of a small integer tensor, row-major.
using DimValues = std::vector<Dim>;

/// What inference knows about the inputs of one layer.
struct InferDesc {
  const Layer* layer = nullptr;
  std::vector<TensorType> inputs;  ///< empty shape for absent inputs
  std::vector<bool> inputPresent;
  /// Full values of constant inputs (weights, constant params); nullptr otherwise.
  std::vector<const Weights*> constantInputs;
  /// Values of integer inputs known without their data (symbolic values of shape tensors);
  /// nullptr when unknown. A constant input need not be listed here.
  std::vector<const DimValues*> valueInputs;

  const std::string& name() const { return layer->name; }
  LayerKind kind() const { return layer->kind(); }
  bool hasInput(size_t k) const { return k < inputPresent.size() && inputPresent[k]; }

  /// Values of integer input k as dims: constants, symbolic values, or (when unknown and the
  /// input has a static element count) one fresh value symbol per element, which inferLayer
  /// turns into opaque output dims. Error naming the layer when even the count is unknown.
  Expected<DimValues> dimsInput(size_t k) const;
  /// Values of input k that must be known integers now (axes, a scalar param); error naming the
  /// layer and the input otherwise. `what` names the input in messages.
  Expected<std::vector<int64_t>> intsInput(size_t k, const char* what = "param") const;
  /// Whether every value of input k is a known integer now.
  bool valuesKnown(size_t k) const;
  /// A dim inference cannot know when building (it depends on data): opaque.
  static Dim opaque();
};

/// Output types of `desc.layer`. Errors name the layer and its kind.
Expected<std::vector<TensorType>> inferOutputs(const InferDesc& desc);

/// Output types of a layer given concrete input dims and constant values (LayerDesc): the
/// run-time form, for kernels and tests. Errors name the layer.
Expected<std::vector<TensorDesc>> inferConcrete(const LayerDesc& desc);

/// Values of the layer's outputs when they are small integer tensors computable from the
/// inputs' shapes and values (shape arithmetic), one entry per output (nullopt when unknown).
std::vector<std::optional<DimValues>> inferValues(const InferDesc& desc,
                                                  const std::vector<TensorType>& outputs);

/// Whether input k of a layer of `kind` is a "param" input (layers.def): a small integer tensor
/// whose values decide output shapes.
bool isParamInput(LayerKind kind, size_t k);

/// Largest integer tensor whose values are tracked symbolically.
constexpr int64_t kMaxTrackedValues = 64;

/// Infers layer `id` of `net` from its inputs' types and values, then stores the output types
/// (shapeKnown) and values in the network. Opaque dims become fresh symbols named after the
/// output tensor ("%name[i]"). Errors name the layer.
Status inferLayer(NetworkDefinition& net, LayerId id);
/// Whether a tensor's stored type is what inference gives (`inferred`, from inferOutputs):
/// same dtype and rank, and equal dims except where inference leaves a dim to the run time
/// (unknown or a placeholder, which the stored shape names by a symbol of its own).
bool consistentWithInferred(const TensorType& stored, const TensorType& inferred);

/// InferDesc of layer `id` from the network's tensor types, constants and values.
InferDesc inferDescOf(const NetworkDefinition& net, LayerId id);

/// An InvalidModel error "layer 'NAME' (Kind): MESSAGE".
Status layerError(const InferDesc& desc, const std::string& message);
Status layerError(const LayerDesc& desc, const std::string& message);

/// Normalizes a possibly negative axis against `rank`; error naming the layer if out of range.
Expected<int64_t> normalizeAxis(const InferDesc& desc, int64_t axis, int64_t rank);
Expected<int64_t> normalizeAxis(const LayerDesc& desc, int64_t axis, int64_t rank);

/// Numpy-style broadcast of two shapes; error naming the layer when they provably do not
/// broadcast.
Expected<Shape> broadcastShapes(const InferDesc& desc, const Shape& a, const Shape& b);
/// Whether `in` broadcasts one way to `out`, unless provably not (symbolic: may be decided at run
/// time).
bool mayBroadcastTo(const Shape& in, const Shape& out);

/// Effective explicit pads (begin, end per spatial dim) of a convolution or pooling window,
/// resolving auto padding against the input's spatial dims.
struct WindowGeometry {
  std::vector<int64_t> kernel, strides, dilations;
  std::vector<Dim> padsBegin, padsEnd;
  std::vector<Dim> inputSpatial, outputSpatial;
};
Expected<WindowGeometry> resolveWindow(const InferDesc& desc, const std::vector<int64_t>& kernel,
                                       const std::vector<int64_t>& strides,
                                       const std::vector<int64_t>& dilations,
                                       const std::vector<int64_t>& padsBegin,
                                       const std::vector<int64_t>& padsEnd, PaddingMode padding,
                                       bool ceilMode, const Shape& input /* N, C, spatial... */);
/// The same on concrete dims, for kernels (every result static).
struct ConcreteWindow {
  std::vector<int64_t> kernel, strides, dilations, padsBegin, padsEnd;
  std::vector<int64_t> inputSpatial, outputSpatial;
};
Expected<ConcreteWindow> resolveConcreteWindow(
    const LayerDesc& desc, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
    const std::vector<int64_t>& dilations, const std::vector<int64_t>& padsBegin,
    const std::vector<int64_t>& padsEnd, PaddingMode padding, bool ceilMode, const Dims& input);

/// The geometry of a transposed convolution (ConvolutionAttrs::transposed): defaults, the pads
/// implied by auto padding or an output shape (they may be negative: an output larger than the
/// scatter extent), and the output size. Every result static for static inputs.
Expected<WindowGeometry> resolveTransposedWindow(const InferDesc& desc, const Dims& kernel,
                                                 const ConvolutionAttrs& attrs,
                                                 const Shape& input /* N, C, spatial... */);
Expected<ConcreteWindow> resolveConcreteTransposedWindow(const LayerDesc& desc, const Dims& kernel,
                                                         const ConvolutionAttrs& attrs,
                                                         const Dims& input);

/// Checks the epilogue inputs of a Convolution or MatrixMultiply against its output
/// (infer_epilogue.cc).
Status checkEpilogue(const InferDesc& desc, const TensorType& out, ActivationKind activation,
                     ResidualMode residual);

/// The geometry of a Resize on concrete input dims (infer_resize.cc), shared by shape inference
/// and kernels so both read the ONNX rules the same way.
struct ResizeGeometry {
  Dims output;
  std::vector<double> scales;    ///< per dim of x (1 for dims not resized)
  std::vector<double> roiStart;  ///< per dim of x (0 unless tf_crop_and_resize gives a roi)
  std::vector<double> roiEnd;    ///< per dim of x (1 likewise)
};
/// Resolves a Resize of `input` from the values of its roi, scales and sizes inputs (nullptr:
/// absent; an empty list counts as absent). Exactly one of scales and sizes must be given, with
/// one value per resized axis; scales finite and positive, sizes non-negative, an axis of size
/// 0 kept at 0, and every output dim and the element count within int64. Errors are InvalidModel
/// without the layer's name (callers add it).
Expected<ResizeGeometry> resolveResize(const ResizeAttrs& attrs, const Dims& input,
                                       const std::vector<double>* roi,
                                       const std::vector<double>* scales,
                                       const std::vector<int64_t>* sizes);

// Per-kind inference functions (defined in src/ir/infer_*.cc).
#define KILN_LAYER(kind, attrs, summary) \
  Expected<std::vector<TensorType>> infer##kind(const InferDesc& desc);
#include "kiln/layers.def"
#undef KILN_LAYER

}  // namespace kiln
