// kiln — shape inference: the dispatcher, the input checks every kind shares, the helpers (axes,
// broadcasting, window geometry) that the per-kind functions in infer_*.cc use, and inferLayer,
// which stores results in the network.
#include "ir/shape_inference.h"

#include <algorithm>
#include <limits>
#include <string>

namespace kiln {
namespace {

/// Symbols inference makes up while it works; never seen outside one inferLayer call. The
/// importer keeps this character out of model symbols.
constexpr char kScratchPrefix = '\x01';

bool isScratch(const Dim& d) {
  std::set<std::string> syms;
  d.collectSymbols(syms);
  for (const std::string& s : syms)
    if (!s.empty() && s[0] == kScratchPrefix) return true;
  return false;
}

/// How many inputs a kind takes and which of them are "param" inputs (layers.def).
/// Optional inputs always trail the required ones, so the first `minInputs` must be present.
struct InputSpec {
  size_t minInputs = 0;
  size_t maxInputs = 0;
  uint32_t paramMask = 0;  ///< bit k set: input k is a param (a small integer tensor)
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
    case LayerKind::kSymbolicConstant: return {0, 0, 0};
    case LayerKind::kPointwise: return {1, kUnbounded, 0};
    case LayerKind::kAttention: return {1, 4, 0};         // q (or qkv), k?, v?, mask?
    // tensor and data-movement layers (ops-tensor)
    case LayerKind::kPad: return {2, 4, 0b1010};          // x, pads, value?, axes?
    case LayerKind::kTrilu: return {1, 2, 0b10};          // x, k?
    // Math and loss layers (ops-math).
    case LayerKind::kNegativeLogLikelihood: return {2, 3, 0};  // x, target, weight?
    case LayerKind::kDeterminant: return {1, 1, 0};
    case LayerKind::kEinsum: return {1, kUnbounded, 0};
    case LayerKind::kWindow: return {1, 1, 0b1};             // size
    case LayerKind::kDft: return {2, 3, 0b110};              // x, axis, dft_length?
    case LayerKind::kStft: return {2, 4, 0b1010};            // signal, step, window?, length?
    case LayerKind::kMelWeightMatrix: return {5, 5, 0b11};   // bins, dft length, rate, lo, hi
    // Resampling layers (ops-resize).
    case LayerKind::kResize: return {1, 4, 0b1110};          // x, roi?, scales?, sizes?
    case LayerKind::kGridSample: return {2, 2, 0};           // x, grid
    case LayerKind::kAffineGrid: return {2, 2, 0b10};        // theta, size
  }
  // clang-format on
  return {};
}

bool isIntegerType(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt32 ||
         t == DataType::kInt64;
}

/// Param inputs that may hold floats: Fill's, and Resize's roi and scales (their values are
/// read as doubles).
bool floatParamAllowed(LayerKind kind, size_t k) {
  return kind == LayerKind::kFill || (kind == LayerKind::kResize && (k == 1 || k == 2));
}

/// Checks the arity, the presence of required inputs, known non-negative dims, and that every
/// present param input is an integer tensor (see floatParamAllowed).
Status checkInputs(const InferDesc& desc) {
  const InputSpec spec = inputSpec(desc.kind());
  const size_t n = desc.inputs.size();
  if (desc.inputPresent.size() != n || desc.constantInputs.size() != n ||
      desc.valueInputs.size() != n)
    return internalError("layer '" + desc.name() + "': InferDesc has inconsistent input lists");
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
    for (const Dim& d : desc.inputs[k].shape) {
      if (!d.isKnown())
        return layerError(desc, "input " + std::to_string(k) + " has an unknown dim in " +
                                    shapeToString(desc.inputs[k].shape));
      if (d.bounds().max < 0)
        return layerError(desc, "input " + std::to_string(k) + " has a negative dim in " +
                                    shapeToString(desc.inputs[k].shape));
    }
    if (k < 32 && (spec.paramMask >> k & 1u) && !floatParamAllowed(desc.kind(), k) &&
        !isIntegerType(desc.inputs[k].dtype))
      return layerError(desc, "param input " + std::to_string(k) +
                                  " must be an integer tensor, found " +
                                  dataTypeName(desc.inputs[k].dtype));
  }
  return Status::ok();
}

}  // namespace

