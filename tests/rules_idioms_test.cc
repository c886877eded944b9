// Idiom rules (rules_idioms.cc): the spelled-out forms the exporters write, the canonical
// layer after, guards, and the numbers within float32 rounding.
#include <cmath>
#include <numbers>

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

/// bert / vit: x * (0.5 * (1 + erf(x / 1.4142135))), `half` instead of 0.5.
NetworkDefinition geluErf(float half = 0.5f) {
  NetworkDefinition n;
  TensorId x = *n.addInput("x", kF32, shape({2, 16}));
  TensorId d = ew(n, x, test::scalar(n, static_cast<float>(std::sqrt(2.0))), ElementwiseKind::kDiv);
  TensorId e = ew(n, un(n, d, UnaryKind::kErf), test::scalar(n, 1), ElementwiseKind::kAdd);
  TensorId h = ew(n, test::scalar(n, half), e, ElementwiseKind::kMul);
  EXPECT_TRUE(n.markOutput(ew(n, x, h, ElementwiseKind::kMul)).isOk());
  return n;
}

/// gpt2: (x * 0.5) * (1 + tanh(0.7978846 * (x + 0.044715 * x^3)))
NetworkDefinition geluTanh() {
  NetworkDefinition n;
  TensorId x = *n.addInput("x", kF32, shape({2, 16}));
  TensorId half = ew(n, x, test::scalar(n, 0.5f), ElementwiseKind::kMul);
  TensorId cube = ew(n, x, test::scalar(n, 3), ElementwiseKind::kPow);
  TensorId inner = ew(n, x, ew(n, cube, test::scalar(n, 0.044715f), ElementwiseKind::kMul),
                      ElementwiseKind::kAdd);
  TensorId t = *n.addActivation(
      ew(n, inner, test::scalar(n, static_cast<float>(std::sqrt(2 / std::numbers::pi))),
         ElementwiseKind::kMul),
      ActivationKind::kTanh);
  TensorId y =
      ew(n, half, ew(n, t, test::scalar(n, 1), ElementwiseKind::kAdd), ElementwiseKind::kMul);
  EXPECT_TRUE(n.markOutput(y).isOk());
  return n;
}

TEST(IdiomRules, Gelu) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 16}, 1, -4, 4)}};
  auto out = expectRewrite(geluErf(), idiomRules(), {"Activation"}, in, 1e-6, "gelu-erf");
  EXPECT_EQ(test::only(out, LayerKind::kActivation)->as<ActivationAttrs>().kind,
            ActivationKind::kGeluErf);
  out = expectRewrite(geluTanh(), idiomRules(), {"Activation"}, in, 1e-6, "gelu-tanh");
  EXPECT_EQ(test::only(out, LayerKind::kActivation)->as<ActivationAttrs>().kind,
            ActivationKind::kGeluTanh);
  // Guard: a different constant is a different function.
  expectNoRewrite(geluErf(0.6f), idiomRules(), "gelu-erf");
}

TEST(IdiomRules, SiluAndHardSwish) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 16}, 1, -5, 5)}};
  NetworkDefinition silu;
  {
    TensorId x = *silu.addInput("x", kF32, shape({2, 16}));
    TensorId s = *silu.addActivation(x, ActivationKind::kSigmoid);
    ASSERT_TRUE(silu.markOutput(ew(silu, s, x, ElementwiseKind::kMul)).isOk());
  }
  expectRewrite(silu, idiomRules(), {"Activation"}, in, 1e-6, "silu");
  NetworkDefinition hs;
  {
    TensorId x = *hs.addInput("x", kF32, shape({2, 16}));
    TensorId c = *hs.addActivation(ew(hs, x, test::scalar(hs, 3), ElementwiseKind::kAdd),
                                   ActivationKind::kClip, 0, 6);
    TensorId y =
        ew(hs, ew(hs, x, c, ElementwiseKind::kMul), test::scalar(hs, 6), ElementwiseKind::kDiv);
    ASSERT_TRUE(hs.markOutput(y).isOk());
  }
  expectRewrite(hs, idiomRules(), {"Activation"}, in, 1e-6, "hard-swish");
  // Guard: x * sigmoid(y) is not silu.
  NetworkDefinition notSilu;
  {
    TensorId x = *notSilu.addInput("x", kF32, shape({2, 16}));
    TensorId y = *notSilu.addInput("y", kF32, shape({2, 16}));
    TensorId s = *notSilu.addActivation(y, ActivationKind::kSigmoid);
    ASSERT_TRUE(notSilu.markOutput(ew(notSilu, s, x, ElementwiseKind::kMul)).isOk());
  }
  expectNoRewrite(notSilu, idiomRules(), "silu");
}

