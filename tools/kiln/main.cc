// kiln command-line interface: build, run, inspect, bench, conformance, operators.
#include <CLI/CLI.hpp>

#include "kiln/commands.h"

namespace {

void addModelOptions(CLI::App* cmd, kiln::cli::ModelOptions& m, bool allowOnnx) {
  cmd->add_option("model", m.model,
                  allowOnnx ? "A plan file (from `kiln build`) or an ONNX model (compiled first)"
                            : "The ONNX model to compile")
      ->required();
  cmd->add_option("--backend", m.backend, "Backend that runs the engine (available: reference)")
      ->capture_default_str();
  cmd->add_option("--precision", m.precision,
                  "Fastest precision the builder may use (fp32; fp16/bf16/int8 not yet)")
      ->capture_default_str();
  cmd->add_option("--shapes", m.shapes,
                  "Input shapes for dynamic dims, as name=AxBxC (repeat or comma-separate); "
                  "`run` takes them from the given inputs when omitted")
      ->delimiter(',');
  cmd->add_flag("-v,--verbose", m.verbose, "Print the build log (passes, folds, tactics, memory)");
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
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION_STRING);

  kiln::cli::BuildOptions build;
  auto* b = app.add_subcommand("build", "Compile an ONNX model into a plan file");
  addModelOptions(b, build.model, false);
  b->add_option("-o,--output", build.output, "Plan file to write")->required();

  kiln::cli::RunOptions run;
  auto* r = app.add_subcommand("run", "Run a plan or an ONNX model on inputs from .pb files");
  addModelOptions(r, run.model, true);
  r->add_option("--inputs", run.inputsDir,
                "Folder in the ONNX test_data_set layout (input_0.pb, input_1.pb, ...)");
  r->add_option("--input", run.inputs, "One input as name=file.pb (repeatable)");
  r->add_option("--output-dir", run.outputDir, "Write the outputs there as output_K.pb");
  r->add_option("--expected", run.expectedDir,
                "Folder with output_K.pb to compare with; exit 1 on mismatch");
  r->add_option("--rtol", run.rtol, "Relative tolerance: |out - ref| <= atol + rtol * |ref|")
      ->capture_default_str();
  r->add_option("--atol", run.atol, "Absolute tolerance")->capture_default_str();

  kiln::cli::InspectOptions inspect;
  auto* i = app.add_subcommand("inspect", "Show layers, shapes, tactics, weights and arena size");
  addModelOptions(i, inspect.model, true);
  i->add_flag("--json", inspect.json, "Print JSON instead of text");

  kiln::cli::BenchOptions bench;
  auto* be = app.add_subcommand("bench", "Measure latency (min/median/p90/p99) and throughput");
  addModelOptions(be, bench.model, true);
  be->add_option("--inputs", bench.inputsDir, "Inputs folder (default: random inputs)");
  be->add_option("--warmup", bench.warmup, "Untimed runs first")->capture_default_str();
  be->add_option("--iterations", bench.iterations, "Timed runs (0: run for --duration)")
      ->capture_default_str();
  be->add_option("--duration", bench.duration, "Seconds to run when --iterations is 0")
      ->capture_default_str();
  be->add_flag("--json", bench.json, "Print JSON instead of text");

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

  CLI11_PARSE(app, argc, argv);
  if (b->parsed()) return kiln::cli::runBuild(build);
  if (r->parsed()) return kiln::cli::runRun(run);
  if (i->parsed()) return kiln::cli::runInspect(inspect);
  if (be->parsed()) return kiln::cli::runBench(bench);
  if (c->parsed()) return kiln::cli::runConformance(conf);
  if (op->parsed()) return kiln::cli::runOperators(ops);
  return 2;
}
