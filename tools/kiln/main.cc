// kiln command-line interface: build, run, inspect, bench, conformance, operators.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <new>

#include "kiln/commands.h"

namespace {

void addModelOptions(CLI::App* cmd, kiln::cli::ModelOptions& m, bool allowOnnx) {
  cmd->add_option("model", m.model,
                  allowOnnx ? "A plan file (from `kiln build`) or an ONNX model (compiled first)"
                            : "The ONNX model to compile")
      ->required();
  cmd->add_option("--backend", m.backend,
                  "Backend that runs the engine: reference (the oracle) or cpu (oneDNN and AVX2 "
                  "kernels)")
      ->capture_default_str();
  cmd->add_option("--threads", m.threads,
                  "Threads per inference when compiling an ONNX model (0: the machine's cores); "
                  "a plan keeps the count it was built with")
      ->capture_default_str();
  cmd->add_option("--precision", m.precision,
                  "Fastest precision the builder may use: fp32, tf32 (float32 products on tensor "
                  "cores), fp16 or bf16 (layers accurate in the narrow type store it; inputs and "
                  "outputs keep their types); int8 not yet")
      ->capture_default_str();
  cmd->add_option("--shapes", m.shapes,
                  "Fixed input shapes, as name=AxBxC (repeat or comma-separate): the engine is "
                  "specialized for them. Without shapes, dynamic dims stay free and one plan "
                  "serves every shape; `run` on an ONNX model takes them from its inputs; "
                  "`bench` on a plan runs at them")
      ->delimiter(',');
  cmd->add_option("--min-shapes", m.minShapes,
                  "Optimization profile: smallest shape per input, name=AxBxC or name:AxBxC")
      ->delimiter(',');
  cmd->add_option("--opt-shapes", m.optShapes,
                  "Optimization profile: the shape tactics are timed at (default: the max)")
      ->delimiter(',');
  cmd->add_option("--max-shapes", m.maxShapes, "Optimization profile: largest shape per input")
      ->delimiter(',');
  cmd->add_option("--profile", m.profile,
                  "Optimization profile index that run/bench check input shapes against");
  cmd->add_option("--max-tensor-bytes", m.maxTensorBytes,
                  "Largest tensor the engine may need, in bytes (default: physical memory)");
  cmd->add_option("--max-arena-bytes", m.maxArenaBytes,
                  "Largest activation arena the engine may need, in bytes (default: physical "
                  "memory)");
  cmd->add_flag("-v,--verbose", m.verbose, "Print the build log (passes, folds, tactics, memory)");
  cmd->add_option("--disable-pass", m.disabledPasses,
                  "Skip an optimizer pass by name (repeat or comma-separate; 'all' skips every "
                  "optional pass)")
      ->delimiter(',');
  cmd->add_option("--dump-ir", m.dumpIrDir,
                  "Write the text IR before and after each pass into this folder");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kiln: an optimizing inference compiler and runtime for ONNX models.\n"
      "  kiln build model.onnx -o model.plan      compile once\n"
      "  kiln run model.plan --inputs DIR          run (and compare with --expected DIR)\n"
      "  kiln inspect model.plan                   layers, tactics, memory\n"
      "  kiln bench model.plan                     latency percentiles and throughput\n"
      "  kiln conformance SUITE_DIR                run ONNX backend test cases and report",
      "kiln"};
  app.footer(kiln::cli::kExitCodesHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION_STRING);

  kiln::cli::BuildOptions build;
  auto* b = app.add_subcommand("build", "Compile an ONNX model into a plan file");
  addModelOptions(b, build.model, false);
  b->add_option("-o,--output", build.output, "Plan file to write (never the model itself)")
      ->required();
  b->footer(kiln::cli::kExitCodesHelp);
  b->add_flag("--explain", build.explain,
              "Print, per plan layer, its source nodes and the rules that fired; per rule, its "
              "hits; per source node, where it went");
  b->add_flag("--json", build.json, "With --explain: print JSON");

  kiln::cli::RunOptions run;
  auto* r = app.add_subcommand("run", "Run a plan or an ONNX model on inputs from .pb files");
  addModelOptions(r, run.model, true);
  r->add_option("--inputs", run.inputsDir,
                "Folder in the ONNX test_data_set layout (input_0.pb, input_1.pb, ...)");
  r->add_option("--input", run.inputs, "One input as NAME=file.pb (repeatable)");
  r->add_option("--output-dir", run.outputDir,
                "Write the outputs there as output_K.pb, after comparing with --expected; "
                "refused when it is the --expected folder (exit 2)");
  r->add_option("--expected", run.expectedDir,
                "Folder with output_K.pb to compare with (bound to outputs like inputs); exit 3 "
                "when outputs differ");
  // Numbers are taken as text and parsed strictly below: CLI11 would saturate out-of-range
  // integers instead of refusing them.
  std::string rtol = "1e-4", atol = "1e-5";
  r->add_option("--rtol", rtol,
                "Relative tolerance (finite, >= 0): |out - ref| <= atol + rtol * |ref|")
      ->type_name("FLOAT")
      ->capture_default_str();
  r->add_option("--atol", atol, "Absolute tolerance (finite, >= 0)")
      ->type_name("FLOAT")
      ->capture_default_str();
  r->footer(
      "Inputs bind by name: --input NAME=FILE to the input NAME; a file of the --inputs folder "
      "to the input named inside it, or by its position K (input_K.pb) when it holds no name. "
      "An unknown name, two files for one input and an input without a file are errors.\n" +
      std::string(kiln::cli::kExitCodesHelp));

