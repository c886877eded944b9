// kiln command-line interface: build, run, inspect, bench.
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
      "  kiln bench model.plan                     latency percentiles and throughput",
      "kiln"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION_STRING);

  kiln::cli::BuildOptions build;
  auto* b = app.add_subcommand("build", "Compile an ONNX model into a plan file");
  addModelOptions(b, build.model, false);
  b->add_option("-o,--output", build.output, "Plan file to write")->required();
  b->add_flag("--explain", build.explain,
              "Print, per plan layer, its source nodes and the rules that fired; per rule, its "
              "hits; per source node, where it went");
  b->add_flag("--json", build.json, "With --explain: print JSON");

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

  CLI11_PARSE(app, argc, argv);
  if (b->parsed()) return kiln::cli::runBuild(build);
  if (r->parsed()) return kiln::cli::runRun(run);
  if (i->parsed()) return kiln::cli::runInspect(inspect);
  if (be->parsed()) return kiln::cli::runBench(bench);
  return 2;
}
