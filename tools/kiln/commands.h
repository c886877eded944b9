// kiln CLI — subcommand options and entry points. Each returns the process exit code and prints
// errors as "kiln <command>: error: <message>" on stderr.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::cli {

/// Exit status of every command (and of `kiln` itself for command-line parse errors).
enum ExitCode : int {
  kExitOk = 0,        ///< success
  kExitError = 1,     ///< an error: a file, model, plan or input is wrong, or the run failed
  kExitUsage = 2,     ///< the command line is wrong: unknown flag, malformed or out-of-range value,
                      ///< flags that conflict (`--output-dir` = `--expected`, `-o` = the model)
  kExitMismatch = 3,  ///< `run --expected`: outputs differ from the reference
};

/// The exit statuses as `kiln --help` lists them.
inline constexpr const char* kExitCodesHelp =
    "Exit status: 0 success; 1 error (file, model, plan, input or run); 2 usage error (unknown "
    "flag, malformed or out-of-range value, conflicting flags); 3 outputs differ from "
    "--expected.";

/// Largest --iterations, and the most latency samples a --duration run keeps.
inline constexpr int64_t kMaxBenchIterations = 100'000'000;
/// Longest --duration, in seconds.
inline constexpr double kMaxBenchSeconds = 1e6;

/// Options shared by commands that may compile an ONNX model on the fly.
struct ModelOptions {
  std::string model;  ///< .plan or .onnx
  std::string backend = "reference";
  std::string precision = "fp32";
  std::vector<std::string> shapes;  ///< "name=2x64" entries: fixed shapes
  int threads = 0;                  ///< threads per inference; 0: the machine's cores
  /// An optimization profile: "name=AxB" (or trtexec's "name:AxB") entries per input.
  std::vector<std::string> minShapes, optShapes, maxShapes;
  std::string profile;  ///< --profile N: the profile a context checks shapes against
  std::string maxTensorBytes, maxArenaBytes;  ///< memory limits (text: parsed strictly)
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
  std::string outputDir;            ///< never the expected folder; written after comparing
  std::string expectedDir;          ///< output_K.pb to compare with
  double rtol = 1e-4;               ///< finite, >= 0
  double atol = 1e-5;               ///< finite, >= 0
};

struct InspectOptions {
  ModelOptions model;
  bool json = false;
};

struct BenchOptions {
  ModelOptions model;
  std::string inputsDir;
  int64_t warmup = 10;     ///< >= 0
  int64_t iterations = 0;  ///< 0: use duration; at most kMaxBenchIterations
  double duration = 2.0;   ///< seconds, when iterations == 0; in (0, kMaxBenchSeconds]
  bool json = false;
  bool profile = false;  ///< per-layer times
  bool samples = false;  ///< JSON: every run's latency
};

/// The value of an integer flag: the whole text a decimal integer that int64 holds (never
/// saturated); the error names the flag and the text.
Expected<int64_t> parseIntFlag(const std::string& flag, const std::string& text);
/// The value of a real-number flag ("1e-4", "nan" and "inf" parse; range checks come later).
Expected<double> parseRealFlag(const std::string& flag, const std::string& text);
/// Prints "kiln <command>: error: <message>" and a pointer to --help; returns kExitUsage.
int usageError(const char* command, const Status& s);

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
