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
};

struct BuildOptions {
  ModelOptions model;
  std::string output;
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

struct ConformanceOptions {
  std::vector<std::string> dirs;     ///< case folders, suites, or folders of suites
  std::vector<std::string> filters;  ///< run cases whose name contains one of these
  std::string backend = "reference";
  int jobs = 1;
  double timeout = 60;   ///< seconds per case
  std::string jsonPath;  ///< --json: the report
  std::string expected;  ///< --expected: the list of cases that must pass
  bool updateExpected = false;
  bool verbose = false;   ///< a line per case, not only for failures and errors
  bool blockers = false;  ///< print what stops the unsupported cases, by kind and name
};

struct OperatorsOptions {
  std::vector<std::string> reports;  ///< conformance JSON reports, one per backend
  std::string output;                ///< write the markdown there ("" prints it)
  bool check = false;                ///< compare with `output` instead of writing it
};

int runBuild(const BuildOptions& o);
int runRun(const RunOptions& o);
int runInspect(const InspectOptions& o);
int runBench(const BenchOptions& o);
int runConformance(const ConformanceOptions& o);
int runOperators(const OperatorsOptions& o);

}  // namespace kiln::cli
