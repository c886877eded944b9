// The conformance machinery on small synthetic cases: child processes (crash, hang, exit,
// large results), output comparison, case verdicts and blockers, the report, the expectation
// list, and the `kiln conformance` / `kiln operators` commands.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>

#include "importer/onnx/model_builder.h"
#include "kiln/compare.h"
#include "kiln/conformance.h"
#include "kiln/isolated.h"
#include "kiln/operators_doc.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using cli::ChildOutcome;
using conformance::Verdict;
using onnx_import::ModelBuilder;

// ---- child processes ------------------------------------------------------------------------

TEST(Isolated, ResultsCrashesHangsAndExits) {
  std::map<size_t, ChildOutcome> outcomes;
  cli::runIsolated(
      5, 3, 1.0,
      [](size_t i) -> std::string {
        switch (i) {
          case 1:
            std::fprintf(stderr, "about to crash\n");
            std::abort();
          case 2:
            ::sleep(30);  // killed at the 1 s limit
            break;
          case 3:
            ::_exit(7);
          case 4:
            return std::string(1 << 20, 'x');  // more than a pipe buffer
        }
        return "result " + std::to_string(i);
      },
      [&](size_t i, const ChildOutcome& o) {
        EXPECT_EQ(outcomes.count(i), 0u) << "item " << i << " reported twice";
        outcomes[i] = o;
      });
  ASSERT_EQ(outcomes.size(), 5u);
  EXPECT_EQ(outcomes[0].kind, ChildOutcome::Kind::kExited);
  EXPECT_EQ(outcomes[0].exitCode, 0);
  EXPECT_EQ(outcomes[0].result, "result 0");
  EXPECT_EQ(outcomes[1].kind, ChildOutcome::Kind::kSignaled);
  EXPECT_EQ(outcomes[1].signal, SIGABRT);
  EXPECT_NE(outcomes[1].log.find("about to crash"), std::string::npos);
  EXPECT_NE(outcomes[1].describe(1).find("crashed with signal 6"), std::string::npos);
  EXPECT_EQ(outcomes[2].kind, ChildOutcome::Kind::kTimedOut);
  EXPECT_EQ(outcomes[2].describe(1), "timed out after 1 s");
  EXPECT_LT(outcomes[2].seconds, 20);
  EXPECT_EQ(outcomes[3].kind, ChildOutcome::Kind::kExited);
  EXPECT_EQ(outcomes[3].exitCode, 7);
  EXPECT_EQ(outcomes[4].result.size(), size_t{1} << 20);
}

// ---- comparison -----------------------------------------------------------------------------

TEST(Compare, IntegersExactlyFloatsWithinToleranceNanEqualsNan) {
  // int64 values that differ by one beyond double precision.
  const int64_t big = (int64_t{1} << 53) + 1;
  std::vector<int64_t> a = {big, 5}, b = {big - 1, 5};
  Weights ia = Weights::copyFrom(DataType::kInt64, {2}, a.data(), 16).value();
  Weights ib = Weights::copyFrom(DataType::kInt64, {2}, b.data(), 16).value();
  Comparison c = compareTensors(ia, ib, 1e-3, 1e-7);
  EXPECT_TRUE(c.exact);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.worstMismatchIndex, 0);
  // Even a huge tolerance does not let integers differ.
  std::vector<int64_t> d = {big, 6};
  Weights id = Weights::copyFrom(DataType::kInt64, {2}, d.data(), 16).value();
  EXPECT_FALSE(compareTensors(ia, id, 1.0, 10.0).ok);

  Weights x = Weights::fromFloats({1.0f, NAN, 100.0f, 3.0f});
  Weights y = Weights::fromFloats({1.0005f, NAN, 100.05f, 2.0f});
  c = compareTensors(x, y, 1e-3, 1e-7);
  EXPECT_EQ(c.mismatches, 1);  // only 3 vs 2
  EXPECT_EQ(c.worstMismatchIndex, 3);
  EXPECT_EQ(c.worstMismatchActual, 3.0);
  EXPECT_EQ(c.worstMismatchExpected, 2.0);
}

TEST(Compare, WorstMismatchIsTheFurthestOutsideTheTolerance) {
  // Element 0 has the largest absolute error but is within rtol of its large reference;
  // element 1 is the one that fails.
  Weights x = Weights::fromFloats({1000.5f, 0.1f});
  Weights y = Weights::fromFloats({1000.0f, 0.0f});
  Comparison c = compareTensors(x, y, 1e-3, 1e-7);
  EXPECT_EQ(c.worstIndex, 0);
  EXPECT_EQ(c.worstMismatchIndex, 1);
  EXPECT_EQ(c.mismatches, 1);
}

// ---- synthetic cases ------------------------------------------------------------------------

class ConformanceCases : public ::testing::Test {
 protected:
  void SetUp() override { root = test::tempDir("conformance"); }
  void TearDown() override { fs::remove_all(root); }

