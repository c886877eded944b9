// kiln — shape inference for Attention (AttentionAttrs): the three layouts, the head split of
// the merged and packed ones, and the additive mask's broadcast to [B, H, Sq, Sk].
//
// Note for the symbolic-shape API: B and S may be symbols; H, D are constants (the head count
// is an attribute, the head size comes from the projection weights).
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorDesc>> inferAttention(const LayerDesc& desc) {
  const auto& a = desc.layer->as<AttentionAttrs>();
  const TensorDesc& q = desc.inputs[0];
  if (q.dtype != DataType::kFloat32 && q.dtype != DataType::kFloat64)
    return layerError(
        desc, std::string("attention expects float inputs, found ") + dataTypeName(q.dtype));
  const bool packed = a.layout == AttentionLayout::kPacked;
  if (packed != !(desc.hasInput(1) || desc.hasInput(2)) ||
      (!packed && !(desc.hasInput(1) && desc.hasInput(2))))
    return layerError(desc, packed ? "the packed layout takes one qkv input (k and v absent)"
                                   : "q, k and v are required");
  for (size_t k = 1; k < desc.inputs.size(); ++k)
    if (desc.hasInput(k) && desc.inputs[k].dtype != q.dtype)
      return layerError(desc, "input " + std::to_string(k) + " has dtype " +
                                  dataTypeName(desc.inputs[k].dtype) + ", q has " +
                                  dataTypeName(q.dtype));
  int64_t b = 0, h = 0, sq = 0, sk = 0, d = 0, dv = 0;
  Dims out;
  if (a.layout == AttentionLayout::kHeadsFirst) {
    const Dims& k = desc.inputs[1].dims;
    const Dims& v = desc.inputs[2].dims;
    if (q.dims.size() != 4 || k.size() != 4 || v.size() != 4)
      return layerError(desc, "heads_first expects q, k, v of rank 4 [B, H, S, D], found " +
                                  dimsToString(q.dims) + ", " + dimsToString(k) + ", " +
                                  dimsToString(v));
    b = q.dims[0], h = q.dims[1], sq = q.dims[2], d = q.dims[3];
    sk = k[2], dv = v[3];
    if (k[0] != b || v[0] != b || k[1] != h || v[1] != h || k[3] != d || v[2] != sk)
      return layerError(desc, "q " + dimsToString(q.dims) + ", k " + dimsToString(k) + ", v " +
                                  dimsToString(v) + " do not agree on [B, H, S, D]");
    out = {b, h, sq, dv};
  } else {
    h = a.numHeads;
    if (h < 1) return layerError(desc, "num_heads must be >= 1, found " + std::to_string(h));
    if (q.dims.size() != 3)
      return layerError(desc, "expects q of rank 3 [B, S, ...], found " + dimsToString(q.dims));
    b = q.dims[0], sq = q.dims[1];
    const int64_t width = q.dims[2];
    if (packed) {
      if (width % (3 * h) != 0)
        return layerError(desc, "packed qkv width " + std::to_string(width) +
                                    " is not 3 * num_heads (" + std::to_string(h) + ") * D");
      d = dv = width / (3 * h);
      sk = sq;
    } else {
      const Dims& k = desc.inputs[1].dims;
      const Dims& v = desc.inputs[2].dims;
      if (k.size() != 3 || v.size() != 3 || k[0] != b || v[0] != b || k[1] != v[1] ||
          width % h != 0 || k[2] != width || v[2] % h != 0)
        return layerError(desc,
                          "merged layout expects q [B, Sq, H*D], k [B, Sk, H*D], v [B, Sk, "
                          "H*Dv] with H = " +
                              std::to_string(h) + ", found " + dimsToString(q.dims) + ", " +
                              dimsToString(k) + ", " + dimsToString(v));
      d = width / h, sk = k[1], dv = v[2] / h;
    }
    out = {b, sq, h * dv};
  }
  (void)d;
  if (desc.hasInput(3)) {
    const Dims& m = desc.inputs[3].dims;
    KILN_ASSIGN_OR_RETURN(Dims merged, broadcastDims(desc, m, Dims{b, h, sq, sk}));
    if (merged != (Dims{b, h, sq, sk}))
      return layerError(desc, "mask " + dimsToString(m) + " does not broadcast to [B, H, Sq, Sk] " +
                                  dimsToString({b, h, sq, sk}));
  }
  return std::vector<TensorDesc>{{q.dtype, std::move(out)}};
}

}  // namespace kiln
