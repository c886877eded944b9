// Tests of the ONNX importer and TensorProto file I/O. Small models are built in memory with
// onnx_import::ModelBuilder (the protobuf classes are private to the kiln library).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "importer/onnx/model_builder.h"
#include "kiln/onnx_parser.h"
#include "kiln/tensor_file.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using onnx_import::ModelBuilder;
using onnx_import::NodeSpec;

Expected<NetworkDefinition> parse(const ModelBuilder& b) {
  std::string bytes = b.serialize();
  return OnnxParser::parseBuffer(bytes.data(), bytes.size(), "test.onnx");
}

/// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("kiln_onnx_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int countKind(const NetworkDefinition& net, LayerKind kind) {
  return static_cast<int>(
      std::count_if(net.layers().begin(), net.layers().end(),
                    [&](const Layer& l) { return !l.removed && l.kind() == kind; }));
}

/// The layer producing the tensor named `name`.
const Layer& producerOf(const NetworkDefinition& net, const std::string& name) {
  TensorId t = net.findTensor(name);
  EXPECT_GE(t, 0) << "no tensor named " << name;
  LayerId l = net.tensor(t).producer;
  EXPECT_GE(l, 0) << name << " has no producer";
  return net.layer(l);
}

std::vector<double> constantValues(const NetworkDefinition& net, TensorId t) {
  const Weights* w = net.constantValue(t);
  EXPECT_NE(w, nullptr);
  return w ? *w->toDoubles() : std::vector<double>{};
}

// ---- the shared real models -----------------------------------------------------------------

struct SharedModel {
  const char* name;
  std::vector<std::string> inputs;
  std::vector<std::vector<std::string>> symbols;  // per input: expected symbolic dims
  std::vector<std::string> outputs;
};

void PrintTo(const SharedModel& m, std::ostream* os) {
  *os << m.name;
}

class OnnxSharedModels : public ::testing::TestWithParam<SharedModel> {};

TEST_P(OnnxSharedModels, Parses) {
  const SharedModel& m = GetParam();
  std::string path = std::string(KILN_SHARED_DIR) + "/models/" + m.name + "/model.onnx";
  Expected<NetworkDefinition> net = OnnxParser::parseFile(path);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_GT(net->liveLayerCount(), 0u);
  EXPECT_TRUE(net->verify()) << net->verify().toString();
  ASSERT_EQ(net->inputs().size(), m.inputs.size());
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    const Tensor& t = net->tensor(net->inputs()[i]);
    EXPECT_EQ(t.name, m.inputs[i]);
    std::vector<std::string> symbols;
    for (const Dim& d : t.shape)
      if (d.isSymbol()) symbols.push_back(d.symbol());
    EXPECT_EQ(symbols, m.symbols[i]) << t.name << " " << shapeToString(t.shape);
  }
  ASSERT_EQ(net->outputs().size(), m.outputs.size());
  for (size_t i = 0; i < m.outputs.size(); ++i)
    EXPECT_EQ(net->tensor(net->outputs()[i]).name, m.outputs[i]);
  for (const Layer& l : net->layers())
    EXPECT_FALSE(l.origins.empty()) << l.name;
}