bool isParamInput(LayerKind kind, size_t k) {
  return k < 32 && (inputSpec(kind).paramMask >> k & 1u);
}

Dim InferDesc::opaque() {
  return Dim::named(std::string(1, kScratchPrefix) + "?");
}

bool InferDesc::valuesKnown(size_t k) const {
  if (!hasInput(k)) return false;
  if (constantInputs[k] != nullptr) return true;
  if (valueInputs[k] == nullptr) return false;
  for (const Dim& d : *valueInputs[k])
    if (!d.isStatic()) return false;
  return true;
}

Expected<DimValues> InferDesc::dimsInput(size_t k) const {
  if (!hasInput(k))
    return layerError(*this, "input " + std::to_string(k) + " is required but absent");
  if (const Weights* w = constantInputs[k]) {
    auto ints = w->toInts();
    if (!ints)
      return ints.status().withContext("layer '" + name() + "': input " + std::to_string(k));
    return DimValues(ints->begin(), ints->end());
  }
  if (valueInputs[k] != nullptr) return *valueInputs[k];
  // Unknown values: one scratch symbol per element, when the element count is known.
  auto dims = staticDims(inputs[k].shape);
  if (!dims)
    return unsupported("layer '" + name() + "' (" + layerKindName(kind()) + "): the number of " +
                       "values of input " + std::to_string(k) + " " +
                       shapeToString(inputs[k].shape) + " is not known when building");
  auto count = elementCount(*dims, "input " + std::to_string(k));
  if (!count || *count > kMaxTrackedValues)
    return unsupported("layer '" + name() + "' (" + layerKindName(kind()) + "): input " +
                       std::to_string(k) + " " + shapeToString(inputs[k].shape) +
                       " has too many values for a shape parameter");
  DimValues v;
  for (int64_t i = 0; i < *count; ++i)
    v.push_back(Dim::named(std::string(1, kScratchPrefix) + "v" + std::to_string(k) + "." +
                           std::to_string(i)));
  return v;
}

Expected<std::vector<int64_t>> InferDesc::intsInput(size_t k, const char* what) const {
  if (!hasInput(k))
    return layerError(
        *this, std::string(what) + " (input " + std::to_string(k) + ") is required but absent");
  if (const Weights* w = constantInputs[k]) {
    auto v = w->toInts();
    if (!v)
      return v.status().withContext("layer '" + name() + "': " + what + " (input " +
                                    std::to_string(k) + ")");
    return v;
  }
  if (valuesKnown(k)) {
    std::vector<int64_t> out;
    for (const Dim& d : *valueInputs[k])
      out.push_back(d.value());
    return out;
  }
  return unsupported("layer '" + name() + "' (" + layerKindName(kind()) + "): " + what +
                     " (input " + std::to_string(k) +
                     ") must be known when the engine is built; it depends on the data");
}

Status layerError(const InferDesc& desc, const std::string& message) {
  const std::string name = desc.layer != nullptr ? desc.layer->name : std::string("?");
  const char* kind = desc.layer != nullptr ? layerKindName(desc.kind()) : "?";
  return invalidModel("layer '" + name + "' (" + kind + "): " + message);
}

Status layerError(const LayerDesc& desc, const std::string& message) {
  const std::string name = desc.layer != nullptr ? desc.layer->name : std::string("?");
  const char* kind = desc.layer != nullptr ? layerKindName(desc.kind()) : "?";
  return invalidModel("layer '" + name + "' (" + kind + "): " + message);
}

