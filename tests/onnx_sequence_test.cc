// ONNX sequence and optional ops imported as static sequences (build-time lists of tensors):
// edits with constant positions run end to end on the reference backend; positions or lengths
// that are only known at run time, out-of-range positions and sequences given to tensor ops
// are refused with errors that name the node.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "importer/onnx/model_builder.h"
#include "kiln/kiln.h"
#include "kiln/onnx_parser.h"
#include "test_util.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;

Expected<NetworkDefinition> parse(const ModelBuilder& b) {
  std::string bytes = b.serialize();
  return OnnxParser::parseBuffer(bytes.data(), bytes.size(), "sequence.onnx");
}

Expected<std::vector<Weights>> run(const ModelBuilder& b, const std::vector<Weights>& inputs) {
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net, parse(b));
  KILN_ASSIGN_OR_RETURN(auto engine, Builder::build(net, BuilderConfig{}));
  std::vector<NamedTensor> named;
  for (const Weights& w : inputs)
    named.push_back({"", w});
  return test::runEngine(*engine, named);
}

Weights floats(const Dims& dims, const std::vector<float>& v) {
  return *Weights::copyFrom(DataType::kFloat32, dims, v.data(), v.size() * sizeof(float));
}

std::vector<double> values(const Weights& w) {
  auto v = w.toDoubles();
  EXPECT_TRUE(v.hasValue());
  return v ? *v : std::vector<double>{};
}

Shape fixed(std::initializer_list<int64_t> dims) {
  return shapeFromDims(Dims(dims));
}

Weights scalar(int64_t v) {
  return Weights::fromInts({v}, /*scalar=*/true);
}

void expectRefused(const ModelBuilder& b, StatusCode code, const std::vector<std::string>& parts) {
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), code) << net.status().message();
  for (const std::string& p : parts)
    EXPECT_NE(net.status().message().find(p), std::string::npos) << net.status().message();
}

/// x, y, z of shape [2]: seq = [x, y, z].
ModelBuilder& threeInputs(ModelBuilder& b) {
  return b.input("x", DataType::kFloat32, fixed({2}))
      .input("y", DataType::kFloat32, fixed({2}))
      .input("z", DataType::kFloat32, fixed({2}))
      .node({"SequenceConstruct", {"x", "y", "z"}, {"seq"}});
}

TEST(OnnxSequence, EditsWithConstantPositionsRun) {
  ModelBuilder b(17);
  threeInputs(b)
      .initializer("first", scalar(-3))
      .initializer("front", scalar(0))
      .initializer("last", scalar(-1))
      .node({"SequenceErase", {"seq", "first"}, {"s1"}})       // [y, z]
      .node({"SequenceInsert", {"s1", "x", "front"}, {"s2"}})  // [x, y, z]
      .node({"SequenceInsert", {"s2", "y"}, {"s3"}})           // [x, y, z, y]
      .node({"SequenceAt", {"s3", "last"}, {"a"}})             // y
      .node({"SequenceAt", {"s3", "front"}, {"b"}})            // x
      .node({"SequenceLength", {"s3"}, {"n"}})                 // 4
      .node({"ConcatFromSequence", {"s3"}, {"c"}, {{"axis", int64_t{0}}}})
      .output("a")
      .output("b")
      .output("n")
      .output("c");
  auto out = run(b, {floats({2}, {1, 2}), floats({2}, {3, 4}), floats({2}, {5, 6})});
  ASSERT_TRUE(out) << out.status().message();
  ASSERT_EQ(out->size(), 4u);
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{3, 4}));
  EXPECT_EQ(values((*out)[1]), (std::vector<double>{1, 2}));
  EXPECT_EQ(values((*out)[2]), (std::vector<double>{4}));
  EXPECT_EQ(values((*out)[3]), (std::vector<double>{1, 2, 3, 4, 5, 6, 3, 4}));
}

TEST(OnnxSequence, SplitToSequenceAndConcatWithNewAxisRoundTrip) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({2, 3}))
      .node({"SplitToSequence", {"x"}, {"seq"}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}}})
      .node({"SequenceLength", {"seq"}, {"n"}})
      .node(
          {"ConcatFromSequence", {"seq"}, {"y"}, {{"axis", int64_t{-1}}, {"new_axis", int64_t{1}}}})
      .output("n")
      .output("y");
  auto out = run(b, {floats({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{3}));
  EXPECT_EQ((*out)[1].dims(), (Dims{2, 3}));
  EXPECT_EQ(values((*out)[1]), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(OnnxSequence, SplitToSequenceScalarSplitLeavesASmallerLastPiece) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({5}))
      .initializer("two", scalar(2))
      .node({"SplitToSequence", {"x", "two"}, {"seq"}})
      .node({"SequenceLength", {"seq"}, {"n"}})
      .initializer("last", scalar(-1))
      .node({"SequenceAt", {"seq", "last"}, {"tail"}})
      .output("n")
      .output("tail");
  auto out = run(b, {floats({5}, {1, 2, 3, 4, 5})});
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{3}));
  EXPECT_EQ(values((*out)[1]), (std::vector<double>{5}));
}

