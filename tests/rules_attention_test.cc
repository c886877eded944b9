// Attention (rules_attention.cc): the exporters' scaled dot-product attention with its head
// reshapes, the Attention layer after in each layout, guards, and the numbers within float32
// rounding.
#include <cmath>
#include <limits>

#include "optimizer_util.h"

namespace kiln {
namespace {

using test::expectNoRewrite;
using test::expectRewrite;
using test::shape;
constexpr DataType kF32 = DataType::kFloat32;

TensorId ew(NetworkDefinition& n, TensorId a, TensorId b, ElementwiseKind k) {
  return *n.addElementwise(a, b, k);
}
TensorId un(NetworkDefinition& n, TensorId x, UnaryKind k) {
  return test::layer(n, "u", UnaryAttrs{k}, {x});
}

// ---- attention -------------------------------------------------------------------------------

/// bert's self-attention block, as the dynamo exporter writes it: three projections, head
/// reshapes and transposes, k^T through a batch reshape, split scales, an additive mask, the
/// isnan guard, and the merge back to [B, S, H*D].
NetworkDefinition bertAttention(int64_t softmaxAxis = -1) {
  const int64_t b = 2, s = 6, h = 2, d = 4, w = h * d;
  NetworkDefinition n;
  TensorId x = *n.addInput("x", kF32, shape({b, s, w}));
  TensorId mask = *n.addInput("mask", kF32, shape({b, 1, s, s}));
  auto proj = [&](uint32_t seed) {
    TensorId y = *n.addMatrixMultiply(x, n.addConstant("W", test::randomF32({w, w}, seed)));
    y = ew(n, y, n.addConstant("bias", test::randomF32({w}, seed + 10)), ElementwiseKind::kAdd);
    return test::transpose(n, test::reshape(n, y, {b, s, h, d}), {0, 2, 1, 3});
  };
  TensorId q = proj(1), k = proj(2), v = proj(3);
  TensorId kr = test::reshape(n, k, {b * h, s, d});
  TensorId kt = test::reshape(n, test::transpose(n, kr, {0, 2, 1}), {b, h, d, s});
  const float scale = 1 / std::sqrt(std::sqrt(static_cast<float>(d)));
  TensorId qs = ew(n, q, test::scalar(n, scale), ElementwiseKind::kMul);
  TensorId ks = ew(n, kt, test::scalar(n, scale), ElementwiseKind::kMul);
  TensorId logits = ew(n, *n.addMatrixMultiply(qs, ks), mask, ElementwiseKind::kAdd);
  SoftmaxAttrs sm;
  sm.axis = softmaxAxis;
  TensorId p = test::layer(n, "softmax", sm, {logits});
  p = test::layer(n, "where", SelectAttrs{}, {un(n, p, UnaryKind::kIsNaN), test::scalar(n, 0), p});
  TensorId o = *n.addMatrixMultiply(p, v);
  o = test::reshape(n, test::transpose(n, o, {0, 2, 1, 3}), {b, s, w});
  EXPECT_TRUE(n.markOutput(o).isOk());
  return n;
}

/// A reshape of `x` to symbolic `dims` through a SymbolicConstant shape (what a folded
/// Shape -> Gather -> Concat becomes), or through a constant with 0 ("copy") and -1 entries.
TensorId symReshape(NetworkDefinition& n, TensorId x, const Shape& dims) {
  SymbolicConstantAttrs sc;
  sc.dims = {static_cast<int64_t>(dims.size())};
  sc.values = dims;
  TensorId s = test::layer(n, "shape", sc, {});
  ShuffleAttrs a;
  a.mode = ShuffleMode::kReshape;
  return test::layer(n, "reshape", a, {x, s});
}

/// bertAttention with symbolic batch and sequence: the head split through a constant
/// [0, 0, H, D], k^T's batch reshape and the final merge through SymbolicConstant shapes.
NetworkDefinition bertAttentionSymbolic() {
  const int64_t h = 2, d = 4, w = h * d;
  const Dim b = Dim::named("batch"), s = Dim::named("seq");
  NetworkDefinition n;
  TensorId x = *n.addInput("x", kF32, {b, s, w});
  TensorId mask = *n.addInput("mask", kF32, {b, 1, s, s});
  auto proj = [&](uint32_t seed) {
    TensorId y = *n.addMatrixMultiply(x, n.addConstant("W", test::randomF32({w, w}, seed)));
    y = ew(n, y, n.addConstant("bias", test::randomF32({w}, seed + 10)), ElementwiseKind::kAdd);
    return test::transpose(n, test::reshape(n, y, {0, 0, h, d}), {0, 2, 1, 3});
  };
  TensorId q = proj(1), k = proj(2), v = proj(3);
  TensorId kr = symReshape(n, k, {b * h, s, d});
  TensorId kt = symReshape(n, test::transpose(n, kr, {0, 2, 1}), {b, h, d, s});
  const float scale = 1 / std::sqrt(std::sqrt(static_cast<float>(d)));
  TensorId qs = ew(n, q, test::scalar(n, scale), ElementwiseKind::kMul);
  TensorId ks = ew(n, kt, test::scalar(n, scale), ElementwiseKind::kMul);
  TensorId logits = ew(n, *n.addMatrixMultiply(qs, ks), mask, ElementwiseKind::kAdd);
  TensorId p = test::layer(n, "softmax", SoftmaxAttrs{}, {logits});
  p = test::layer(n, "where", SelectAttrs{}, {un(n, p, UnaryKind::kIsNaN), test::scalar(n, 0), p});
  TensorId o = *n.addMatrixMultiply(p, v);
  o = symReshape(n, test::transpose(n, o, {0, 2, 1, 3}), {b, s, w});
  EXPECT_TRUE(n.markOutput(o).isOk());
  return n;
}

std::vector<NamedTensor> bertInputs(int64_t b, int64_t s, uint32_t seed) {
  return {{"x", test::randomF32({b, s, 8}, seed)},
          {"mask", test::randomF32({b, 1, s, s}, seed + 1, -3, 0)}};
}

std::vector<Rule> attentionPipeline() {
  // The rule sets attention depends on, in pipeline order.
  std::vector<Rule> rules = weightRules();
  for (auto* set : {&horizontalRules, &simplifyRules, &attentionRules})
    for (Rule& r : set())
      rules.push_back(std::move(r));
  return rules;
}

TEST(AttentionRules, BertBlockBecomesOnePackedAttention) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 6, 8}, 4)},
                                 {"mask", test::randomF32({2, 1, 6, 6}, 5, -3, 0)}};
  // Rule sets run to a common fixed point here; the pipeline runs them in sequence.
  NetworkDefinition net = bertAttention();
  RuleHits hits;
  auto staged = test::applyRules(net, weightRules(), &hits);
  ASSERT_TRUE(staged.hasValue()) << staged.status().toString();
  staged = test::applyRules(*staged, horizontalRules(), &hits);
  ASSERT_TRUE(staged.hasValue()) << staged.status().toString();
  staged = test::applyRules(*staged, simplifyRules(), &hits);
  ASSERT_TRUE(staged.hasValue()) << staged.status().toString();
  auto out = expectRewrite(*staged, attentionRules(), {"MatrixMultiply", "Attention"}, in, 1e-5,
                           "fuse-attention");
  const auto& a = test::only(out, LayerKind::kAttention)->as<AttentionAttrs>();
  EXPECT_EQ(a.layout, AttentionLayout::kPacked);
  EXPECT_EQ(a.numHeads, 2);
  EXPECT_NEAR(a.scale, 0.5f, 1e-6);
  EXPECT_TRUE(a.zeroNanProbabilities);
  EXPECT_LE(test::compareNetworks(net, out, in), 1e-5);
  // Without horizontal fusion the projections stay apart: the merged layout.
  auto merged = test::applyRules(net, weightRules());
  ASSERT_TRUE(merged.hasValue());
  merged = test::applyRules(*merged, simplifyRules());
  ASSERT_TRUE(merged.hasValue());
  out = expectRewrite(*merged, attentionRules(),
                      {"MatrixMultiply", "MatrixMultiply", "MatrixMultiply", "Attention"}, in, 1e-5,
                      "fuse-attention");
  EXPECT_EQ(test::only(out, LayerKind::kAttention)->as<AttentionAttrs>().layout,
            AttentionLayout::kMerged);
}