Expected<std::vector<TensorType>> inferOutputs(const InferDesc& desc) {
  if (desc.layer == nullptr) return internalError("inferOutputs: InferDesc without a layer");
  KILN_RETURN_IF_ERROR(checkInputs(desc));
  Expected<std::vector<TensorType>> out = internalError("unreachable");
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
  // types that do not line up with its outputs.
  const size_t declared = desc.layer->outputs.size();
  if (declared != 0 && declared != out->size())
    return layerError(desc, "has " + std::to_string(declared) + " output tensors, expected " +
                                std::to_string(out->size()));
  for (size_t k = 0; k < out->size(); ++k)
    for (const Dim& d : (*out)[k].shape) {
      if (!d.isKnown())
        return layerError(
            desc, "output " + std::to_string(k) + " has a dimension that " +
                      "overflows 64 bits or is undefined: " + shapeToString((*out)[k].shape));
      if (d.bounds().max < 0)
        return layerError(desc, "output " + std::to_string(k) +
                                    " has a negative dimension: " + shapeToString((*out)[k].shape));
    }
  return out;
}

Expected<std::vector<TensorDesc>> inferConcrete(const LayerDesc& desc) {
  InferDesc d;
  d.layer = desc.layer;
  for (size_t k = 0; k < desc.inputs.size(); ++k) {
    d.inputs.push_back({desc.inputs[k].dtype, shapeFromDims(desc.inputs[k].dims)});
    d.inputPresent.push_back(desc.hasInput(k));
    d.constantInputs.push_back(k < desc.constantInputs.size() ? desc.constantInputs[k] : nullptr);
    d.valueInputs.push_back(nullptr);
  }
  KILN_ASSIGN_OR_RETURN(std::vector<TensorType> types, inferOutputs(d));
  std::vector<TensorDesc> out;
  for (size_t k = 0; k < types.size(); ++k) {
    auto dims = staticDims(types[k].shape);
    if (!dims)
      return layerError(desc, "output " + std::to_string(k) + " " + shapeToString(types[k].shape) +
                                  " depends on values that were not given");
    out.push_back({types[k].dtype, std::move(*dims)});
  }
  return out;
}

InferDesc inferDescOf(const NetworkDefinition& net, LayerId id) {
  const Layer& l = net.layer(id);
  InferDesc d;
  d.layer = &l;
  for (TensorId t : l.inputs) {
    if (t == kNoTensor) {
      d.inputs.push_back({});
      d.inputPresent.push_back(false);
      d.constantInputs.push_back(nullptr);
      d.valueInputs.push_back(nullptr);
      continue;
    }
    const Tensor& x = net.tensor(t);
    d.inputs.push_back({x.dtype, x.shape});
    d.inputPresent.push_back(true);
    d.constantInputs.push_back(net.constantValue(t));
    d.valueInputs.push_back(x.valuesKnown ? &x.values : nullptr);
  }
  return d;
}

bool consistentWithInferred(const TensorType& stored, const TensorType& inferred) {
  if (stored.dtype != inferred.dtype || stored.shape.size() != inferred.shape.size()) return false;
  for (size_t i = 0; i < stored.shape.size(); ++i) {
    const Dim& d = inferred.shape[i];
    if (!d.isKnown() || isScratch(d)) continue;  // decided at run time: any stored dim
    if (!(d == stored.shape[i])) return false;
  }
  return true;
}