TEST(OnnxSequence, OptionalsKnownAtImport) {
  ModelBuilder b(18);
  b.input("x", DataType::kFloat32, fixed({2}))
      .node({"Optional", {"x"}, {"some"}})
      .node({"Optional", {}, {"none"}, {}, "empty"})
      .node({"OptionalHasElement", {"some"}, {"has_some"}})
      .node({"OptionalHasElement", {"none"}, {"has_none"}})
      .node({"OptionalGetElement", {"some"}, {"y"}})
      .output("has_some")
      .output("has_none")
      .output("y");
  auto out = run(b, {floats({2}, {7, 8})});
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{1}));
  EXPECT_EQ(values((*out)[1]), (std::vector<double>{0}));
  EXPECT_EQ(values((*out)[2]), (std::vector<double>{7, 8}));
}

/// A SequenceMap body: out = in0 + in1.
void addBody(ModelBuilder& body) {
  body.input("in0", DataType::kFloat32, fixed({2}))
      .input("in1", DataType::kFloat32, fixed({2}))
      .node({"Add", {"in0", "in1"}, {"out"}})
      .output("out");
}

TEST(OnnxSequence, SequenceMapIsUnrolledPerElement) {
  ModelBuilder body(17);
  addBody(body);
  ModelBuilder b(17);
  threeInputs(b)
      .node({"SequenceMap", {"seq", "x"}, {"mapped"}, {}, "map"})
      .graphAttribute("body", body)
      .node({"ConcatFromSequence", {"mapped"}, {"r"}, {{"axis", int64_t{0}}}})
      .output("r");
  auto out = run(b, {floats({2}, {1, 2}), floats({2}, {3, 4}), floats({2}, {5, 6})});
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ(values((*out)[0]), (std::vector<double>{2, 4, 4, 6, 6, 8}));
}

TEST(OnnxSequence, SequenceMapLengthMismatchIsRefused) {
  ModelBuilder body(17);
  addBody(body);
  ModelBuilder b(17);
  threeInputs(b)
      .node({"SequenceConstruct", {"x", "y"}, {"two"}})
      .node({"SequenceMap", {"seq", "two"}, {"mapped"}, {}, "map"})
      .graphAttribute("body", body)
      .node({"SequenceLength", {"mapped"}, {"n"}})
      .output("n");
  expectRefused(b, StatusCode::kInvalidModel,
                {"node 'map' (SequenceMap, #2)", "holds 2 tensors but input #0 holds 3"});
}

// ---- sequence graph inputs and outputs ----------------------------------------------------

TEST(OnnxSequence, SequenceInputWithALengthBecomesOneInputPerElement) {
  ModelBuilder b(17);
  b.sequenceInput("s", DataType::kFloat32, Shape{Dim::named("N")})
      .node({"SequenceLength", {"s"}, {"n"}})
      .node({"Identity", {"s"}, {"t"}})
      .output("n")
      .output("t");
  const std::string path = test::tempDir("onnx_sequence") + "/seq_input.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    f << b.serialize();
  }
  auto refused = OnnxParser::parseFile(path);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.status().message().find("sequence (input 's')"), std::string::npos)
      << refused.status().message();

  OnnxParseOptions options;
  options.sequenceInputLengths["s"] = 2;
  auto net = OnnxParser::parseFile(path, options);
  ASSERT_TRUE(net) << net.status().message();
  ASSERT_EQ(net->inputs().size(), 2u);
  EXPECT_EQ(net->tensor(net->inputs()[0]).name, "s[0]");
  EXPECT_EQ(net->tensor(net->inputs()[1]).name, "s[1]");
  // n, then the sequence output t as t[0], t[1].
  ASSERT_EQ(net->outputs().size(), 3u);
  EXPECT_EQ(net->tensor(net->outputs()[1]).name, "t[0]");
  EXPECT_EQ(net->tensor(net->outputs()[2]).name, "t[1]");

  options.sequenceInputLengths["s"] = -1;
  auto negative = OnnxParser::parseFile(path, options);
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.status().message().find("graph input 's' is given a length of -1"),
            std::string::npos)
      << negative.status().message();
}

