// End-to-end tests of Resize and Upsample: small ONNX models imported, built on the reference
// backend and run against hand-checked values, a plan round trip, and the refusals (hostile
// scales and sizes, unsupported combinations) that must be errors naming the node, not crashes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "importer/onnx/model_builder.h"
#include "kiln/kiln.h"
#include "kiln/onnx_parser.h"
#include "test_util.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;

Shape fixed(std::initializer_list<int64_t> dims) {
  return shapeFromDims(Dims(dims));
}

Weights floats(const Dims& dims, const std::vector<float>& v) {
  return *Weights::copyFrom(DataType::kFloat32, dims, v.data(), v.size() * sizeof(float));
}
Weights ints(const Dims& dims, const std::vector<int64_t>& v) {
  return *Weights::copyFrom(DataType::kInt64, dims, v.data(), v.size() * sizeof(int64_t));
}

Expected<std::shared_ptr<Engine>> buildModel(const ModelBuilder& b) {
  std::string bytes = b.serialize();
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net,
                        OnnxParser::parseBuffer(bytes.data(), bytes.size(), "resize.onnx"));
  return Builder::build(net, BuilderConfig{});
}

Expected<std::vector<Weights>> run(const Engine& engine, const std::vector<Weights>& inputs) {
  std::vector<NamedTensor> named;
  for (const Weights& w : inputs)
    named.push_back({"", w});
  return test::runEngine(engine, named);
}

std::vector<double> values(const Weights& w) {
  auto v = w.toDoubles();
  EXPECT_TRUE(v.hasValue());
  return v ? *v : std::vector<double>{};
}

/// x [1, 1, 2, 2] = [[1, 2], [3, 4]] resized by a scales input `s` of 4 values.
void scalesModel(ModelBuilder& b, std::vector<onnx_import::NodeAttr> attrs = {}) {
  b.input("x", DataType::kFloat32, fixed({1, 1, 2, 2}))
      .input("s", DataType::kFloat32, fixed({4}))
      .node({"Resize", {"x", "", "s"}, {"y"}, attrs, "resize"})
      .output("y");
}

const std::vector<float> kX = {1, 2, 3, 4};

TEST(OnnxResize, NearestAndLinearWithScalesGivenAtRunTime) {
  ModelBuilder nb(19);
  scalesModel(nb);
  auto nearest = buildModel(nb);
  ASSERT_TRUE(nearest) << nearest.status().toString();
  auto outs = run(**nearest, {floats({1, 1, 2, 2}, kX), floats({4}, {1, 1, 1, 2})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dims(), (Dims{1, 1, 2, 4}));
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{1, 1, 2, 2, 3, 3, 4, 4}));

  ModelBuilder lb(19);
  scalesModel(lb, {{"mode", std::string("linear")}});
  auto linear = buildModel(lb);
  ASSERT_TRUE(linear) << linear.status().toString();
  outs = run(**linear, {floats({1, 1, 2, 2}, kX), floats({4}, {1, 1, 1, 2})});
  ASSERT_TRUE(outs) << outs.status().toString();
  // half_pixel: output columns sample input columns -0.25, 0.25, 0.75, 1.25 (clamped).
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{1, 1.25, 1.75, 2, 3, 3.25, 3.75, 4}));
  // Other scales on the same engine give other output dims.
  outs = run(**linear, {floats({1, 1, 2, 2}, kX), floats({4}, {1, 1, 0.5, 0.5})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dims(), (Dims{1, 1, 1, 1}));
}

TEST(OnnxResize, SizesConstantAndPlanRoundTrip) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat32, fixed({1, 1, 2, 2}))
      .initializer("sizes", Weights::fromInts({1, 1, 3, 3}))
      .node({"Resize",
             {"x", "", "", "sizes"},
             {"y"},
             {{"mode", std::string("linear")},
              {"coordinate_transformation_mode", std::string("align_corners")}}})
      .output("y");
  auto engine = buildModel(b);
  ASSERT_TRUE(engine) << engine.status().toString();
  const std::vector<double> want = {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4};
  auto outs = run(**engine, {floats({1, 1, 2, 2}, kX)});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ(values((*outs)[0]), want);
  auto plan = (*engine)->serialize();
  ASSERT_TRUE(plan) << plan.status().toString();
  auto loaded = Runtime::deserialize(plan->data(), plan->size());
  ASSERT_TRUE(loaded) << loaded.status().toString();
  outs = run(**loaded, {floats({1, 1, 2, 2}, kX)});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ(values((*outs)[0]), want);
}

