// kiln — whole engines on the cuda backend against the reference backend: a real model built
// with a dynamic batch, run repeatedly with changing inputs and batch sizes, so the recorded
// replay (CUDA graphs) is exercised where it is recorded, replayed, dropped and recorded again.
//
// GPU tests: skipped (GTEST_SKIP with the reason) where the cuda backend, its driver or a GPU is
// missing.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdlib>
#include <random>

#include "backends/backend.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "kiln/onnx_parser.h"

namespace kiln {
namespace {

/// The model: under KILN_TEST_MODELS_DIR when set (the GPU machine gets the models packed
/// beside the binaries, scripts/gpu-check.sh), else in ../shared/models.
std::string modelPath() {
  const char* dir = std::getenv("KILN_TEST_MODELS_DIR");
  return (dir ? std::string(dir) : std::string(KILN_SHARED_DIR) + "/models") +
         "/digits_resnet/model.onnx";
}

std::shared_ptr<const Engine> buildOn(const std::string& backend,
                                      Precision precision = Precision::kFP32) {
  auto net = OnnxParser::parseFile(modelPath());
  EXPECT_TRUE(net) << net.status().message();
  if (!net) return nullptr;
  BuilderConfig config;
  config.backend = backend;  // no shapes: the batch stays symbolic
  config.precision = precision;
  auto engine = Builder::build(*net, config);
  EXPECT_TRUE(engine) << engine.status().message();
  if (!engine) return nullptr;
  return *engine;
}

std::vector<float> randomImages(int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(batch * 1 * 8 * 8));
  for (float& x : v)
    x = dist(rng);
  return v;
}

/// One run of `ctx` on `images` (batch N of [N, 1, 8, 8]): the logits.
std::vector<float> run(ExecutionContext& ctx, const std::vector<float>& images, int64_t batch,
                       bool* replayed = nullptr) {
  const Engine& e = ctx.engine();
  const std::string in = e.inputs()[0].name, out = e.outputs()[0].name;
  EXPECT_TRUE(ctx.setInputShape(in, {batch, 1, 8, 8}).isOk());
  EXPECT_TRUE(
      ctx.setInputTensor(in, images.data(), images.size() * sizeof(float), DataType::kFloat32)
          .isOk());
  auto dims = ctx.getTensorShape(out);
  EXPECT_TRUE(dims) << dims.status().message();
  if (!dims) return {};
  std::vector<float> y(static_cast<size_t>(volume(*dims)));
  EXPECT_TRUE(
      ctx.setTensorAddress(out, y.data(), y.size() * sizeof(float), DataType::kFloat32).isOk());
  Status s = ctx.execute();
  EXPECT_TRUE(s.isOk()) << s.message();
  if (replayed) *replayed = ctx.lastRunReplayed();
  return y;
}

void expectClose(const std::vector<float>& got, const std::vector<float>& ref,
                 const std::string& what, double tol = 1e-3, bool ofScale = false) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  // Per element (|ref| scales the bound), or of the output's scale (max |ref|), as the issue
  // states the fp16 / bf16 criterion.
  double scale = 0;
  for (float r : ref)
    scale = std::max(scale, static_cast<double>(std::fabs(r)));
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= 1e-4 + tol * (ofScale ? scale : std::fabs(ref[i])))) ++bad;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << ref.size() << " logits differ";
}

TEST(CudaEngine, ReplaysRecordedRunsAndMatchesTheReference) {
  auto b = findBackend("cuda");
  if (!b) GTEST_SKIP() << "no cuda: " << b.status().message();
  auto cuda = buildOn("cuda");
  auto ref = buildOn("reference");
  ASSERT_TRUE(cuda && ref);
  auto ctx = cuda->createExecutionContext();
  auto refCtx = ref->createExecutionContext();
  ASSERT_TRUE(ctx && refCtx);
  struct Step {
    int64_t batch;
    uint32_t seed;
    bool replays;  // the first run after a change launches layer by layer, later ones replay
  };
  const Step steps[] = {{8, 1, false}, {8, 1, true}, {8, 2, true},  {8, 3, true},
                        {3, 4, false}, {3, 5, true}, {8, 6, false}, {8, 7, true}};
  for (const Step& s : steps) {
    const std::string what = "batch " + std::to_string(s.batch) + " seed " + std::to_string(s.seed);
    auto images = randomImages(s.batch, s.seed);
    bool replayed = false;
    auto got = run(**ctx, images, s.batch, &replayed);
    auto want = run(**refCtx, images, s.batch);
    expectClose(got, want, what);
    EXPECT_EQ(replayed, s.replays) << what;
  }
}

TEST(CudaEngine, EveryPrecisionBuildsRoundTripsAndMatchesTheReference) {
  auto b = findBackend("cuda");
  if (!b) GTEST_SKIP() << "no cuda: " << b.status().message();
  auto ref = buildOn("reference");
  ASSERT_TRUE(ref);
  auto refCtx = ref->createExecutionContext();
  ASSERT_TRUE(refCtx);
  const auto images = randomImages(8, 21);
  const auto want = run(**refCtx, images, 8);
  for (Precision p : {Precision::kTF32, Precision::kFP16, Precision::kBF16}) {
    SCOPED_TRACE(precisionName(p));
    auto cuda = buildOn("cuda", p);
    ASSERT_TRUE(cuda);
    // The plan, loaded where the build's precision is not known, runs the same tactics.
    auto bytes = cuda->serialize();
    ASSERT_TRUE(bytes) << bytes.status().message();
    auto loaded = Runtime::deserialize(bytes->data(), bytes->size(), "precision.plan");
    ASSERT_TRUE(loaded) << loaded.status().message();
    for (const std::shared_ptr<const Engine>& e : {cuda, std::shared_ptr<const Engine>(*loaded)}) {
      auto ctx = e->createExecutionContext();
      ASSERT_TRUE(ctx) << ctx.status().message();
      expectClose(run(**ctx, images, 8), want, precisionName(p),
                  p == Precision::kTF32   ? 1e-2
                  : p == Precision::kFP16 ? 2e-2
                                          : 6e-2);
    }
  }
}

TEST(CudaEngine, ReplayEqualsLayerByLayer) {
  auto b = findBackend("cuda");
  if (!b) GTEST_SKIP() << "no cuda: " << b.status().message();
  auto cuda = buildOn("cuda");
  ASSERT_TRUE(cuda);
  auto replaying = cuda->createExecutionContext();
  ::setenv("KILN_GRAPHS", "0", 1);
  auto plain = cuda->createExecutionContext();
  ::unsetenv("KILN_GRAPHS");
  ASSERT_TRUE(replaying && plain);
  auto images = randomImages(5, 11);
  bool replayed = false;
  for (int k = 0; k < 3; ++k) {
    auto a = run(**replaying, images, 5, &replayed);
    bool plainReplayed = true;
    auto p = run(**plain, images, 5, &plainReplayed);
    EXPECT_FALSE(plainReplayed) << "KILN_GRAPHS=0 must launch layer by layer";
    EXPECT_EQ(a, p) << "the same kernels, recorded or not, give the same bits (run " << k << ")";
  }
  EXPECT_TRUE(replayed);
  // Profiling times each layer, so it never replays.
  (*replaying)->setProfiling(true);
  run(**replaying, images, 5, &replayed);
  EXPECT_FALSE(replayed);
}

}  // namespace
}  // namespace kiln
