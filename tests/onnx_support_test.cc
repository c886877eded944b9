// The importer's support report (every unsupported operator and type of a model at once, with
// the nodes; ONNX's opset-import rules) and the semantics of opsets 1 to 6 (broadcast
// attributes, is_test, spatial, attribute-style params), checked by running the models.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>

#include "importer/onnx/model_builder.h"
#include "kiln/onnx_parser.h"
#include "test_util.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeAttr;
using onnx_import::NodeSpec;

Expected<NetworkDefinition> parse(const ModelBuilder& b) {
  std::string bytes = b.serialize();
  return OnnxParser::parseBuffer(bytes.data(), bytes.size(), "test.onnx");
}

Expected<OnnxSupportReport> check(const ModelBuilder& b) {
  std::string bytes = b.serialize();
  return OnnxParser::checkSupportBuffer(bytes.data(), bytes.size(), "test.onnx");
}

Shape fixed(std::initializer_list<int64_t> dims) {
  return shapeFromDims(Dims(dims));
}

Weights floats(const Dims& dims, const std::vector<float>& v) {
  return Weights::copyFrom(DataType::kFloat32, dims, v.data(), v.size() * sizeof(float)).value();
}

std::vector<double> values(const Weights& w) {
  return *w.toDoubles();
}

/// Parses, builds for the inputs' shapes and runs once on the reference backend.
Expected<std::vector<Weights>> run(const ModelBuilder& b, const std::vector<NamedTensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net, parse(b));
  KILN_ASSIGN_OR_RETURN(auto engine, test::buildFor(net, inputs));
  return test::runEngine(*engine, inputs);
}

// ---- the support report ---------------------------------------------------------------------

TEST(OnnxSupport, BuildListsEveryUnsupportedOperatorWithItsNodes) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({1, 3, 4, 4}))
      .node({"GRU", {"x"}, {"a"}, {{"size", int64_t{3}}}, "conv1/gru"})
      .node({"Relu", {"a"}, {"r"}, {}, "relu"})
      .node({"GRU", {"r"}, {"c"}, {{"size", int64_t{3}}}, "conv2/gru"})
      .node({"Foo", {"c"}, {"y"}, {}, "x"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(net.status().message(),
            "'test.onnx': 2 operators are not supported: Foo (node x), GRU (nodes conv1/gru, "
            "conv2/gru)");

  auto report = check(b);
  ASSERT_TRUE(report) << report.status().toString();
  EXPECT_FALSE(report->supported());
  EXPECT_EQ(report->opset, 17);
  ASSERT_EQ(report->operators.size(), 3u);  // Foo, GRU, Relu: sorted, each once
  EXPECT_EQ(report->operators[0].opType, "Foo");
  EXPECT_EQ(report->operators[1].nodes, (std::vector<std::string>{"conv1/gru", "conv2/gru"}));
  EXPECT_EQ(report->operators[1].unsupportedReason, "not implemented");
  EXPECT_EQ(report->operators[2].opType, "Relu");
  EXPECT_TRUE(report->operators[2].unsupportedReason.empty());
  EXPECT_EQ(report->unsupportedOperators().size(), 2u);
}

TEST(OnnxSupport, LongNodeListsAreShortened) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({2}));
  std::string prev = "x";
  for (int i = 0; i < 7; ++i) {
    std::string out = "t" + std::to_string(i);
    b.node({"Foo", {prev}, {out}, {}, "foo" + std::to_string(i)});
    prev = out;
  }
  b.output(prev);
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_NE(net.status().message().find("Foo (nodes foo0, foo1, foo2, foo3, foo4 and 2 more)"),
            std::string::npos)
      << net.status().message();
}