INSTANTIATE_TEST_SUITE_P(
    OnnxShared, OnnxSharedModels,
    ::testing::Values(SharedModel{"digits_resnet", {"image"}, {{"batch"}}, {"logits"}},
                      SharedModel{"mobilenet_v2", {"input"}, {{"batch"}}, {"logits"}},
                      SharedModel{"bert_mini",
                                  {"input_ids", "attention_mask"},
                                  {{"batch", "seq"}, {"batch", "seq"}},
                                  {"last_hidden_state", "pooler_output"}},
                      SharedModel{"vit_tiny", {"input"}, {{"batch"}}, {"logits"}},
                      SharedModel{"gpt2_tiny", {"input_ids"}, {{"batch", "seq"}}, {"logits"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(OnnxImporter, DigitsResnetStructure) {
  auto net =
      OnnxParser::parseFile(std::string(KILN_SHARED_DIR) + "/models/digits_resnet/model.onnx");
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_GT(countKind(*net, LayerKind::kConvolution), 0);
  EXPECT_EQ(countKind(*net, LayerKind::kPooling), 1);
  EXPECT_EQ(countKind(*net, LayerKind::kMatrixMultiply), 1);
  const Layer& gemm = producerOf(*net, "logits");
  ASSERT_EQ(gemm.kind(), LayerKind::kMatrixMultiply);
  EXPECT_TRUE(gemm.as<MatrixMultiplyAttrs>().transB);
  EXPECT_EQ(gemm.inputs.size(), 3u);
}

TEST(OnnxImporter, MobilenetClipBecomesRelu6) {
  auto net =
      OnnxParser::parseFile(std::string(KILN_SHARED_DIR) + "/models/mobilenet_v2/model.onnx");
  ASSERT_TRUE(net) << net.status().toString();
  int clips = 0;
  for (const Layer& l : net->layers()) {
    if (l.kind() != LayerKind::kActivation) continue;
    const auto& a = l.as<ActivationAttrs>();
    ASSERT_EQ(a.kind, ActivationKind::kClip);
    EXPECT_EQ(a.alpha, 0.0f);
    EXPECT_EQ(a.beta, 6.0f);
    ++clips;
  }
  EXPECT_GT(clips, 10);
}

TEST(OnnxImporter, ReadsSharedTestData) {
  auto t = readTensorFile(std::string(KILN_SHARED_DIR) +
                          "/models/digits_resnet/test_data_set_0/input_0.pb");
  ASSERT_TRUE(t) << t.status().toString();
  EXPECT_EQ(t->value.dtype(), DataType::kFloat32);
  EXPECT_EQ(t->value.dims(), (Dims{8, 1, 8, 8}));
}

// ---- file-level errors ----------------------------------------------------------------------

TEST(OnnxImporter, TruncatedFileNamesTheFile) {
  std::string model = readBytes(std::string(KILN_SHARED_DIR) + "/models/digits_resnet/model.onnx");
  ASSERT_GT(model.size(), 1000u);
  TempDir dir;
  std::string path = dir.file("truncated.onnx");
  writeBytes(path, model.substr(0, 1000));
  auto net = OnnxParser::parseFile(path);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kParseError);
  EXPECT_NE(net.status().message().find(path), std::string::npos) << net.status().toString();
}

TEST(OnnxImporter, MissingFileNamesTheFile) {
  auto net = OnnxParser::parseFile("/nonexistent/kiln/model.onnx");
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kNotFound);
  EXPECT_NE(net.status().message().find("/nonexistent/kiln/model.onnx"), std::string::npos);
}

TEST(OnnxImporter, NotAModel) {
  std::string junk = "this is not a protobuf \xff\xff\xff";
  auto net = OnnxParser::parseBuffer(junk.data(), junk.size(), "junk.bin");
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kParseError);
  EXPECT_NE(net.status().message().find("junk.bin"), std::string::npos);
}

TEST(OnnxImporter, OpsetChecks) {
  ModelBuilder newer(29);
  newer.input("x", DataType::kFloat32, {Dim::fixed(2)}).output("x");
  auto a = parse(newer);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(a.status().message().find("opset 29"), std::string::npos) << a.status().toString();

  ModelBuilder old(5);  // opsets 1 to 6 are imported too
  old.input("x", DataType::kFloat32, {Dim::fixed(2)}).node({"Relu", {"x"}, {"y"}}).output("y");
  EXPECT_TRUE(parse(old)) << parse(old).status().toString();

  ModelBuilder none(0);  // IR version 8 without opset imports: default-domain nodes are invalid
  none.input("x", DataType::kFloat32, {Dim::fixed(2)}).node({"Relu", {"x"}, {"y"}}).output("y");
  auto b = parse(none);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidModel);
}

// ---- node errors ----------------------------------------------------------------------------

TEST(OnnxImporter, UnknownOpNamesOpAndNode) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .node({"Relu", {"x"}, {"r"}, {}, "relu0"})
      .node({"Frobnicate", {"r"}, {"y"}, {}, "frob1"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(net.status().message(),
            "'test.onnx': 1 operator is not supported: Frobnicate (node frob1)");
}

TEST(OnnxImporter, NonDefaultDomainIsUnsupported) {
  ModelBuilder b(17);
  b.opsetImport("com.microsoft", 1);
  b.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .node({"FusedGemm", {"x", "x"}, {"y"}, {}, "fg", "com.microsoft"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(net.status().message().find(
                "com.microsoft.FusedGemm (node fg: domain 'com.microsoft' is not supported"),
            std::string::npos)
      << net.status().message();
}

TEST(OnnxImporter, MissingInitializerNamesNodeAndTensor) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .node({"Add", {"x", "bias"}, {"y"}, {}, "add0"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidModel);
  EXPECT_EQ(net.status().message(),
            "node 'add0' (Add, #0): input 'bias' is not produced by any node, initializer or "
            "graph input");
}

TEST(OnnxImporter, MissingRequiredAttribute) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .node({"Concat", {"x", "x"}, {"y"}, {}, "cat"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidModel);
  EXPECT_EQ(net.status().message(), "node 'cat' (Concat, #0): missing required attribute 'axis'");
}

TEST(OnnxImporter, WrongAttributeType) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(2), Dim::fixed(3)})
      .node({"Flatten", {"x"}, {"y"}, {{"axis", std::string("one")}}, "flat"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().message(),
            "node 'flat' (Flatten, #0): attribute 'axis' has type STRING, expected INT");
}

TEST(OnnxImporter, BadAttributeValue) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(1), Dim::fixed(1), Dim::fixed(4), Dim::fixed(4)})
      .initializer("w", *Weights::zeros(DataType::kFloat32, {1, 1, 3, 3}))
      .node({"Conv", {"x", "w"}, {"y"}, {{"pads", std::vector<int64_t>{1, 1, 1}}}, "conv"})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_NE(net.status().message().find("node 'conv' (Conv, #0): attribute 'pads'"),
            std::string::npos)
      << net.status().toString();
}

