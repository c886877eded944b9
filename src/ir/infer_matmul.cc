// kiln — shape inference for MatrixMultiply: numpy matmul (1-D promotion, broadcast batch dims)
// with optional transposes of the last two dims and an optional C broadcast to the output.
//
// Reached through inferOutputs(), which has already checked the number of inputs and the
// presence of required ones.
#include <string>
#include <utility>

#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorType>> inferMatrixMultiply(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<MatrixMultiplyAttrs>();
  const TensorType& a = desc.inputs[0];
  const TensorType& b = desc.inputs[1];
  if (a.shape.empty() || b.shape.empty())
    return layerError(desc, "matrix multiply needs inputs of rank >= 1, found A " +
                                shapeToString(a.shape) + " and B " + shapeToString(b.shape));
  if (a.dtype != b.dtype)
    return layerError(desc, std::string("A and B must have one type, found ") +
                                dataTypeName(a.dtype) + " and " + dataTypeName(b.dtype));

  // 1-D promotion: A [K] -> [1, K], B [K] -> [K, 1]; the added dim is removed from the result.
  // Transposes apply to matrices only: a vector has no second dim to swap with.
  const bool aVector = a.shape.size() == 1, bVector = b.shape.size() == 1;
  Shape ma = aVector ? Shape{1, a.shape[0]} : a.shape;
  Shape mb = bVector ? Shape{b.shape[0], 1} : b.shape;
  if (attrs.transA && !aVector) std::swap(ma[ma.size() - 1], ma[ma.size() - 2]);
  if (attrs.transB && !bVector) std::swap(mb[mb.size() - 1], mb[mb.size() - 2]);
  const Dim kA = ma.back(), kB = mb[mb.size() - 2];
  if (Dim::provablyDifferent(kA, kB))
    return layerError(desc, "inner dims differ: A " + shapeToString(a.shape) +
                                (attrs.transA ? " (transposed)" : "") +
                                " has K = " + kA.toString() + " but B " + shapeToString(b.shape) +
                                (attrs.transB ? " (transposed)" : "") +
                                " has K = " + kB.toString());

  const Shape batchA(ma.begin(), ma.end() - 2), batchB(mb.begin(), mb.end() - 2);
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(desc, batchA, batchB));
  if (!aVector) out.push_back(ma[ma.size() - 2]);
  if (!bVector) out.push_back(mb.back());

  if (desc.hasInput(2)) {
    const TensorType& c = desc.inputs[2];
    if (c.dtype != a.dtype)
      return layerError(desc, std::string("C must have the type of A and B (") +
                                  dataTypeName(a.dtype) + "), found " + dataTypeName(c.dtype));
    // Unidirectional: C broadcasts to the output, never the other way round.
    if (!mayBroadcastTo(c.shape, out))
      return layerError(desc, "C " + shapeToString(c.shape) +
                                  " does not broadcast to the product's dims " +
                                  shapeToString(out));
  }
  KILN_RETURN_IF_ERROR(checkEpilogue(desc, {a.dtype, out}, attrs.activation, attrs.residual));
  return std::vector<TensorType>{{a.dtype, std::move(out)}};
}

}  // namespace kiln