TEST(OnnxSupport, TypesAreListedWithOperators) {
  ModelBuilder b(17);
  b.inputWithOnnxType("text", 8, {2})  // STRING
      .sequenceInput("seq", DataType::kFloat32)
      .input("x", DataType::kFloat32, fixed({2}))
      .node({"Cast", {"x"}, {"u"}, {{"to", int64_t{14}}}, "to_c64"})  // COMPLEX64
      .node({"Bar", {"u", "text", "seq"}, {"y"}, {}, "bar"})
      .output("y");
  auto report = check(b);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->unsupportedTypes.size(), 3u);  // sorted by type
  EXPECT_EQ(report->unsupportedTypes[0].type, "complex64");
  EXPECT_EQ(report->unsupportedTypes[0].uses,
            std::vector<std::string>{"node 'to_c64' (Cast 'to')"});
  EXPECT_EQ(report->unsupportedTypes[1].type, "sequence");
  EXPECT_EQ(report->unsupportedTypes[2].type, "string");
  EXPECT_EQ(report->unsupportedTypes[2].uses, std::vector<std::string>{"input 'text'"});
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(net.status().message(),
            "'test.onnx': 1 operator is not supported: Bar (node bar); 3 types are not "
            "supported: complex64 (node 'to_c64' (Cast 'to')), sequence (input 'seq'), string "
            "(input 'text')");
}

TEST(OnnxSupport, ModelWithoutDefaultDomainIsValid) {
  // ONNX: from IR version 3 a model lists the domains it uses; one that uses only another
  // domain need not import the default one (onnx.checker accepts it).
  ModelBuilder b(0);
  b.opsetImport("ai.onnx.ml", 1);
  b.input("x", DataType::kFloat32, fixed({2}))
      .node({"Binarizer", {"x"}, {"y"}, {}, "bin", "ai.onnx.ml"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported) << net.status().toString();
  EXPECT_EQ(net.status().message(),
            "'test.onnx': 1 operator is not supported: ai.onnx.ml.Binarizer (node bin: domain "
            "'ai.onnx.ml' is not supported; kiln imports the default ONNX domain)");
  auto report = check(b);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->opset, 0);
  EXPECT_TRUE(report->invalidReasons.empty());

  // A model without nodes and without opset imports is valid too.
  ModelBuilder empty(0);
  empty.input("x", DataType::kFloat32, fixed({2})).output("x");
  EXPECT_TRUE(parse(empty)) << parse(empty).status().toString();
}

TEST(OnnxSupport, DefaultDomainNodeWithoutItsImportIsInvalid) {
  ModelBuilder b(0);
  b.opsetImport("ai.onnx.ml", 1);
  b.input("x", DataType::kFloat32, fixed({2})).node({"Relu", {"x"}, {"y"}, {}, "r"}).output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(net.status().message().find("nodes r) but does not import the default ONNX domain"),
            std::string::npos)
      << net.status().message();
}

TEST(OnnxSupport, IrVersion2WithoutOpsetImportIsOpset1) {
  ModelBuilder b(0);
  b.irVersion(2);
  b.input("x", DataType::kFloat32, fixed({3})).node({"Relu", {"x"}, {"y"}, {}, "r"}).output("y");
  auto report = check(b);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->opset, 1);
  auto out = run(b, {{"x", floats({3}, {-1, 0, 2})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{0, 0, 2}));
}

TEST(OnnxSupport, OpsetRange) {
  ModelBuilder newer(OnnxParser::maxOpset() + 1);
  newer.input("x", DataType::kFloat32, fixed({2})).output("x");
  auto a = parse(newer);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(a.status().message().find("opset 29; kiln imports opsets 1 to 28"), std::string::npos)
      << a.status().message();

  // An operator used at an opset older than the one that introduced it.
  ModelBuilder early(17);
  early.input("x", DataType::kFloat32, fixed({2}))
      .node({"Gelu", {"x"}, {"y"}, {}, "g"})
      .output("y");
  auto b = parse(early);
  ASSERT_FALSE(b);
  EXPECT_NE(b.status().message().find(
                "Gelu (node g: introduced in opset 20; the model imports opset 17)"),
            std::string::npos)
      << b.status().message();
}

TEST(OnnxSupport, OperatorTable) {
  std::vector<OnnxOperatorSupport> ops = OnnxParser::operators();
  std::vector<std::string> names = OnnxParser::supportedOps();
  ASSERT_EQ(ops.size(), names.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(ops[i].opType, names[i]);
    EXPECT_GE(ops[i].firstOpset, OnnxParser::minOpset());
    EXPECT_EQ(ops[i].lastOpset, OnnxParser::maxOpset());
  }
  auto find = [&](const std::string& op) {
    for (const auto& o : ops)
      if (o.opType == op) return o.firstOpset;
    return int64_t{-1};
  };
  EXPECT_EQ(find("Add"), 1);
  EXPECT_EQ(find("Where"), 9);
  EXPECT_EQ(find("Gelu"), 20);
  EXPECT_EQ(find("LayerNormalization"), 17);
}

