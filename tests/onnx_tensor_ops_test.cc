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
  return Weights::copyFrom(DataType::kFloat32, dims, v.data(), v.size() * sizeof(float));
}
Weights ints(const Dims& dims, const std::vector<int64_t>& v) {
  return Weights::copyFrom(DataType::kInt64, dims, v.data(), v.size() * sizeof(int64_t));
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
             {{"value", Weights::copyFrom(DataType::kInt32, {1}, &seven, sizeof(seven))}}})
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

}  // namespace
}  // namespace kiln
