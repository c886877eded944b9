// Vertical fusion rules: epilogues (rules_epilogue.cc) and elementwise chains
// (rules_pointwise.cc). Before / after, the guards' negative cases, and the numbers bit for bit
// (both rules are exact on the reference backend).
#include "optimizer_util.h"

namespace kiln {
namespace {

using test::expectNoRewrite;
using test::expectRewrite;
using test::shape;
constexpr DataType kF32 = DataType::kFloat32;

// ---- epilogues -------------------------------------------------------------------------------

/// ResNet's block tail: relu(conv(x) + shortcut).
NetworkDefinition residualBlock(Shape shortcut = shape({1, 4, 5, 5})) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({1, 3, 5, 5}));
  TensorId r = *net.addInput("r", kF32, shortcut);
  TensorId w = net.addConstant("w", test::randomF32({4, 3, 3, 3}, 1));
  TensorId b = net.addConstant("b", test::randomF32({4}, 2));
  ConvolutionAttrs a;
  a.padsBegin = {1, 1};
  a.padsEnd = {1, 1};
  TensorId y = *net.addConvolution(x, w, b, a);
  y = *net.addElementwise(y, r, ElementwiseKind::kAdd);
  y = *net.addActivation(y, ActivationKind::kRelu);
  EXPECT_TRUE(net.markOutput(y).isOk());
  return net;
}

TEST(EpilogueRules, ResidualThenActivationFuseIntoTheConvolution) {
  auto out = expectRewrite(
      residualBlock(), epilogueRules(), {"Convolution"},
      {{"x", test::randomF32({1, 3, 5, 5}, 3)}, {"r", test::randomF32({1, 4, 5, 5}, 4)}}, 0,
      "fuse-activation");
  const auto& a = test::only(out, LayerKind::kConvolution)->as<ConvolutionAttrs>();
  EXPECT_EQ(a.residual, ResidualMode::kBeforeActivation);
  EXPECT_EQ(a.activation, ActivationKind::kRelu);
  EXPECT_EQ(test::only(out, LayerKind::kConvolution)->rules,
            (std::vector<std::string>{"fuse-residual", "fuse-activation"}));
}

TEST(EpilogueRules, ActivationThenResidualOnAMatrixMultiply) {
  // x + gelu(matmul(a, B, c)): the residual comes after the activation.
  NetworkDefinition net;
  TensorId a = *net.addInput("a", kF32, shape({2, 4, 8}));
  TensorId r = *net.addInput("r", kF32, shape({2, 4, 6}));
  TensorId y = *net.addMatrixMultiply(a, net.addConstant("B", test::randomF32({8, 6}, 1)),
                                      net.addConstant("c", test::randomF32({6}, 2)));
  y = *net.addActivation(y, ActivationKind::kGeluErf);
  y = *net.addElementwise(r, y, ElementwiseKind::kAdd);
  ASSERT_TRUE(net.markOutput(y).isOk());
  auto out =
      expectRewrite(net, epilogueRules(), {"MatrixMultiply"},
                    {{"a", test::randomF32({2, 4, 8}, 3)}, {"r", test::randomF32({2, 4, 6}, 4)}}, 0,
                    "fuse-residual");
  const auto& at = test::only(out, LayerKind::kMatrixMultiply)->as<MatrixMultiplyAttrs>();
  EXPECT_EQ(at.activation, ActivationKind::kGeluErf);
  EXPECT_EQ(at.residual, ResidualMode::kAfterActivation);
}

TEST(EpilogueRules, Guards) {
  // The target cannot fuse activations (or residuals): nothing fuses.
  test::Refuses noAct(Capability::What::kEpilogueActivation);
  expectNoRewrite(residualBlock(), epilogueRules(), noAct, "fuse-activation");
  test::Refuses noRes(Capability::What::kEpilogueResidual);
  expectNoRewrite(residualBlock(), epilogueRules(), noRes, "fuse-residual");
  // A shortcut that broadcasts the sum to a larger shape is not a residual epilogue.
  expectNoRewrite(residualBlock(shape({2, 4, 5, 5})), epilogueRules(), "fuse-residual");
  // The convolution's output has another user (a graph output).
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({1, 3, 5, 5}));
  TensorId y = *net.addConvolution(x, net.addConstant("w", test::randomF32({4, 3, 1, 1}, 1)),
                                   kNoTensor, ConvolutionAttrs{});
  ASSERT_TRUE(net.markOutput(y).isOk());
  ASSERT_TRUE(net.markOutput(*net.addActivation(y, ActivationKind::kRelu)).isOk());
  expectNoRewrite(net, epilogueRules(), "fuse-activation");
  // An activation after an activation epilogue would need a second one.
  NetworkDefinition n2;
  TensorId x2 = *n2.addInput("x", kF32, shape({1, 3, 5, 5}));
  ConvolutionAttrs fused;
  fused.activation = ActivationKind::kRelu;
  TensorId y2 =
      test::layer(n2, "conv", fused, {x2, n2.addConstant("w", test::randomF32({4, 3, 1, 1}, 1))});
  ASSERT_TRUE(n2.markOutput(*n2.addActivation(y2, ActivationKind::kTanh)).isOk());
  expectNoRewrite(n2, epilogueRules(), "fuse-activation");
}

