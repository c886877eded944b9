// Shared helpers for kiln tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::test {

inline std::string sharedDir() {
  return KILN_SHARED_DIR;
}
inline std::string modelDir(const std::string& name) {
  return sharedDir() + "/models/" + name;
}

/// Reads input_K.pb (or output_K.pb with prefix "output") from a test_data_set folder.
inline std::vector<NamedTensor> readSet(const std::string& dir, const std::string& prefix) {
  std::vector<NamedTensor> out;
  for (int k = 0;; ++k) {
    std::string p = dir + "/" + prefix + "_" + std::to_string(k) + ".pb";
    if (!std::filesystem::exists(p)) break;
    auto t = readTensorFile(p);
    EXPECT_TRUE(t.hasValue()) << t.status().toString();
    if (!t) break;
    out.push_back(std::move(*t));
  }
  return out;
}

/// Runs `engine` once on `inputs` (in engine input order) and returns the outputs.
inline Expected<std::vector<Weights>> runEngine(const Engine& engine,
                                                const std::vector<NamedTensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(auto ctx, engine.createExecutionContext());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const IOTensorInfo& io = engine.inputs().at(i);
    const Weights& w = inputs[i].value;
    KILN_RETURN_IF_ERROR(ctx->setInputShape(io.name, w.dims()));
    KILN_RETURN_IF_ERROR(ctx->setInputTensor(io.name, w.data(), w.bytes(), w.dtype()));
  }
  std::vector<Weights> outs;
  for (const IOTensorInfo& io : engine.outputs()) {
    KILN_ASSIGN_OR_RETURN(Dims dims, ctx->getTensorShape(io.name));
    KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(io.dtype, dims, io.name));
    outs.push_back(std::move(w));
    KILN_RETURN_IF_ERROR(
        ctx->setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(), io.dtype));
  }
  KILN_RETURN_IF_ERROR(ctx->execute());
  return outs;
}

/// Builds `net` with each input's shape taken from `inputs`.
inline Expected<std::shared_ptr<Engine>> buildFor(const NetworkDefinition& net,
                                                  const std::vector<NamedTensor>& inputs) {
  BuilderConfig config;
  for (size_t i = 0; i < net.inputs().size() && i < inputs.size(); ++i)
    config.inputShapes[net.tensor(net.inputs()[i]).name] = inputs[i].value.dims();
  return Builder::build(net, config);
}

/// Runs a shell command, returning its exit code and combined output.
struct CommandResult {
  int exitCode = -1;
  std::string output;
};
CommandResult runCommand(const std::string& command);

/// Path of the kiln CLI under test.
/// Rows of `logits` [N, classes] whose largest value is at the int64 label of `labels` [N].
inline int64_t correctPredictions(const Weights& logits, const Weights& labels) {
  const int64_t n = logits.dims()[0], classes = logits.dims()[1];
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.as<float>() + i * classes;
    correct += (std::max_element(row, row + classes) - row) == labels.as<int64_t>()[i];
  }
  return correct;
}

inline std::string cliPath() {
  return KILN_CLI_PATH;
}

/// A fresh temporary directory for one test.
std::string tempDir(const std::string& tag);

}  // namespace kiln::test
