// Horizontal fusion (rules_horizontal.cc) and reshape sinking (rules_reshape.cc): before /
// after, the guards' negative cases, and the numbers bit for bit (both rules are exact).
#include "optimizer_util.h"

namespace kiln {
namespace {

using test::expectNoRewrite;
using test::expectRewrite;
using test::shape;
constexpr DataType kF32 = DataType::kFloat32;

// ---- horizontal fusion -----------------------------------------------------------------------

NetworkDefinition siblings(bool sameTrans = true) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({2, 4, 8}));
  for (int i = 0; i < (sameTrans ? 3 : 2); ++i) {
    MatrixMultiplyAttrs a;
    a.transB = !sameTrans && i == 1;
    TensorId b = net.addConstant(
        "B", test::randomF32(a.transB ? Dims{6, 8} : Dims{8, 6}, static_cast<uint32_t>(i + 1)));
    TensorId c = net.addConstant("c", test::randomF32({6}, static_cast<uint32_t>(i + 7)));
    TensorId y = *net.addMatrixMultiply(x, b, c, a);
    EXPECT_TRUE(net.markOutput(*net.addActivation(y, ActivationKind::kTanh)).isOk());
  }
  return net;
}

TEST(HorizontalRules, SiblingMatmulsBecomeOneWiderLayerAndASplit) {
  auto out = expectRewrite(siblings(), horizontalRules(),
                           {"MatrixMultiply", "Split", "Activation", "Activation", "Activation"},
                           {{"x", test::randomF32({2, 4, 8}, 5)}}, 0, "merge-sibling-matmuls");
  EXPECT_EQ(out.tensor(test::only(out, LayerKind::kMatrixMultiply)->outputs[0]).shape,
            shape({2, 4, 18}));
  // Guard: transB differs.
  expectNoRewrite(siblings(false), horizontalRules(), "merge-sibling-matmuls");
}

TEST(HorizontalRules, SiblingConvolutions) {
  auto build = [](std::vector<int64_t> secondStrides) {
    NetworkDefinition net;
    TensorId x = *net.addInput("x", kF32, shape({1, 3, 6, 6}));
    for (int i = 0; i < 2; ++i) {
      ConvolutionAttrs a;
      if (i == 1) a.strides = secondStrides;
      TensorId w = net.addConstant("w", test::randomF32({2 + i, 3, 1, 1}, i + 1));
      EXPECT_TRUE(net.markOutput(*net.addConvolution(x, w, kNoTensor, a)).isOk());
    }
    return net;
  };
  expectRewrite(build({}), horizontalRules(), {"Convolution", "Split"},
                {{"x", test::randomF32({1, 3, 6, 6}, 5)}}, 0, "merge-sibling-convolutions");
  expectNoRewrite(build({2, 2}), horizontalRules(), "merge-sibling-convolutions");
}

// ---- reshape sinking -------------------------------------------------------------------------

TEST(ReshapeRules, FlattenAroundAMatrixMultiplyGoes) {
  auto build = [](Dims back) {
    NetworkDefinition net;
    TensorId x = *net.addInput("x", kF32, shape({2, 4, 8}));
    TensorId f = test::reshape(net, x, {8, 8});
    TensorId y = *net.addMatrixMultiply(f, net.addConstant("B", test::randomF32({8, 6}, 1)),
                                        net.addConstant("c", test::randomF32({6}, 2)));
    EXPECT_TRUE(net.markOutput(test::reshape(net, y, back)).isOk());
    return net;
  };
  expectRewrite(build({2, 4, 6}), reshapeRules(), {"MatrixMultiply"},
                {{"x", test::randomF32({2, 4, 8}, 3)}}, 0, "matmul-through-flatten");
  // Guard: unflattened to other batch dims.
  expectNoRewrite(build({4, 2, 6}), reshapeRules(), "matmul-through-flatten");
}

}  // namespace
}  // namespace kiln
