// Tests of individual ONNX op mappings (what layers and attributes each op becomes) and of the
// TensorProto file API. Models are built with onnx_import::ModelBuilder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "importer/onnx/model_builder.h"
#include "kiln/onnx_parser.h"
#include "kiln/tensor_file.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeSpec;

Expected<NetworkDefinition> parse(const ModelBuilder& b) {
  std::string bytes = b.serialize();
  return OnnxParser::parseBuffer(bytes.data(), bytes.size(), "ops.onnx");
}

const Layer& producerOf(const NetworkDefinition& net, const std::string& name) {
  TensorId t = net.findTensor(name);
  EXPECT_GE(t, 0) << "no tensor named " << name;
  return net.layer(net.tensor(t).producer);
}

std::vector<LayerKind> kinds(const NetworkDefinition& net) {
  std::vector<LayerKind> out;
  for (const Layer& l : net.layers())
    if (!l.removed && l.kind() != LayerKind::kConstant) out.push_back(l.kind());
  return out;
}

std::vector<double> valuesOf(const NetworkDefinition& net, TensorId t) {
  const Weights* w = net.constantValue(t);
  EXPECT_NE(w, nullptr);
  return w ? *w->toDoubles() : std::vector<double>{};
}

Shape fixed(std::initializer_list<int64_t> dims) {
  return shapeFromDims(Dims(dims));
}

TEST(OnnxOps, ClipWithConstantBounds) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({4}))
      .initializer("lo", Weights::fromFloats({-1}, true))
      .node({"Clip", {"x", "lo"}, {"y"}, {}, "clip"})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const Layer& l = producerOf(*net, "y");
  ASSERT_EQ(l.kind(), LayerKind::kActivation);
  EXPECT_EQ(l.as<ActivationAttrs>().kind, ActivationKind::kClip);
  EXPECT_EQ(l.as<ActivationAttrs>().alpha, -1.0f);
  EXPECT_EQ(l.as<ActivationAttrs>().beta, std::numeric_limits<float>::infinity());
  EXPECT_EQ(l.inputs.size(), 1u);
}

TEST(OnnxOps, ClipWithComputedBoundComposes) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({4}))
      .input("lo", DataType::kFloat32, fixed({}))
      .initializer("hi", Weights::fromFloats({6}, true))
      .node({"Clip", {"x", "lo", "hi"}, {"y"}, {}, "clip"})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(kinds(*net),
            (std::vector<LayerKind>{LayerKind::kElementwise, LayerKind::kElementwise}));
  EXPECT_EQ(producerOf(*net, "y").as<ElementwiseAttrs>().kind, ElementwiseKind::kMin);
}

TEST(OnnxOps, ClipAttributesBeforeOpset11) {
  ModelBuilder b(9);
  b.input("x", DataType::kFloat32, fixed({4}))
      .node({"Clip", {"x"}, {"y"}, {{"min", 0.0f}, {"max", 6.0f}}})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const auto& a = producerOf(*net, "y").as<ActivationAttrs>();
  EXPECT_EQ(a.alpha, 0.0f);
  EXPECT_EQ(a.beta, 6.0f);
}

TEST(OnnxOps, BatchNormalizationFoldsConstants) {
  ModelBuilder b(15);
  b.input("x", DataType::kFloat32, {Dim::named("n"), Dim::fixed(2), Dim::fixed(3), Dim::fixed(3)})
      .initializer("scale", Weights::fromFloats({2, 3}))
      .initializer("bias", Weights::fromFloats({1, -1}))
      .initializer("mean", Weights::fromFloats({0.5, 4}))
      .initializer("var", Weights::fromFloats({4, 9}))
      .node({"BatchNormalization",
             {"x", "scale", "bias", "mean", "var"},
             {"y"},
             {{"epsilon", 0.0f}},
             "bn"})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const Layer& add = producerOf(*net, "y");
  ASSERT_EQ(add.kind(), LayerKind::kElementwise);
  EXPECT_EQ(add.as<ElementwiseAttrs>().kind, ElementwiseKind::kAdd);
  const Layer& mul = net->layer(net->tensor(add.inputs[0]).producer);
  EXPECT_EQ(mul.as<ElementwiseAttrs>().kind, ElementwiseKind::kMul);
  // s = scale / sqrt(var) = {1, 1}; t = bias - mean * s = {0.5, -5}; shaped [C, 1, 1].
  EXPECT_EQ(net->constantValue(mul.inputs[1])->dims(), (Dims{2, 1, 1}));
  EXPECT_EQ(valuesOf(*net, mul.inputs[1]), (std::vector<double>{1, 1}));
  EXPECT_EQ(valuesOf(*net, add.inputs[1]), (std::vector<double>{0.5, -5}));
  EXPECT_EQ(mul.origins, std::vector<std::string>{"bn"});
}