// ---- elementwise chains ----------------------------------------------------------------------

TEST(PointwiseRules, ChainsFuseIntoOneExactExpression) {
  // tanh(relu(x) * 0.5 + b) - x, with b [3] broadcast over [2, 3].
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({2, 3}));
  TensorId b = *net.addInput("b", kF32, shape({3}));
  TensorId y = *net.addActivation(x, ActivationKind::kRelu);
  y = *net.addElementwise(y, test::scalar(net, 0.5f), ElementwiseKind::kMul);
  y = *net.addElementwise(y, b, ElementwiseKind::kAdd);
  y = *net.addActivation(y, ActivationKind::kTanh);
  y = *net.addElementwise(y, x, ElementwiseKind::kSub);
  ASSERT_TRUE(net.markOutput(y).isOk());
  for (size_t i = 0; i < net.layers().size(); ++i)
    net.layer(static_cast<LayerId>(i)).origins = {net.layers()[i].name};
  auto out = expectRewrite(net, pointwiseRules(), {"Pointwise"},
                           {{"x", test::randomF32({2, 3}, 1)}, {"b", test::randomF32({3}, 2)}}, 0,
                           "fuse-elementwise");
  const Layer* p = test::only(out, LayerKind::kPointwise);
  EXPECT_EQ(p->as<PointwiseAttrs>().expression,
            "sub(tanh(add(mul(relu(x0, 0, 0), 0.5), x1), 0, 0), x0)");
  EXPECT_EQ(p->inputs.size(), 2u);  // x read twice is one input; 0.5 is a literal
  EXPECT_EQ(p->origins.size(), 5u);
}

TEST(PointwiseRules, MaskArithmeticWithBoolsFuses) {
  // where(a and b, 0, -inf): bert's attention mask.
  NetworkDefinition net;
  TensorId a = *net.addInput("a", DataType::kBool, shape({2, 4}));
  TensorId b = *net.addInput("b", DataType::kBool, shape({4}));
  TensorId m = *net.addElementwise(a, b, ElementwiseKind::kAnd);
  TensorId y = test::layer(net, "where", SelectAttrs{},
                           {m, test::scalar(net, 0), test::scalar(net, -INFINITY)});
  ASSERT_TRUE(net.markOutput(y).isOk());
  std::vector<uint8_t> av = {1, 0, 1, 1, 0, 0, 1, 1}, bv = {1, 1, 0, 1};
  expectRewrite(net, pointwiseRules(), {"Pointwise"},
                {{"a", Weights::copyFrom(DataType::kBool, {2, 4}, av.data(), 8).value()},
                 {"b", Weights::copyFrom(DataType::kBool, {4}, bv.data(), 4).value()}},
                0, "fuse-elementwise");
}

TEST(PointwiseRules, Guards) {
  // A value with another user stays a layer of its own.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({3}));
  TensorId r = *net.addActivation(x, ActivationKind::kRelu);
  ASSERT_TRUE(net.markOutput(r).isOk());
  ASSERT_TRUE(net.markOutput(*net.addActivation(r, ActivationKind::kTanh)).isOk());
  expectNoRewrite(net, pointwiseRules(), "fuse-elementwise");
  // Integer arithmetic is not evaluated by Pointwise.
  NetworkDefinition n2;
  TensorId i = *n2.addInput("i", DataType::kInt64, shape({3}));
  TensorId s = *n2.addElementwise(i, i, ElementwiseKind::kMul);
  ASSERT_TRUE(n2.markOutput(*n2.addElementwise(s, i, ElementwiseKind::kAdd)).isOk());
  expectNoRewrite(n2, pointwiseRules(), "fuse-elementwise");
  // The target has no Pointwise layer.
  NetworkDefinition n3;
  TensorId x3 = *n3.addInput("x", kF32, shape({3}));
  ASSERT_TRUE(n3.markOutput(*n3.addActivation(*n3.addActivation(x3, ActivationKind::kRelu),
                                              ActivationKind::kTanh))
                  .isOk());
  test::Refuses noKinds(Capability::What::kLayerKind);
  expectNoRewrite(n3, pointwiseRules(), noKinds, "fuse-elementwise");
}

}  // namespace
}  // namespace kiln
