// kiln CLI — subcommand options and entry points. Each returns the process exit code and prints
// errors as "kiln <command>: error: <message>" on stderr.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace kiln::cli {

/// Options shared by commands that may compile an ONNX model on the fly.
struct ModelOptions {
  std::string model;  ///< .plan or .onnx
  std::string backend = "reference";
  std::string precision = "fp32";
  std::vector<std::string> shapes;  ///< "name=2x64" entries
  bool verbose = false;
  std::vector<std::string> disabledPasses;  ///< --disable-pass
  std::string dumpIrDir;                    ///< --dump-ir
};

struct BuildOptions {
  ModelOptions model;
  std::string output;
  bool explain = false;  ///< print every layer's source nodes and rules, and every node's fate
  bool json = false;     ///< --explain as JSON
};

struct RunOptions {
  ModelOptions model;
  std::string inputsDir;            ///< test_data_set layout: input_K.pb
  std::vector<std::string> inputs;  ///< "name=file.pb"
  std::string outputDir;
  std::string expectedDir;  ///< output_K.pb to compare with
  double rtol = 1e-4;
  double atol = 1e-5;
};

struct InspectOptions {
  ModelOptions model;
  bool json = false;
};

struct BenchOptions {
  ModelOptions model;
  std::string inputsDir;
  int warmup = 10;
  int iterations = 0;     ///< 0: use duration
  double duration = 2.0;  ///< seconds, when iterations == 0
  bool json = false;
};

int runBuild(const BuildOptions& o);
int runRun(const RunOptions& o);
int runInspect(const InspectOptions& o);
int runBench(const BenchOptions& o);

}  // namespace kiln::cli
