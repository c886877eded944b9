// `kiln conformance DIR...`: every case is run in its own child process (crash- and
// hang-proof), then counted, checked against the expectation list and written as a JSON report.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

#include "kiln/commands.h"
#include "kiln/conformance.h"
#include "kiln/isolated.h"
#include "kiln/operators_doc.h"

namespace kiln::cli {

namespace {

namespace conf = kiln::conformance;

/// The line of a child's log worth quoting: a sanitizer's SUMMARY line, else the last line.
std::string logHighlight(const std::string& log) {
  size_t s = log.rfind("SUMMARY: ");
  if (s != std::string::npos) return log.substr(s, log.find('\n', s) - s);
  size_t end = log.find_last_not_of("\r\n ");
  if (end == std::string::npos) return "";
  size_t newline = log.rfind('\n', end);
  size_t begin = newline == std::string::npos ? 0 : newline + 1;
  return log.substr(begin, end + 1 - begin);
}

conf::CaseResult resultOf(const conf::CaseDir& c, const ChildOutcome& o, double timeout) {
  if (o.kind == ChildOutcome::Kind::kExited && o.exitCode == 0) {
    std::string error;
    try {
      if (auto r = conf::caseFromJson(nlohmann::json::parse(o.result), &error)) return *r;
    } catch (const std::exception& e) {
      error = e.what();
    }
    conf::CaseResult r;
    r.name = c.name;
    r.reason = "the case's child process sent an unreadable result: " + error;
    return r;
  }
  conf::CaseResult r;
  r.name = c.name;
  r.verdict = conf::Verdict::kError;
  r.reason = o.describe(timeout);
  std::string quote = logHighlight(o.log);
  if (!quote.empty()) r.reason += "; its last output: " + quote;
  r.seconds = o.seconds;
  return r;
}

std::string upper(const char* s) {
  std::string u = s;
  for (char& ch : u)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

void printCounts(const char* label, const conf::Counts& c) {
  std::printf("%s %d passed, %d failed, %d unsupported, %d errors (%d cases)\n", label, c.passed,
              c.failed, c.unsupported, c.errors, c.cases);
}

void printBlockers(const nlohmann::json& report) {
  std::printf("\nwhat stops the unsupported cases (a case counts once per blocker):\n");
  std::printf("  %-9s %-40s %6s %6s %6s %6s\n", "kind", "name", "cases", "only", "node", "model");
  for (const auto& b : report["blockers"])
    std::printf("  %-9s %-40s %6d %6d %6d %6d\n", b["kind"].get<std::string>().c_str(),
                b["name"].get<std::string>().c_str(), b["cases"].get<int>(),
                b["only_blocker_cases"].get<int>(), b["node_cases"].get<int>(),
                b["model_cases"].get<int>());
}

/// Checks the run against the expectation list; returns the number of regressions.
int checkExpected(const ConformanceOptions& o, const std::vector<conf::CaseResult>& results,
                  bool* listError) {
  std::string error;
  std::vector<std::string> listed = conf::readExpectedList(o.expected, &error);
  if (!error.empty()) {
    std::fprintf(stderr, "kiln conformance: error: %s\n", error.c_str());
    *listError = true;
    return 0;
  }
  std::set<std::string> listedSet(listed.begin(), listed.end());
  std::set<std::string> ran;
  std::vector<std::string> regressions, newPasses;
  for (const conf::CaseResult& r : results) {
    ran.insert(r.name);
    bool passed = r.verdict == conf::Verdict::kPass;
    if (listedSet.count(r.name) && !passed)
      regressions.push_back(r.name + " (" + conf::verdictName(r.verdict) + ": " + r.reason + ")");
    if (!listedSet.count(r.name) && passed) newPasses.push_back(r.name);
  }
  int notRun = 0;
  for (const std::string& l : listed)
    notRun += !ran.count(l);
  std::printf("\nexpectation list %s: %zu cases", o.expected.c_str(), listed.size());
  if (notRun) std::printf(" (%d not in this run)", notRun);
  std::printf("\n");
  for (const std::string& r : regressions)
    std::printf("  REGRESSION  %s\n", r.c_str());
  if (!newPasses.empty()) {
    std::printf("  %zu cases pass but are not listed%s:\n", newPasses.size(),
                o.updateExpected ? " (added)" : "; add them with --update-expected");
    for (const std::string& n : newPasses)
      std::printf("    %s\n", n.c_str());
  }
  if (o.updateExpected && !newPasses.empty()) {
    listed.insert(listed.end(), newPasses.begin(), newPasses.end());
    if (!conf::writeExpectedList(o.expected, listed)) {
      std::fprintf(stderr, "kiln conformance: error: cannot write '%s'\n", o.expected.c_str());
      *listError = true;
    }
  }
  return static_cast<int>(regressions.size());
}

}  // namespace

int runConformance(const ConformanceOptions& o) {
  std::vector<conf::CaseDir> cases;
  for (const std::string& dir : o.dirs) {
    std::vector<conf::CaseDir> found = conf::findCases(dir);
    if (found.empty()) {
      std::fprintf(stderr,
                   "kiln conformance: error: no case under '%s' (a case is a folder with "
                   "model.onnx and test_data_set_N folders)\n",
                   dir.c_str());
      return 2;
    }
    for (conf::CaseDir& c : found) {
      bool keep = o.filters.empty();
      for (const std::string& f : o.filters)
        keep = keep || c.name.find(f) != std::string::npos;
      if (keep) cases.push_back(std::move(c));
    }
  }
  std::vector<conf::CaseResult> results(cases.size());
  runIsolated(
      cases.size(), o.jobs, o.timeout,
      [&](size_t i) {
        return conf::toJson(conf::runCase(cases[i].path, cases[i].name, o.backend)).dump();
      },
      [&](size_t i, const ChildOutcome& outcome) {
        conf::CaseResult r = resultOf(cases[i], outcome, o.timeout);
        bool show =
            o.verbose || r.verdict == conf::Verdict::kFail || r.verdict == conf::Verdict::kError;
        if (show)
          std::printf("%-11s %s%s%s\n", upper(conf::verdictName(r.verdict)).c_str(), r.name.c_str(),
                      r.reason.empty() ? "" : "  ", r.reason.c_str());
        std::fflush(stdout);
        results[i] = std::move(r);
      });
  nlohmann::json report = conf::makeReport(results, o.backend);
  conf::Counts all, node, model;
  for (const conf::CaseResult& r : results) {
    all.add(r.verdict);
    (conf::isNodeSuite(r.suite()) ? node : model).add(r.verdict);
  }
  if (o.blockers) printBlockers(report);
  bool listError = false;
  int regressions = o.expected.empty() ? 0 : checkExpected(o, results, &listError);
  if (!o.jsonPath.empty()) {
    std::ofstream f(o.jsonPath);
    f << report.dump(1) << "\n";
    if (!f) {
      std::fprintf(stderr, "kiln conformance: error: cannot write '%s'\n", o.jsonPath.c_str());
      listError = true;
    }
  }
  std::printf("\n");
  printCounts("node cases: ", node);
  printCounts("model cases:", model);
  std::printf("%d passed, %d failed, %d unsupported, %d errors\n", all.passed, all.failed,
              all.unsupported, all.errors);
  if (regressions)
    std::fprintf(stderr, "kiln conformance: %d listed cases no longer pass\n", regressions);
  return (all.failed || all.errors || regressions || listError) ? 1 : 0;
}

int runOperators(const OperatorsOptions& o) {
  std::vector<nlohmann::json> reports;
  for (const std::string& path : o.reports) {
    std::ifstream f(path);
    if (!f) {
      std::fprintf(stderr, "kiln operators: error: cannot read the report '%s'\n", path.c_str());
      return 1;
    }
    try {
      reports.push_back(nlohmann::json::parse(f));
      if (!reports.back().contains("operators") || !reports.back().contains("node_cases"))
        throw std::runtime_error("not a `kiln conformance --json` report");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kiln operators: error: '%s': %s\n", path.c_str(), e.what());
      return 1;
    }
  }
  const std::string md = operatorsMarkdown(reports);
  if (o.output.empty()) {
    std::cout << md;
    return 0;
  }
  if (o.check) {
    std::ifstream f(o.output);
    std::string current((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (current == md) {
      std::printf("%s is up to date\n", o.output.c_str());
      return 0;
    }
    std::fprintf(stderr,
                 "kiln operators: %s is stale (it differs from what the importer's table and "
                 "the conformance report give); regenerate it with "
                 "scripts/update_conformance.sh\n",
                 o.output.c_str());
    return 1;
  }
  std::ofstream f(o.output);
  f << md;
  if (!f) {
    std::fprintf(stderr, "kiln operators: error: cannot write '%s'\n", o.output.c_str());
    return 1;
  }
  std::printf("wrote %s\n", o.output.c_str());
  return 0;
}

}  // namespace kiln::cli
