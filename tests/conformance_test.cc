// ONNX backend conformance (../shared/onnx-conformance) on the reference backend:
//   - every case of tests/conformance_passing.txt passes (one test per case);
//   - the whole suite, each case in its own child process, ends without a wrong answer, a crash
//     or a hang, and every passing case is listed (new passes are printed, so the list grows);
//   - docs/operators.md is what `kiln operators` generates from this run.
// The whole-suite test is registered alone in tests/CMakeLists.txt (a longer time limit).
// `kiln conformance ../shared/onnx-conformance --expected tests/conformance_passing.txt` is the
// same check from the command line (scripts/update_conformance.sh updates list and page).
#include <fstream>
#include <set>
#include <thread>

#include "kiln/conformance.h"
#include "kiln/isolated.h"
#include "kiln/operators_doc.h"
#include "test_util.h"

namespace kiln {
namespace {

std::string listPath() {
  return std::string(KILN_TESTS_DIR) + "/conformance_passing.txt";
}

std::string suiteRoot() {
  return test::sharedDir() + "/onnx-conformance";
}

std::vector<std::string> passingList() {
  std::string error;
  std::vector<std::string> list = conformance::readExpectedList(listPath(), &error);
  EXPECT_TRUE(error.empty()) << error;
  return list;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, Passes) {
  auto r = conformance::runCase(suiteRoot() + "/" + GetParam(), GetParam());
  EXPECT_EQ(r.verdict, conformance::Verdict::kPass)
      << GetParam() << ": " << conformance::verdictName(r.verdict) << ": " << r.reason;
}

std::string caseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Onnx, Conformance, ::testing::ValuesIn(passingList()), caseName);

TEST(ConformanceList, IsSortedUniqueAndNotEmpty) {
  std::vector<std::string> list = passingList();
  EXPECT_GT(list.size(), 560u);
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  EXPECT_EQ(std::set<std::string>(list.begin(), list.end()).size(), list.size());
}

/// Every case of the suite, each run in a child process (a crash or hang cannot stop the test).
std::vector<conformance::CaseResult> runWholeSuite() {
  std::vector<conformance::CaseDir> cases = conformance::findCases(suiteRoot());
  std::vector<conformance::CaseResult> results(cases.size());
  const double timeout = 120;
  const int jobs = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  cli::runIsolated(
      cases.size(), jobs, timeout,
      [&](size_t i) {
        return conformance::toJson(conformance::runCase(cases[i].path, cases[i].name)).dump();
      },
      [&](size_t i, const cli::ChildOutcome& o) {
        std::string error;
        std::optional<conformance::CaseResult> r;
        if (o.kind == cli::ChildOutcome::Kind::kExited && o.exitCode == 0)
          r = conformance::caseFromJson(nlohmann::json::parse(o.result), &error);
        if (!r) {
          r = conformance::CaseResult{};
          r->name = cases[i].name;
          r->reason = o.describe(timeout) + " " + error + "\n" + o.log;
        }
        results[i] = *r;
      });
  return results;
}

// One run of the suite serves every check (it is the slow test of the suite under the
// sanitizers).
TEST(ConformanceSuite, WholeSuite) {
  std::vector<conformance::CaseResult> results = runWholeSuite();
  std::vector<std::string> list = passingList();
  std::set<std::string> listed(list.begin(), list.end());
  conformance::Counts counts;
  std::vector<std::string> unlisted;
  for (const auto& r : results) {
    counts.add(r.verdict);
    if (r.verdict == conformance::Verdict::kFail || r.verdict == conformance::Verdict::kError)
      ADD_FAILURE() << r.name << ": " << conformance::verdictName(r.verdict) << ": " << r.reason;
    if (r.verdict == conformance::Verdict::kUnsupported)
      EXPECT_FALSE(r.blockers.empty()) << r.name << " is refused without a named blocker";
    if (listed.count(r.name)) {
      EXPECT_EQ(r.verdict, conformance::Verdict::kPass)
          << r.name << " is listed in " << listPath() << " but does not pass: " << r.reason;
      listed.erase(r.name);
    } else if (r.verdict == conformance::Verdict::kPass) {
      unlisted.push_back(r.name);
    }
  }
  EXPECT_TRUE(listed.empty()) << listed.size() << " listed cases are not in the suite, e.g. "
                              << *listed.begin();
  std::printf("[ conform  ] %d cases: %d passed, %d failed, %d unsupported, %d errors\n",
              counts.cases, counts.passed, counts.failed, counts.unsupported, counts.errors);
  if (!unlisted.empty()) {
    // Reported, not a failure: the list only grows (scripts/update_conformance.sh adds them).
    std::printf("[ conform  ] %zu cases pass but are not in %s:\n", unlisted.size(),
                listPath().c_str());
    for (const std::string& n : unlisted)
      std::printf("[ conform  ]   %s\n", n.c_str());
  }
  EXPECT_EQ(counts.cases, 1942);

  // docs/operators.md is what `kiln operators` writes from this run.
  nlohmann::json report = conformance::makeReport(results, "reference");
  std::string expected = cli::operatorsMarkdown({report});
  std::ifstream f(std::string(KILN_SOURCE_DIR) + "/docs/operators.md");
  std::string current((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(current == expected)
      << "docs/operators.md is stale: regenerate it with scripts/update_conformance.sh";
}

}  // namespace
}  // namespace kiln
