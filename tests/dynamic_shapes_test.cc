// Dynamic shapes end to end: plans built with no shapes serve every batch size and sequence
// length, against ONNX Runtime's outputs at each shape; optimization profiles; Conv followed by
// BatchNormalization without value_info; parameter inputs that are graph inputs.
#include <cmath>
#include <cstring>
#include <filesystem>

#include "importer/onnx/model_builder.h"
#include "kiln/compare.h"
#include "test_util.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeSpec;

/// Writes inputs generated for `shapes` and ONNX Runtime's outputs for them to `dir`.
void ortReference(const std::string& model, const std::string& dir,
                  const std::vector<std::pair<std::string, Dims>>& shapes, int seed = 0) {
  std::string cmd = "python3 " + std::string(KILN_TESTS_DIR) + "/tools/ort_reference.py '" + model +
                    "' '" + dir + "' --seed " + std::to_string(seed);
  for (const auto& [name, dims] : shapes) {
    std::string d;
    for (int64_t x : dims)
      d += (d.empty() ? "" : "x") + std::to_string(x);
    cmd += " --shape " + name + "=" + d;
  }
  auto r = test::runCommand(cmd);
  ASSERT_EQ(r.exitCode, 0) << cmd << "\n" << r.output;
}

/// Binds `inputs`, sets their shapes, and returns the outputs (allocated at their inferred shapes).
Expected<std::vector<Weights>> runOn(ExecutionContext& ctx, const Engine& engine,
                                     const std::vector<NamedTensor>& inputs) {
  for (const NamedTensor& t : inputs) {
    KILN_RETURN_IF_ERROR(ctx.setInputShape(t.name, t.value.dims()));
    KILN_RETURN_IF_ERROR(
        ctx.setInputTensor(t.name, t.value.data(), t.value.bytes(), t.value.dtype()));
  }
  std::vector<Weights> outs;
  for (const IOTensorInfo& io : engine.outputs()) {
    KILN_ASSIGN_OR_RETURN(Dims dims, ctx.getTensorShape(io.name));
    outs.push_back(Weights::zeros(io.dtype, dims).value());
    KILN_RETURN_IF_ERROR(
        ctx.setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(), io.dtype));
  }
  KILN_RETURN_IF_ERROR(ctx.execute());
  return outs;
}

/// Every element within atol + rtol * |ref| (the rtol 1e-3, atol 1e-4).
void expectClose(const std::vector<Weights>& outs, const std::vector<NamedTensor>& refs,
                 const std::string& what, double rtol = 1e-3, double atol = 1e-4) {
  ASSERT_EQ(outs.size(), refs.size()) << what;
  for (size_t k = 0; k < outs.size(); ++k) {
    Comparison c = compareTensors(outs[k], refs[k].value, rtol, atol);
    EXPECT_TRUE(c.shapesMatch && c.mismatches == 0)
        << what << " output " << k << ": " << c.message << " (worst at flat index " << c.worstIndex
        << ": " << c.worstActual << " vs " << c.worstExpected << ")";
  }
}

std::shared_ptr<Engine> buildNoShapes(const std::string& model) {
  auto net = OnnxParser::parseFile(test::modelDir(model) + "/model.onnx");
  EXPECT_TRUE(net.hasValue()) << net.status().toString();
  if (!net) return nullptr;
  auto engine = Builder::build(*net, BuilderConfig{});
  EXPECT_TRUE(engine.hasValue()) << engine.status().toString();
  if (!engine) return nullptr;
  // Through the plan file, so the symbolic shapes are what a loaded engine runs with.
  auto bytes = (*engine)->serialize();
  EXPECT_TRUE(bytes.hasValue()) << bytes.status().toString();
  if (!bytes) return nullptr;
  auto loaded = Runtime::deserialize(bytes->data(), bytes->size(), model);
  EXPECT_TRUE(loaded.hasValue()) << loaded.status().toString();
  return loaded ? *loaded : nullptr;
}

class NoShapes : public ::testing::TestWithParam<std::string> {};

TEST_P(NoShapes, BuildsWithoutShapesAndMatchesStoredOutputs) {
  auto engine = buildNoShapes(GetParam());
  ASSERT_TRUE(engine);
  const std::string dir = test::modelDir(GetParam()) + "/test_data_set_0";
  auto inputs = test::readSet(dir, "input");
  auto refs = test::readSet(dir, "output");
  auto ctx = engine->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue()) << ctx.status().toString();
  auto outs = runOn(**ctx, *engine, inputs);
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  expectClose(*outs, refs, GetParam(), 1e-4, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shared, NoShapes,
                         ::testing::Values("digits_resnet", "mobilenet_v2", "bert_mini", "vit_tiny",
                                           "gpt2_tiny"));