TensorId reduceMean(NetworkDefinition& n, TensorId x, std::vector<int64_t> axes) {
  ReduceAttrs a;
  a.kind = ReduceKind::kMean;
  return test::layer(n, "mean", a, {x, n.addConstant("axes", Weights::fromInts(axes))});
}

/// (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * g + b over `axes`.
NetworkDefinition layerNorm(std::vector<int64_t> axes) {
  NetworkDefinition n;
  TensorId x = *n.addInput("x", kF32, shape({2, 3, 8}));
  TensorId d = ew(n, x, reduceMean(n, x, axes), ElementwiseKind::kSub);
  TensorId v = reduceMean(n, ew(n, d, test::scalar(n, 2), ElementwiseKind::kPow), axes);
  TensorId den = un(n, ew(n, v, test::scalar(n, 1e-5f), ElementwiseKind::kAdd), UnaryKind::kSqrt);
  TensorId y = ew(n, d, den, ElementwiseKind::kDiv);
  y = ew(n, y, n.addConstant("g", test::randomF32({8}, 2)), ElementwiseKind::kMul);
  y = ew(n, y, n.addConstant("b", test::randomF32({8}, 3)), ElementwiseKind::kAdd);
  EXPECT_TRUE(n.markOutput(y).isOk());
  return n;
}

TEST(IdiomRules, LayerNormAndRmsNorm) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 3, 8}, 1, -3, 3)}};
  auto out =
      expectRewrite(layerNorm({-1}), idiomRules(), {"Normalization"}, in, 1e-5, "layer-norm");
  const Layer* norm = test::only(out, LayerKind::kNormalization);
  EXPECT_EQ(norm->inputs.size(), 3u);  // the scale and shift folded in
  EXPECT_FLOAT_EQ(norm->as<NormalizationAttrs>().epsilon, 1e-5f);
  expectRewrite(layerNorm({1, 2}), idiomRules(), {"Normalization"}, in, 1e-5, "layer-norm");
  // Guard: statistics over a leading axis are not a layer norm.
  expectNoRewrite(layerNorm({1}), idiomRules(), "layer-norm");

  NetworkDefinition rms;
  {
    TensorId x = *rms.addInput("x", kF32, shape({2, 3, 8}));
    TensorId v = reduceMean(rms, ew(rms, x, test::scalar(rms, 2), ElementwiseKind::kPow), {-1});
    TensorId den =
        un(rms, ew(rms, v, test::scalar(rms, 1e-6f), ElementwiseKind::kAdd), UnaryKind::kSqrt);
    TensorId y = ew(rms, x, un(rms, den, UnaryKind::kReciprocal), ElementwiseKind::kMul);
    y = ew(rms, y, rms.addConstant("g", test::randomF32({8}, 2)), ElementwiseKind::kMul);
    ASSERT_TRUE(rms.markOutput(y).isOk());
  }
  out = expectRewrite(rms, idiomRules(), {"Normalization"}, in, 1e-5, "rms-norm");
  EXPECT_TRUE(test::only(out, LayerKind::kNormalization)->as<NormalizationAttrs>().rms);
  test::Refuses noRms(Capability::What::kRmsNormalization);
  expectNoRewrite(rms, idiomRules(), noRms, "rms-norm");
}

TEST(IdiomRules, Softmax) {
  auto build = [](bool shared) {
    NetworkDefinition n;
    TensorId x = *n.addInput("x", kF32, shape({2, 5}));
    ReduceAttrs mx;
    mx.kind = ReduceKind::kMax;
    TensorId m = test::layer(n, "max", mx, {x, n.addConstant("axes", Weights::fromInts({1}))});
    TensorId e = un(n, ew(n, x, m, ElementwiseKind::kSub), UnaryKind::kExp);
    ReduceAttrs sm;
    sm.kind = ReduceKind::kSum;
    TensorId s = test::layer(n, "sum", sm, {e, n.addConstant("axes", Weights::fromInts({1}))});
    EXPECT_TRUE(n.markOutput(ew(n, e, s, ElementwiseKind::kDiv)).isOk());
    if (shared) {
      EXPECT_TRUE(n.markOutput(e).isOk());
    }
    return n;
  };
  expectRewrite(build(false), idiomRules(), {"Softmax"}, {{"x", test::randomF32({2, 5}, 1, -3, 3)}},
                1e-6, "softmax");
  // Guard: exp(..) is also a graph output.
  expectNoRewrite(build(true), idiomRules(), "softmax");
}

}  // namespace
}  // namespace kiln
