// Sizes are computed, never trusted: overflowing shapes and engines larger than memory are
// errors that name the tensor and the size it needed, at build time and when a context's input
// shapes are set.
#include "importer/onnx/model_builder.h"
#include "test_util.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeSpec;

Expected<NetworkDefinition> expandModel(std::vector<int64_t> target) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat32, {1})
      .initializer("shape", Weights::fromInts(target))
      .node(NodeSpec("Expand", {"x", "shape"}, {"y"}, {}, "expand"))
      .output("y");
  std::string bytes = mb.serialize();
  return OnnxParser::parseBuffer(bytes.data(), bytes.size(), "expand.onnx");
}

void expectMessage(const Status& s, std::initializer_list<const char*> parts) {
  ASSERT_FALSE(s.isOk());
  for (const char* p : parts)
    EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' in: " << s.toString();
}

TEST(Limits, ExpandWhoseSizeOverflowsIsAnError) {
  const int64_t big = int64_t{1} << 40;
  auto net = expandModel({big, big});
  if (!net) {  // refusing at import is fine too, with a clear message
    expectMessage(net.status(), {"expand"});
    return;
  }
  auto e = Builder::build(*net, BuilderConfig{});
  expectMessage(e.status(), {"'y'", "overflows"});
}

TEST(Limits, ExpandLargerThanMemoryIsABuildErrorStatingTheSize) {
  auto net = expandModel({1000000, 1000000});  // 10^12 floats
  ASSERT_TRUE(net.hasValue()) << net.status().toString();
  auto e = Builder::build(*net, BuilderConfig{});
  expectMessage(e.status(), {"'y'", "4000000000000 bytes", "limit"});
  EXPECT_EQ(e.status().code(), StatusCode::kOutOfMemory);
}

TEST(Limits, InputShapeWhoseByteSizeWrapsIsRefused) {
  auto net = OnnxParser::parseFile(std::string(KILN_MODELS_DIR) + "/digits_resnet/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig c;
  c.inputShapes["image"] = {72057594037927937LL, 1, 8, 8};  // 2^56 + 1: bytes wrap past 2^64
  auto e = Builder::build(*net, c);
  expectMessage(e.status(), {"'image'", "overflows"});
}

TEST(Limits, EngineLargerThanMemoryIsABuildError) {
  auto net = OnnxParser::parseFile(test::modelDir("mobilenet_v2") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig c;
  c.inputShapes["input"] = {100000, 3, 224, 224};
  auto e = Builder::build(*net, c);
  expectMessage(e.status(), {"bytes", "limit"});
  EXPECT_EQ(e.status().code(), StatusCode::kOutOfMemory);
  // An explicit, smaller limit is honoured the same way.
  BuilderConfig small;
  small.inputShapes["input"] = {1, 3, 224, 224};
  small.maxArenaBytes = 1 << 20;
  e = Builder::build(*net, small);
  expectMessage(e.status(), {"arena", "1048576"});
}

TEST(Limits, ProfileMaxBeyondMemoryIsABuildError) {
  auto net = OnnxParser::parseFile(test::modelDir("mobilenet_v2") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig c;
  OptimizationProfile p;
  p.inputs["input"] = {{1, 3, 224, 224}, {1, 3, 224, 224}, {1000000, 3, 224, 224}};
  c.profiles.push_back(p);
  auto e = Builder::build(*net, c);
  expectMessage(e.status(), {"profile 0", "limit"});
}

TEST(Limits, ContextRefusesInputShapesBeyondTheLimits) {
  auto net = OnnxParser::parseFile(test::modelDir("mobilenet_v2") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig c;
  c.maxArenaBytes = 64 << 20;
  auto e = Builder::build(*net, c);  // dynamic batch
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  auto ctx = (*e)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  ASSERT_TRUE((*ctx)->setInputShape("input", {1000, 3, 224, 224}).isOk());
  auto shape = (*ctx)->getTensorShape("logits");
  expectMessage(shape.status(), {"arena", "limit"});
  // A shape whose bytes overflow is refused when it is set.
  Status s = (*ctx)->setInputShape("input", {INT64_MAX / 2, 3, 224, 224});
  expectMessage(s, {"'input'", "overflows"});
  // After a refusal, a good shape still works.
  ASSERT_TRUE((*ctx)->setInputShape("input", {1, 3, 224, 224}).isOk());
  auto ok = (*ctx)->getTensorShape("logits");
  ASSERT_TRUE(ok.hasValue()) << ok.status().toString();
  EXPECT_EQ(*ok, (Dims{1, 1000}));
}

TEST(Limits, RangeWhoseCountOverflowsIsAnError) {
  ModelBuilder mb(13);
  mb.initializer("start", Weights::fromInts({INT64_MIN}, true))
      .initializer("limit", Weights::fromInts({INT64_MAX}, true))
      .initializer("delta", Weights::fromInts({1}, true))
      .node(NodeSpec("Range", {"start", "limit", "delta"}, {"y"}, {}, "range"))
      .output("y");
  std::string bytes = mb.serialize();
  auto net = OnnxParser::parseBuffer(bytes.data(), bytes.size(), "range.onnx");
  Status s = net ? Builder::build(*net, BuilderConfig{}).status() : net.status();
  expectMessage(s, {"range", "overflows"});
}

TEST(Limits, RangeFromGraphInputsThatOverflowsIsAnErrorAtRunTime) {
  NetworkDefinition net;
  TensorId start = *net.addInput("start", DataType::kInt64, {});
  TensorId limit = *net.addInput("limit", DataType::kInt64, {});
  TensorId delta = net.addConstant("delta", Weights::fromInts({1}, true));
  LayerId l = *net.addLayer("range", FillAttrs{}, {start, limit, delta});
  ASSERT_TRUE(net.markOutput(net.layer(l).outputs[0]).isOk());
  auto e = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  auto ctx = (*e)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  int64_t a = INT64_MIN, b = INT64_MAX;
  ASSERT_TRUE((*ctx)->setInputTensor("start", &a, 8, DataType::kInt64).isOk());
  ASSERT_TRUE((*ctx)->setInputTensor("limit", &b, 8, DataType::kInt64).isOk());
  auto shape = (*ctx)->getTensorShape("range");
  expectMessage(shape.status(), {"range", "overflows"});
}

}  // namespace
}  // namespace kiln