/// One plan, one context, shapes changing in a row (growing and shrinking), each checked
/// against ONNX Runtime.
void sweep(const std::string& model,
           const std::vector<std::vector<std::pair<std::string, Dims>>>& cases) {
  auto engine = buildNoShapes(model);
  ASSERT_TRUE(engine);
  auto ctx = engine->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue()) << ctx.status().toString();
  const std::string base = test::tempDir("dyn_" + model);
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string label = model;
    for (const auto& [name, dims] : cases[i])
      label += " " + name + "=" + dimsToString(dims);
    const std::string dir = base + "/case" + std::to_string(i);
    ortReference(test::modelDir(model) + "/model.onnx", dir, cases[i], static_cast<int>(i));
    auto inputs = test::readSet(dir, "input");
    auto refs = test::readSet(dir, "output");
    auto outs = runOn(**ctx, *engine, inputs);
    ASSERT_TRUE(outs.hasValue()) << label << ": " << outs.status().toString();
    expectClose(*outs, refs, label);
  }
  std::filesystem::remove_all(base);
}

TEST(DynamicShapes, BertMiniEveryBatchAndSequenceFromOnePlan) {
  std::vector<std::vector<std::pair<std::string, Dims>>> cases;
  for (int64_t b : {1, 2, 8})
    for (int64_t s : {1, 17, 64, 200})
      cases.push_back({{"input_ids", {b, s}}, {"attention_mask", {b, s}}});
  sweep("bert_mini", cases);
}

TEST(DynamicShapes, Gpt2TinySequencesFromOnePlan) {
  std::vector<std::vector<std::pair<std::string, Dims>>> cases;
  for (int64_t s : {1, 31, 128})
    cases.push_back({{"input_ids", {1, s}}});
  sweep("gpt2_tiny", cases);
}

TEST(DynamicShapes, VitTinyBatch3) {
  sweep("vit_tiny", {{{"input", {3, 3, 224, 224}}}});
}

