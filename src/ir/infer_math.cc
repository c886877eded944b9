// kiln — shape inference for the math, loss and signal layers: NegativeLogLikelihood,
// Determinant, Einsum, Window, Dft, Stft and MelWeightMatrix.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorType>> inferNegativeLogLikelihood(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<NegativeLogLikelihoodAttrs>();
  const TensorType& x = desc.inputs[0];
  const TensorType& target = desc.inputs[1];
  if (x.dtype != DataType::kFloat32 && x.dtype != DataType::kFloat64 &&
      x.dtype != DataType::kFloat16 && x.dtype != DataType::kBFloat16)
    return layerError(
        desc, std::string("input 0 must be floating-point, found ") + dataTypeName(x.dtype));
  if (target.dtype != DataType::kInt32 && target.dtype != DataType::kInt64)
    return layerError(desc, std::string("the target (input 1) must be i32 or i64, found ") +
                                dataTypeName(target.dtype));
  if (x.shape.size() < 2)
    return layerError(desc,
                      "input 0 must have rank >= 2 (N, C, ...), found " + shapeToString(x.shape));
  if (target.shape.size() + 1 != x.shape.size())
    return layerError(desc, "the target must have rank " + std::to_string(x.shape.size() - 1) +
                                " (N, d...), found " + shapeToString(target.shape));
  for (size_t i = 0; i < target.shape.size(); ++i) {
    const Dim& xd = x.shape[i == 0 ? 0 : i + 1];
    if (Dim::provablyDifferent(xd, target.shape[i]))
      return layerError(desc, "the target dims " + shapeToString(target.shape) +
                                  " do not match the input dims " + shapeToString(x.shape));
  }
  if (desc.hasInput(2)) {
    const TensorType& w = desc.inputs[2];
    if (w.dtype != x.dtype)
      return layerError(desc, std::string("the weight (input 2) must have the input's type ") +
                                  dataTypeName(x.dtype) + ", found " + dataTypeName(w.dtype));
    if (w.shape.size() != 1 || Dim::provablyDifferent(w.shape[0], x.shape[1]))
      return layerError(desc, "the weight must have dims [C] = [" + x.shape[1].toString() +
                                  "], found " + shapeToString(w.shape));
  }
  if (attrs.reduction == LossReduction::kNone)
    return std::vector<TensorType>{{x.dtype, target.shape}};
  return std::vector<TensorType>{{x.dtype, Shape{}}};
}

}  // namespace kiln

