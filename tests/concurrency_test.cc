// One engine shared by several threads, each with its own ExecutionContext: every inference is
// bit-identical to a single-threaded run. The contexts share the engine's kernels' constant data
// (weights) and nothing mutable. Also built alone with ThreadSanitizer (kiln_tsan_tests, run by
// scripts/test.sh when KILN_SANITIZE=1), which reports any unsynchronized access.
#include <atomic>
#include <cstring>
#include <thread>

#include "test_util.h"

namespace kiln {
namespace {

constexpr int kThreads = 8;
constexpr int kInferencesPerThread = 300;  // 2400 in all: races show within far fewer

TEST(Concurrency, EightThreadsShareOneEngineBitIdentical) {
  const std::string dir = std::string(KILN_MODELS_DIR) + "/digits_resnet";
  auto net = OnnxParser::parseFile(dir + "/model.onnx");
  ASSERT_TRUE(net.hasValue()) << net.status().toString();
  BuilderConfig config;
  config.symbols["batch"] = 1;
  auto engine = Builder::build(*net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  const Engine& e = **engine;
  ASSERT_EQ(e.inputs().size(), 1u);
  ASSERT_EQ(e.outputs().size(), 1u);
  const IOTensorInfo& in = e.inputs()[0];
  const IOTensorInfo& out = e.outputs()[0];
  ASSERT_EQ(in.dims, (Dims{1, 1, 8, 8}));

  // Real held-out images, a different one per thread and per iteration, so that contexts that
  // shared memory by mistake would mix up results instead of agreeing by accident.
  auto images = readTensorFile(dir + "/dataset/test_x.pb");
  ASSERT_TRUE(images.hasValue()) << images.status().toString();
  const size_t imageFloats = 64;
  const size_t count = static_cast<size_t>(images->value.dims()[0]);
  const size_t outFloats = static_cast<size_t>(volume(out.dims));
  const float* pixels = images->value.as<float>();

  // Single-threaded reference outputs, one per image.
  std::vector<float> expected(count * outFloats);
  {
    auto ctx = e.createExecutionContext();
    ASSERT_TRUE(ctx.hasValue()) << ctx.status().toString();
    for (size_t i = 0; i < count; ++i) {
      ASSERT_TRUE((*ctx)->setInputTensor(in.name, pixels + i * imageFloats, in.bytes(), in.dtype));
      ASSERT_TRUE((*ctx)->setTensorAddress(out.name, expected.data() + i * outFloats, out.bytes(),
                                           out.dtype));
      Status s = (*ctx)->execute();
      ASSERT_TRUE(s.isOk()) << s.toString();
    }
  }

  std::vector<int> mismatches(kThreads, 0), errors(kThreads, 0);
  std::vector<std::string> firstError(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = e.createExecutionContext();
      ready.fetch_add(1);
      while (ready.load() < kThreads)
        std::this_thread::yield();  // start together
      if (!ctx) {
        ++errors[t];
        firstError[t] = ctx.status().toString();
        return;
      }
      std::vector<float> y(outFloats);
      for (int k = 0; k < kInferencesPerThread; ++k) {
        const size_t i = (static_cast<size_t>(t) * 37 + static_cast<size_t>(k)) % count;
        Status s = (*ctx)->setInputTensor(in.name, pixels + i * imageFloats, in.bytes(), in.dtype);
        if (s.isOk()) s = (*ctx)->setTensorAddress(out.name, y.data(), out.bytes(), out.dtype);
        if (s.isOk()) s = (*ctx)->execute();
        if (!s.isOk()) {
          if (errors[t]++ == 0) firstError[t] = s.toString();
          continue;
        }
        if (std::memcmp(y.data(), expected.data() + i * outFloats, out.bytes()) != 0)
          ++mismatches[t];
      }
    });
  }
  for (auto& th : threads)
    th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], 0) << "thread " << t << ": " << firstError[t];
    EXPECT_EQ(mismatches[t], 0) << "thread " << t << " of " << kInferencesPerThread;
  }
}

}  // namespace
}  // namespace kiln