  /// Writes <root>/<suite>/<name> with the model and one data set.
  std::string writeCase(const std::string& suite, const std::string& name, const ModelBuilder& m,
                        const std::vector<Weights>& inputs, const std::vector<Weights>& outputs) {
    fs::path dir = fs::path(root) / suite / name;
    fs::create_directories(dir / "test_data_set_0");
    std::ofstream(dir / "model.onnx", std::ios::binary) << m.serialize();
    for (size_t k = 0; k < inputs.size(); ++k)
      EXPECT_TRUE(writeTensorFile(
          (dir / "test_data_set_0" / ("input_" + std::to_string(k) + ".pb")).string(), "x",
          inputs[k]));
    for (size_t k = 0; k < outputs.size(); ++k)
      EXPECT_TRUE(writeTensorFile(
          (dir / "test_data_set_0" / ("output_" + std::to_string(k) + ".pb")).string(), "y",
          outputs[k]));
    return dir.string();
  }

  /// node/test_add (passes), node/test_add_wrong (wrong reference), simple/test_gru (two
  /// missing operators and a missing type).
  void writeSuite() {
    ModelBuilder add(17);
    add.input("x", DataType::kFloat32, shapeFromDims({3}))
        .node({"Add", {"x", "x"}, {"y"}, {}, "add"})
        .output("y");
    writeCase("node", "test_add", add, {Weights::fromFloats({1, 2, 3})},
              {Weights::fromFloats({2, 4, 6})});
    writeCase("node", "test_add_wrong", add, {Weights::fromFloats({1, 2, 3})},
              {Weights::fromFloats({2, 4.5f, 6})});
    ModelBuilder gru(17);
    gru.input("x", DataType::kFloat32, shapeFromDims({1, 1, 2, 2}))
        .inputWithOnnxType("s", 8, {1})
        .node({"GRU", {"x"}, {"a"}, {{"size", int64_t{1}}}, "gru"})
        .node({"Foo", {"a", "s"}, {"y"}, {}, "foo"})
        .output("y");
    writeCase("simple", "test_gru", gru, {}, {});
  }

  std::string root;
};

TEST_F(ConformanceCases, VerdictsBlockersAndWorstElement) {
  writeSuite();
  auto pass = conformance::runCase(root + "/node/test_add", "node/test_add");
  EXPECT_EQ(pass.verdict, Verdict::kPass) << pass.reason;
  EXPECT_EQ(pass.operators, std::vector<std::string>{"Add"});
  EXPECT_EQ(pass.opset, 17);
  EXPECT_EQ(pass.inputTypes, std::vector<std::string>{"f32"});
  EXPECT_EQ(pass.operatorTypes["Add"], std::vector<std::string>{"f32"});
  EXPECT_EQ(pass.dataSets, 1);

  auto fail = conformance::runCase(root + "/node/test_add_wrong", "node/test_add_wrong");
  EXPECT_EQ(fail.verdict, Verdict::kFail);
  ASSERT_TRUE(fail.mismatch.has_value());
  EXPECT_EQ(fail.mismatch->index, "[1]");
  EXPECT_EQ(fail.mismatch->actual, 4.0);
  EXPECT_EQ(fail.mismatch->expected, 4.5);
  EXPECT_NE(fail.reason.find("worst at [1]: 4, expected 4.5"), std::string::npos) << fail.reason;

  auto refused = conformance::runCase(root + "/simple/test_gru", "simple/test_gru");
  EXPECT_EQ(refused.verdict, Verdict::kUnsupported);
  ASSERT_EQ(refused.blockers.size(), 3u);  // every missing operator and type, not the first
  EXPECT_EQ(refused.blockers[0].kind, "operator");
  EXPECT_EQ(refused.blockers[0].name, "Foo");
  EXPECT_EQ(refused.blockers[1].name, "GRU");
  EXPECT_EQ(refused.blockers[2].kind, "type");
  EXPECT_EQ(refused.blockers[2].name, "string");

  // A round trip through JSON (how children report to the parent) keeps everything.
  std::string error;
  auto back = conformance::caseFromJson(conformance::toJson(fail), &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->verdict, Verdict::kFail);
  EXPECT_EQ(back->mismatch->index, "[1]");
  EXPECT_EQ(back->reason, fail.reason);
}

