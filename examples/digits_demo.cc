// kiln demo: build the bundled digits ResNet into a plan, reload it, classify the 397 held-out
// 8x8 digit images one at a time, and print accuracy and latency. Uses only the public C++ API.
//
//   kiln_digits_demo [models-dir]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace {

int fail(const kiln::Status& s) {
  std::fprintf(stderr, "kiln demo: error: %s\n", s.toString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln;
  std::string dir = std::string(argc > 1 ? argv[1] : KILN_MODELS_DIR) + "/digits_resnet";

  // Build phase: ONNX -> network -> engine (batch 1) -> plan file.
  auto t0 = std::chrono::steady_clock::now();
  auto network = OnnxParser::parseFile(dir + "/model.onnx");
  if (!network) return fail(network.status());
  BuilderConfig config;
  config.symbols["batch"] = 1;
  auto built = Builder::build(*network, config);
  if (!built) return fail(built.status());
  std::string planPath = "digits_resnet.plan";
  if (Status s = (*built)->serializeToFile(planPath); !s.isOk()) return fail(s);
  double buildMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  // Deploy phase: plan file -> engine -> context.
  auto engine = Runtime::deserializeFile(planPath);
  if (!engine) return fail(engine.status());
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx) return fail(ctx.status());

  auto images = readTensorFile(dir + "/dataset/test_x.pb");
  if (!images) return fail(images.status());
  auto labels = readTensorFile(dir + "/dataset/test_y.pb");
  if (!labels) return fail(labels.status());
  const Weights& x = images->value;
  const Weights& y = labels->value;
  if (x.dtype() != DataType::kFloat32 || x.dims().size() != 4 || y.dtype() != DataType::kInt64 ||
      y.count() != x.dims()[0])
    return fail(invalidArgument("unexpected dataset layout in " + dir + "/dataset"));

  const IOTensorInfo& in = (*engine)->inputs().at(0);
  const IOTensorInfo& out = (*engine)->outputs().at(0);
  const int64_t n = x.dims()[0];
  const int64_t imageFloats = volume(in.dims);
  const int64_t classes = volume(out.dims);
  std::vector<float> logits(static_cast<size_t>(classes));
  if (Status s = (*ctx)->setTensorAddress(out.name, logits.data(), logits.size() * sizeof(float),
                                          DataType::kFloat32);
      !s.isOk())
    return fail(s);

  int64_t correct = 0;
  std::vector<double> ms;
  for (int64_t i = 0; i < n; ++i) {
    const float* image = x.as<float>() + i * imageFloats;
    if (Status s =
            (*ctx)->setInputTensor(in.name, image, imageFloats * sizeof(float), DataType::kFloat32);
        !s.isOk())
      return fail(s);
    auto a = std::chrono::steady_clock::now();
    if (Status s = (*ctx)->execute(); !s.isOk()) return fail(s);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    int64_t best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    correct += best == y.as<int64_t>()[i];
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[static_cast<size_t>(p / 100.0 * (ms.size() - 1) + 0.5)]; };
  MemoryInfo mem = (*engine)->memory();
  std::printf("kiln digits demo (backend %s)\n", (*engine)->backend().c_str());
  std::printf("  plan: %s, %zu layers, weights %llu bytes, arena %llu bytes, built in %.1f ms\n",
              planPath.c_str(), (*engine)->layers().size(),
              static_cast<unsigned long long>(mem.weightBytes),
              static_cast<unsigned long long>(mem.arenaBytes), buildMs);
  std::printf("  accuracy: %lld / %lld = %.4f\n", static_cast<long long>(correct),
              static_cast<long long>(n), static_cast<double>(correct) / n);
  std::printf("  latency per image (batch 1): median %.3f ms, p90 %.3f ms, p99 %.3f ms\n", pct(50),
              pct(90), pct(99));
  return 0;
}