TEST(OnnxOps, BatchNormalizationWithComputedParams) {
  ModelBuilder b(15);
  b.input("x", DataType::kFloat32, fixed({1, 2, 4}))
      .input("scale", DataType::kFloat32, fixed({2}))
      .initializer("bias", Weights::fromFloats({1, -1}))
      .initializer("mean", Weights::fromFloats({0, 0}))
      .initializer("var", Weights::fromFloats({1, 1}))
      .node({"BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"}})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(producerOf(*net, "y").as<ElementwiseAttrs>().kind, ElementwiseKind::kAdd);
  EXPECT_TRUE(net->verify());
}

TEST(OnnxOps, SoftmaxOpset11ComposesUnlessLastAxis) {
  ModelBuilder b(11);
  b.input("x", DataType::kFloat32, fixed({2, 3, 4}))
      .node({"Softmax", {"x"}, {"y"}, {}, "sm"})                          // axis 1: coerced to 2-D
      .node({"LogSoftmax", {"x"}, {"z"}, {{"axis", int64_t{2}}}, "lsm"})  // last axis
      .output("y")
      .output("z");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const Layer& y = producerOf(*net, "y");
  ASSERT_EQ(y.kind(), LayerKind::kShuffle);
  EXPECT_EQ(y.as<ShuffleAttrs>().mode, ShuffleMode::kReshape);
  const Layer& z = producerOf(*net, "z");
  ASSERT_EQ(z.kind(), LayerKind::kSoftmax);
  EXPECT_TRUE(z.as<SoftmaxAttrs>().log);
  EXPECT_EQ(z.as<SoftmaxAttrs>().axis, -1);
}

TEST(OnnxOps, SoftmaxOpset13IsPlainAxis) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .node({"Softmax", {"x"}, {"y"}, {{"axis", int64_t{0}}}})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(producerOf(*net, "y").as<SoftmaxAttrs>().axis, 0);
}