TEST_F(ConformanceCases, FindsCasesFromRootSuiteOrCaseAndReports) {
  writeSuite();
  auto all = conformance::findCases(root);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "node/test_add");
  EXPECT_EQ(all[2].name, "simple/test_gru");
  EXPECT_EQ(conformance::findCases(root + "/node").size(), 2u);
  auto one = conformance::findCases(root + "/node/test_add/");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "node/test_add");
  EXPECT_TRUE(conformance::findCases(root + "/nothing").empty());

  std::vector<conformance::CaseResult> results;
  for (const auto& c : all)
    results.push_back(conformance::runCase(c.path, c.name));
  nlohmann::json report = conformance::makeReport(results, "reference");
  EXPECT_EQ(report["summary"]["passed"], 1);
  EXPECT_EQ(report["summary"]["failed"], 1);
  EXPECT_EQ(report["summary"]["unsupported"], 1);
  EXPECT_EQ(report["node_cases"]["cases"], 2);
  EXPECT_EQ(report["model_cases"]["unsupported"], 1);
  EXPECT_EQ(report["operators"]["Add"]["cases"], 2);
  EXPECT_EQ(report["operators"]["Add"]["passed"], 1);
  EXPECT_EQ(report["operators"]["GRU"]["refused_for_this_operator"], 1);
  EXPECT_EQ(report["operators"]["Foo"]["refused_for_this_operator"], 1);
  EXPECT_EQ(report["blockers"].size(), 3u);
  EXPECT_FALSE(report["cases"][0].contains("seconds"));  // deterministic

  std::string md = cli::operatorsMarkdown({report});
  EXPECT_NE(md.find("| Add | 1–28 | partial 1/2, **1 wrong** | f32 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| GRU | 1 | 17 |"), std::string::npos) << md;
}

TEST_F(ConformanceCases, ExpectedListRoundTrip) {
  std::string path = root + "/list.txt";
  ASSERT_TRUE(conformance::writeExpectedList(path, {"node/b", "node/a", "node/b"}));
  std::string error;
  EXPECT_EQ(conformance::readExpectedList(path, &error),
            (std::vector<std::string>{"node/a", "node/b"}));
  EXPECT_TRUE(error.empty());
  conformance::readExpectedList(root + "/absent.txt", &error);
  EXPECT_NE(error.find("absent.txt"), std::string::npos);
}

TEST_F(ConformanceCases, ConformanceCommand) {
  writeSuite();
  auto kiln = [](const std::string& args) {
    return test::runCommand(test::cliPath() + " " + args);
  };
  const std::string json = root + "/report.json";
  auto r = kiln("conformance " + root + " --jobs 2 --json " + json);
  EXPECT_EQ(r.exitCode, 1) << r.output;  // a case gives a wrong answer
  EXPECT_NE(r.output.find("FAIL        node/test_add_wrong"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("worst at [1]: 4, expected 4.5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("node cases:  1 passed, 1 failed, 0 unsupported, 0 errors (2 cases)"),
            std::string::npos)
      << r.output;
  std::string last = r.output.substr(r.output.rfind('\n', r.output.size() - 2) + 1);
  EXPECT_EQ(last, "1 passed, 1 failed, 1 unsupported, 0 errors\n");
  std::ifstream f(json);
  nlohmann::json report = nlohmann::json::parse(f);
  EXPECT_EQ(report["cases"].size(), 3u);

  // --filter, --verbose and --blockers.
  r = kiln("conformance " + root + " --filter gru -v --blockers");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("UNSUPPORTED simple/test_gru  unsupported: 2 operators are not "
                          "supported: Foo (node foo), GRU (node gru)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("operator  GRU"), std::string::npos) << r.output;

  // --filter repeats, before or after the folders.
  r = kiln("conformance --filter gru --filter add_wrong " + root);
  EXPECT_NE(r.output.find("0 passed, 1 failed, 1 unsupported, 0 errors\n"), std::string::npos)
      << r.output;

  // The expectation list: a listed case that does not pass fails the run; a passing case that
  // is not listed is reported, and added with --update-expected.
  const std::string list = root + "/passing.txt";
  ASSERT_TRUE(conformance::writeExpectedList(list, {"node/test_add_wrong"}));
  r = kiln("conformance " + root + "/node/test_add_wrong --expected " + list);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("REGRESSION  node/test_add_wrong (fail:"), std::string::npos) << r.output;
  ASSERT_TRUE(conformance::writeExpectedList(list, {}));
  r = kiln("conformance " + root + "/node/test_add --expected " + list);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("1 cases pass but are not listed"), std::string::npos) << r.output;
  r = kiln("conformance " + root + "/node/test_add --expected " + list + " --update-expected");
  std::string error;
  EXPECT_EQ(conformance::readExpectedList(list, &error), std::vector<std::string>{"node/test_add"});

  r = kiln("conformance " + root + "/nothing");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("no case under"), std::string::npos) << r.output;

  // kiln operators: writes the page, and --check tells a stale page from a current one.
  const std::string md = root + "/operators.md";
  r = kiln("operators --report " + json + " -o " + md);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  r = kiln("operators --report " + json + " -o " + md + " --check");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  std::ofstream(md, std::ios::app) << "edited by hand\n";
  r = kiln("operators --report " + json + " -o " + md + " --check");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("is stale"), std::string::npos) << r.output;
  r = kiln("operators --report " + list);  // not a report
  EXPECT_EQ(r.exitCode, 1);
}

}  // namespace
}  // namespace kiln