TEST(AttentionRules, SymbolicBatchAndSequenceStillFuse) {
  // Built without input shapes: batch and seq stay symbols, the head reshapes carry constant
  // 0/-1 entries or SymbolicConstant shapes, and the views are proven for every batch and seq.
  NetworkDefinition net = bertAttentionSymbolic();
  for (bool horizontal : {true, false}) {
    auto staged = test::applyRules(net, weightRules());
    ASSERT_TRUE(staged.hasValue()) << staged.status().toString();
    if (horizontal) {
      staged = test::applyRules(*staged, horizontalRules());
      ASSERT_TRUE(staged.hasValue()) << staged.status().toString();
    }
    staged = test::applyRules(*staged, simplifyRules());
    ASSERT_TRUE(staged.hasValue()) << staged.status().toString();
    RuleHits hits;
    auto out = test::applyRules(*staged, attentionRules(), &hits);
    ASSERT_TRUE(out.hasValue()) << out.status().toString();
    EXPECT_EQ(hits["fuse-attention"], 1);
    const Layer* a = test::only(*out, LayerKind::kAttention);
    ASSERT_NE(a, nullptr) << out->toString();
    EXPECT_EQ(a->as<AttentionAttrs>().layout,
              horizontal ? AttentionLayout::kPacked : AttentionLayout::kMerged);
    EXPECT_EQ(a->as<AttentionAttrs>().numHeads, 2);
    EXPECT_EQ(test::only(*out, LayerKind::kSoftmax), nullptr);
    // No Shuffle is left: the head split and merge went into the layout.
    for (const Layer& l : out->layers())
      EXPECT_TRUE(l.removed || l.kind() != LayerKind::kShuffle) << out->toString();
    // The same numbers as the unfused network at several shapes, from one network.
    for (auto [b, s] : {std::pair<int64_t, int64_t>{1, 1}, {2, 6}, {3, 5}})
      EXPECT_LE(test::compareNetworks(net, *out, bertInputs(b, s, 9)), 1e-5)
          << "batch " << b << " seq " << s;
  }
}

