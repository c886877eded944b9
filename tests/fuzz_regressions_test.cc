// Replays, through the fuzz targets' own bodies (fuzz/fuzz_targets.h), every input that the
// fuzzers found failing (tests/fuzz_regressions/<onnx|plan|tensor>/), so that each stays fixed in
// the ordinary and the ASan/UBSan builds; and runs the bodies on real models, tensors and plans
// to show that they reach the builder and the runtime.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../fuzz/fuzz_targets.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> readBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// The saved inputs of one target, sorted.
std::vector<std::string> regressions(const std::string& target) {
  std::vector<std::string> out;
  fs::path dir = fs::path(KILN_TESTS_DIR) / "fuzz_regressions" / target;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.')
        out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

template <class F>
void replay(const std::string& target, F body) {
  for (const std::string& path : regressions(target)) {
    SCOPED_TRACE(path);
    std::vector<uint8_t> bytes = readBytes(path);
    EXPECT_TRUE(body(bytes.data(), bytes.size()));
  }
}

TEST(FuzzRegressions, OnnxImport) {
  replay("onnx", fuzz::onnxImport);
}
TEST(FuzzRegressions, PlanLoad) {
  replay("plan", fuzz::planLoad);
}
TEST(FuzzRegressions, TensorParse) {
  replay("tensor", fuzz::tensorParse);
}

TEST(FuzzTargets, BodiesAcceptRealInputs) {
  std::string model = test::modelDir("digits_resnet") + "/model.onnx";
  std::vector<uint8_t> bytes = readBytes(model);
  ASSERT_FALSE(bytes.empty()) << model;
  EXPECT_TRUE(fuzz::onnxImport(bytes.data(), bytes.size()));

  std::vector<uint8_t> pb =
      readBytes(test::modelDir("digits_resnet") + "/test_data_set_0/input_0.pb");
  ASSERT_FALSE(pb.empty());
  EXPECT_TRUE(fuzz::tensorParse(pb.data(), pb.size()));

  // A plan with the targets' limits loads, round-trips and runs.
  auto network = OnnxParser::parseFile(model);
  ASSERT_TRUE(network.hasValue()) << network.status().toString();
  BuilderConfig config;
  config.threads = 1;
  config.maxTensorBytes = fuzz::kMaxTensorBytes;
  config.maxArenaBytes = fuzz::kMaxArenaBytes;
  auto engine = Builder::build(*network, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto plan = (*engine)->serialize();
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  EXPECT_TRUE(fuzz::planLoad(plan->data(), plan->size()));
}

}  // namespace
}  // namespace kiln
