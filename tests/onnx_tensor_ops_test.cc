// End-to-end tests of the tensor and data-movement operators (ConstantOfShape, Size, Pad, Trilu,
// Tile, ...): a small ONNX model is imported, built on the reference backend and run, and the
// outputs are compared with hand-checked values. Models are built with onnx_import::ModelBuilder.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "importer/onnx/model_builder.h"
#include "kiln/kiln.h"
#include "kiln/onnx_parser.h"
#include "test_util.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeSpec;

Expected<std::shared_ptr<Engine>> buildModel(const ModelBuilder& b, BuilderConfig config = {}) {
  std::string bytes = b.serialize();
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net,
                        OnnxParser::parseBuffer(bytes.data(), bytes.size(), "tensor_ops.onnx"));
  return Builder::build(net, config);
}

/// Builds `b` (dynamic dims stay free) and runs it once on `inputs`, in input order.
Expected<std::vector<Weights>> run(const ModelBuilder& b, const std::vector<Weights>& inputs) {
  KILN_ASSIGN_OR_RETURN(auto engine, buildModel(b));
  std::vector<NamedTensor> named;
  for (const Weights& w : inputs)
    named.push_back({"", w});
  return test::runEngine(*engine, named);
}

Weights floats(const Dims& dims, const std::vector<float>& v) {
  return *Weights::copyFrom(DataType::kFloat32, dims, v.data(), v.size() * sizeof(float));
}
Weights ints(const Dims& dims, const std::vector<int64_t>& v) {
  return *Weights::copyFrom(DataType::kInt64, dims, v.data(), v.size() * sizeof(int64_t));
}
/// 0, 1, 2, ... as floats.
Weights iota(const Dims& dims) {
  std::vector<float> v(static_cast<size_t>(volume(dims)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(i);
  return floats(dims, v);
}

std::vector<double> values(const Weights& w) {
  auto v = w.toDoubles();
  EXPECT_TRUE(v.hasValue());
  return v ? *v : std::vector<double>{};
}

int countKind(const Engine& engine, const std::string& kind) {
  int n = 0;
  for (const LayerInfo& l : engine.layers())
    n += l.kind == kind;
  return n;
}

Shape fixed(std::initializer_list<int64_t> dims) {
  return shapeFromDims(Dims(dims));
}

// ---- ConstantOfShape, Size --------------------------------------------------------------------

TEST(OnnxTensorOps, ConstantOfShapeFoldsFromASymbolicShape) {
  ModelBuilder b(17);
  int32_t seven = 7;
  b.input("x", DataType::kFloat32, {Dim::named("N"), 3})
      .node({"Shape", {"x"}, {"s"}})
      .node({"ConstantOfShape",
             {"s"},
             {"y"},
             {{"value", *Weights::copyFrom(DataType::kInt32, {1}, &seven, sizeof(seven))}}})
      .output("y");
  auto engine = buildModel(b);
  ASSERT_TRUE(engine) << engine.status().toString();
  EXPECT_EQ(countKind(**engine, "ShapeOf"), 0);  // the shape computation folded
  for (int64_t n : {2, 5}) {
    auto outs = test::runEngine(**engine, {{"x", iota({n, 3})}});
    ASSERT_TRUE(outs) << outs.status().toString();
    EXPECT_EQ((*outs)[0].dtype(), DataType::kInt32);
    EXPECT_EQ((*outs)[0].dims(), (Dims{n, 3}));
    EXPECT_EQ(values((*outs)[0]), std::vector<double>(static_cast<size_t>(3 * n), 7.0));
  }
}

TEST(OnnxTensorOps, ConstantOfShapeDefaultsAndErrors) {
  ModelBuilder b(17);
  b.input("s", DataType::kInt64, fixed({2})).node({"ConstantOfShape", {"s"}, {"y"}}).output("y");
  auto outs = run(b, {ints({2}, {2, 0})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dtype(), DataType::kFloat32);
  EXPECT_EQ((*outs)[0].dims(), (Dims{2, 0}));
  outs = run(b, {ints({2}, {1, 2})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{0, 0}));

  ModelBuilder bad(17);
  bad.input("s", DataType::kInt64, fixed({1}))
      .node({"ConstantOfShape", {"s"}, {"y"}, {{"value", Weights::fromFloats({1, 2})}}, "cos"})
      .output("y");
  std::string bytes = bad.serialize();
  auto net = OnnxParser::parseBuffer(bytes.data(), bytes.size(), "bad.onnx");
  ASSERT_FALSE(net);
  EXPECT_NE(net.status().message().find("exactly one element"), std::string::npos)
      << net.status().toString();
  EXPECT_NE(net.status().message().find("cos"), std::string::npos);
}

TEST(OnnxTensorOps, SizeFoldsToTheElementCount) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat32, {Dim::named("N"), 3, Dim::named("W")})
      .input("s", DataType::kFloat32, fixed({}))
      .node({"Size", {"x"}, {"y"}})
      .node({"Size", {"s"}, {"z"}})
      .output("y")
      .output("z");
  auto engine = buildModel(b);
  ASSERT_TRUE(engine) << engine.status().toString();
  EXPECT_EQ(countKind(**engine, "ShapeOf"), 0);
  EXPECT_EQ(countKind(**engine, "Reduce"), 0);
  auto outs = test::runEngine(**engine, {{"x", iota({2, 3, 4})}, {"s", floats({}, {1})}});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dtype(), DataType::kInt64);
  EXPECT_EQ((*outs)[0].dims(), Dims{});
  EXPECT_EQ(values((*outs)[0]), std::vector<double>{24});
  EXPECT_EQ(values((*outs)[1]), std::vector<double>{1});
}

