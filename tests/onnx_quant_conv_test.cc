// ONNX ConvTranspose, Tile, InstanceNormalization and the linear quantization ops: the layers
// they become and the errors for what they cannot be.
#include <gtest/gtest.h>

#include "importer/onnx/model_builder.h"
#include "kiln/onnx_parser.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;

Expected<NetworkDefinition> parse(const std::string& bytes) {
  return OnnxParser::parseBuffer(bytes.data(), bytes.size(), "ops.onnx");
}
Expected<NetworkDefinition> parse(const ModelBuilder& b) {
  return parse(b.serialize());
}

Shape fixed(std::initializer_list<int64_t> dims) {
  return shapeFromDims(Dims(dims));
}

/// A ConvTranspose of x[1, 2, 3, 3] with weights w.
std::string convTranspose(Dims w, std::vector<onnx_import::NodeAttr> attrs) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({1, 2, 3, 3}))
      .initializer("w", *Weights::zeros(DataType::kFloat32, std::move(w)))
      .node({"ConvTranspose", {"x", "w"}, {"y"}, std::move(attrs), "deconv"})
      .output("y");
  return b.serialize();
}

TEST(OnnxConvTranspose, BecomesTransposedConvolution) {
  auto net = parse(convTranspose({2, 3, 3, 3}, {{"strides", std::vector<int64_t>{3, 2}},
                                                {"output_padding", std::vector<int64_t>{1, 1}},
                                                {"group", int64_t{1}}}));
  ASSERT_TRUE(net) << net.status().toString();
  const TensorId y = net->findTensor("y");
  const Layer& l = net->layer(net->tensor(y).producer);
  ASSERT_EQ(l.kind(), LayerKind::kConvolution);
  EXPECT_TRUE(l.as<ConvolutionAttrs>().transposed);
  EXPECT_EQ(l.as<ConvolutionAttrs>().outputPadding, (std::vector<int64_t>{1, 1}));
  // 3 * (3 - 1) + 1 + 3 = 10, 2 * (3 - 1) + 1 + 3 = 8; M = w[1] * group = 3.
  EXPECT_EQ(net->tensor(y).shape, fixed({1, 3, 10, 8}));
}

TEST(OnnxConvTranspose, OutputShapeSetsThePads) {
  auto net = parse(convTranspose({2, 1, 3, 3}, {{"strides", std::vector<int64_t>{3, 2}},
                                                {"output_shape", std::vector<int64_t>{10, 8}}}));
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(net->tensor(net->findTensor("y")).shape, fixed({1, 1, 10, 8}));
}