Status inferLayer(NetworkDefinition& net, LayerId id) {
  const Layer& l = net.layer(id);
  for (size_t k = 0; k < l.inputs.size(); ++k) {
    TensorId t = l.inputs[k];
    if (t != kNoTensor && !net.tensor(t).shapeKnown)
      return invalidModel("layer '" + l.name + "' (" + layerKindName(l.kind()) + "): input " +
                          std::to_string(k) + " '" + net.tensor(t).name +
                          "' has no known type yet");
  }
  InferDesc desc = inferDescOf(net, id);
  KILN_ASSIGN_OR_RETURN(std::vector<TensorType> types, inferOutputs(desc));
  std::vector<std::optional<DimValues>> values = inferValues(desc, types);
  const std::vector<TensorId> outs = l.outputs;
  for (size_t k = 0; k < outs.size(); ++k) {
    Tensor& t = net.tensor(outs[k]);
    for (size_t i = 0; i < types[k].shape.size(); ++i)
      if (isScratch(types[k].shape[i]))
        types[k].shape[i] = Dim::named("%" + t.name + "[" + std::to_string(i) + "]");
    t.dtype = types[k].dtype;
    t.shape = std::move(types[k].shape);
    t.shapeKnown = true;
    t.valuesKnown = false;
    t.values.clear();
    if (k < values.size() && values[k]) {
      bool clean = true;
      for (const Dim& d : *values[k])
        clean = clean && d.isKnown() && !isScratch(d);
      if (clean) {
        t.values = std::move(*values[k]);
        t.valuesKnown = true;
      }
    }
  }
  return Status::ok();
}

Expected<int64_t> normalizeAxis(const InferDesc& desc, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return layerError(desc, "axis " + std::to_string(axis) + " is out of range for rank " +
                                std::to_string(rank) + " (expected [" + std::to_string(-rank) +
                                ", " + std::to_string(rank - 1) + "])");
  return axis < 0 ? axis + rank : axis;
}

Expected<int64_t> normalizeAxis(const LayerDesc& desc, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return layerError(desc, "axis " + std::to_string(axis) + " is out of range for rank " +
                                std::to_string(rank) + " (expected [" + std::to_string(-rank) +
                                ", " + std::to_string(rank - 1) + "])");
  return axis < 0 ? axis + rank : axis;
}

Expected<Shape> broadcastShapes(const InferDesc& desc, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: missing leading dims act as 1.
    const Dim da = i < rank - a.size() ? Dim(1) : a[i - (rank - a.size())];
    const Dim db = i < rank - b.size() ? Dim(1) : b[i - (rank - b.size())];
    if (da == 1)
      out[i] = db;
    else if (db == 1 || da == db)
      out[i] = da;
    else if (da.isStatic() && db.isStatic())
      return layerError(desc, "cannot broadcast " + shapeToString(a) + " with " + shapeToString(b) +
                                  ": " + da.toString() + " vs " + db.toString() +
                                  " at output dim " + std::to_string(i));
    else if (da.isStatic())  // the symbol must be 1 or equal at run time
      out[i] = da;
    else if (db.isStatic())
      out[i] = db;
    else  // both symbolic: the larger one wins when they broadcast (checked at run time)
      out[i] = Dim::max(da, db);
  }
  return out;
}

bool mayBroadcastTo(const Shape& in, const Shape& out) {
  if (in.size() > out.size()) return false;
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    const Dim& d = in[i];
    if (d == 1 || d == out[lead + i]) continue;
    if (d.isStatic() && out[lead + i].isStatic()) return false;
    if (Dim::provablyDifferent(d, out[lead + i]) && Dim::provablyDifferent(d, 1)) return false;
  }
  return true;
}

