// kiln — shape inference for Attention (AttentionAttrs): the three layouts, the head split of
// the merged and packed ones, and the additive mask's broadcast to [B, H, Sq, Sk].
//
// B and S may be symbolic; the head count is an attribute and the head size comes from the
// projection weights, so the widths that are split into heads are constants in practice. A check
// fails at build time only when it fails for every value of the symbols; the concrete pass at run
// time is exact.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

namespace {

/// Whether `width` is provably not a multiple of `n` (a static width, or a product with a
/// static factor that n does not divide).
bool provablyNotMultiple(const Dim& width, int64_t n) {
  if (width.isStatic()) return width.value() % n != 0;
  return false;
}

}  // namespace

Expected<std::vector<TensorType>> inferAttention(const InferDesc& desc) {
  const auto& a = desc.layer->as<AttentionAttrs>();
  const TensorType& q = desc.inputs[0];
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
  auto differ = [](const Dim& x, const Dim& y) { return Dim::provablyDifferent(x, y); };
  Dim b, h, sq, sk, dv;
  Shape out;
  if (a.layout == AttentionLayout::kHeadsFirst) {
    const Shape& k = desc.inputs[1].shape;
    const Shape& v = desc.inputs[2].shape;
    if (q.shape.size() != 4 || k.size() != 4 || v.size() != 4)
      return layerError(desc, "heads_first expects q, k, v of rank 4 [B, H, S, D], found " +
                                  shapeToString(q.shape) + ", " + shapeToString(k) + ", " +
                                  shapeToString(v));
    b = q.shape[0], h = q.shape[1], sq = q.shape[2];
    const Dim d = q.shape[3];
    sk = k[2], dv = v[3];
    if (differ(k[0], b) || differ(v[0], b) || differ(k[1], h) || differ(v[1], h) ||
        differ(k[3], d) || differ(v[2], sk))
      return layerError(desc, "q " + shapeToString(q.shape) + ", k " + shapeToString(k) + ", v " +
                                  shapeToString(v) + " do not agree on [B, H, S, D]");
    out = {b, h, sq, dv};
  } else {
    const int64_t heads = a.numHeads;
    if (heads < 1)
      return layerError(desc, "num_heads must be >= 1, found " + std::to_string(heads));
    h = heads;
    if (q.shape.size() != 3)
      return layerError(desc, "expects q of rank 3 [B, S, ...], found " + shapeToString(q.shape));
    b = q.shape[0], sq = q.shape[1];
    const Dim width = q.shape[2];
    if (packed) {
      if (heads > INT64_MAX / 3 || provablyNotMultiple(width, 3 * heads))
        return layerError(desc, "packed qkv width " + width.toString() + " is not 3 * num_heads (" +
                                    std::to_string(heads) + ") * D");
      dv = Dim::floorDiv(width, 3 * heads);
      sk = sq;
    } else {
      const Shape& k = desc.inputs[1].shape;
      const Shape& v = desc.inputs[2].shape;
      if (k.size() != 3 || v.size() != 3 || differ(k[0], b) || differ(v[0], b) ||
          differ(k[1], v[1]) || provablyNotMultiple(width, heads) || differ(k[2], width) ||
          provablyNotMultiple(v[2], heads))
        return layerError(desc,
                          "merged layout expects q [B, Sq, H*D], k [B, Sk, H*D], v [B, Sk, "
                          "H*Dv] with H = " +
                              std::to_string(heads) + ", found " + shapeToString(q.shape) + ", " +
                              shapeToString(k) + ", " + shapeToString(v));
      sk = k[1], dv = Dim::floorDiv(v[2], heads);
    }
    out = {b, sq, h * dv};
  }
  if (desc.hasInput(3)) {
    const Shape& m = desc.inputs[3].shape;
    const Shape full{b, h, sq, sk};
    if (!mayBroadcastTo(m, full))
      return layerError(desc, "mask " + shapeToString(m) +
                                  " does not broadcast to [B, H, Sq, Sk] " + shapeToString(full));
  }
  return std::vector<TensorType>{{q.dtype, std::move(out)}};
}

}  // namespace kiln