TEST(OnnxResize, UpsampleAttributeScales) {
  ModelBuilder b(7);
  b.input("x", DataType::kFloat32, fixed({1, 1, 2, 2}))
      .node({"Upsample", {"x"}, {"y"}, {{"scales", std::vector<float>{1, 1, 2, 1}}}})
      .output("y");
  auto engine = buildModel(b);
  ASSERT_TRUE(engine) << engine.status().toString();
  auto outs = run(**engine, {floats({1, 1, 2, 2}, kX)});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dims(), (Dims{1, 1, 4, 2}));
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{1, 2, 1, 2, 3, 4, 3, 4}));
}

/// The error of running the scales model on scales `s` (x of dims `xd`), or ok.
Status scalesError(const std::vector<float>& s, const Dims& xd = {1, 1, 2, 2}) {
  ModelBuilder b(19);
  b.input("x", DataType::kFloat32, shapeFromDims(xd))
      .input("s", DataType::kFloat32, fixed({static_cast<int64_t>(s.size())}))
      .node({"Resize", {"x", "", "s"}, {"y"}, {}, "resize"})
      .output("y");
  auto engine = buildModel(b);
  if (!engine) return engine.status();
  std::vector<float> x(static_cast<size_t>(volume(xd)), 1.0f);
  auto outs = run(**engine, {floats(xd, x), floats({static_cast<int64_t>(s.size())}, s)});
  return outs.status();
}

TEST(OnnxResize, HostileScalesAreErrors) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const auto& [scales, what] : std::vector<std::pair<std::vector<float>, std::string>>{
           {{1, 1, nan, 1}, "finite and positive"},
           {{1, 1, inf, 1}, "finite and positive"},
           {{1, 1, -2, 1}, "finite and positive"},
           {{1, 1, 0, 1}, "finite and positive"},
           {{1, 1, 1e30f, 1}, "too large"},
           {{1, 1, 3e9f, 3e9f}, "overflow"},
           {{1, 1, 2}, "one per resized axis"}}) {
    Status s = scalesError(scales);
    EXPECT_FALSE(s.isOk()) << what;
    EXPECT_NE(s.message().find(what), std::string::npos) << s.toString();
    EXPECT_NE(s.message().find("resize"), std::string::npos) << s.toString();
  }
  Status s = scalesError({1, 1, 2, 2}, {1, 1, 0, 2});
  EXPECT_TRUE(s.isOk()) << s.toString();  // 0 * 2 = 0: an empty output
}

TEST(OnnxResize, RefusalsNameTheNode) {
  auto refusal = [](const ModelBuilder& b) {
    auto engine = buildModel(b);
    EXPECT_FALSE(engine);
    return engine ? std::string() : engine.status().toString();
  };
  ModelBuilder both(19);
  both.input("x", DataType::kFloat32, fixed({1, 1, 2, 2}))
      .initializer("s", Weights::fromFloats({1, 1, 2, 2}, false))
      .initializer("z", Weights::fromInts({1, 1, 4, 4}))
      .node({"Resize", {"x", "", "s", "z"}, {"y"}, {}, "resize"})
      .output("y");
  std::string m = refusal(both);
  EXPECT_NE(m.find("exactly one"), std::string::npos) << m;
  EXPECT_NE(m.find("resize"), std::string::npos) << m;

  ModelBuilder exclude(19);
  scalesModel(exclude, {{"exclude_outside", int64_t{1}}});
  m = refusal(exclude);
  EXPECT_NE(m.find("exclude_outside"), std::string::npos) << m;

  ModelBuilder mode(19);
  scalesModel(mode, {{"mode", std::string("bicubic")}});
  m = refusal(mode);
  EXPECT_NE(m.find("'mode' is 'bicubic'"), std::string::npos) << m;

  ModelBuilder zero(19);
  zero.input("x", DataType::kFloat32, fixed({1, 1, 0, 2}))
      .initializer("z", Weights::fromInts({1, 1, 3, 2}))
      .node({"Resize", {"x", "", "", "z"}, {"y"}, {}, "resize"})
      .output("y");
  m = refusal(zero);
  EXPECT_NE(m.find("of size 0"), std::string::npos) << m;

  ModelBuilder negative(19);
  negative.input("x", DataType::kFloat32, fixed({1, 1, 2, 2}))
      .initializer("z", Weights::fromInts({1, 1, -3, 2}))
      .node({"Resize", {"x", "", "", "z"}, {"y"}, {}, "resize"})
      .output("y");
  m = refusal(negative);
  EXPECT_NE(m.find("negative"), std::string::npos) << m;
}