TEST(OnnxImporter, UsedOutputThatIsNotImported) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(2), Dim::fixed(2)})
      .initializer("g", Weights::fromFloats({1, 1}))
      .initializer("m", Weights::fromFloats({0, 0}))
      .node({"BatchNormalization", {"x", "g", "m", "m", "g"}, {"y", "running_mean"}, {}, "bn"})
      .output("y")
      .output("running_mean");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(net.status().message().find("node 'bn' (BatchNormalization, #0)"), std::string::npos)
      << net.status().toString();
  EXPECT_NE(net.status().message().find("'running_mean'"), std::string::npos);
}

TEST(OnnxImporter, UnknownGraphOutput) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(2)}).output("nope");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_NE(net.status().message().find("'nope'"), std::string::npos);
}

// ---- graph structure ------------------------------------------------------------------------

TEST(OnnxImporter, InputsDimsAndInitializers) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::named("batch"), Dim{}, Dim::fixed(3)})
      .input("w", DataType::kFloat32, {Dim::fixed(3)})  // also an initializer: a constant
      .initializer("w", Weights::fromFloats({1, 2, 3}))
      .node({"Mul", {"x", "w"}, {"y"}})
      .output("y");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  ASSERT_EQ(net->inputs().size(), 1u);
  const Tensor& x = net->tensor(net->inputs()[0]);
  EXPECT_EQ(x.name, "x");
  ASSERT_EQ(x.shape.size(), 3u);
  EXPECT_EQ(x.shape[0], Dim::named("batch"));
  EXPECT_EQ(x.shape[1], Dim::named("unk_0"));
  EXPECT_EQ(x.shape[2], Dim::fixed(3));
  EXPECT_EQ(constantValues(*net, net->findTensor("w")), (std::vector<double>{1, 2, 3}));
  const Layer& mul = producerOf(*net, "y");
  EXPECT_EQ(mul.name, "Mul_0");  // unnamed node
  EXPECT_EQ(mul.origins, std::vector<std::string>{"Mul_0"});
}

TEST(OnnxImporter, InputWithoutShapeIsRefused) {
  ModelBuilder b(17);
  b.inputWithoutShape("x", DataType::kFloat32).node({"Relu", {"x"}, {"y"}}).output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_NE(net.status().message().find("'x'"), std::string::npos);
}

TEST(OnnxImporter, IdentityAliasesUnlessGraphOutput) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .node({"Identity", {"x"}, {"i1"}, {}, "id1"})
      .node({"Relu", {"i1"}, {"r"}, {}, "relu"})
      .node({"Identity", {"x"}, {"passthrough"}, {}, "id2"})
      .output("r")
      .output("passthrough");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(net->findTensor("i1"), -1);  // aliased away
  const Layer& relu = producerOf(*net, "r");
  EXPECT_EQ(net->tensor(relu.inputs[0]).name, "x");
  const Layer& id = producerOf(*net, "passthrough");
  ASSERT_EQ(id.kind(), LayerKind::kUnary);
  EXPECT_EQ(id.as<UnaryAttrs>().kind, UnaryKind::kIdentity);
  EXPECT_EQ(id.origins, std::vector<std::string>{"id2"});
}

