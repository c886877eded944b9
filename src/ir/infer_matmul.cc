// kiln — shape inference for MatrixMultiply: numpy matmul (1-D promotion, broadcast batch dims)
// with optional transposes of the last two dims and an optional C broadcast to the output.
//
// Reached through inferOutputs(), which has already checked the number of inputs and the
// presence of required ones.
#include <string>
#include <utility>

#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorDesc>> inferMatrixMultiply(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<MatrixMultiplyAttrs>();
  const TensorDesc& a = desc.inputs[0];
  const TensorDesc& b = desc.inputs[1];
  if (a.dims.empty() || b.dims.empty())
    return layerError(desc, "matrix multiply needs inputs of rank >= 1, found A " +
                                dimsToString(a.dims) + " and B " + dimsToString(b.dims));
  if (a.dtype != b.dtype)
    return layerError(desc, std::string("A and B must have one type, found ") +
                                dataTypeName(a.dtype) + " and " + dataTypeName(b.dtype));

  // 1-D promotion: A [K] -> [1, K], B [K] -> [K, 1]; the added dim is removed from the result.
  // Transposes apply to matrices only: a vector has no second dim to swap with.
  const bool aVector = a.dims.size() == 1, bVector = b.dims.size() == 1;
  Dims ma = aVector ? Dims{1, a.dims[0]} : a.dims;
  Dims mb = bVector ? Dims{b.dims[0], 1} : b.dims;
  if (attrs.transA && !aVector) std::swap(ma[ma.size() - 1], ma[ma.size() - 2]);
  if (attrs.transB && !bVector) std::swap(mb[mb.size() - 1], mb[mb.size() - 2]);
  const int64_t kA = ma.back(), kB = mb[mb.size() - 2];
  if (kA != kB)
    return layerError(desc, "inner dims differ: A " + dimsToString(a.dims) +
                                (attrs.transA ? " (transposed)" : "") +
                                " has K = " + std::to_string(kA) + " but B " +
                                dimsToString(b.dims) + (attrs.transB ? " (transposed)" : "") +
                                " has K = " + std::to_string(kB));

  const Dims batchA(ma.begin(), ma.end() - 2), batchB(mb.begin(), mb.end() - 2);
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastDims(desc, batchA, batchB));
  if (!aVector) out.push_back(ma[ma.size() - 2]);
  if (!bVector) out.push_back(mb.back());

  if (desc.hasInput(2)) {
    const TensorDesc& c = desc.inputs[2];
    if (c.dtype != a.dtype)
      return layerError(desc, std::string("C must have the type of A and B (") +
                                  dataTypeName(a.dtype) + "), found " + dataTypeName(c.dtype));
    // Unidirectional: C broadcasts to the output, never the other way round.
    auto merged = broadcastDims(desc, c.dims, out);
    if (!merged || *merged != out)
      return layerError(desc, "C " + dimsToString(c.dims) +
                                  " does not broadcast to the product's dims " + dimsToString(out));
  }
  KILN_RETURN_IF_ERROR(checkEpilogue(desc, {a.dtype, out}, attrs.activation, attrs.residual));
  return std::vector<TensorDesc>{{a.dtype, std::move(out)}};
}

}  // namespace kiln