TEST(AttentionRules, HeadsFirstWhenTheInputsAreJustTensors) {
  NetworkDefinition n;
  TensorId q = *n.addInput("q", kF32, shape({1, 2, 5, 4}));
  TensorId k = *n.addInput("k", kF32, shape({1, 2, 5, 4}));
  TensorId v = *n.addInput("v", kF32, shape({1, 2, 5, 4}));
  TensorId kt = test::transpose(n, k, {0, 1, 3, 2});
  TensorId l = ew(n, *n.addMatrixMultiply(q, kt), test::scalar(n, 0.5f), ElementwiseKind::kMul);
  TensorId p = test::layer(n, "softmax", SoftmaxAttrs{}, {l});
  ASSERT_TRUE(n.markOutput(*n.addMatrixMultiply(p, v)).isOk());
  std::vector<NamedTensor> in = {{"q", test::randomF32({1, 2, 5, 4}, 1)},
                                 {"k", test::randomF32({1, 2, 5, 4}, 2)},
                                 {"v", test::randomF32({1, 2, 5, 4}, 3)}};
  std::vector<Rule> rules = attentionRules();
  for (Rule& r : simplifyRules())
    rules.push_back(std::move(r));
  auto out = expectRewrite(n, rules, {"Attention"}, in, 1e-5, "fuse-attention");
  EXPECT_EQ(test::only(out, LayerKind::kAttention)->as<AttentionAttrs>().layout,
            AttentionLayout::kHeadsFirst);
}

