// kiln — shape inference: the dispatcher, the input checks every kind shares, and the helpers
// (axes, broadcasting, window geometry) that the per-kind functions in infer_*.cc use.
#include "ir/shape_inference.h"

#include <algorithm>
#include <limits>
#include <string>

namespace kiln {
namespace {

/// How many inputs a kind takes and which of them are "param" inputs (layers.def).
/// Optional inputs always trail the required ones, so the first `minInputs` must be present.
struct InputSpec {
  size_t minInputs = 0;
  size_t maxInputs = 0;
  uint32_t paramMask = 0;  ///< bit k set: input k is a param (must be a build-time constant)
};

constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

// The input lists of layers.def, in numbers. A switch (not a table indexed by the kind) so that
// -Wswitch flags a kind appended to layers.def without a line here.
InputSpec inputSpec(LayerKind kind) {
  // clang-format off
  switch (kind) {
    case LayerKind::kConstant: return {0, 0, 0};
    case LayerKind::kConvolution: return {2, 4, 0};       // x, w, b?, residual?
    case LayerKind::kMatrixMultiply: return {2, 4, 0};    // a, b, c?, residual?
    case LayerKind::kPooling: return {1, 1, 0};
    case LayerKind::kActivation: return {1, 1, 0};
    case LayerKind::kUnary: return {1, 1, 0};
    case LayerKind::kElementwise: return {2, 2, 0};
    case LayerKind::kReduce: return {1, 2, 0b10};         // x, axes?
    case LayerKind::kSoftmax: return {1, 1, 0};
    case LayerKind::kNormalization: return {2, 3, 0};     // x, scale, bias?
    case LayerKind::kShuffle: return {1, 2, 0b10};        // x, shape/axes?
    case LayerKind::kConcatenation: return {1, kUnbounded, 0};
    case LayerKind::kSlice: return {3, 5, 0b11110};       // x, starts, ends, axes?, steps?
    case LayerKind::kSplit: return {1, 2, 0b10};          // x, split?
    case LayerKind::kGather: return {2, 2, 0};            // data, indices
    case LayerKind::kCast: return {1, 1, 0};
    case LayerKind::kSelect: return {3, 3, 0};            // condition, x, y
    case LayerKind::kFill: return {3, 3, 0b111};          // start, limit, delta
    case LayerKind::kExpand: return {2, 2, 0b10};         // x, shape
    case LayerKind::kShapeOf: return {1, 1, 0};
    case LayerKind::kCumulative: return {2, 2, 0b10};     // x, axis
    case LayerKind::kPointwise: return {1, kUnbounded, 0};
    case LayerKind::kAttention: return {1, 4, 0};         // q (or qkv), k?, v?, mask?
  }
  // clang-format on
  return {};
}

bool isIntegerType(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt32 ||
         t == DataType::kInt64;
}

/// Checks the arity, the presence of required inputs, concrete non-negative dims, and that every
/// present param input is a constant (integer-typed, except Fill whose params may be floats).
Status checkInputs(const LayerDesc& desc) {
  const InputSpec spec = inputSpec(desc.kind());
  const size_t n = desc.inputs.size();
  if (desc.inputPresent.size() != n)
    return internalError("layer '" + desc.name() + "': LayerDesc has " + std::to_string(n) +
                         " inputs but " + std::to_string(desc.inputPresent.size()) +
                         " presence flags");
  if (n < spec.minInputs || n > spec.maxInputs) {
    std::string expected =
        spec.maxInputs == kUnbounded ? "at least " + std::to_string(spec.minInputs)
        : spec.minInputs == spec.maxInputs
            ? std::to_string(spec.minInputs)
            : std::to_string(spec.minInputs) + " to " + std::to_string(spec.maxInputs);
    return layerError(desc, "expected " + expected + " inputs, found " + std::to_string(n));
  }
  for (size_t k = 0; k < n; ++k) {
    if (!desc.hasInput(k)) {
      if (k < spec.minInputs || spec.maxInputs == kUnbounded)
        return layerError(desc, "input " + std::to_string(k) + " is required but absent");
      continue;
    }
    for (int64_t d : desc.inputs[k].dims)
      if (d < 0)
        return layerError(desc, "input " + std::to_string(k) + " has a negative dim in " +
                                    dimsToString(desc.inputs[k].dims));
    if (k < 32 && (spec.paramMask >> k & 1u)) {
      // intsInput's error says which input must be constant and why.
      if (k >= desc.constantInputs.size() || desc.constantInputs[k] == nullptr)
        return desc.intsInput(k).status();
      if (desc.kind() != LayerKind::kFill && !isIntegerType(desc.inputs[k].dtype))
        return layerError(desc, "param input " + std::to_string(k) +
                                    " must be an integer tensor, found " +
                                    dataTypeName(desc.inputs[k].dtype));
    }
  }
  return Status::ok();
}

}  // namespace

Status layerError(const LayerDesc& desc, const std::string& message) {
  const std::string name = desc.layer != nullptr ? desc.layer->name : std::string("?");
  const char* kind = desc.layer != nullptr ? layerKindName(desc.kind()) : "?";
  return invalidModel("layer '" + name + "' (" + kind + "): " + message);
}

Expected<std::vector<TensorDesc>> inferOutputs(const LayerDesc& desc) {
  if (desc.layer == nullptr) return internalError("inferOutputs: LayerDesc without a layer");
  KILN_RETURN_IF_ERROR(checkInputs(desc));
  Expected<std::vector<TensorDesc>> out = internalError("unreachable");
  switch (desc.kind()) {
#define KILN_LAYER(kind, attrs, summary) \
  case LayerKind::k##kind:               \
    out = infer##kind(desc);             \
    break;
#include "kiln/layers.def"
#undef KILN_LAYER
  }
  if (!out) return out;
  // A layer built with the wrong number of output tensors would otherwise silently get
  // descriptors that do not line up with its outputs.
  const size_t declared = desc.layer->outputs.size();
  if (declared != 0 && declared != out->size())
    return layerError(desc, "has " + std::to_string(declared) + " output tensors, expected " +
                                std::to_string(out->size()));
  return out;
}

Expected<int64_t> normalizeAxis(const LayerDesc& desc, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return layerError(desc, "axis " + std::to_string(axis) + " is out of range for rank " +
                                std::to_string(rank) + " (expected [" + std::to_string(-rank) +
                                ", " + std::to_string(rank - 1) + "])");
  return axis < 0 ? axis + rank : axis;
}

Expected<Dims> broadcastDims(const LayerDesc& desc, const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: missing leading dims act as 1.
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return layerError(desc, "cannot broadcast " + dimsToString(a) + " with " + dimsToString(b) +
                                  ": " + std::to_string(da) + " vs " + std::to_string(db) +
                                  " at output dim " + std::to_string(i));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Expected<WindowGeometry> resolveWindow(const LayerDesc& desc, const std::vector<int64_t>& kernel,
                                       const std::vector<int64_t>& strides,
                                       const std::vector<int64_t>& dilations,
                                       const std::vector<int64_t>& padsBegin,
                                       const std::vector<int64_t>& padsEnd, PaddingMode padding,
                                       bool ceilMode, const Dims& input) {
  if (input.size() < 3)
    return layerError(
        desc, "expected an input of rank >= 3 [N, C, spatial...], found " + dimsToString(input));
  const size_t ns = input.size() - 2;
  if (kernel.size() != ns)
    return layerError(desc, "kernel shape " + dimsToString(kernel) + " has " +
                                std::to_string(kernel.size()) + " dims but the input " +
                                dimsToString(input) + " has " + std::to_string(ns) +
                                " spatial dims");
  // Each list is empty (default) or has one value per spatial dim, each value >= `minValue`.
  auto fill = [&](const char* what, const std::vector<int64_t>& v, int64_t dflt,
                  int64_t minValue) -> Expected<std::vector<int64_t>> {
    if (v.empty()) return std::vector<int64_t>(ns, dflt);
    if (v.size() != ns)
      return layerError(desc, std::string(what) + " " + dimsToString(v) + " has " +
                                  std::to_string(v.size()) + " values, expected " +
                                  std::to_string(ns) + " (one per spatial dim)");
    for (int64_t x : v)
      if (x < minValue)
        return layerError(desc, std::string(what) + " " + dimsToString(v) +
                                    " must be >= " + std::to_string(minValue));
    return v;
  };
  WindowGeometry g;
  KILN_ASSIGN_OR_RETURN(g.kernel, fill("kernel shape", kernel, 1, 1));
  KILN_ASSIGN_OR_RETURN(g.strides, fill("strides", strides, 1, 1));
  KILN_ASSIGN_OR_RETURN(g.dilations, fill("dilations", dilations, 1, 1));
  if (padding == PaddingMode::kExplicit) {
    KILN_ASSIGN_OR_RETURN(g.padsBegin, fill("pads_begin", padsBegin, 0, 0));
    KILN_ASSIGN_OR_RETURN(g.padsEnd, fill("pads_end", padsEnd, 0, 0));
  } else {
    // ONNX: explicit pads are not used together with auto_pad; they are recomputed here.
    g.padsBegin.assign(ns, 0);
    g.padsEnd.assign(ns, 0);
  }
  g.inputSpatial.assign(input.begin() + 2, input.end());
  g.outputSpatial.resize(ns);

  for (size_t i = 0; i < ns; ++i) {
    const int64_t in = g.inputSpatial[i], s = g.strides[i];
    const int64_t window = (g.kernel[i] - 1) * g.dilations[i] + 1;  // effective kernel extent
    if (padding == PaddingMode::kSameUpper || padding == PaddingMode::kSameLower) {
      // ONNX SAME_*: out = ceil(in / s); the odd pad goes to the end (upper) or begin (lower).
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + window - in);
      const int64_t small = total / 2;
      g.padsBegin[i] = padding == PaddingMode::kSameUpper ? small : total - small;
      g.padsEnd[i] = total - g.padsBegin[i];
      g.outputSpatial[i] = out;
      continue;
    }
    const int64_t padded = in + g.padsBegin[i] + g.padsEnd[i];
    if (padded < window)
      return layerError(desc, "window of extent " + std::to_string(window) + " (kernel " +
                                  std::to_string(g.kernel[i]) + ", dilation " +
                                  std::to_string(g.dilations[i]) +
                                  ") does not fit the padded input size " + std::to_string(padded) +
                                  " of spatial dim " + std::to_string(i) + " (input " +
                                  dimsToString(input) + ")");
    int64_t out = (ceilMode ? (padded - window + s - 1) / s : (padded - window) / s) + 1;
    // ONNX (and PyTorch) pooling: with ceil mode, a window that would start in the end
    // padding is dropped.
    if (ceilMode && (out - 1) * s >= in + g.padsBegin[i]) --out;
    g.outputSpatial[i] = out;
  }
  return g;
}

}  // namespace kiln
