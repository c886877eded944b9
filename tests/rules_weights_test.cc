// Rules that fold constants into weights and bias (rules_weights.cc): BatchNorm as the importer
// lowers it, per-channel scales, bias adds; guards; numbers within float32 rounding.
#include "optimizer_util.h"

namespace kiln {
namespace {

using test::expectNoRewrite;
using test::expectRewrite;
using test::shape;
constexpr DataType kF32 = DataType::kFloat32;

/// conv(x) -> * s -> + t, with s and t of `paramDims` (BatchNorm: [C, 1, 1]).
NetworkDefinition convAffine(Dims paramDims, bool bias = true) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({1, 3, 6, 6}));
  TensorId w = net.addConstant("w", test::randomF32({4, 3, 3, 3}, 1));
  TensorId b = bias ? net.addConstant("b", test::randomF32({4}, 2)) : kNoTensor;
  TensorId y = *net.addConvolution(x, w, b, ConvolutionAttrs{});
  TensorId s = net.addConstant("s", test::randomF32(paramDims, 3, 0.5f, 2));
  TensorId t = net.addConstant("t", test::randomF32(paramDims, 4));
  y = *net.addElementwise(y, s, ElementwiseKind::kMul);
  y = *net.addElementwise(y, t, ElementwiseKind::kAdd);
  y = *net.addActivation(y, ActivationKind::kRelu);
  EXPECT_TRUE(net.markOutput(y).isOk());
  return net;
}

TEST(WeightRules, BatchNormFoldsIntoTheConvolution) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({1, 3, 6, 6}, 5)}};
  for (bool bias : {true, false}) {
    auto out = expectRewrite(convAffine({4, 1, 1}, bias), weightRules(),
                             {"Convolution", "Activation"}, in, 1e-5, "fold-scale-into-conv");
    const Layer* conv = test::only(out, LayerKind::kConvolution);
    ASSERT_NE(conv, nullptr);
    EXPECT_NE(conv->inputs[2], kNoTensor);  // the shift became the bias
    EXPECT_EQ(conv->rules.back(), "fold-bias-into-conv");
  }
  // A scalar scale and shift fold too.
  expectRewrite(convAffine({1}), weightRules(), {"Convolution", "Activation"}, in, 1e-5,
                "fold-bias-into-conv");
}

TEST(WeightRules, GuardsOfTheConvolutionFolds) {
  // Varies along a spatial dim: not per channel.
  expectNoRewrite(convAffine({1, 1, 4}), weightRules(), "fold-scale-into-conv");
  // The convolution's output has another user.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({1, 3, 6, 6}));
  TensorId w = net.addConstant("w", test::randomF32({4, 3, 3, 3}, 1));
  TensorId y = *net.addConvolution(x, w, kNoTensor, ConvolutionAttrs{});
  TensorId s = net.addConstant("s", test::randomF32({4, 1, 1}, 3));
  TensorId z = *net.addElementwise(y, s, ElementwiseKind::kMul);
  ASSERT_TRUE(net.markOutput(y).isOk());
  ASSERT_TRUE(net.markOutput(z).isOk());
  expectNoRewrite(net, weightRules(), "fold-scale-into-conv");
  // The scale is not a constant.
  NetworkDefinition n2;
  TensorId x2 = *n2.addInput("x", kF32, shape({1, 3, 6, 6}));
  TensorId s2 = *n2.addInput("s", kF32, shape({4, 1, 1}));
  TensorId w2 = n2.addConstant("w", test::randomF32({4, 3, 3, 3}, 1));
  TensorId y2 = *n2.addConvolution(x2, w2, kNoTensor, ConvolutionAttrs{});
  ASSERT_TRUE(n2.markOutput(*n2.addElementwise(y2, s2, ElementwiseKind::kMul)).isOk());
  expectNoRewrite(n2, weightRules(), "fold-scale-into-conv");
}

/// matmul(a, B) * s + c, B [8, 5] (or transposed [5, 8]).
NetworkDefinition matmulAffine(bool transB, Dims scaleDims) {
  NetworkDefinition net;
  TensorId a = *net.addInput("a", kF32, shape({2, 3, 8}));
  TensorId b = net.addConstant("B", test::randomF32(transB ? Dims{5, 8} : Dims{8, 5}, 1));
  MatrixMultiplyAttrs at;
  at.transB = transB;
  TensorId y = *net.addMatrixMultiply(a, b, kNoTensor, at);
  y = *net.addElementwise(y, net.addConstant("s", test::randomF32(scaleDims, 2, 0.5f, 2)),
                          ElementwiseKind::kMul);
  y = *net.addElementwise(y, net.addConstant("c", test::randomF32({5}, 3)), ElementwiseKind::kAdd);
  y = *net.addActivation(y, ActivationKind::kTanh);
  EXPECT_TRUE(net.markOutput(y).isOk());
  return net;
}

TEST(WeightRules, ScalesAndBiasFoldIntoTheMatrixMultiply) {
  std::vector<NamedTensor> in = {{"a", test::randomF32({2, 3, 8}, 4)}};
  for (bool transB : {false, true}) {
    auto out = expectRewrite(matmulAffine(transB, {5}), weightRules(),
                             {"MatrixMultiply", "Activation"}, in, 1e-5, "fold-bias-into-matmul");
    const Layer* mm = test::only(out, LayerKind::kMatrixMultiply);
    ASSERT_NE(mm, nullptr);
    EXPECT_EQ(mm->inputs.size(), 3u);
  }
  // Guard: a scale per row ([3, 1]) is not per output column.
  expectNoRewrite(matmulAffine(false, {3, 1}), weightRules(), "fold-scale-into-matmul");
}

TEST(WeightRules, BiasThatWouldEnlargeTheOutputStays) {
  // matmul [3, 5] + c [2, 3, 5]: the add broadcasts the product up; C cannot.
  NetworkDefinition net;
  TensorId a = *net.addInput("a", kF32, shape({3, 8}));
  TensorId b = net.addConstant("B", test::randomF32({8, 5}, 1));
  TensorId y = *net.addMatrixMultiply(a, b);
  y = *net.addElementwise(y, net.addConstant("c", test::randomF32({2, 3, 5}, 3)),
                          ElementwiseKind::kAdd);
  ASSERT_TRUE(net.markOutput(y).isOk());
  expectNoRewrite(net, weightRules(), "fold-bias-into-matmul");
}

}  // namespace
}  // namespace kiln
