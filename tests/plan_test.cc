// Plan file integrity and runtime input checks: every bad plan or bad input is a clear error.
#include <cstring>
#include <fstream>

#include <xxhash.h>

#include "plan/plan_format.h"
#include "test_util.h"

namespace kiln {
namespace {

class PlanFile : public ::testing::Test {
 protected:
  void SetUp() override {
    auto net = OnnxParser::parseFile(std::string(KILN_MODELS_DIR) + "/digits_resnet/model.onnx");
    ASSERT_TRUE(net.hasValue()) << net.status().toString();
    BuilderConfig config;
    config.symbols["batch"] = 2;
    auto e = Builder::build(*net, config);
    ASSERT_TRUE(e.hasValue()) << e.status().toString();
    engine = *e;
    auto b = engine->serialize();
    ASSERT_TRUE(b.hasValue());
    bytes = *b;
  }
  Status load(const std::vector<uint8_t>& b) {
    return Runtime::deserialize(b.data(), b.size(), "test.plan").status();
  }
  std::shared_ptr<Engine> engine;
  std::vector<uint8_t> bytes;
};

TEST_F(PlanFile, HeaderAndAlignment) {
  PlanHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  EXPECT_EQ(std::string(h.magic, 8), "KILNPLAN");
  EXPECT_EQ(h.formatVersion, kPlanFormatVersion);
  EXPECT_EQ(h.fileBytes, bytes.size());
  EXPECT_EQ(h.weightsOffset % 64, 0u);
  EXPECT_TRUE(load(bytes).isOk());
}

TEST_F(PlanFile, TruncatedIsRefused) {
  for (size_t keep : {size_t{0}, size_t{10}, size_t{64}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + static_cast<long>(keep));
    Status s = load(t);
    EXPECT_EQ(s.code(), StatusCode::kCorruptPlan) << keep << ": " << s.toString();
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("test.plan"), std::string::npos) << s.message();
  }
}

TEST_F(PlanFile, FlippedByteAnywhereIsRefused) {
  // Every 97th byte, in the header (past the magic and version), metadata and weights.
  for (size_t i = 16; i < bytes.size(); i += 97) {
    std::vector<uint8_t> c = bytes;
    c[i] ^= 0x20;
    Status s = load(c);
    EXPECT_FALSE(s.isOk()) << "flip at " << i << " accepted";
    EXPECT_EQ(s.code(), StatusCode::kCorruptPlan) << i << ": " << s.toString();
  }
}

TEST_F(PlanFile, ChecksumMessage) {
  std::vector<uint8_t> c = bytes;
  c[c.size() - 3] ^= 1;
  Status s = load(c);
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();
}

TEST_F(PlanFile, WrongVersionIsRefused) {
  std::vector<uint8_t> c = bytes;
  uint32_t v = kPlanFormatVersion + 1;
  std::memcpy(c.data() + 8, &v, sizeof v);
  Status s = load(c);
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch) << s.toString();
  EXPECT_NE(s.message().find("format version " + std::to_string(kPlanFormatVersion + 1)),
            std::string::npos)
      << s.message();
}

/// Replaces `from` by `to` (same length) in the plan bytes and recomputes the checksum, as a
/// plan written by another kiln build or for another device would be.
std::vector<uint8_t> reseal(std::vector<uint8_t> b, const std::string& from,
                            const std::string& to) {
  std::string s(b.begin(), b.end());
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at == std::string::npos) return b;
  std::copy(to.begin(), to.end(), b.begin() + static_cast<long>(at));
  PlanHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  h.checksum = 0;
  std::memcpy(b.data(), &h, sizeof h);
  h.checksum = XXH3_64bits(b.data(), b.size());
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

TEST_F(PlanFile, OtherKilnVersionIsRefused) {
  Status s = load(reseal(bytes, std::string("\x05\0\0\0", 4) + KILN_TEST_VERSION,
                         std::string("\x05\0\0\0", 4) + "9.9.9"));
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch) << s.toString();
  EXPECT_NE(s.message().find("kiln 9.9.9"), std::string::npos) << s.message();
}

TEST_F(PlanFile, OtherDeviceIsRefused) {
  Status s = load(reseal(bytes, "x86_64", "z80_64"));
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch) << s.toString();
  EXPECT_NE(s.message().find("'z80_64'"), std::string::npos) << s.message();
}

TEST_F(PlanFile, UnknownTacticIsRefusedAtLoad) {
  Status s = load(reseal(bytes, "reference.convolution", "reference.convolutiox"));
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch) << s.toString();
  EXPECT_NE(s.message().find("'reference.convolutiox'"), std::string::npos) << s.message();
}

TEST_F(PlanFile, UnknownBackendIsRefused) {
  Status s = load(reseal(bytes, "reference", "referencX"));
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("referencX"), std::string::npos) << s.message();
}