TEST(OnnxOps, ConvAndGemmAttributes) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({1, 2, 5, 5}))
      .initializer("w", *Weights::zeros(DataType::kFloat32, {4, 1, 3, 3}))
      .initializer("fc", *Weights::zeros(DataType::kFloat32, {3, 4}))
      .node({"Conv",
             {"x", "w"},
             {"c"},
             {{"pads", std::vector<int64_t>{1, 2, 3, 4}},
              {"group", int64_t{2}},
              {"strides", std::vector<int64_t>{2, 2}}},
             "conv"})
      .node({"GlobalAveragePool", {"c"}, {"p"}})
      .node({"Flatten", {"p"}, {"f"}})
      .node({"Gemm", {"f", "fc", ""}, {"y"}, {{"transB", int64_t{1}}, {"alpha", 0.5f}}})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const auto& conv = producerOf(*net, "c").as<ConvolutionAttrs>();
  EXPECT_EQ(conv.padsBegin, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(conv.padsEnd, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(conv.group, 2);
  EXPECT_EQ(conv.strides, (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(producerOf(*net, "p").as<PoolingAttrs>().global);
  EXPECT_EQ(producerOf(*net, "f").as<ShuffleAttrs>().mode, ShuffleMode::kFlatten);
  const Layer& gemm = producerOf(*net, "y");
  EXPECT_TRUE(gemm.as<MatrixMultiplyAttrs>().transB);
  EXPECT_EQ(gemm.as<MatrixMultiplyAttrs>().alpha, 0.5f);
  EXPECT_EQ(gemm.inputs.size(), 2u);  // absent C dropped
}

TEST(OnnxOps, AttributeParamsBecomeConstantInputs) {
  ModelBuilder g(9);
  g.input("x", DataType::kFloat32, fixed({1, 3, 1, 4}))
      .node({"Squeeze", {"x"}, {"s"}, {{"axes", std::vector<int64_t>{0, 2}}}, "sq"})
      .node({"Unsqueeze", {"s"}, {"u"}, {{"axes", std::vector<int64_t>{0}}}})
      .node({"Slice",
             {"s"},
             {"sl"},
             {{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{3}}}})
      .node({"ReduceMean",
             {"u"},
             {"m"},
             {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{0}}}})
      .node({"Split",
             {"s"},
             {"p0", "p1"},
             {{"axis", int64_t{1}}, {"split", std::vector<int64_t>{1, 3}}}})
      .output("sl")
      .output("m")
      .output("p0")
      .output("p1");
  auto net = parse(g);
  ASSERT_TRUE(net) << net.status().toString();
  const Layer& sq = producerOf(*net, "s");
  ASSERT_EQ(sq.inputs.size(), 2u);
  EXPECT_EQ(valuesOf(*net, sq.inputs[1]), (std::vector<double>{0, 2}));
  EXPECT_EQ(producerOf(*net, "u").as<ShuffleAttrs>().mode, ShuffleMode::kUnsqueeze);
  const Layer& sl = producerOf(*net, "sl");
  ASSERT_EQ(sl.inputs.size(), 3u);
  EXPECT_EQ(valuesOf(*net, sl.inputs[2]), (std::vector<double>{3}));
  const Layer& m = producerOf(*net, "m");
  ASSERT_EQ(m.inputs.size(), 2u);
  EXPECT_EQ(valuesOf(*net, m.inputs[1]), (std::vector<double>{-1}));
  EXPECT_FALSE(m.as<ReduceAttrs>().keepDims);
  const Layer& split = producerOf(*net, "p1");
  ASSERT_EQ(split.inputs.size(), 2u);
  EXPECT_EQ(valuesOf(*net, split.inputs[1]), (std::vector<double>{1, 3}));

  // Slice before opset 10 requires starts/ends attributes.
  ModelBuilder b(9);
  b.input("x", DataType::kFloat32, fixed({4}))
      .node({"Slice", {"x"}, {"y"}, {}, "slice"})
      .output("y");
  auto bad = parse(b);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().message(),
            "node 'slice' (Slice, #0): missing required attribute 'starts'");
}

TEST(OnnxOps, ReduceAndSplitForms) {
  ModelBuilder b(18);
  b.input("x", DataType::kFloat32, fixed({2, 6}))
      .node({"ReduceMax", {"x"}, {"m"}, {{"keepdims", int64_t{0}}}})
      .node({"Split",
             {"x"},
             {"a", "b", "c"},
             {{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}},
             "split"})
      .output("m")
      .output("a")
      .output("b")
      .output("c");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const Layer& m = producerOf(*net, "m");
  EXPECT_EQ(m.as<ReduceAttrs>().kind, ReduceKind::kMax);
  EXPECT_FALSE(m.as<ReduceAttrs>().keepDims);
  EXPECT_EQ(m.inputs.size(), 1u);
  const Layer& split = producerOf(*net, "b");
  EXPECT_EQ(split.as<SplitAttrs>().numOutputs, 3);
  EXPECT_EQ(split.as<SplitAttrs>().axis, 1);
  EXPECT_EQ(split.outputs.size(), 3u);
}

TEST(OnnxOps, ConstantNodeAndMean) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({3}))
      .node({"Constant", {}, {"k"}, {{"value_floats", std::vector<float>{1, 2, 3}}}, "const"})
      .node({"Constant", {}, {"t"}, {{"value", Weights::fromInts({4, 5})}}})
      .node({"Mean", {"x", "k", "x"}, {"y"}, {}, "mean"})
      .output("y")
      .output("t");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(valuesOf(*net, net->findTensor("k")), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(valuesOf(*net, net->findTensor("t")), (std::vector<double>{4, 5}));
  const Layer& div = producerOf(*net, "y");
  EXPECT_EQ(div.as<ElementwiseAttrs>().kind, ElementwiseKind::kDiv);
  EXPECT_EQ(valuesOf(*net, div.inputs[1]), (std::vector<double>{3}));
  EXPECT_EQ(kinds(*net), (std::vector<LayerKind>{LayerKind::kElementwise, LayerKind::kElementwise,
                                                 LayerKind::kElementwise}));
}

TEST(OnnxOps, PowCastsExponentToBaseType) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({3}))
      .initializer("e", Weights::fromInts({2}, true))
      .node({"Pow", {"x", "e"}, {"y"}, {}, "pow"})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  const Layer& pow = producerOf(*net, "y");
  const Layer& cast = net->layer(net->tensor(pow.inputs[1]).producer);
  ASSERT_EQ(cast.kind(), LayerKind::kCast);
  EXPECT_EQ(cast.as<CastAttrs>().to, DataType::kFloat32);
}