TEST(OnnxConvTranspose, Errors) {
  // Pads larger than the scatter extent leave a negative output.
  auto r = parse(convTranspose({2, 1, 3, 3}, {{"pads", std::vector<int64_t>{4, 4, 4, 4}}}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("deconv"), std::string::npos) << r.status().toString();
  EXPECT_NE(r.status().message().find("negative output"), std::string::npos)
      << r.status().toString();
  // The weights' first dim must be the input channels.
  r = parse(convTranspose({3, 1, 3, 3}, {}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("channels"), std::string::npos) << r.status().toString();
  // Input channels not divisible by group.
  r = parse(convTranspose({2, 1, 3, 3}, {{"group", int64_t{3}}}));
  ASSERT_FALSE(r);
  // Hostile attributes: a huge stride, an output_shape of the wrong length, a huge output.
  r = parse(convTranspose({2, 1, 3, 3}, {{"strides", std::vector<int64_t>{int64_t{1} << 40, 1}}}));
  EXPECT_FALSE(r);
  r = parse(convTranspose({2, 1, 3, 3}, {{"output_shape", std::vector<int64_t>{4}}}));
  EXPECT_FALSE(r);
  r = parse(convTranspose({2, 1, 3, 3}, {{"output_shape", std::vector<int64_t>{1, 1}}}));
  EXPECT_TRUE(r) << r.status().toString();  // cropping to 1x1 is allowed
  r = parse(
      convTranspose({2, 1, 3, 3}, {{"output_shape", std::vector<int64_t>{int64_t{1} << 50, 4}}}));
  EXPECT_FALSE(r);
  r = parse(convTranspose({2, 1, 3, 3}, {{"output_padding", std::vector<int64_t>{-1, 0}}}));
  EXPECT_FALSE(r);
}

TEST(OnnxTile, RepeatsMustBeConstantAndValid) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .input("r", DataType::kInt64, fixed({2}))
      .node({"Tile", {"x", "r"}, {"y"}, {}, "tile"})
      .output("y");
  auto r = parse(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().toString();

  ModelBuilder n(13);
  n.input("x", DataType::kFloat32, fixed({2, 3}))
      .initializer("r", Weights::fromInts({2, -1}))
      .node({"Tile", {"x", "r"}, {"y"}, {}, "tile"})
      .output("y");
  r = parse(n);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("negative"), std::string::npos) << r.status().toString();

  ModelBuilder ok(13);
  ok.input("x", DataType::kFloat32, fixed({2, 3}))
      .initializer("r", Weights::fromInts({2, 1}))
      .node({"Tile", {"x", "r"}, {"y"}, {}, "tile"})
      .output("y");
  r = parse(ok);
  ASSERT_TRUE(r) << r.status().toString();
  EXPECT_EQ(r->tensor(r->findTensor("y")).shape, fixed({4, 3}));
}

/// QuantizeLinear of x[3, 4] with a scale of dims `scaleDims`.
std::string quantize(Dims scaleDims, std::vector<onnx_import::NodeAttr> attrs) {
  ModelBuilder b(21);
  b.input("x", DataType::kFloat32, fixed({3, 4}))
      .initializer("s", *Weights::zeros(DataType::kFloat32, std::move(scaleDims)))
      .node({"QuantizeLinear", {"x", "s"}, {"y"}, std::move(attrs), "quant"})
      .output("y");
  return b.serialize();
}

TEST(OnnxQuantize, ParameterShapes) {
  EXPECT_TRUE(parse(quantize({}, {})));                       // per tensor
  EXPECT_TRUE(parse(quantize({4}, {{"axis", int64_t{1}}})));  // per axis
  EXPECT_TRUE(parse(quantize({3, 2}, {{"axis", int64_t{1}}, {"block_size", int64_t{2}}})));
  // Per axis with the wrong count, a bad axis, blocks that do not cover the axis.
  EXPECT_FALSE(parse(quantize({3}, {{"axis", int64_t{1}}})));
  EXPECT_FALSE(parse(quantize({4}, {{"axis", int64_t{5}}})));
  EXPECT_FALSE(parse(quantize({3, 3}, {{"axis", int64_t{1}}, {"block_size", int64_t{2}}})));
  EXPECT_FALSE(parse(quantize({3, 2}, {{"axis", int64_t{1}}, {"block_size", int64_t{-2}}})));
  // A 2-D scale without block_size.
  EXPECT_FALSE(parse(quantize({3, 4}, {})));
}

TEST(OnnxQuantize, UnsupportedTypesAreRefused) {
  auto r = parse(quantize({}, {{"output_dtype", int64_t{11}}}));  // double
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().toString();
  r = parse(quantize({}, {{"output_dtype", int64_t{1000}}}));
  EXPECT_FALSE(r);
  // The zero point's type and output_dtype disagree.
  ModelBuilder b(21);
  b.input("x", DataType::kFloat32, fixed({3, 4}))
      .initializer("s", Weights::fromFloats({1}, true))
      .initializer("z", *Weights::zeros(DataType::kInt8, {}))
      .node({"QuantizeLinear", {"x", "s", "z"}, {"y"}, {{"output_dtype", int64_t{2}}}, "quant"})
      .output("y");
  r = parse(b);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("output_dtype"), std::string::npos) << r.status().toString();
}

/// OneHot(indices[2, 3], depth, values[2]) with depth a graph input of dims `depthDims`.
std::string oneHot(Dims depthDims) {
  ModelBuilder b(11);
  b.input("indices", DataType::kInt64, fixed({2, 3}))
      .input("depth", DataType::kFloat32, shapeFromDims(depthDims))
      .input("values", DataType::kFloat32, fixed({2}))
      .node({"OneHot", {"indices", "depth", "values"}, {"y"}, {{"axis", int64_t{1}}}, "hot"})
      .output("y");
  return b.serialize();
}

TEST(OnnxOneHot, RunTimeDepthDecidesTheOutputShape) {
  // depth is read when input values are set: the class axis has no build-time size.
  auto net = parse(oneHot({}));
  ASSERT_TRUE(net) << net.status().toString();
  const Shape& y = net->tensor(net->findTensor("y")).shape;
  ASSERT_EQ(y.size(), 3u);
  EXPECT_EQ(y[0], Dim(2));
  EXPECT_FALSE(y[1].isStatic());
  EXPECT_EQ(y[2], Dim(3));
  auto one = parse(oneHot({1}));
  EXPECT_TRUE(one) << one.status().toString();
}

TEST(OnnxOneHot, DepthOfSeveralValuesIsRefused) {
  auto r = parse(oneHot({2, 2}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("hot"), std::string::npos) << r.status().toString();
  EXPECT_NE(r.status().message().find("depth"), std::string::npos) << r.status().toString();
}

}  // namespace
}  // namespace kiln
