// Damaged models never crash kiln: byte flips and truncations of a real ONNX file go through
// parse -> build -> run and end in either a result or an error Status. (The CI sanitizer pass
// runs this under ASan + UBSan, which turns any out-of-bounds access into a failure.)
#include <fstream>
#include <random>

#include "test_util.h"

namespace kiln {
namespace {

std::string readModel() {
  std::ifstream f(std::string(KILN_MODELS_DIR) + "/digits_resnet/model.onnx", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

/// Parses, builds (batch 1) and runs `bytes`; returns how far it got (0 parse error, 1 build
/// error, 2 run error, 3 ran).
int tryModel(const std::string& bytes) {
  auto net = OnnxParser::parseBuffer(bytes.data(), bytes.size(), "damaged.onnx");
  if (!net) {
    EXPECT_FALSE(net.status().message().empty());
    return 0;
  }
  BuilderConfig config;
  config.symbols["batch"] = 1;
  for (TensorId t : net->inputs())
    for (const Dim& d : net->tensor(t).shape)
      if (d.isSymbol()) config.symbols[d.symbol()] = 1;
  auto engine = Builder::build(*net, config);
  if (!engine) {
    EXPECT_FALSE(engine.status().message().empty());
    return 1;
  }
  std::vector<NamedTensor> inputs;
  for (const IOTensorInfo& io : (*engine)->inputs())
    inputs.push_back({io.name, *Weights::zeros(io.dtype, io.dims)});
  auto outs = test::runEngine(**engine, inputs);
  return outs ? 3 : 2;
}

TEST(Robustness, FlippedBytesInAnOnnxModel) {
  const std::string model = readModel();
  ASSERT_GT(model.size(), 1000u);
  std::mt19937 rng(42);
  int reached[4] = {0, 0, 0, 0};
  // Flips in the graph structure (the first few KB: nodes, attributes, names) and anywhere.
  for (int i = 0; i < 400; ++i) {
    std::string damaged = model;
    size_t span = i % 2 ? damaged.size() : std::min<size_t>(damaged.size(), 4096);
    size_t at = rng() % span;
    damaged[at] = static_cast<char>(damaged[at] ^ (1u << (rng() % 8)));
    ++reached[tryModel(damaged)];
  }
  std::printf("[ robust   ] 400 flips: %d parse errors, %d build errors, %d run errors, %d ran\n",
              reached[0], reached[1], reached[2], reached[3]);
}

TEST(Robustness, TruncatedOnnxModels) {
  const std::string model = readModel();
  for (size_t keep = 0; keep < model.size(); keep += model.size() / 97 + 1) {
    int r = tryModel(model.substr(0, keep));
    EXPECT_LT(r, 3) << "a model truncated to " << keep << " bytes ran";
  }
}

}  // namespace
}  // namespace kiln
