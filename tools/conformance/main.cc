// kiln_conformance: runs the ONNX backend test suite on the reference backend and reports.
//
//   kiln_conformance SHARED/onnx-conformance [--suite node] [--filter substr]
//                    [--write-passing FILE] [--verbose]
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "conformance/runner.h"

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help")) {
    std::printf(
        "usage: kiln_conformance CONFORMANCE_DIR [--suite NAME]... [--filter TEXT] "
        "[--write-passing FILE] [--verbose]\n"
        "  Runs every case of the given suites (default: node simple pytorch-operator "
        "pytorch-converted),\n  prints one line per case with --verbose, then counts per outcome.\n"
        "  --write-passing FILE  writes the names of the passing cases (the regression list)\n");
    return argc < 2 ? 2 : 0;
  }
  std::string root = argv[1];
  std::vector<std::string> suites;
  std::string filter, passingFile;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--suite" && i + 1 < argc)
      suites.push_back(argv[++i]);
    else if (a == "--filter" && i + 1 < argc)
      filter = argv[++i];
    else if (a == "--write-passing" && i + 1 < argc)
      passingFile = argv[++i];
    else if (a == "--verbose")
      verbose = true;
    else {
      std::fprintf(stderr, "kiln_conformance: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (suites.empty()) suites = {"node", "simple", "pytorch-operator", "pytorch-converted"};
  std::map<std::string, int> counts;
  std::vector<std::string> passing;
  int total = 0;
  for (const std::string& suite : suites) {
    for (const std::string& c : kiln::conformance::listCases(root + "/" + suite)) {
      std::string name = suite + "/" + c;
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      auto r = kiln::conformance::runCase(root + "/" + name, name);
      ++total;
      ++counts[kiln::conformance::outcomeName(r.outcome)];
      if (r.outcome == kiln::conformance::Outcome::kPass) passing.push_back(name);
      if (verbose)
        std::printf("%-11s %s%s%s\n", kiln::conformance::outcomeName(r.outcome), name.c_str(),
                    r.detail.empty() ? "" : "  ", r.detail.c_str());
    }
  }
  std::printf("%d cases: %d pass, %d mismatch, %d unsupported\n", total, counts["pass"],
              counts["mismatch"], counts["unsupported"]);
  if (!passingFile.empty()) {
    std::ofstream f(passingFile);
    f << "# ONNX conformance cases that pass on the reference backend; tests/conformance_test.cc\n"
         "# fails if any of them stops passing. Regenerate with kiln_conformance "
         "--write-passing.\n";
    for (const auto& p : passing)
      f << p << "\n";
  }
  return 0;
}