// ---- opsets 1 to 6 --------------------------------------------------------------------------

TEST(OnnxLegacyOpset, BroadcastWithAxis) {
  // Opset 6: B = [3] with axis 1 against A = [2, 3, 2] broadcasts along dim 1 (numpy would
  // align it with the last dim).
  ModelBuilder b(6);
  b.input("a", DataType::kFloat32, fixed({2, 3, 2}))
      .input("b", DataType::kFloat32, fixed({3}))
      .node({"Add", {"a", "b"}, {"y"}, {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}}, "add"})
      .output("y");
  auto out =
      run(b, {{"a", floats({2, 3, 2}, std::vector<float>(12, 0))}, {"b", floats({3}, {1, 2, 3})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ((*out)[0].dims(), (Dims{2, 3, 2}));
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));

  // Without axis, B aligns with A's trailing dims, as in numpy.
  ModelBuilder t(1);
  t.input("a", DataType::kFloat32, fixed({2, 2}))
      .input("b", DataType::kFloat32, fixed({2}))
      .node({"Mul", {"a", "b"}, {"y"}, {{"broadcast", int64_t{1}}}, "mul"})
      .output("y");
  out = run(t, {{"a", floats({2, 2}, {1, 2, 3, 4})}, {"b", floats({2}, {10, 100})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{10, 200, 30, 400}));

  // An axis that does not fit is an invalid model, named.
  ModelBuilder bad(6);
  bad.input("a", DataType::kFloat32, fixed({2, 3}))
      .input("b", DataType::kFloat32, fixed({3, 4}))
      .node({"Sub", {"a", "b"}, {"y"}, {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}}, "sub"})
      .output("y");
  auto net = parse(bad);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(net.status().message().find("node 'sub' (Sub, #0): attribute 'axis' is 1"),
            std::string::npos)
      << net.status().message();
}

