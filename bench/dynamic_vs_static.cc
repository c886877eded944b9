// Latency of one plan built with no shapes against plans built for exactly one shape, side by
// side in one run (alternating), for a model with dynamic batch and sequence.
//
//   kiln_bench_dynamic [--model DIR] [--backend NAME] [--iterations N] [--json FILE]
//
// For each (batch, seq) of bert_mini's grid: builds the exact-shape engine, runs warm-up, then
// alternates one run of the dynamic engine's context (already reshaped for that shape) and one
// run of the exact engine, N times each; prints median latencies and their ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace {

using namespace kiln;

struct Bound {
  std::unique_ptr<ExecutionContext> ctx;
  std::vector<Weights> outs;
};

Expected<Bound> bind(const Engine& engine, const std::vector<NamedTensor>& inputs) {
  Bound b;
  KILN_ASSIGN_OR_RETURN(b.ctx, engine.createExecutionContext());
  for (const NamedTensor& t : inputs) {
    KILN_RETURN_IF_ERROR(b.ctx->setInputShape(t.name, t.value.dims()));
    KILN_RETURN_IF_ERROR(
        b.ctx->setInputTensor(t.name, t.value.data(), t.value.bytes(), t.value.dtype()));
  }
  for (const IOTensorInfo& io : engine.outputs()) {
    KILN_ASSIGN_OR_RETURN(Dims dims, b.ctx->getTensorShape(io.name));
    b.outs.push_back(Weights::zeros(io.dtype, dims).value());
    KILN_RETURN_IF_ERROR(b.ctx->setTensorAddress(io.name, b.outs.back().mutableData(),
                                                 b.outs.back().bytes(), io.dtype));
  }
  return b;
}

Expected<double> timeOnce(ExecutionContext& ctx) {
  auto t0 = std::chrono::steady_clock::now();
  KILN_RETURN_IF_ERROR(ctx.execute());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int fail(const Status& s) {
  std::fprintf(stderr, "kiln_bench_dynamic: %s\n", s.toString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(KILN_SHARED_MODELS_DIR) + "/bert_mini";
  std::string backend = "reference";
  std::string json;
  int iterations = 7;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model")
      model = next();
    else if (a == "--backend")
      backend = next();
    else if (a == "--iterations")
      iterations = std::max(1, std::atoi(next().c_str()));
    else if (a == "--json")
      json = next();
    else {
      std::fprintf(stderr, "usage: %s [--model DIR] [--backend NAME] [--iterations N] [--json F]\n",
                   argv[0]);
      return 2;
    }
  }
  auto net = OnnxParser::parseFile(model + "/model.onnx");
  if (!net) return fail(net.status());
  BuilderConfig dynamicConfig;
  dynamicConfig.backend = backend;
  auto dynamic = Builder::build(*net, dynamicConfig);
  if (!dynamic) return fail(dynamic.status());
  std::printf(
      "| batch | seq | no-shapes plan ms | exact plan ms | ratio |\n|---|---|---|---|---|\n");
  std::string rows;
  for (int64_t b : {1, 2, 8}) {
    for (int64_t s : {1, 17, 64, 200}) {
      std::vector<NamedTensor> inputs;
      for (const IOTensorInfo& io : (*dynamic)->inputs()) {
        Weights w = Weights::zeros(io.dtype, {b, s}).value();
        for (int64_t k = 0; k < w.count(); ++k)
          static_cast<int64_t*>(w.mutableData())[k] =
              io.name.find("mask") != std::string::npos ? 1 : (k * 7919) % 1000;
        inputs.push_back({io.name, w});
      }
      BuilderConfig exactConfig;
      exactConfig.backend = backend;
      for (const NamedTensor& t : inputs)
        exactConfig.inputShapes[t.name] = t.value.dims();
      auto exact = Builder::build(*net, exactConfig);
      if (!exact) return fail(exact.status());
      auto dyn = bind(**dynamic, inputs);
      if (!dyn) return fail(dyn.status());
      auto fixed = bind(**exact, inputs);
      if (!fixed) return fail(fixed.status());
      std::vector<double> tDyn, tFixed;
      for (int i = 0; i < iterations + 2; ++i) {  // two warm-up rounds
        auto a = timeOnce(*dyn->ctx);
        if (!a) return fail(a.status());
        auto c = timeOnce(*fixed->ctx);
        if (!c) return fail(c.status());
        if (i >= 2) {
          tDyn.push_back(*a);
          tFixed.push_back(*c);
        }
      }
      const double md = median(tDyn), mf = median(tFixed);
      std::printf("| %lld | %lld | %.3f | %.3f | %.3f |\n", static_cast<long long>(b),
                  static_cast<long long>(s), md, mf, md / mf);
      std::fflush(stdout);
      char row[256];
      std::snprintf(row, sizeof row,
                    "%s{\"batch\": %lld, \"seq\": %lld, \"dynamic_ms\": %.4f, \"exact_ms\": %.4f}",
                    rows.empty() ? "" : ", ", static_cast<long long>(b), static_cast<long long>(s),
                    md, mf);
      rows += row;
    }
  }
  if (!json.empty()) {
    std::ofstream f(json);
    f << "{\"model\": \"" << model << "\", \"backend\": \"" << backend
      << "\", \"iterations\": " << iterations << ", \"rows\": [" << rows << "]}\n";
  }
  return 0;
}