TEST(DynamicShapes, ConvThenBatchNormWithoutValueInfo) {
  // The classic model-zoo pattern: no value_info, so the BatchNormalization importer needs the
  // rank of the convolution's output from inference at import.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat32, {Dim::named("N"), 3, Dim::named("H"), Dim::named("W")});
  Weights w = Weights::zeros(DataType::kFloat32, {4, 3, 3, 3}).value();
  for (int64_t i = 0; i < w.count(); ++i)
    static_cast<float*>(w.mutableData())[i] = std::sin(0.37f * static_cast<float>(i));
  auto vec4 = [](float a, float b) {
    std::vector<float> v;
    for (int i = 0; i < 4; ++i)
      v.push_back(a + b * static_cast<float>(i));
    return Weights::fromFloats(v);
  };
  mb.initializer("w", w)
      .initializer("scale", vec4(0.5f, 0.25f))
      .initializer("bias", vec4(-0.1f, 0.2f))
      .initializer("mean", vec4(0.3f, -0.1f))
      .initializer("var", vec4(0.9f, 0.3f))
      .node(NodeSpec("Conv", {"x", "w"}, {"c"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}))
      .node(NodeSpec("BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"y"}))
      .output("y");
  const std::string dir = test::tempDir("conv_bn");
  const std::string model = dir + "/model.onnx";
  {
    std::string bytes = mb.serialize();
    FILE* f = std::fopen(model.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  auto net = OnnxParser::parseFile(model);
  ASSERT_TRUE(net.hasValue()) << net.status().toString();
  auto engine = Builder::build(*net, BuilderConfig{});
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  for (Dims d : {Dims{1, 3, 8, 8}, Dims{2, 3, 5, 7}}) {
    const std::string set = dir + "/" + dimsToString(d);
    ortReference(model, set, {{"x", d}});
    auto outs = runOn(**ctx, **engine, test::readSet(set, "input"));
    ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
    expectClose(*outs, test::readSet(set, "output"), "conv+bn " + dimsToString(d), 1e-4, 1e-5);
  }
  std::filesystem::remove_all(dir);
}

TEST(DynamicShapes, ProfileRefusesShapesOutsideItsRange) {
  auto net = OnnxParser::parseFile(test::modelDir("bert_mini") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig config;
  OptimizationProfile p;
  p.inputs["input_ids"] = {{1, 1}, {4, 64}, {8, 128}};
  p.inputs["attention_mask"] = {{1, 1}, {4, 64}, {8, 128}};
  config.profiles.push_back(p);
  auto engine = Builder::build(*net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  ASSERT_EQ((*engine)->profiles().size(), 1u);
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  EXPECT_TRUE((*ctx)->setInputShape("input_ids", {8, 128}).isOk());
  Status s = (*ctx)->setInputShape("input_ids", {2, 129});
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  for (const char* part : {"input_ids", "profile 0", "[1, 128]", "[8, 128]"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << " in: " << s.message();
  // The profile survives the plan file.
  auto bytes = (*engine)->serialize();
  ASSERT_TRUE(bytes.hasValue());
  auto loaded = Runtime::deserialize(bytes->data(), bytes->size(), "bert.plan");
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  auto ctx2 = (*loaded)->createExecutionContext();
  ASSERT_TRUE(ctx2.hasValue());
  EXPECT_FALSE((*ctx2)->setInputShape("attention_mask", {9, 16}).isOk());
  EXPECT_FALSE((*ctx2)->setOptimizationProfile(1).isOk());
}

TEST(DynamicShapes, ProfileErrorsAtBuild) {
  auto net = OnnxParser::parseFile(test::modelDir("bert_mini") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig config;
  OptimizationProfile p;
  p.inputs["input_ids"] = {{4, 1}, {2, 64}, {8, 128}};  // min > opt
  config.profiles.push_back(p);
  auto e = Builder::build(*net, config);
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("min <= opt <= max"), std::string::npos)
      << e.status().message();
  config.profiles[0].inputs.clear();
  config.profiles[0].inputs["input_ids"] = {{1, 1}, {2, 64}, {8, 128}};
  config.profiles[0].inputs["attention_mask"] = {{1, 1}, {2, 32}, {8, 128}};  // opt differs
  e = Builder::build(*net, config);
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("'seq'"), std::string::npos) << e.status().message();
  BuilderConfig both;
  both.inputShapes["input_ids"] = {1, 8};
  both.profiles.push_back({});
  EXPECT_FALSE(Builder::build(*net, both).hasValue());
}

TEST(DynamicShapes, SymbolsSharedByInputsMustAgree) {
  auto engine = buildNoShapes("bert_mini");
  ASSERT_TRUE(engine);
  auto ctx = engine->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  ASSERT_TRUE((*ctx)->setInputShape("input_ids", {2, 16}).isOk());
  ASSERT_TRUE((*ctx)->setInputShape("attention_mask", {2, 17}).isOk());
  auto shape = (*ctx)->getTensorShape("last_hidden_state");
  ASSERT_FALSE(shape.hasValue());
  EXPECT_NE(shape.status().message().find("'seq'"), std::string::npos) << shape.status().message();
  ASSERT_TRUE((*ctx)->setInputShape("attention_mask", {2, 16}).isOk());
  shape = (*ctx)->getTensorShape("last_hidden_state");
  ASSERT_TRUE(shape.hasValue()) << shape.status().toString();
  EXPECT_EQ(*shape, (Dims{2, 16, 256}));
}

TEST(DynamicShapes, ParamInputThatIsAGraphInput) {
  // Reshape whose target shape is a graph input: its values are read when the context runs.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, {Dim::named("n")});
  TensorId shape = *net.addInput("shape", DataType::kInt64, {2});
  ShuffleAttrs a;
  a.mode = ShuffleMode::kReshape;
  LayerId l = *net.addLayer("reshape", a, {x, shape});
  ASSERT_TRUE(net.markOutput(net.layer(l).outputs[0]).isOk());
  auto engine = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  std::vector<float> data(12);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<float>(i);
  for (std::vector<int64_t> target : {std::vector<int64_t>{3, 4}, std::vector<int64_t>{-1, 6}}) {
    ASSERT_TRUE((*ctx)->setInputShape("x", {12}).isOk());
    ASSERT_TRUE((*ctx)->setInputTensor("x", data.data(), 48, DataType::kFloat32).isOk());
    ASSERT_TRUE((*ctx)->setInputTensor("shape", target.data(), 16, DataType::kInt64).isOk());
    auto dims = (*ctx)->getTensorShape("reshape");
    ASSERT_TRUE(dims.hasValue()) << dims.status().toString();
    EXPECT_EQ(*dims, (target[0] == 3 ? Dims{3, 4} : Dims{2, 6}));
    std::vector<float> y(12, -1);
    ASSERT_TRUE((*ctx)->setTensorAddress("reshape", y.data(), 48, DataType::kFloat32).isOk());
    Status s = (*ctx)->execute();
    ASSERT_TRUE(s.isOk()) << s.toString();
    EXPECT_EQ(y, data);
  }
  // A target that does not fit the data is an error naming the layer, not a crash.
  std::vector<int64_t> bad = {5, 5};
  ASSERT_TRUE((*ctx)->setInputTensor("shape", bad.data(), 16, DataType::kInt64).isOk());
  Status s = (*ctx)->execute();
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("reshape"), std::string::npos) << s.message();
}

TEST(DynamicShapes, ShapeSubgraphsFoldToSymbolicConstants) {
  // bert_mini with no shapes: its Shape -> Gather -> Concat -> Reshape computations fold, so
  // no ShapeOf layer is executed.
  auto engine = buildNoShapes("bert_mini");
  ASSERT_TRUE(engine);
  int shapeOf = 0;
  for (const LayerInfo& l : engine->layers())
    shapeOf += l.kind == "ShapeOf";
  EXPECT_EQ(shapeOf, 0);
  bool symbolic = false;
  for (const std::string& line : engine->buildLog())
    symbolic = symbolic || line.find("symbolic constant") != std::string::npos;
  EXPECT_TRUE(symbolic);
}

TEST(DynamicShapes, StaticBuildStillSpecializes) {
  // --shapes (min = opt = max) makes every dim static: inputs need no setInputShape and the
  // shape computations fold to plain constants.
  auto net = OnnxParser::parseFile(test::modelDir("bert_mini") + "/model.onnx");
  ASSERT_TRUE(net.hasValue());
  BuilderConfig config;
  config.inputShapes["input_ids"] = {2, 64};
  config.inputShapes["attention_mask"] = {2, 64};
  auto engine = Builder::build(*net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  for (const IOTensorInfo& io : (*engine)->inputs())
    EXPECT_FALSE(io.isDynamic()) << io.name;
  for (const IOTensorInfo& io : (*engine)->outputs())
    EXPECT_FALSE(io.isDynamic()) << io.name << " " << shapeToString(io.shape);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

/// Records what the context asks of it.
class RecordingAllocator : public OutputAllocator {
 public:
  void* reallocateOutput(const std::string& name, void* current, size_t bytes) override {
    ++calls;
    storage.assign(bytes / sizeof(float) + 1, 0.f);
    lastName = name;
    (void)current;
    return storage.data();
  }
  void notifyShape(const std::string& name, const Dims& dims) override { shape = dims; }
  std::vector<float> storage;
  Dims shape;
  std::string lastName;
  int calls = 0;
};

TEST(DynamicShapes, OutputAllocatorAndContextOwnedOutputs) {
  // y = reshape(x, shape) with the target a graph input: the output's size is known only when
  // the context runs.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, {Dim::named("n")});
  TensorId shape = *net.addInput("shape", DataType::kInt64, {2});
  ShuffleAttrs a;
  a.mode = ShuffleMode::kReshape;
  LayerId l = *net.addLayer("y", a, {x, shape});
  ASSERT_TRUE(net.markOutput(net.layer(l).outputs[0]).isOk());
  LayerId r = *net.addLayer("z", ActivationAttrs{ActivationKind::kRelu}, {x});
  ASSERT_TRUE(net.markOutput(net.layer(r).outputs[0]).isOk());
  auto engine = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue());
  RecordingAllocator alloc;
  ASSERT_TRUE((*ctx)->setOutputAllocator("y", &alloc).isOk());
  EXPECT_FALSE((*ctx)->setOutputAllocator("x", &alloc).isOk());  // not an output
  std::vector<float> data(24);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<float>(i) - 10;
  std::vector<int64_t> target = {4, -1};
  for (int64_t n : {8, 24, 12}) {
    ASSERT_TRUE((*ctx)->setInputShape("x", {n}).isOk());
    ASSERT_TRUE(
        (*ctx)
            ->setInputTensor("x", data.data(), static_cast<size_t>(n) * 4, DataType::kFloat32)
            .isOk());
    ASSERT_TRUE((*ctx)->setInputTensor("shape", target.data(), 16, DataType::kInt64).isOk());
    Status s = (*ctx)->execute();
    ASSERT_TRUE(s.isOk()) << s.toString();
    EXPECT_EQ(alloc.shape, (Dims{4, n / 4}));
    EXPECT_EQ(alloc.lastName, "y");
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(alloc.storage[static_cast<size_t>(i)], data[static_cast<size_t>(i)]);
    // z has neither a buffer nor an allocator: the context keeps it.
    auto z = (*ctx)->getOutputBuffer("z");
    ASSERT_TRUE(z.hasValue()) << z.status().toString();
    const float* zf = static_cast<const float*>(*z);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(zf[i], std::max(0.f, data[static_cast<size_t>(i)]));
  }
  // Growing from 8 to 24 reallocated; shrinking to 12 did not.
  EXPECT_EQ(alloc.calls, 2);
}

}  // namespace
}  // namespace kiln