// ---- Pad, Trilu ------------------------------------------------------------------------------

TEST(OnnxTensorOps, PadModes) {
  // x = [[0, 1, 2], [3, 4, 5]], padded by 1 column in front and 2 behind on axis 1.
  auto padded = [](const std::string& mode) {
    ModelBuilder b(19);
    b.input("x", DataType::kFloat32, fixed({2, 3}))
        .initializer("pads", Weights::fromInts({0, 1, 0, 2}))
        .initializer("v", Weights::fromFloats({9}, true))
        .node({"Pad", {"x", "pads", "v"}, {"y"}, {{"mode", mode}}})
        .output("y");
    auto outs = run(b, {iota({2, 3})});
    EXPECT_TRUE(outs) << outs.status().toString();
    if (outs) EXPECT_EQ((*outs)[0].dims(), (Dims{2, 6}));
    return outs ? values((*outs)[0]) : std::vector<double>{};
  };
  EXPECT_EQ(padded("constant"), (std::vector<double>{9, 0, 1, 2, 9, 9, 9, 3, 4, 5, 9, 9}));
  EXPECT_EQ(padded("reflect"), (std::vector<double>{1, 0, 1, 2, 1, 0, 4, 3, 4, 5, 4, 3}));
  EXPECT_EQ(padded("edge"), (std::vector<double>{0, 0, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5}));
  EXPECT_EQ(padded("wrap"), (std::vector<double>{2, 0, 1, 2, 0, 1, 5, 3, 4, 5, 3, 4}));
}

TEST(OnnxTensorOps, PadAxesNegativePadsAndAttributeForm) {
  ModelBuilder b(18);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .initializer("pads", Weights::fromInts({-1, 1}))
      .initializer("axes", Weights::fromInts({-1}))
      .node({"Pad", {"x", "pads", "", "axes"}, {"y"}})
      .output("y");
  auto outs = run(b, {iota({2, 3})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{1, 2, 0, 4, 5, 0}));

  ModelBuilder old(2);
  old.input("x", DataType::kFloat32, fixed({1, 2}))
      .node({"Pad", {"x"}, {"y"}, {{"pads", std::vector<int64_t>{1, 0, 0, 1}}, {"value", 1.5f}}})
      .output("y");
  outs = run(old, {iota({1, 2})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ((*outs)[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{1.5, 1.5, 1.5, 0, 1, 1.5}));
}

TEST(OnnxTensorOps, PadErrors) {
  ModelBuilder b(18);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .initializer("pads", Weights::fromInts({1, 1}))
      .node({"Pad", {"x", "pads"}, {"y"}, {}, "pad"})
      .output("y");
  auto engine = buildModel(b);
  ASSERT_FALSE(engine);
  EXPECT_NE(engine.status().message().find("2 per padded axis"), std::string::npos)
      << engine.status().toString();

  ModelBuilder mode(13);
  mode.input("x", DataType::kFloat32, fixed({2, 3}))
      .initializer("pads", Weights::fromInts({0, 0, 0, 0}))
      .node({"Pad", {"x", "pads"}, {"y"}, {{"mode", std::string("wrap")}}, "pad"})
      .output("y");
  engine = buildModel(mode);
  ASSERT_FALSE(engine);
  EXPECT_NE(engine.status().message().find("'mode' is 'wrap'"), std::string::npos)
      << engine.status().toString();
}

TEST(OnnxTensorOps, TriluUpperAndLower) {
  auto trilu = [](int64_t upper, int64_t k) {
    ModelBuilder b(14);
    b.input("x", DataType::kFloat32, fixed({2, 3}))
        .initializer("k", Weights::fromInts({k}, true))
        .node({"Trilu", {"x", "k"}, {"y"}, {{"upper", upper}}})
        .output("y");
    auto outs = run(b, {floats({2, 3}, {1, 2, 3, 4, 5, 6})});
    EXPECT_TRUE(outs) << outs.status().toString();
    return outs ? values((*outs)[0]) : std::vector<double>{};
  };
  EXPECT_EQ(trilu(1, 0), (std::vector<double>{1, 2, 3, 0, 5, 6}));
  EXPECT_EQ(trilu(1, 1), (std::vector<double>{0, 2, 3, 0, 0, 6}));
  EXPECT_EQ(trilu(0, 0), (std::vector<double>{1, 0, 0, 4, 5, 0}));
  EXPECT_EQ(trilu(0, -1), (std::vector<double>{0, 0, 0, 4, 0, 0}));
}

TEST(OnnxTensorOps, ShapeOfARunTimePadIsComputedNotFolded) {
  // The pads are a graph input, so the padded dims are opaque when building; the Shape of the
  // result must be computed after the Pad runs, not folded into a symbolic constant.
  ModelBuilder b(18);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .input("pads", DataType::kInt64, fixed({4}))
      .node({"Pad", {"x", "pads"}, {"y"}})
      .node({"Shape", {"y"}, {"s"}})
      .output("s");
  auto outs = run(b, {iota({2, 3}), ints({4}, {1, 0, 0, 2})});
  ASSERT_TRUE(outs) << outs.status().toString();
  EXPECT_EQ(values((*outs)[0]), (std::vector<double>{3, 5}));
}

}  // namespace
}  // namespace kiln