TEST(OnnxOps, CastAndGatherModes) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({4, 3}))
      .input("i", DataType::kInt64, fixed({2}))
      .node({"Cast", {"i"}, {"i32"}, {{"to", int64_t{6}}}})
      .node({"Gather", {"x", "i"}, {"g"}, {{"axis", int64_t{1}}}})
      .node({"GatherND", {"x", "i"}, {"nd"}, {{"batch_dims", int64_t{0}}}})
      .node({"Cast", {"x"}, {"s"}, {{"to", int64_t{8}}}, "to_string"})
      .output("i32")
      .output("g")
      .output("nd")
      .output("s");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_NE(
      net.status().message().find("1 type is not supported: string (node 'to_string' (Cast 'to'))"),
      std::string::npos)
      << net.status().toString();
}

TEST(OnnxOps, DropoutIsIdentityWithAllTrueMask) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .node({"Dropout", {"x"}, {"d", "mask"}, {}, "drop"})
      .node({"Relu", {"d"}, {"y"}})
      .output("y")
      .output("mask");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(net->tensor(producerOf(*net, "y").inputs[0]).name, "x");
  const Layer& id = producerOf(*net, "mask");  // a graph output keeps its name
  ASSERT_EQ(id.kind(), LayerKind::kUnary);
  const Layer& expand = net->layer(net->tensor(id.inputs[0]).producer);
  ASSERT_EQ(expand.kind(), LayerKind::kExpand);
  EXPECT_EQ(valuesOf(*net, expand.inputs[0]), (std::vector<double>{1}));
}

// ---- tensor files -----------------------------------------------------------------------------

std::string tempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("kiln_onnx_ops_" + std::to_string(getpid()) + "_" + name))
      .string();
}

TEST(OnnxTensorFile, RoundTrip) {
  std::string path = tempPath("t.pb");
  Weights w = Weights::fromFloats({1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f});
  Weights shaped = *Weights::copyFrom(DataType::kFloat32, {2, 3}, w.data(), w.bytes());
  ASSERT_TRUE(writeTensorFile(path, "input_0", shaped));
  auto t = readTensorFile(path);
  ASSERT_TRUE(t) << t.status().toString();
  EXPECT_EQ(t->name, "input_0");
  EXPECT_EQ(t->value.dtype(), DataType::kFloat32);
  EXPECT_EQ(t->value.dims(), (Dims{2, 3}));
  EXPECT_EQ(*t->value.toDoubles(), (std::vector<double>{1.5, -2, 3.25, 0, 7, 8}));

  ASSERT_TRUE(writeTensorFile(path, "ids", Weights::fromInts({3, -4}, false)));
  auto i = readTensorFile(path);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->value.dtype(), DataType::kInt64);
  EXPECT_EQ(*i->value.toInts(), (std::vector<int64_t>{3, -4}));
  std::filesystem::remove(path);
}

TEST(OnnxTensorFile, TruncatedAndMissing) {
  std::string path = tempPath("trunc.pb");
  ASSERT_TRUE(writeTensorFile(path, "x", *Weights::zeros(DataType::kFloat32, {64})));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 10));
  }
  auto t = readTensorFile(path);
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status().toString();
  std::filesystem::remove(path);

  auto missing = readTensorFile(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(OnnxTensorFile, MalformedContents) {
  // raw_data shorter than the dims need: refused before any read.
  std::string shortRaw =
      onnx_import::encodeTensorProto("w", 1 /*FLOAT*/, {4}, std::string(12, '\0'));
  auto a = parseTensorProto(shortRaw.data(), shortRaw.size(), "mem");
  ASSERT_FALSE(a);
  EXPECT_NE(a.status().message().find("tensor 'w'"), std::string::npos) << a.status().toString();
  EXPECT_NE(a.status().message().find("raw_data"), std::string::npos);

  std::string str = onnx_import::encodeTensorProto("names", 8 /*STRING*/, {1}, "abc");
  auto b = parseTensorProto(str.data(), str.size(), "mem");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(b.status().message().find("'names'"), std::string::npos);

  std::string huge =
      onnx_import::encodeTensorProto("h", 1, {int64_t{1} << 40, int64_t{1} << 40}, "");
  auto c = parseTensorProto(huge.data(), huge.size(), "mem");
  ASSERT_FALSE(c);
  EXPECT_NE(c.status().message().find("'h'"), std::string::npos);
}

}  // namespace
}  // namespace kiln