TEST(OnnxImporter, TypedInitializerFields) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(3)})
      .typedInitializer("f", DataType::kFloat32, {3}, {1.5, -2, 3})
      .typedInitializer("i", DataType::kInt64, {2}, {7, -9})
      .typedInitializer("b", DataType::kBool, {2}, {0, 5})
      .typedInitializer("h", DataType::kFloat16, {1}, {0x3c00})  // 1.0 as half bits
      .node({"Add", {"x", "f"}, {"y"}})
      .output("y")
      .output("i")
      .output("b")
      .output("h");
  auto net = parse(b);
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(constantValues(*net, net->findTensor("f")), (std::vector<double>{1.5, -2, 3}));
  EXPECT_EQ(constantValues(*net, net->findTensor("i")), (std::vector<double>{7, -9}));
  EXPECT_EQ(constantValues(*net, net->findTensor("b")), (std::vector<double>{0, 1}));
  const Weights* h = net->constantValue(net->findTensor("h"));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->dtype(), DataType::kFloat16);
  EXPECT_EQ(h->as<uint16_t>()[0], 0x3c00);
}

TEST(OnnxImporter, TypedFieldCountMismatchNamesTensor) {
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(3)})
      .typedInitializer("short_w", DataType::kFloat32, {3}, {1, 2})
      .node({"Add", {"x", "short_w"}, {"y"}})
      .output("y");
  auto net = parse(b);
  ASSERT_FALSE(net);
  EXPECT_NE(net.status().message().find("short_w"), std::string::npos) << net.status().toString();
}

TEST(OnnxImporter, ExternalData) {
  TempDir dir;
  std::vector<float> values = {0.5f, 1.5f, 2.5f, 3.5f};
  std::string blob(8, '\0');  // 8 bytes of padding before the tensor
  blob.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  writeBytes(dir.file("weights.bin"), blob);
  ModelBuilder b(17);
  b.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .externalInitializer("w", DataType::kFloat32, {4}, "weights.bin", 8, 16)
      .node({"Mul", {"x", "w"}, {"y"}})
      .output("y");
  writeBytes(dir.file("model.onnx"), b.serialize());
  auto net = OnnxParser::parseFile(dir.file("model.onnx"));
  ASSERT_TRUE(net) << net.status().toString();
  EXPECT_EQ(constantValues(*net, net->findTensor("w")), (std::vector<double>{0.5, 1.5, 2.5, 3.5}));

  // The file is too short for the tensor: the error names the file and no byte is read past it.
  ModelBuilder shortRead(17);
  shortRead.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .externalInitializer("w", DataType::kFloat32, {4}, "weights.bin", 16, 16)
      .node({"Mul", {"x", "w"}, {"y"}})
      .output("y");
  writeBytes(dir.file("short.onnx"), shortRead.serialize());
  auto bad = OnnxParser::parseFile(dir.file("short.onnx"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("weights.bin"), std::string::npos)
      << bad.status().toString();

  ModelBuilder missing(17);
  missing.input("x", DataType::kFloat32, {Dim::fixed(4)})
      .externalInitializer("w", DataType::kFloat32, {4}, "absent.bin", 0, 16)
      .node({"Mul", {"x", "w"}, {"y"}})
      .output("y");
  writeBytes(dir.file("missing.onnx"), missing.serialize());
  auto gone = OnnxParser::parseFile(dir.file("missing.onnx"));
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.status().message().find("absent.bin"), std::string::npos);

  // From a buffer there is no folder to resolve the file against.
  auto buffer = parse(b);
  ASSERT_FALSE(buffer);
  EXPECT_NE(buffer.status().message().find("external data"), std::string::npos);
}

TEST(OnnxImporter, SupportedOpsSortedAndComplete) {
  std::vector<std::string> ops = OnnxParser::supportedOps();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  for (const char* op : {"Add",
                         "And",
                         "Cast",
                         "Clip",
                         "Concat",
                         "Constant",
                         "Conv",
                         "CumSum",
                         "Div",
                         "Equal",
                         "Erf",
                         "Expand",
                         "Flatten",
                         "Gather",
                         "GatherElements",
                         "GatherND",
                         "Gemm",
                         "GlobalAveragePool",
                         "GreaterOrEqual",
                         "IsNaN",
                         "LayerNormalization",
                         "LessOrEqual",
                         "MatMul",
                         "Max",
                         "Mul",
                         "Not",
                         "Pow",
                         "Range",
                         "Relu",
                         "Reshape",
                         "Shape",
                         "Slice",
                         "Softmax",
                         "Split",
                         "Squeeze",
                         "Sub",
                         "Tanh",
                         "Transpose",
                         "Unsqueeze",
                         "Where"})
    EXPECT_TRUE(std::binary_search(ops.begin(), ops.end(), op)) << op;
}

}  // namespace
}  // namespace kiln