Expected<WindowGeometry> resolveWindow(const InferDesc& desc, const std::vector<int64_t>& kernel,
                                       const std::vector<int64_t>& strides,
                                       const std::vector<int64_t>& dilations,
                                       const std::vector<int64_t>& padsBegin,
                                       const std::vector<int64_t>& padsEnd, PaddingMode padding,
                                       bool ceilMode, const Shape& input) {
  if (input.size() < 3)
    return layerError(
        desc, "expected an input of rank >= 3 [N, C, spatial...], found " + shapeToString(input));
  const size_t ns = input.size() - 2;
  if (kernel.size() != ns)
    return layerError(desc, "kernel shape " + dimsToString(kernel) + " has " +
                                std::to_string(kernel.size()) + " dims but the input " +
                                shapeToString(input) + " has " + std::to_string(ns) +
                                " spatial dims");
  // Each list is empty (default) or has one value per spatial dim, each value in range.
  auto fill = [&](const char* what, const std::vector<int64_t>& v, int64_t dflt, int64_t minValue,
                  int64_t maxValue) -> Expected<std::vector<int64_t>> {
    if (v.empty()) return std::vector<int64_t>(ns, dflt);
    if (v.size() != ns)
      return layerError(desc, std::string(what) + " " + dimsToString(v) + " has " +
                                  std::to_string(v.size()) + " values, expected " +
                                  std::to_string(ns) + " (one per spatial dim)");
    for (int64_t x : v)
      if (x < minValue || x > maxValue)
        return layerError(desc, std::string(what) + " " + dimsToString(v) + " must be in [" +
                                    std::to_string(minValue) + ", " + std::to_string(maxValue) +
                                    "]");
    return v;
  };
  // Window parameters are bounded so that the geometry below cannot overflow.
  constexpr int64_t kMaxWindow = int64_t{1} << 31;
  WindowGeometry g;
  KILN_ASSIGN_OR_RETURN(g.kernel, fill("kernel shape", kernel, 1, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(g.strides, fill("strides", strides, 1, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(g.dilations, fill("dilations", dilations, 1, 1, kMaxWindow));
  std::vector<int64_t> pb(ns, 0), pe(ns, 0);
  if (padding == PaddingMode::kExplicit) {
    KILN_ASSIGN_OR_RETURN(pb, fill("pads_begin", padsBegin, 0, 0, kMaxWindow));
    KILN_ASSIGN_OR_RETURN(pe, fill("pads_end", padsEnd, 0, 0, kMaxWindow));
  }
  // ONNX: explicit pads are not used together with auto_pad; they are recomputed here.
  g.padsBegin.assign(pb.begin(), pb.end());
  g.padsEnd.assign(pe.begin(), pe.end());
  g.inputSpatial.assign(input.begin() + 2, input.end());
  g.outputSpatial.resize(ns);

  for (size_t i = 0; i < ns; ++i) {
    const Dim in = g.inputSpatial[i];
    const int64_t s = g.strides[i];
    // Attributes come from files: the window extent must fit in 64 bits.
    const std::optional<int64_t> span = checkedMul(g.kernel[i] - 1, g.dilations[i]);
    const std::optional<int64_t> extent = span ? checkedAdd(*span, 1) : std::nullopt;
    if (!extent)
      return layerError(desc, "window of kernel " + std::to_string(g.kernel[i]) + " and dilation " +
                                  std::to_string(g.dilations[i]) + " overflows 64 bits");
    const int64_t window = *extent;  // effective kernel extent
    if (padding == PaddingMode::kSameUpper || padding == PaddingMode::kSameLower) {
      // ONNX SAME_*: out = ceil(in / s); the odd pad goes to the end (upper) or begin (lower).
      const Dim out = Dim::ceilDiv(in, s);
      const Dim total = Dim::max(Dim(0), (out - 1) * s + window - in);
      const Dim small = Dim::floorDiv(total, 2);
      g.padsBegin[i] = padding == PaddingMode::kSameUpper ? small : total - small;
      g.padsEnd[i] = total - g.padsBegin[i];
      g.outputSpatial[i] = out;
      continue;
    }
    const Dim padded = in + g.padsBegin[i] + g.padsEnd[i];
    if ((padded - window).bounds().max < 0)
      return layerError(desc, "window of extent " + std::to_string(window) + " (kernel " +
                                  std::to_string(g.kernel[i]) + ", dilation " +
                                  std::to_string(g.dilations[i]) +
                                  ") does not fit the padded input size " + padded.toString() +
                                  " of spatial dim " + std::to_string(i) + " (input " +
                                  shapeToString(input) + ")");
    Dim out = (ceilMode ? Dim::ceilDiv(padded - window, s) : Dim::floorDiv(padded - window, s)) + 1;
    // ONNX (and PyTorch) pooling: with ceil mode, a window that would start in the end padding
    // is dropped: the last start (out - 1) * s must lie before in + padsBegin.
    if (ceilMode) out = Dim::min(out, Dim::floorDiv(in + g.padsBegin[i] - 1, s) + 1);
    g.outputSpatial[i] = out;
  }
  return g;
}

Expected<WindowGeometry> resolveTransposedWindow(const InferDesc& desc, const Dims& kernel,
                                                 const ConvolutionAttrs& attrs,
                                                 const Shape& input) {
  if (input.size() < 3)
    return layerError(
        desc, "expected an input of rank >= 3 [N, C, spatial...], found " + shapeToString(input));
  const size_t ns = input.size() - 2;
  if (kernel.size() != ns)
    return layerError(desc, "kernel shape " + dimsToString(kernel) + " has " +
                                std::to_string(kernel.size()) + " dims but the input " +
                                shapeToString(input) + " has " + std::to_string(ns) +
                                " spatial dims");
  constexpr int64_t kMaxWindow = int64_t{1} << 31;
  auto fill = [&](const char* what, const std::vector<int64_t>& v, int64_t dflt, int64_t minValue,
                  int64_t maxValue) -> Expected<std::vector<int64_t>> {
    if (v.empty()) return std::vector<int64_t>(ns, dflt);
    if (v.size() != ns)
      return layerError(desc, std::string(what) + " " + dimsToString(v) + " has " +
                                  std::to_string(v.size()) + " values, expected " +
                                  std::to_string(ns) + " (one per spatial dim)");
    for (int64_t x : v)
      if (x < minValue || x > maxValue)
        return layerError(desc, std::string(what) + " " + dimsToString(v) + " must be in [" +
                                    std::to_string(minValue) + ", " + std::to_string(maxValue) +
                                    "]");
    return v;
  };
  WindowGeometry g;
  KILN_ASSIGN_OR_RETURN(g.kernel, fill("kernel shape", kernel, 1, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(g.strides, fill("strides", attrs.strides, 1, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(g.dilations, fill("dilations", attrs.dilations, 1, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> outPad,
                        fill("output_padding", attrs.outputPadding, 0, 0, kMaxWindow));
  std::vector<int64_t> pb(ns, 0), pe(ns, 0);
  if (attrs.padding == PaddingMode::kExplicit) {
    KILN_ASSIGN_OR_RETURN(pb, fill("pads_begin", attrs.padsBegin, 0, 0, kMaxWindow));
    KILN_ASSIGN_OR_RETURN(pe, fill("pads_end", attrs.padsEnd, 0, 0, kMaxWindow));
  }
  // output_shape lists the spatial dims, or (as some exporters write it) the whole output.
  std::vector<int64_t> outShape = attrs.outputShape;
  if (outShape.size() == ns + 2) outShape.erase(outShape.begin(), outShape.begin() + 2);
  if (!outShape.empty()) {
    KILN_ASSIGN_OR_RETURN(outShape, fill("output_shape", outShape, 0, 0, int64_t{1} << 40));
  }
  g.inputSpatial.assign(input.begin() + 2, input.end());
  g.padsBegin.resize(ns);
  g.padsEnd.resize(ns);
  g.outputSpatial.resize(ns);
  const bool same =
      attrs.padding == PaddingMode::kSameUpper || attrs.padding == PaddingMode::kSameLower;
  for (size_t i = 0; i < ns; ++i) {
    const Dim in = g.inputSpatial[i];
    const int64_t s = g.strides[i];
    const std::optional<int64_t> span = checkedMul(g.kernel[i] - 1, g.dilations[i]);
    const std::optional<int64_t> extent = span ? checkedAdd(*span, 1) : std::nullopt;
    if (!extent)
      return layerError(desc, "window of kernel " + std::to_string(g.kernel[i]) + " and dilation " +
                                  std::to_string(g.dilations[i]) + " overflows 64 bits");
    // The extent of the scatter before any padding is taken off (or added).
    const Dim full = (in - 1) * s + outPad[i] + *extent;
    if (!outShape.empty() || same) {
      // ONNX: total = full - out; SAME_UPPER puts floor(total / 2) at the begin, every other
      // mode puts it at the end (floor division: a negative total grows the output).
      const Dim out = outShape.empty() ? in * s : Dim(outShape[i]);
      const Dim total = full - out;
      const Dim half = Dim::floorDiv(total, 2);
      g.padsBegin[i] = attrs.padding == PaddingMode::kSameUpper ? half : total - half;
      g.padsEnd[i] = total - g.padsBegin[i];
      g.outputSpatial[i] = out;
    } else {
      g.padsBegin[i] = pb[i];
      g.padsEnd[i] = pe[i];
      g.outputSpatial[i] = full - pb[i] - pe[i];
    }
    const Dim& out = g.outputSpatial[i];
    if (in.isKnown() && (!out.isKnown() || !g.padsBegin[i].isKnown() || !g.padsEnd[i].isKnown()))
      return layerError(desc, "output size of spatial dim " + std::to_string(i) +
                                  " overflows (input " + shapeToString(input) + ")");
    if (out.bounds().max < 0)
      return layerError(desc, "pads leave a negative output size " + out.toString() +
                                  " in spatial dim " + std::to_string(i) + " (input " +
                                  shapeToString(input) + ")");
  }
  return g;
}

Expected<ConcreteWindow> resolveConcreteTransposedWindow(const LayerDesc& desc, const Dims& kernel,
                                                         const ConvolutionAttrs& attrs,
                                                         const Dims& input) {
  InferDesc idesc;
  idesc.layer = desc.layer;
  KILN_ASSIGN_OR_RETURN(WindowGeometry g,
                        resolveTransposedWindow(idesc, kernel, attrs, shapeFromDims(input)));
  ConcreteWindow w;
  w.kernel = g.kernel;
  w.strides = g.strides;
  w.dilations = g.dilations;
  auto ints = [&](const std::vector<Dim>& v, std::vector<int64_t>& out) -> Status {
    for (const Dim& d : v) {
      if (!d.isStatic())
        return layerError(desc, "window geometry overflows for input " + dimsToString(input));
      out.push_back(d.value());
    }
    return Status::ok();
  };
  KILN_RETURN_IF_ERROR(ints(g.padsBegin, w.padsBegin));
  KILN_RETURN_IF_ERROR(ints(g.padsEnd, w.padsEnd));
  KILN_RETURN_IF_ERROR(ints(g.inputSpatial, w.inputSpatial));
  KILN_RETURN_IF_ERROR(ints(g.outputSpatial, w.outputSpatial));
  return w;
}

Expected<ConcreteWindow> resolveConcreteWindow(
    const LayerDesc& desc, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
    const std::vector<int64_t>& dilations, const std::vector<int64_t>& padsBegin,
    const std::vector<int64_t>& padsEnd, PaddingMode padding, bool ceilMode, const Dims& input) {
  InferDesc idesc;
  idesc.layer = desc.layer;
  KILN_ASSIGN_OR_RETURN(WindowGeometry g,
                        resolveWindow(idesc, kernel, strides, dilations, padsBegin, padsEnd,
                                      padding, ceilMode, shapeFromDims(input)));
  ConcreteWindow w;
  w.kernel = g.kernel;
  w.strides = g.strides;
  w.dilations = g.dilations;
  auto ints = [&](const std::vector<Dim>& v, std::vector<int64_t>& out) -> Status {
    for (const Dim& d : v) {
      if (!d.isStatic())
        return layerError(desc, "window geometry overflows for input " + dimsToString(input));
      out.push_back(d.value());
    }
    return Status::ok();
  };
  KILN_RETURN_IF_ERROR(ints(g.padsBegin, w.padsBegin));
  KILN_RETURN_IF_ERROR(ints(g.padsEnd, w.padsEnd));
  KILN_RETURN_IF_ERROR(ints(g.inputSpatial, w.inputSpatial));
  KILN_RETURN_IF_ERROR(ints(g.outputSpatial, w.outputSpatial));
  return w;
}

}  // namespace kiln