TEST(OnnxLegacyOpset, BatchNormalizationIsTestAndSpatial) {
  auto model = [](int64_t opset, std::vector<NodeAttr> attrs, const Dims& paramDims) {
    auto b = std::make_unique<ModelBuilder>(opset);
    int64_t n = volume(paramDims);
    std::vector<float> ones(static_cast<size_t>(n), 1.0f), zeros(static_cast<size_t>(n), 0.0f);
    std::vector<float> mean(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      mean[static_cast<size_t>(i)] = static_cast<float>(i);
    b->input("x", DataType::kFloat32, fixed({1, 2, 2}))
        .initializer("s", floats(paramDims, ones))
        .initializer("b", floats(paramDims, zeros))
        .initializer("m", floats(paramDims, mean))
        .initializer("v", floats(paramDims, ones))
        .node({"BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, attrs, "bn"})
        .output("y");
    return b;
  };
  const Weights x = floats({1, 2, 2}, {10, 10, 10, 10});
  // Opset 6 runs in training mode unless is_test=1.
  auto training = parse(*model(6, {{"epsilon", 0.0f}}, {2}));
  ASSERT_FALSE(training);
  EXPECT_NE(training.status().message().find("is_test=0"), std::string::npos);
  auto test = run(*model(6, {{"epsilon", 0.0f}, {"is_test", int64_t{1}}}, {2}), {{"x", x}});
  ASSERT_TRUE(test) << test.status().toString();
  EXPECT_EQ(values((*test)[0]), (std::vector<double>{10, 10, 9, 9}));  // per-channel mean 0, 1
  // spatial=0 (opsets 1-8): statistics per activation, params of shape [C, D1].
  auto perActivation =
      run(*model(7, {{"epsilon", 0.0f}, {"spatial", int64_t{0}}}, {2, 2}), {{"x", x}});
  ASSERT_TRUE(perActivation) << perActivation.status().toString();
  EXPECT_EQ(values((*perActivation)[0]), (std::vector<double>{10, 9, 8, 7}));
}

TEST(OnnxLegacyOpset, AttributeStyleParams) {
  // Reshape's shape is an attribute before opset 5.
  ModelBuilder r(4);
  r.input("x", DataType::kFloat32, fixed({2, 3}))
      .node({"Reshape", {"x"}, {"y"}, {{"shape", std::vector<int64_t>{3, -1}}}, "reshape"})
      .output("y");
  auto out = run(r, {{"x", floats({2, 3}, {1, 2, 3, 4, 5, 6})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ((*out)[0].dims(), (Dims{3, 2}));

  // Concat's axis defaults to 1 before opset 4.
  ModelBuilder c(3);
  c.input("a", DataType::kFloat32, fixed({1, 2}))
      .node({"Concat", {"a", "a"}, {"y"}, {}, "cat"})
      .output("y");
  out = run(c, {{"a", floats({1, 2}, {1, 2})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ((*out)[0].dims(), (Dims{1, 4}));

  // Cast's target is a type name before opset 6.
  ModelBuilder k(5);
  k.input("x", DataType::kFloat32, fixed({2}))
      .node({"Cast", {"x"}, {"y"}, {{"to", std::string("INT32")}}, "cast"})
      .output("y");
  out = run(k, {{"x", floats({2}, {1.5f, -2.5f})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ((*out)[0].dtype(), DataType::kInt32);
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{1, -2}));

  // Split takes its sizes from a second input in opset 1.
  ModelBuilder s(1);
  s.input("x", DataType::kFloat32, fixed({3}))
      .initializer("sizes", Weights::fromInts({1, 2}))
      .node({"Split", {"x", "sizes"}, {"p", "q"}, {}, "split"})
      .output("p")
      .output("q");
  out = run(s, {{"x", floats({3}, {1, 2, 3})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ((*out)[1].dims(), (Dims{2}));
}

TEST(OnnxLegacyOpset, DropoutAndClip) {
  ModelBuilder train(6);
  train.input("x", DataType::kFloat32, fixed({2}))
      .node({"Dropout", {"x"}, {"y"}, {}, "drop"})
      .output("y");
  auto net = parse(train);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(net.status().message().find("is_test=0"), std::string::npos);

  ModelBuilder test(6);
  test.input("x", DataType::kFloat32, fixed({2}))
      .node({"Dropout", {"x"}, {"y"}, {{"is_test", int64_t{1}}}, "drop"})
      .output("y");
  auto out = run(test, {{"x", floats({2}, {1, 2})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{1, 2}));

  // Opsets 7-9: the mask has the input's type.
  ModelBuilder mask(9);
  mask.input("x", DataType::kFloat32, fixed({2}))
      .node({"Dropout", {"x"}, {"y", "m"}, {}, "drop"})
      .output("y")
      .output("m");
  out = run(mask, {{"x", floats({2}, {1, 2})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ((*out)[1].dtype(), DataType::kFloat32);
  EXPECT_EQ(values((*out)[1]), (std::vector<double>{1, 1}));

  // Clip 6 defaults its bounds to the float range; Clip 1 leaves them open.
  const float inf = INFINITY;
  ModelBuilder clip6(6);
  clip6.input("x", DataType::kFloat32, fixed({2}))
      .node({"Clip", {"x"}, {"y"}, {}, "clip"})
      .output("y");
  out = run(clip6, {{"x", floats({2}, {inf, -inf})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{FLT_MAX, -FLT_MAX}));
  // Selu 1 has 4-digit default constants, Selu 6 the full ones.
  for (int64_t opset : {1, 6}) {
    ModelBuilder selu(opset);
    selu.input("x", DataType::kFloat32, fixed({1}))
        .node({"Selu", {"x"}, {"y"}, {}, "selu"})
        .output("y");
    auto net = parse(selu);
    ASSERT_TRUE(net) << net.status().toString();
    const Layer& l = net->layer(net->tensor(net->findTensor("y")).producer);
    EXPECT_EQ(l.as<ActivationAttrs>().alpha, opset == 1 ? 1.6732f : 1.67326319217681884765625f);
    EXPECT_EQ(l.as<ActivationAttrs>().beta, opset == 1 ? 1.0507f : 1.05070102214813232421875f);
  }

  ModelBuilder clip1(1);
  clip1.input("x", DataType::kFloat32, fixed({2}))
      .node({"Clip", {"x"}, {"y"}, {}, "clip"})
      .output("y");
  out = run(clip1, {{"x", floats({2}, {inf, -inf})}});
  ASSERT_TRUE(out) << out.status().toString();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{inf, -inf}));
}

}  // namespace
}  // namespace kiln