  kiln::cli::InspectOptions inspect;
  auto* i = app.add_subcommand("inspect", "Show layers, shapes, tactics, weights and arena size");
  addModelOptions(i, inspect.model, true);
  i->add_flag("--json", inspect.json, "Print JSON instead of text");
  i->footer(kiln::cli::kExitCodesHelp);

  kiln::cli::BenchOptions bench;
  auto* be = app.add_subcommand("bench", "Measure latency (min/median/p90/p99) and throughput");
  addModelOptions(be, bench.model, true);
  be->add_option("--inputs", bench.inputsDir, "Inputs folder (default: random inputs)");
  std::string warmup = "10", iterations = "0", duration = "2";
  be->add_option("--warmup", warmup, "Untimed runs first (>= 0)")
      ->type_name("INT")
      ->capture_default_str();
  be->add_option("--iterations", iterations,
                 "Timed runs, at most " + std::to_string(kiln::cli::kMaxBenchIterations) +
                     " (0: run for --duration)")
      ->type_name("INT")
      ->capture_default_str();
  be->add_option("--duration", duration,
                 "Seconds to run when --iterations is 0 (finite, 0 < S <= 1e6)")
      ->type_name("FLOAT")
      ->capture_default_str();
  be->add_flag("--json", bench.json, "Print JSON instead of text");
  be->footer(kiln::cli::kExitCodesHelp);
  be->add_flag("--layer-times", bench.profile,
               "Also time every layer (median per layer over separate runs that wait for each "
               "layer, so the latencies above stay unaffected; slowest first)");
  be->add_flag("--samples", bench.samples, "With --json: include every run's latency");

  kiln::cli::ConformanceOptions conf;
  auto* c = app.add_subcommand(
      "conformance",
      "Run ONNX backend test cases (model.onnx + test_data_set_N folders), each in its own "
      "process with a time limit, and report pass / fail / unsupported / error per case");
  c->add_option("dirs", conf.dirs,
                "Case folders, suite folders (node/, simple/, ...) or a folder of suites")
      ->required();
  c->add_option("--filter", conf.filters,
                "Run only the cases whose <suite>/<case> name contains this text (repeatable)")
      ->allow_extra_args(false);
  c->add_option("--backend", conf.backend, "Backend to run the cases on")->capture_default_str();
  c->add_option("-j,--jobs", conf.jobs, "Cases run in parallel")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  c->add_option("--timeout", conf.timeout,
                "Seconds per case; a case that runs longer is killed and counted as an error")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c->add_option("--json", conf.jsonPath,
                "Write the report there: per case, per suite, per operator and per blocker");
  c->add_option("--expected", conf.expected,
                "The list of cases that must pass (exit 1 when one does not); passing cases "
                "not in it are reported");
  c->add_flag("--update-expected", conf.updateExpected,
              "Add the passing cases that --expected does not list to it");
  c->add_flag("--blockers", conf.blockers,
              "Print what stops the unsupported cases, by kind and name, sorted by cases");
  c->add_flag("-v,--verbose", conf.verbose, "A line for every case, not only failures and errors");
  c->footer(
      "Outputs are compared as the ONNX suite does: |out - ref| <= atol + rtol * |ref| with "
      "rtol 1e-3, atol 1e-7 (NaN equals NaN); integer and bool outputs exactly. Exit status 1 "
      "when a case fails or errors or a listed case does not pass.");

  kiln::cli::OperatorsOptions ops;
  auto* op = app.add_subcommand(
      "operators",
      "Write docs/operators.md: the importer's operators with their opsets, and per backend "
      "their conformance status and types");
  op->add_option("--report", ops.reports,
                 "A `kiln conformance --json` report, one per backend (repeatable)")
      ->allow_extra_args(false);
  op->add_option("-o,--output", ops.output, "The markdown file (default: print it)");
  op->add_flag("--check", ops.check,
               "Do not write: exit 1 when --output differs from what would be written");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here with status 0; every parse error is a usage error.
    int rc = app.exit(e);
    return rc == 0 ? kiln::cli::kExitOk : kiln::cli::kExitUsage;
  }
  try {
    if (b->parsed()) return kiln::cli::runBuild(build);
    if (r->parsed()) {
      auto rt = kiln::cli::parseRealFlag("--rtol", rtol);
      if (!rt) return kiln::cli::usageError("run", rt.status());
      auto at = kiln::cli::parseRealFlag("--atol", atol);
      if (!at) return kiln::cli::usageError("run", at.status());
      run.rtol = *rt;
      run.atol = *at;
      return kiln::cli::runRun(run);
    }
    if (i->parsed()) return kiln::cli::runInspect(inspect);
    if (c->parsed()) return kiln::cli::runConformance(conf);
    if (op->parsed()) return kiln::cli::runOperators(ops);
    if (be->parsed()) {
      auto w = kiln::cli::parseIntFlag("--warmup", warmup);
      if (!w) return kiln::cli::usageError("bench", w.status());
      auto it = kiln::cli::parseIntFlag("--iterations", iterations);
      if (!it) return kiln::cli::usageError("bench", it.status());
      auto d = kiln::cli::parseRealFlag("--duration", duration);
      if (!d) return kiln::cli::usageError("bench", d.status());
      bench.warmup = *w;
      bench.iterations = *it;
      bench.duration = *d;
      return kiln::cli::runBench(bench);
    }
  } catch (const std::bad_alloc&) {
    std::cerr << "kiln: error: out of memory\n";
    return kiln::cli::kExitError;
  } catch (const std::exception& e) {
    std::cerr << "kiln: error: " << e.what() << "\n";
    return kiln::cli::kExitError;
  }
  return kiln::cli::kExitUsage;
}
