// kiln — scaled dot-product attention recognized as one Attention layer.
//
//   matmul(where(isnan(p), 0, p)?, v)  with  p = softmax(scale_post * matmul(q*s1, k^T*s2) + mask?)
//     -> attention{scale = s1*s2*scale_post}(q, k, v, mask)
//
// The head reshapes and transposes around it are absorbed when the strided views allow
// (view_trace.h): q, k and v that are windows of one packed projection [B, S, 3*H*D] give the
// packed layout; separate projections [B, S, H*D] the merged one; anything else keeps the
// heads-first layout. An output transposed back and merged to [B, Sq, H*Dv] is produced
// directly in the merged layouts. Exactness: within float32 rounding (the fused layer computes
// logits, softmax and the products in double and rounds once).
#include <numeric>

#include "passes/rule_util.h"
#include "passes/rules.h"
#include "passes/view_trace.h"

namespace kiln {

namespace {

const Layer* producer(const NetworkDefinition& net, TensorId t, LayerKind kind) {
  const Layer* l = producerOf(net, t);
  return l && l->kind() == kind ? l : nullptr;
}

bool plainMatMul(const Layer& l, bool allowBias = false) {
  const auto& a = l.as<MatrixMultiplyAttrs>();
  const bool bias = l.inputs.size() > 2 && l.inputs[2] != kNoTensor;
  return !a.transA && a.alpha == 1.0f && a.activation == ActivationKind::kNone &&
         a.residual == ResidualMode::kNone && (!bias || (allowBias && a.beta == 1.0f));
}

/// The shape of `t` when known and every dim is a known expression (possibly symbolic).
std::optional<Shape> dimsOf(const NetworkDefinition& net, TensorId t) {
  const Tensor& x = net.tensor(t);
  if (!x.shapeKnown) return std::nullopt;
  for (const Dim& d : x.shape)
    if (!d.isKnown()) return std::nullopt;
  return x.shape;
}

bool isOne(const Dim& d) {
  return d.isStatic() && d.value() == 1;
}

Dim product(const Shape& s) {
  Dim p = 1;
  for (const Dim& d : s)
    p *= d;
  return p;
}

/// x * s or x / s with s a float splat whose broadcast leaves x's shape: returns x and s (for
/// a division, 1/s), and the layer.
struct Scaled {
  TensorId x = kNoTensor;
  double scale = 1;
  const Layer* layer = nullptr;
};
Scaled unscale(const NetworkDefinition& net, TensorId t) {
  const Layer* l = producer(net, t, LayerKind::kElementwise);
  if (!l || !net.hasSingleUse(t)) return {t, 1, nullptr};
  const ElementwiseKind k = l->as<ElementwiseAttrs>().kind;
  if (k != ElementwiseKind::kMul && k != ElementwiseKind::kDiv) return {t, 1, nullptr};
  for (int i = 0; i < 2; ++i) {
    if (k == ElementwiseKind::kDiv && i == 1) break;
    TensorId x = l->inputs[static_cast<size_t>(i)], s = l->inputs[static_cast<size_t>(1 - i)];
    auto v = splatValue(net, s);
    if (!v || !(net.tensor(x).shape == net.tensor(t).shape)) continue;
    if (k == ElementwiseKind::kDiv) return {x, 1.0 / *v, l};
    return {x, *v, l};
  }
  return {t, 1, nullptr};
}

/// Compares views, ignoring the strides of size-1 dims.
bool sameView(const std::optional<View>& a, const View& b) {
  if (!a || a->dims != b.dims || a->offset != b.offset) return false;
  for (size_t i = 0; i < b.dims.size(); ++i)
    if (!isOne(b.dims[i]) && a->strides[i] != b.strides[i]) return false;
  return true;
}

/// The view [B, H, S, D] of heads interleaved in a row of `row` elements starting at `start`
/// (for k^T, the last two dims swapped).
View headsView(const Dim& b, const Dim& h, const Dim& s, const Dim& d, const Dim& row,
               const Dim& start, bool swapLast) {
  View v;
  v.dims = {b, h, s, d};
  v.strides = {s * row, d, row, 1};
  v.offset = start;
  if (swapLast) {
    std::swap(v.dims[2], v.dims[3]);
    std::swap(v.strides[2], v.strides[3]);
  }
  return v;
}

/// Follows single-use reshapes and transposes from the attention output `o` [B, H, Sq, Dv]
/// to a tensor laid out as [B, Sq, H*Dv]; returns it and the layers on the way.
std::optional<std::pair<TensorId, std::vector<LayerId>>> mergedOutput(const NetworkDefinition& net,
                                                                      TensorId o, const Shape& od) {
  std::vector<LayerId> chain;
  TensorId t = o;
  const Dim b = od[0], h = od[1], sq = od[2], dv = od[3];
  for (int steps = 0; steps < 4; ++steps) {
    if (!net.hasSingleUse(t)) return std::nullopt;
    LayerId c = net.consumers(t)[0];
    const Layer& l = net.layer(c);
    if (l.kind() != LayerKind::kShuffle || l.inputs[0] != t) return std::nullopt;
    chain.push_back(c);
    t = l.outputs[0];
    auto yd = dimsOf(net, t);
    if (!yd) return std::nullopt;
    // [B, Sq, H*Dv], or the same bytes flattened ([B*Sq, H*Dv]).
    if (yd->empty() || yd->back() != h * dv || product(*yd) != b * sq * h * dv) continue;
    // Map back from y to o through the inverse steps; o must then be y's heads view.
    View v = contiguousView(*yd);
    bool ok = true;
    for (size_t k = chain.size(); k-- > 0 && ok;) {
      const Layer& s = net.layer(chain[k]);
      if (s.as<ShuffleAttrs>().mode == ShuffleMode::kTranspose) {
        std::vector<int64_t> p = transposePerm(net, s), inv(p.size());
        for (size_t i = 0; i < p.size(); ++i)
          inv[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
        v = transposed(v, inv);
      } else {
        auto in = dimsOf(net, s.inputs[0]);
        auto r = in ? reshaped(v, *in) : std::nullopt;
        if (!r) ok = false;
        if (r) v = *r;
      }
    }
    if (ok && sameView(v, headsView(b, h, sq, dv, h * dv, 0, false)))
      return std::make_pair(t, chain);
  }
  return std::nullopt;
}

/// A constant [.., Sq, Sk] mask (leading dims 1) that is 0 where key j <= i + Sk - Sq and at
/// most -1e30 elsewhere: adding it gives the same probabilities as masking with -inf, since
/// exp underflows to exactly 0 either way.
bool isCausalMask(const NetworkDefinition& net, TensorId mask, const Dim& sqDim, const Dim& skDim) {
  if (!sqDim.isStatic() || !skDim.isStatic()) return false;
  const int64_t sq = sqDim.value(), sk = skDim.value();
  const Weights* w = net.constantValue(mask);
  if (!w || w->dtype() != DataType::kFloat32 || w->dims().size() < 2) return false;
  const Dims& d = w->dims();
  for (size_t i = 0; i + 2 < d.size(); ++i)
    if (d[i] != 1) return false;
  if (d[d.size() - 2] != sq || d.back() != sk || sq > sk) return false;
  const float* v = w->as<float>();
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j) {
      const float x = v[i * sk + j];
      if (j <= i + sk - sq ? x != 0.0f : !(x <= -1e30f)) return false;
    }
  return true;
}

enum Layout { kHeadsFirst = 0, kMerged = 1, kPacked = 2 };

bool matchAttention(const RuleContext& c, LayerId root, Match& m) {
  const NetworkDefinition& net = c.net;
  if (!c.target.hasCapability(Capability::layerKind(LayerKind::kAttention))) return false;
  const Layer& pv = net.layer(root);
  if (!plainMatMul(pv) || pv.as<MatrixMultiplyAttrs>().transB) return false;
  TensorId p = pv.inputs[0], v = pv.inputs[1], o = pv.outputs[0];
  auto od = dimsOf(net, o);
  if (!od || od->size() != 4 || !isFloat(net.tensor(o).dtype)) return false;
  m.addLayer(root, false);
  // Probabilities, optionally with NaN (fully masked rows) replaced by 0.
  TensorId s = p;
  bool zeroNan = false;
  if (const Layer* sel = producer(net, p, LayerKind::kSelect); sel && net.hasSingleUse(p)) {
    const Layer* nan = producer(net, sel->inputs[0], LayerKind::kUnary);
    if (!nan || nan->as<UnaryAttrs>().kind != UnaryKind::kIsNaN ||
        !net.hasSingleUse(sel->inputs[0]) || nan->inputs[0] != sel->inputs[2] ||
        !isSplat(net, sel->inputs[1], 0.0))
      return false;
    s = sel->inputs[2];
    if (net.consumers(s).size() != 2 || net.tensor(s).isOutput) return false;
    zeroNan = true;
    m.addLayer(net.tensor(p).producer, false);
    m.addLayer(net.tensor(sel->inputs[0]).producer, false);
  } else if (!net.hasSingleUse(p)) {
    return false;
  }
  const Layer* sm = producer(net, s, LayerKind::kSoftmax);
  if (!sm || sm->as<SoftmaxAttrs>().log) return false;
  int64_t axis = sm->as<SoftmaxAttrs>().axis;
  if (axis != -1 && axis != 3) return false;
  m.addLayer(net.tensor(s).producer, false);
  // Logits, optionally plus an additive mask.
  TensorId logits = sm->inputs[0], mask = kNoTensor;
  if (!net.hasSingleUse(logits)) return false;
  if (const Layer* add = producer(net, logits, LayerKind::kElementwise);
      add && add->as<ElementwiseAttrs>().kind == ElementwiseKind::kAdd) {
    int which = -1;
    for (int i = 0; i < 2 && which < 0; ++i) {
      TensorId cand = unscale(net, add->inputs[static_cast<size_t>(i)]).x;
      const Layer* mm = producer(net, cand, LayerKind::kMatrixMultiply);
      if (mm && plainMatMul(*mm) && net.hasSingleUse(cand) &&
          net.tensor(add->inputs[static_cast<size_t>(i)]).shape == net.tensor(logits).shape)
        which = i;
    }
    if (which < 0) return false;
    mask = add->inputs[static_cast<size_t>(1 - which)];
    if (net.tensor(mask).dtype != net.tensor(o).dtype) return false;
    m.addLayer(net.tensor(logits).producer, false);
    logits = add->inputs[static_cast<size_t>(which)];
  }
  Scaled post = unscale(net, logits);
  if (post.layer) m.addLayer(net.tensor(logits).producer, false);
  // The mask may already sit in the logits matmul as its bias C (a folded constant mask); a
  // scale after it would then scale the mask too.
  const Layer* qk = producer(net, post.x, LayerKind::kMatrixMultiply);
  if (!qk || !plainMatMul(*qk, mask == kNoTensor && !post.layer) || !net.hasSingleUse(post.x))
    return false;
  if (qk->inputs.size() > 2 && qk->inputs[2] != kNoTensor) mask = qk->inputs[2];
  m.addLayer(net.tensor(post.x).producer, false);
  const bool transB = qk->as<MatrixMultiplyAttrs>().transB;
  Scaled qs = unscale(net, qk->inputs[0]), ks = unscale(net, qk->inputs[1]);
  if (qs.layer) m.addLayer(net.tensor(qk->inputs[0]).producer, false);
  if (ks.layer) m.addLayer(net.tensor(qk->inputs[1]).producer, false);
  auto qd = dimsOf(net, qs.x), kd = dimsOf(net, ks.x), vd = dimsOf(net, v);
  if (!qd || !kd || !vd || qd->size() != 4 || kd->size() != 4 || vd->size() != 4) return false;
  const Dim b = (*qd)[0], h = (*qd)[1], sq = (*qd)[2], d = (*qd)[3];
  const Dim sk = (*vd)[2], dv = (*vd)[3];
  // The head count is an attribute: it must be a constant. The other dims may be symbols.
  if (!h.isStatic() || h.value() <= 0) return false;
  const Shape kExpected = transB ? Shape{b, h, sk, d} : Shape{b, h, d, sk};
  if (*kd != kExpected || (*vd)[0] != b || (*vd)[1] != h || *od != Shape{b, h, sq, dv})
    return false;
  m.bindTensor("q", qs.x);
  m.bindTensor("kt", ks.x);
  m.bindTensor("v", v);
  if (mask != kNoTensor) {
    if (net.tensor(mask).dtype != net.tensor(o).dtype ||
        !broadcastsTo(net.tensor(mask).shape, net.tensor(post.x).shape))
      return false;
    // A constant causal mask becomes the causal attribute (no mask tensor to read).
    if (isCausalMask(net, mask, sq, sk) && c.target.hasCapability(Capability::attentionCausal()))
      m.setValue("causal", 1);
    else
      m.bindTensor("mask", mask);
  }
  m.bindTensor("out", o);
  m.setValue("scale", qs.scale * ks.scale * post.scale);
  m.setValue("zero_nan", zeroNan ? 1 : 0);
  m.setValue("trans_b", transB ? 1 : 0);
  m.setValue("heads", static_cast<double>(h.value()));
  m.setValue("layout", kHeadsFirst);

  // Merged / packed layouts need the output merged back to [B, Sq, H*Dv].
  auto merged = mergedOutput(net, o, *od);
  if (!merged) return true;
  auto viewsOf = [&](TensorId t) { return viewChain(net, t); };
  std::vector<TensorId> cq = viewsOf(qs.x), ck = viewsOf(ks.x), cv = viewsOf(v);
  // Packed: one base [B, S, 3*H*D] holding q | k | v.
  const TensorId base = cq.front();
  auto bd = dimsOf(net, base);
  if (c.target.hasCapability(Capability::attentionLayout(AttentionLayout::kPacked)) &&
      ck.front() == base && cv.front() == base && bd && sq == sk && d == dv &&
      *bd == Shape{b, sq, 3 * h * d}) {
    const Dim row = 3 * h * d;
    if (sameView(viewOf(net, qs.x, base), headsView(b, h, sq, d, row, 0, false)) &&
        sameView(viewOf(net, ks.x, base), headsView(b, h, sk, d, row, h * d, !transB)) &&
        sameView(viewOf(net, v, base), headsView(b, h, sk, d, row, 2 * h * d, false))) {
      m.bindTensor("qkv", base);
      m.setValue("layout", kPacked);
    }
  }
  // Merged: each of q, k, v a head view of its own [B, S, H*D] tensor.
  if (static_cast<int>(m.value("layout")) == kHeadsFirst &&
      c.target.hasCapability(Capability::attentionLayout(AttentionLayout::kMerged))) {
    auto find = [&](const std::vector<TensorId>& chain, TensorId t, const Dim& s, const Dim& dd,
                    bool swap) -> TensorId {
      for (TensorId cand : chain) {
        auto cd = dimsOf(net, cand);
        if (cd && *cd == Shape{b, s, h * dd} &&
            sameView(viewOf(net, t, cand), headsView(b, h, s, dd, h * dd, 0, swap)))
          return cand;
      }
      return kNoTensor;
    };
    TensorId mq = find(cq, qs.x, sq, d, false), mk = find(ck, ks.x, sk, d, !transB),
             mv = find(cv, v, sk, dv, false);
    if (mq != kNoTensor && mk != kNoTensor && mv != kNoTensor) {
      m.bindTensor("mq", mq);
      m.bindTensor("mk", mk);
      m.bindTensor("mv", mv);
      m.setValue("layout", kMerged);
    }
  }
  if (static_cast<int>(m.value("layout")) != kHeadsFirst) {
    m.bindTensor("merged_out", merged->first);
    for (LayerId id : merged->second)
      m.addLayer(id, false);
    // The head-split layers become dead once attention reads the projections directly.
    for (const auto* chain : {&cq, &ck, &cv})
      for (TensorId t : *chain)
        if (net.tensor(t).producer >= 0 && t != chain->front())
          m.addLayer(net.tensor(t).producer, true);
  }
  return true;
}

Status rewriteAttention(Rewriter& rw, const Match& m) {
  NetworkDefinition& net = rw.net();
  AttentionAttrs a;
  a.numHeads = static_cast<int64_t>(m.value("heads"));
  a.scale = static_cast<float>(m.value("scale"));
  a.zeroNanProbabilities = m.value("zero_nan") != 0;
  a.causal = m.value("causal") != 0;
  const int layout = static_cast<int>(m.value("layout"));
  TensorId mask = m.has("mask") ? m.tensor("mask") : kNoTensor;
  std::vector<TensorId> inputs;
  if (layout == kPacked) {
    a.layout = AttentionLayout::kPacked;
    inputs = {m.tensor("qkv"), kNoTensor, kNoTensor};
  } else if (layout == kMerged) {
    a.layout = AttentionLayout::kMerged;
    inputs = {m.tensor("mq"), m.tensor("mk"), m.tensor("mv")};
  } else {
    a.layout = AttentionLayout::kHeadsFirst;
    TensorId k = m.tensor("kt");
    if (m.value("trans_b") == 0) {
      ShuffleAttrs t;
      t.mode = ShuffleMode::kTranspose;
      t.perm = {0, 1, 3, 2};
      KILN_ASSIGN_OR_RETURN(k, rw.add(net.tensor(k).name + "#k", t, {k}));
    }
    inputs = {m.tensor("q"), k, m.tensor("v")};
  }
  if (mask != kNoTensor) inputs.push_back(mask);
  KILN_ASSIGN_OR_RETURN(TensorId y, rw.add(net.layer(m.root()).name, a, inputs));
  if (layout == kHeadsFirst) return rw.replace(m.tensor("out"), y);
  // The merged output may be wanted flattened ([B*Sq, H*Dv]): same bytes, one reshape.
  TensorId target = m.tensor("merged_out");
  if (!(net.tensor(target).shape == net.tensor(y).shape)) {
    const Shape dims = net.tensor(target).shape;
    KILN_ASSIGN_OR_RETURN(y, reshapeTo(rw, net.tensor(target).name, y, dims));
  }
  return rw.replace(target, y);
}

}  // namespace

std::vector<Rule> attentionRules() {
  return {Rule{.name = "fuse-attention",
               .algebra = "matmul(softmax(s * q k^T + mask), v) -> attention{s}(q, k, v, mask)",
               .matcher = matchAttention,
               .rootKind = LayerKind::kMatrixMultiply,
               .rewrite = rewriteAttention}};
}

}  // namespace kiln