// ---- GridSample, AffineGrid, CenterCropPad -----------------------------------------------------

TEST(OnnxResize, AffineGridIdentityFeedsGridSample) {
  // The identity theta gives the grid of the samples' own positions, so GridSample reproduces x
  // for every mode and both corner conventions.
  for (int64_t align : {0, 1})
    for (const char* mode : {"nearest", "linear", "cubic"}) {
      ModelBuilder b(22);
      b.input("x", DataType::kFloat32, fixed({1, 1, 2, 3}))
          .input("theta", DataType::kFloat32, fixed({1, 2, 3}))
          .initializer("size", Weights::fromInts({1, 1, 2, 3}))
          .node({"AffineGrid", {"theta", "size"}, {"grid"}, {{"align_corners", align}}})
          .node({"GridSample",
                 {"x", "grid"},
                 {"y"},
                 {{"align_corners", align}, {"mode", std::string(mode)}}})
          .output("y");
      auto engine = buildModel(b);
      ASSERT_TRUE(engine) << engine.status().toString();
      auto outs = run(**engine, {floats({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6}),
                                 floats({1, 2, 3}, {1, 0, 0, 0, 1, 0})});
      ASSERT_TRUE(outs) << outs.status().toString();
      EXPECT_EQ((*outs)[0].dims(), (Dims{1, 1, 2, 3}));
      std::vector<double> y = values((*outs)[0]);
      const std::vector<double> want = {1, 2, 3, 4, 5, 6};
      ASSERT_EQ(y.size(), want.size());
      for (size_t i = 0; i < y.size(); ++i)
        EXPECT_NEAR(y[i], want[i], 1e-5) << mode << " align_corners=" << align << " at " << i;
    }
}

TEST(OnnxResize, GridSampleRefusals) {
  ModelBuilder b(22);
  b.input("x", DataType::kFloat32, fixed({1, 1, 2, 3}))
      .input("grid", DataType::kFloat32, fixed({1, 2, 3, 3}))
      .node({"GridSample", {"x", "grid"}, {"y"}, {}, "sample"})
      .output("y");
  auto engine = buildModel(b);
  ASSERT_FALSE(engine);
  EXPECT_NE(engine.status().message().find("one coordinate per spatial dim"), std::string::npos)
      << engine.status().toString();
  EXPECT_NE(engine.status().message().find("sample"), std::string::npos);

  ModelBuilder cubic(22);
  cubic.input("x", DataType::kFloat32, fixed({1, 1, 2, 2, 2}))
      .input("grid", DataType::kFloat32, fixed({1, 2, 2, 2, 3}))
      .node({"GridSample", {"x", "grid"}, {"y"}, {{"mode", std::string("cubic")}}, "sample"})
      .output("y");
  engine = buildModel(cubic);
  ASSERT_FALSE(engine);
  EXPECT_NE(engine.status().message().find("2-D inputs"), std::string::npos)
      << engine.status().toString();
}

TEST(OnnxResize, CenterCropPadCropsAndPads) {
  ModelBuilder b(18);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .input("shape", DataType::kInt64, fixed({2}))
      .node({"CenterCropPad", {"x", "shape"}, {"y"}})
      .output("y");
  auto engine = buildModel(b);
  ASSERT_TRUE(engine) << engine.status().toString();
  // Axis 0 padded from 2 to 4 (1 in front), axis 1 cropped from 3 to 2 (start 0).
  auto outs = run(**engine, {floats({2, 3}, {1, 2, 3, 4, 5, 6}), ints({2}, {4, 2})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dims(), (Dims{4, 2}));
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{0, 0, 1, 2, 4, 5, 0, 0}));
}

}  // namespace
}  // namespace kiln