TEST(OnnxSequence, OptionalInputsArePresentOrAbsentAtBuildTime) {
  ModelBuilder b(18);
  b.optionalInput("o", DataType::kFloat32, fixed({2}))
      .node({"OptionalHasElement", {"o"}, {"has"}})
      .output("has");
  const std::string path = test::tempDir("onnx_optional") + "/opt_input.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    f << b.serialize();
  }
  auto refused = OnnxParser::parseFile(path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("optional (input 'o')"), std::string::npos)
      << refused.status().message();

  OnnxParseOptions options;
  options.optionalInputsPresent["o"] = true;
  auto present = OnnxParser::parseFile(path, options);
  ASSERT_TRUE(present) << present.status().message();
  ASSERT_EQ(present->inputs().size(), 1u);
  const Weights* has = present->constantValue(present->outputs()[0]);
  ASSERT_NE(has, nullptr);
  EXPECT_EQ(values(*has), (std::vector<double>{1}));

  options.optionalInputsPresent["o"] = false;
  auto absent = OnnxParser::parseFile(path, options);
  ASSERT_TRUE(absent) << absent.status().message();
  EXPECT_EQ(absent->inputs().size(), 0u);
  const Weights* hasNot = absent->constantValue(absent->outputs()[0]);
  ASSERT_NE(hasNot, nullptr);
  EXPECT_EQ(values(*hasNot), (std::vector<double>{0}));
}

TEST(OnnxSequence, CorruptSequenceFilesAreRefused) {
  const std::string dir = test::tempDir("onnx_sequence_files");
  for (const std::string& bytes : {std::string("\x1a\x7f", 2), std::string("\xff\xff\xff", 3),
                                   std::string("\x1a\x02\x08\xff", 4)}) {
    const std::string path = dir + "/bad.pb";
    {
      std::ofstream f(path, std::ios::binary);
      f << bytes;
    }
    auto seq = readTensorSequenceFile(path);
    EXPECT_FALSE(seq);
  }
}

// ---- refusals ------------------------------------------------------------------------------

TEST(OnnxSequence, RuntimePositionIsRefusedNamingTheNode) {
  ModelBuilder b(17);
  threeInputs(b)
      .input("p", DataType::kInt64, fixed({}))
      .node({"SequenceAt", {"seq", "p"}, {"r"}, {}, "pick"})
      .output("r");
  expectRefused(b, StatusCode::kUnsupported,
                {"node 'pick' (SequenceAt, #1)", "position", "must be a build-time constant"});
}

TEST(OnnxSequence, OutOfRangePositionsAreRefused) {
  {
    ModelBuilder b(17);
    threeInputs(b)
        .initializer("p", scalar(3))
        .node({"SequenceAt", {"seq", "p"}, {"r"}, {}, "pick"})
        .output("r");
    expectRefused(b, StatusCode::kInvalidModel,
                  {"node 'pick' (SequenceAt, #1)", "position 3 is out of range", "-3 to 2"});
  }
  {
    ModelBuilder b(17);
    threeInputs(b)
        .initializer("p", scalar(-5))
        .node({"SequenceInsert", {"seq", "x", "p"}, {"s"}, {}, "ins"})
        .node({"SequenceLength", {"s"}, {"n"}})
        .output("n");
    expectRefused(b, StatusCode::kInvalidModel,
                  {"node 'ins' (SequenceInsert, #1)", "position -5 is out of range", "-3 to 3"});
  }
  {
    ModelBuilder b(17);
    b.node({"SequenceEmpty", {}, {"e"}})
        .node({"SequenceErase", {"e"}, {"s"}, {}, "erase"})
        .node({"SequenceLength", {"s"}, {"n"}})
        .output("n");
    expectRefused(b, StatusCode::kInvalidModel,
                  {"node 'erase' (SequenceErase, #1)", "empty sequence"});
  }
}

TEST(OnnxSequence, RuntimeSplitSizeIsRefused) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({6}))
      .input("k", DataType::kInt64, fixed({}))
      .node({"SplitToSequence", {"x", "k"}, {"seq"}, {}, "split"})
      .node({"SequenceLength", {"seq"}, {"n"}})
      .output("n");
  expectRefused(b, StatusCode::kUnsupported,
                {"node 'split' (SplitToSequence, #0)", "must be a build-time constant"});
}

TEST(OnnxSequence, SequenceGivenToATensorOpIsRefused) {
  ModelBuilder b(17);
  threeInputs(b).node({"Relu", {"seq"}, {"r"}, {}, "relu"}).output("r");
  expectRefused(b, StatusCode::kUnsupported,
                {"node 'relu' (Relu, #1)", "input 'seq' is a sequence"});
}

TEST(OnnxSequence, ElementTypesMustAgree) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, fixed({2}))
      .input("i", DataType::kInt64, fixed({2}))
      .node({"SequenceConstruct", {"x", "i"}, {"seq"}, {}, "mixed"})
      .node({"SequenceLength", {"seq"}, {"n"}})
      .output("n");
  expectRefused(b, StatusCode::kInvalidModel,
                {"node 'mixed' (SequenceConstruct, #0)", "one element type"});
}

TEST(OnnxSequence, GetElementOfAnEmptyOptionalIsRefused) {
  ModelBuilder b(18);
  b.node({"Optional", {}, {"none"}})
      .node({"OptionalGetElement", {"none"}, {"y"}, {}, "get"})
      .output("y");
  expectRefused(b, StatusCode::kInvalidModel,
                {"node 'get' (OptionalGetElement, #1)", "empty optional"});
}

}  // namespace
}  // namespace kiln