TEST(AttentionRules, ConstantCausalMaskBecomesTheCausalAttribute) {
  // gpt2 after folding: the mask is a constant, 0 on and below the diagonal, -inf (or the
  // lowest float) above it.
  auto build = [](float above, bool causal) {
    NetworkDefinition n;
    TensorId q = *n.addInput("q", kF32, shape({1, 2, 5, 4}));
    TensorId k = *n.addInput("k", kF32, shape({1, 2, 5, 4}));
    TensorId v = *n.addInput("v", kF32, shape({1, 2, 5, 4}));
    std::vector<float> m(25, 0.0f);
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j)
        if (causal && j > i) m[static_cast<size_t>(i * 5 + j)] = above;
    TensorId mask =
        n.addConstant("mask", Weights::copyFrom(kF32, {1, 1, 5, 5}, m.data(), 100).value());
    TensorId l = ew(n, *n.addMatrixMultiply(q, test::transpose(n, k, {0, 1, 3, 2})), mask,
                    ElementwiseKind::kAdd);
    TensorId p = test::layer(n, "softmax", SoftmaxAttrs{}, {l});
    EXPECT_TRUE(n.markOutput(*n.addMatrixMultiply(p, v)).isOk());
    return n;
  };
  std::vector<NamedTensor> in = {{"q", test::randomF32({1, 2, 5, 4}, 1)},
                                 {"k", test::randomF32({1, 2, 5, 4}, 2)},
                                 {"v", test::randomF32({1, 2, 5, 4}, 3)}};
  std::vector<Rule> rules = attentionRules();
  for (Rule& r : simplifyRules())
    rules.push_back(std::move(r));
  for (float above : {-INFINITY, std::numeric_limits<float>::lowest()}) {
    auto out = expectRewrite(build(above, true), rules, {"Attention"}, in, 1e-6, "fuse-attention");
    const Layer* a = test::only(out, LayerKind::kAttention);
    EXPECT_TRUE(a->as<AttentionAttrs>().causal);
    EXPECT_EQ(a->inputs.size(), 3u);  // no mask tensor
  }
  // A mask that is not causal stays a mask.
  auto out = expectRewrite(build(-1.0f, false), rules, {"Attention"}, in, 1e-6, "fuse-attention");
  EXPECT_FALSE(test::only(out, LayerKind::kAttention)->as<AttentionAttrs>().causal);
  // A target without causal attention keeps the mask.
  test::Refuses noCausal(Capability::What::kAttentionCausal);
  auto kept = test::applyRules(build(-INFINITY, true), rules, noCausal);
  ASSERT_TRUE(kept.hasValue()) << kept.status().toString();
  EXPECT_EQ(test::only(*kept, LayerKind::kAttention)->inputs.size(), 4u);
}

TEST(AttentionRules, Guards) {
  // Softmax over the query axis is not attention.
  expectNoRewrite(bertAttention(2), attentionPipeline(), "fuse-attention");
  // The target has no Attention layer.
  test::Refuses noKinds(Capability::What::kLayerKind);
  expectNoRewrite(bertAttention(), attentionPipeline(), noKinds, "fuse-attention");
  // The probabilities are also a graph output.
  NetworkDefinition n = bertAttention();
  for (const Layer& l : n.layers())
    if (!l.removed && l.kind() == LayerKind::kSoftmax) {
      ASSERT_TRUE(n.markOutput(l.outputs[0]).isOk());
      break;
    }
  expectNoRewrite(n, attentionPipeline(), "fuse-attention");
}

}  // namespace
}  // namespace kiln
