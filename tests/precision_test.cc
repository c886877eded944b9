// Precision assignment (`--precision fp16|bf16|tf32`): which layers are lowered, where reformat
// layers go, that inputs and outputs keep their declared types and names, that the reference
// backend runs narrow tensors (so it is the oracle at every precision), and that the shared
// models keep their accuracy.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kiln/compare.h"
#include "runtime/engine_data.h"
#include "test_util.h"

namespace kiln {
namespace {

Weights floats(const Dims& dims, float scale, uint32_t seed) {
  Weights w = *Weights::zeros(DataType::kFloat32, dims);
  auto* p = static_cast<float*>(w.mutableData());
  uint32_t s = seed;
  for (int64_t i = 0; i < w.count(); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = scale * (static_cast<float>(s >> 8) / 16777216.0f * 2.0f - 1.0f);
  }
  return w;
}

/// x[1, 4, 8, 8] -> conv 3x3 (bias, relu) -> y1 (a graph output);
///                  conv -> ReduceSum over the spatial dims -> y2;  exp(conv) -> y3.
NetworkDefinition convNet() {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, shapeFromDims({1, 4, 8, 8}));
  TensorId w = net.addConstant("w", floats({6, 4, 3, 3}, 0.3f, 1));
  TensorId b = net.addConstant("b", floats({6}, 0.1f, 2));
  ConvolutionAttrs c;
  c.padsBegin = {1, 1};
  c.padsEnd = {1, 1};
  TensorId conv = *net.addConvolution(x, w, b, c);
  TensorId relu = *net.addActivation(conv, ActivationKind::kRelu);
  net.renameTensor(relu, "y1");
  (void)net.markOutput(relu);
  ReduceAttrs r;
  r.kind = ReduceKind::kSum;
  TensorId axes = net.addConstant("axes", Weights::fromInts({2, 3}));
  LayerId sum = *net.addLayer("sum", r, {relu, axes}, 1, {"y2"});
  (void)net.markOutput(net.layer(sum).outputs[0]);
  LayerId e = *net.addLayer("exp", UnaryAttrs{UnaryKind::kExp}, {relu}, 1, {"y3"});
  (void)net.markOutput(net.layer(e).outputs[0]);
  return net;
}

Expected<std::shared_ptr<Engine>> build(const NetworkDefinition& net, Precision p) {
  BuilderConfig config;
  config.precision = p;
  return Builder::build(net, config);
}

size_t countKind(const Engine& e, LayerKind k) {
  size_t n = 0;
  for (const Layer& l : e.data().network.layers())
    n += !l.removed && l.kind() == k;
  return n;
}

const Layer* layerWithRule(const Engine& e, const std::string& rule) {
  for (const Layer& l : e.data().network.layers())
    if (std::find(l.rules.begin(), l.rules.end(), rule) != l.rules.end()) return &l;
  return nullptr;
}

TEST(Precision, ParsesEveryName) {
  for (const char* n : {"fp32", "tf32", "fp16", "bf16", "int8"}) {
    auto p = parsePrecision(n);
    ASSERT_TRUE(p.has_value()) << n;
    EXPECT_STREQ(precisionName(*p), n);
  }
  EXPECT_FALSE(parsePrecision("fp8").has_value());
}

TEST(Precision, Int8IsRefusedWithTheReason) {
  auto e = build(convNet(), Precision::kINT8);
  ASSERT_FALSE(e.hasValue());
  EXPECT_EQ(e.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(e.status().message().find("int8"), std::string::npos) << e.status().message();
}

TEST(Precision, Fp16LowersAccurateLayersAndKeepsTheInterface) {
  NetworkDefinition net = convNet();
  auto e32 = build(net, Precision::kFP32);
  auto e16 = build(net, Precision::kFP16);
  ASSERT_TRUE(e32.hasValue()) << e32.status().toString();
  ASSERT_TRUE(e16.hasValue()) << e16.status().toString();
  const NetworkDefinition& n16 = (*e16)->data().network;
  // The convolution (with its fused relu) computes in f16: its weights are stored f16.
  const Layer* conv = nullptr;
  for (const Layer& l : n16.layers())
    if (!l.removed && l.kind() == LayerKind::kConvolution) conv = &l;
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(n16.tensor(conv->outputs[0]).dtype, DataType::kFloat16);
  EXPECT_EQ(n16.tensor(conv->inputs[1]).dtype, DataType::kFloat16);
  EXPECT_EQ(n16.tensor(conv->inputs[2]).dtype, DataType::kFloat16);
  // The input is reformatted once; the sum and exp stay f32 and read the f32 copy of the
  // convolution's output, which is also y1 under its own name: two reformats in all.
  EXPECT_EQ(countKind(**e16, LayerKind::kCast), 2u);
  ASSERT_NE(layerWithRule(**e16, "insert-reformat"), nullptr);
  for (const char* name : {"sum", "exp"})
    for (const Layer& l : n16.layers())
      if (l.name == name) {
        EXPECT_EQ(n16.tensor(l.inputs[0]).dtype, DataType::kFloat32) << name;
        EXPECT_EQ(n16.tensor(l.outputs[0]).dtype, DataType::kFloat32) << name;
      }
  ASSERT_EQ(n16.outputs().size(), 3u);
  const char* names[] = {"y1", "y2", "y3"};
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(n16.tensor(n16.outputs()[k]).name, names[k]);
    EXPECT_EQ(n16.tensor(n16.outputs()[k]).dtype, DataType::kFloat32);
  }
  EXPECT_EQ(n16.tensor(n16.inputs()[0]).dtype, DataType::kFloat32);
  // The build log says what stayed f32 and why.
  bool sumKept = false, expKept = false;
  for (const std::string& line : (*e16)->buildLog()) {
    sumKept = sumKept || (line.find("kept float32: sum (Reduce)") != std::string::npos);
    expKept = expKept || (line.find("kept float32: exp (Unary): exp leaves float16's range") !=
                          std::string::npos);
  }
  EXPECT_TRUE(sumKept);
  EXPECT_TRUE(expKept);
  // Same results within f16's rounding.
  Weights x = floats({1, 4, 8, 8}, 1.0f, 7);
  auto o32 = test::runEngine(**e32, {{"x", x}});
  auto o16 = test::runEngine(**e16, {{"x", x}});
  ASSERT_TRUE(o32.hasValue() && o16.hasValue());
  for (size_t k = 0; k < 3; ++k) {
    ASSERT_EQ((*o16)[k].dtype(), DataType::kFloat32);
    Comparison c = compareTensors((*o16)[k], (*o32)[k], 0.0, INFINITY);
    ASSERT_TRUE(c.shapesMatch) << c.message;
    EXPECT_LE(c.maxAbsError, 1e-2 * c.maxAbsExpected) << names[k];
    EXPECT_GT(c.maxAbsError, 0.0) << names[k] << ": f16 rounding should show";
  }
}

TEST(Precision, PlansOfNarrowEnginesRoundTrip) {
  auto e = build(convNet(), Precision::kBF16);
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  auto bytes = (*e)->serialize();
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto loaded = Runtime::deserialize(bytes->data(), bytes->size(), "bf16.plan");
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  Weights x = floats({1, 4, 8, 8}, 1.0f, 9);
  auto a = test::runEngine(**e, {{"x", x}});
  auto b = test::runEngine(**loaded, {{"x", x}});
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  for (size_t k = 0; k < a->size(); ++k)
    EXPECT_EQ(std::memcmp((*a)[k].data(), (*b)[k].data(), (*a)[k].bytes()), 0);
}

TEST(Precision, Tf32KeepsFloat32TensorsOnTheReference) {
  // tf32 changes products only (on backends with TF32 tactics): no tensor changes type.
  auto e = build(convNet(), Precision::kTF32);
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  for (const Tensor& t : (*e)->data().network.tensors()) {
    if (!t.removed) {
      EXPECT_NE(t.dtype, DataType::kFloat16) << t.name;
    }
  }
  EXPECT_EQ(countKind(**e, LayerKind::kCast), 0u);
}

/// Shared models in f16 and bf16 on the reference: within 1e-2 of the output's scale.
class NarrowModel : public ::testing::TestWithParam<std::tuple<std::string, Precision>> {};

TEST_P(NarrowModel, MatchesStoredOutputs) {
  const auto& [model, precision] = GetParam();
  const std::string dir = test::modelDir(model);
  auto net = OnnxParser::parseFile(dir + "/model.onnx");
  ASSERT_TRUE(net.hasValue()) << net.status().toString();
  auto inputs = test::readSet(dir + "/test_data_set_0", "input");
  auto refs = test::readSet(dir + "/test_data_set_0", "output");
  BuilderConfig config;
  config.precision = precision;
  for (size_t i = 0; i < net->inputs().size() && i < inputs.size(); ++i)
    config.inputShapes[net->tensor(net->inputs()[i]).name] = inputs[i].value.dims();
  auto engine = Builder::build(*net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  size_t narrow = 0;
  for (const Tensor& t : (*engine)->data().network.tensors())
    narrow += !t.removed && (t.dtype == DataType::kFloat16 || t.dtype == DataType::kBFloat16);
  EXPECT_GT(narrow, 0u) << "nothing was lowered";
  auto outs = test::runEngine(**engine, inputs);
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  ASSERT_EQ(outs->size(), refs.size());
  for (size_t k = 0; k < outs->size(); ++k) {
    EXPECT_EQ((*outs)[k].dtype(), refs[k].value.dtype());
    Comparison c = compareTensors((*outs)[k], refs[k].value, 0.0, INFINITY);
    ASSERT_TRUE(c.shapesMatch) << c.message;
    // bf16 keeps 8 mantissa bits (f16: 11): its bound is looser by the ratio of the roundings.
    const double bound = (precision == Precision::kBF16 ? 5e-2 : 1e-2) * c.maxAbsExpected;
    std::printf(
        "[ model    ] %s %s output %zu: max|out-ref| = %.3g (max|ref| %.3g), %zu narrow "
        "tensors\n",
        model.c_str(), precisionName(precision), k, c.maxAbsError, c.maxAbsExpected, narrow);
    EXPECT_LE(c.maxAbsError, bound) << model << " output " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, NarrowModel,
                         ::testing::Combine(::testing::Values("digits_resnet", "mobilenet_v2",
                                                              "bert_mini"),
                                            ::testing::Values(Precision::kFP16, Precision::kBF16)));

TEST(Precision, DigitsKeepsItsAccuracyInFp16) {
  std::string dir = std::string(KILN_MODELS_DIR) + "/digits_resnet";
  auto x = readTensorFile(dir + "/dataset/test_x.pb");
  auto y = readTensorFile(dir + "/dataset/test_y.pb");
  ASSERT_TRUE(x && y);
  auto net = OnnxParser::parseFile(dir + "/model.onnx");
  ASSERT_TRUE(net.hasValue()) << net.status().toString();
  BuilderConfig config;
  config.precision = Precision::kFP16;
  config.inputShapes[net->tensor(net->inputs()[0]).name] = x->value.dims();
  auto engine = Builder::build(*net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto outs = test::runEngine(**engine, {*x});
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  const int64_t n = x->value.dims()[0];
  const int64_t correct = test::correctPredictions((*outs)[0], y->value);
  const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
  std::printf("[ accuracy ] digits_resnet fp16: %lld / %lld = %.4f\n",
              static_cast<long long>(correct), static_cast<long long>(n), accuracy);
  EXPECT_GE(accuracy, 0.995);
}

}  // namespace
}  // namespace kiln