TEST_F(PlanFile, NotAPlan) {
  std::vector<uint8_t> c = bytes;
  c[0] = 'X';
  Status s = load(c);
  EXPECT_EQ(s.code(), StatusCode::kCorruptPlan);
  EXPECT_NE(s.message().find("not a kiln plan"), std::string::npos) << s.message();
}

TEST_F(PlanFile, FileRoundTripAndEmptyFile) {
  std::string dir = test::tempDir("planfile");
  ASSERT_TRUE(engine->serializeToFile(dir + "/d.plan").isOk());
  auto loaded = Runtime::deserializeFile(dir + "/d.plan");  // memory-mapped
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  EXPECT_EQ((*loaded)->layers().size(), engine->layers().size());
  std::ofstream(dir + "/empty.plan").close();
  auto empty = Runtime::deserializeFile(dir + "/empty.plan");
  EXPECT_EQ(empty.status().code(), StatusCode::kCorruptPlan) << empty.status().toString();
  EXPECT_NE(empty.status().message().find("truncated"), std::string::npos);
  EXPECT_FALSE(Runtime::deserializeFile(dir).hasValue());  // a directory
  std::filesystem::remove_all(dir);
}

TEST_F(PlanFile, MissingFile) {
  auto e = Runtime::deserializeFile("/nonexistent/x.plan");
  EXPECT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("/nonexistent/x.plan"), std::string::npos);
}

// ---- runtime input checks ----

class RuntimeInputs : public PlanFile {};

TEST_F(RuntimeInputs, WrongNameShapeDtypeAndSize) {
  auto ctx = engine->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  const IOTensorInfo& in = engine->inputs()[0];
  EXPECT_EQ(in.dims, (Dims{2, 1, 8, 8}));
  std::vector<float> x(128, 0.5f), y(20);

  Status s = (*ctx)->setInputShape("images", {2, 1, 8, 8});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'images'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("image"), std::string::npos) << s.message();

  s = (*ctx)->setInputShape(in.name, {2, 1, 8});
  EXPECT_NE(s.message().find("[2, 1, 8, 8]"), std::string::npos) << s.message();
  s = (*ctx)->setInputShape(in.name, {3, 1, 8, 8});
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find(in.name), std::string::npos) << s.message();

  s = (*ctx)->setInputTensor(in.name, x.data(), x.size() * 4, DataType::kInt32);
  EXPECT_NE(s.message().find("i32"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("f32"), std::string::npos) << s.message();
  s = (*ctx)->setInputTensor(in.name, x.data(), 64 * 4, DataType::kFloat32);
  EXPECT_NE(s.message().find("512"), std::string::npos) << s.message();

  // Nothing bound yet for the output: the context writes it to memory of its own.
  ASSERT_TRUE((*ctx)->setInputTensor(in.name, x.data(), x.size() * 4, DataType::kFloat32).isOk());
  s = (*ctx)->execute();
  EXPECT_TRUE(s.isOk()) << s.toString();
  EXPECT_TRUE((*ctx)->getOutputBuffer(engine->outputs()[0].name).hasValue());
  ASSERT_TRUE(
      (*ctx)
          ->setTensorAddress(engine->outputs()[0].name, y.data(), y.size() * 4, DataType::kFloat32)
          .isOk());
  EXPECT_TRUE((*ctx)->execute().isOk());
}

TEST(Builder, DynamicInputWithoutShapeBuildsAndAsksForTheShapeAtRunTime) {
  auto net = OnnxParser::parseFile(test::modelDir("bert_mini") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  auto e = Builder::build(*net, BuilderConfig{});
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  EXPECT_TRUE((*e)->inputs()[0].isDynamic());
  auto ctx = (*e)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue()) << ctx.status().toString();
  auto shape = (*ctx)->getTensorShape((*e)->outputs()[0].name);
  ASSERT_FALSE(shape.hasValue());
  EXPECT_NE(shape.status().message().find("input_ids"), std::string::npos)
      << shape.status().message();
  EXPECT_NE(shape.status().message().find("setInputShape"), std::string::npos)
      << shape.status().message();
  BuilderConfig c;
  c.inputShapes["nope"] = {1, 2};
  e = Builder::build(*net, c);
  EXPECT_NE(e.status().message().find("'nope'"), std::string::npos) << e.status().message();
  c.inputShapes.clear();
  c.inputShapes["input_ids"] = {2, 64, 1};
  e = Builder::build(*net, c);
  EXPECT_NE(e.status().message().find("rank 2"), std::string::npos) << e.status().message();
}

TEST(Builder, UnsupportedPrecisionAndBackend) {
  auto net = OnnxParser::parseFile(std::string(KILN_MODELS_DIR) + "/digits_resnet/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig c;
  c.symbols["batch"] = 1;
  c.precision = Precision::kINT8;
  EXPECT_EQ(Builder::build(*net, c).status().code(), StatusCode::kUnsupported);
  c.precision = Precision::kFP32;
  c.backend = "tpu";
  auto e = Builder::build(*net, c);
  EXPECT_NE(e.status().message().find("'tpu'"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace kiln