namespace kiln {
namespace {

bool isFloat(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

/// The single value of scalar-like param input k as a dim (constant, symbolic, or opaque when
/// it depends on data); error when it has more than one value.
Expected<Dim> scalarDim(const InferDesc& desc, size_t k, const char* what) {
  KILN_ASSIGN_OR_RETURN(DimValues v, desc.dimsInput(k));
  if (v.size() != 1)
    return layerError(desc, std::string(what) + " (input " + std::to_string(k) +
                                ") must hold one value, found " + std::to_string(v.size()));
  return v[0].isStatic() ? v[0] : InferDesc::opaque();
}

}  // namespace

Expected<std::vector<TensorType>> inferWindow(const InferDesc& desc) {
  const auto& a = desc.layer->as<WindowAttrs>();
  if (!isFloat(a.dtype))
    return layerError(desc, std::string("the output type must be floating-point, found ") +
                                dataTypeName(a.dtype));
  KILN_ASSIGN_OR_RETURN(Dim n, scalarDim(desc, 0, "size"));
  if (n.isStatic() && n.value() < 0)
    return layerError(desc, "size is negative: " + std::to_string(n.value()));
  return std::vector<TensorType>{{a.dtype, Shape{n}}};
}

Expected<std::vector<TensorType>> inferDeterminant(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  if (!isFloat(x.dtype))
    return layerError(
        desc, std::string("the input must be floating-point, found ") + dataTypeName(x.dtype));
  const size_t r = x.shape.size();
  if (r < 2 || Dim::provablyDifferent(x.shape[r - 1], x.shape[r - 2]))
    return layerError(
        desc, "the input must end with square matrices [M, M], found " + shapeToString(x.shape));
  return std::vector<TensorType>{{x.dtype, Shape(x.shape.begin(), x.shape.end() - 2)}};
}

Expected<std::vector<TensorType>> inferEinsum(const InferDesc& desc) {
  const auto& a = desc.layer->as<EinsumAttrs>();
  std::vector<std::vector<int64_t>> labels(1);
  for (int64_t l : a.inputLabels) {
    if (l < 0)
      labels.emplace_back();
    else
      labels.back().push_back(l);
  }
  labels.pop_back();
  if (labels.size() != desc.inputs.size())
    return layerError(desc, "the equation names " + std::to_string(labels.size()) +
                                " inputs, the layer has " + std::to_string(desc.inputs.size()));
  const DataType t = desc.inputs[0].dtype;
  for (size_t k = 0; k < labels.size(); ++k) {
    if (desc.inputs[k].dtype != t)
      return layerError(desc, "inputs must share one type, found " + std::string(dataTypeName(t)) +
                                  " and " + dataTypeName(desc.inputs[k].dtype));
    if (labels[k].size() != desc.inputs[k].shape.size())
      return layerError(
          desc, "input " + std::to_string(k) + " " + shapeToString(desc.inputs[k].shape) + " has " +
                    std::to_string(desc.inputs[k].shape.size()) + " dims, the equation gives it " +
                    std::to_string(labels[k].size()) + " labels");
  }
  Shape out;
  for (int64_t l : a.outputLabels) {
    std::optional<Dim> dim;
    for (size_t k = 0; k < labels.size(); ++k)
      for (size_t d = 0; d < labels[k].size(); ++d)
        if (labels[k][d] == l) {
          const Dim& n = desc.inputs[k].shape[d];
          if (!dim || (dim->isStatic() && dim->value() == 1)) dim = n;
        }
    if (!dim) return layerError(desc, "an output label appears in no input");
    out.push_back(*dim);
  }
  return std::vector<TensorType>{{t, std::move(out)}};
}

Expected<std::vector<TensorType>> inferDft(const InferDesc& desc) {
  const auto& a = desc.layer->as<DftAttrs>();
  const TensorType& x = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (!isFloat(x.dtype))
    return layerError(
        desc, std::string("the input must be floating-point, found ") + dataTypeName(x.dtype));
  if (rank < 2)
    return layerError(desc, "the input must have rank >= 2, found " + shapeToString(x.shape));
  const Dim& last = x.shape.back();
  if (last.isStatic() && last.value() != 1 && last.value() != 2)
    return layerError(
        desc, "the last dim must be 1 (real) or 2 (complex), found " + shapeToString(x.shape));
  Shape out = x.shape;
  out.back() = a.inverse && a.onesided ? Dim(1) : Dim(2);
  if (!desc.valuesKnown(1)) {
    // The axis depends on data: every dim but the last is decided at run time.
    for (int64_t i = 0; i + 1 < rank; ++i)
      out[static_cast<size_t>(i)] = InferDesc::opaque();
    return std::vector<TensorType>{{x.dtype, std::move(out)}};
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axisValues, desc.intsInput(1, "axis"));
  if (axisValues.size() != 1) return layerError(desc, "axis (input 1) must be one value");
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, axisValues[0], rank));
  if (axis == rank - 1) return layerError(desc, "axis must not be the last (real / imaginary) dim");
  const Dim& n = x.shape[static_cast<size_t>(axis)];
  Dim length = a.inverse && a.onesided ? (n - 1) * 2 : n;
  if (desc.hasInput(2)) {
    KILN_ASSIGN_OR_RETURN(length, scalarDim(desc, 2, "dft_length"));
  }
  out[static_cast<size_t>(axis)] = !a.inverse && a.onesided ? Dim::floorDiv(length, 2) + 1 : length;
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferMelWeightMatrix(const InferDesc& desc) {
  const auto& a = desc.layer->as<MelWeightMatrixAttrs>();
  if (!isFloat(a.dtype))
    return layerError(desc, std::string("the output type must be floating-point, found ") +
                                dataTypeName(a.dtype));
  for (size_t k = 3; k < 5; ++k)
    if (!isFloat(desc.inputs[k].dtype))
      return layerError(desc, "the edge frequencies (inputs 3, 4) must be floating-point");
  KILN_ASSIGN_OR_RETURN(Dim bins, scalarDim(desc, 0, "num_mel_bins"));
  KILN_ASSIGN_OR_RETURN(Dim length, scalarDim(desc, 1, "dft_length"));
  return std::vector<TensorType>{{a.dtype, Shape{Dim::floorDiv(length, 2) + 1, bins}}};
}

Expected<std::vector<TensorType>> inferStft(const InferDesc& desc) {
  const auto& a = desc.layer->as<StftAttrs>();
  const TensorType& x = desc.inputs[0];
  if (!isFloat(x.dtype))
    return layerError(
        desc, std::string("the signal must be floating-point, found ") + dataTypeName(x.dtype));
  if (x.shape.size() != 3)
    return layerError(
        desc, "the signal must be [batch, length, 1 or 2], found " + shapeToString(x.shape));
  KILN_ASSIGN_OR_RETURN(Dim step, scalarDim(desc, 1, "frame_step"));
  Dim frameLength = x.shape[1];
  if (desc.hasInput(2)) {
    if (desc.inputs[2].shape.size() != 1)
      return layerError(desc,
                        "the window must be 1-D, found " + shapeToString(desc.inputs[2].shape));
    frameLength = desc.inputs[2].shape[0];
  } else if (desc.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(frameLength, scalarDim(desc, 3, "frame_length"));
  }
  Dim frames = InferDesc::opaque();
  if (step.isStatic()) {
    if (step.value() < 1) return layerError(desc, "frame_step must be positive");
    frames = Dim::floorDiv(x.shape[1] - frameLength, step) + 1;
  }
  const Dim bins = a.onesided ? Dim::floorDiv(frameLength, 2) + 1 : frameLength;
  return std::vector<TensorType>{{x.dtype, Shape{x.shape[0], frames, bins, 2}}};
}

}  // namespace kiln
