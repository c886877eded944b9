// The kiln CLI on good and bad input: help, exit codes, and messages that name what is wrong.
#include <fstream>

#include "test_util.h"

namespace kiln {
namespace {

std::string digitsModel() {
  return std::string(KILN_MODELS_DIR) + "/digits_resnet/model.onnx";
}
std::string digitsSet() {
  return std::string(KILN_MODELS_DIR) + "/digits_resnet/test_data_set_0";
}

std::vector<char> readAll(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}
void writeAll(const std::string& p, const std::vector<char>& b) {
  std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
}
/// Replaces the first (or last) occurrence of `from` with `to` (same length) in `b`.
bool patch(std::vector<char>& b, const std::string& from, const std::string& to,
           bool last = false) {
  std::string s(b.begin(), b.end());
  size_t at = last ? s.rfind(from) : s.find(from);
  if (at == std::string::npos) return false;
  std::copy(to.begin(), to.end(), b.begin() + static_cast<long>(at));
  return true;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { dir = test::tempDir("cli"); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  test::CommandResult kiln(const std::string& args) {
    return test::runCommand(test::cliPath() + " " + args);
  }
  std::string dir;
};

TEST_F(Cli, HelpDescribesEveryCommandAndFlag) {
  auto r = kiln("--help");
  EXPECT_EQ(r.exitCode, 0);
  for (const char* s : {"build", "run", "inspect", "bench"})
    EXPECT_NE(r.output.find(s), std::string::npos);
  r = kiln("run --help");
  EXPECT_EQ(r.exitCode, 0);
  for (const char* s :
       {"--inputs", "--input", "--output-dir", "--expected", "--rtol", "--atol", "--shapes"})
    EXPECT_NE(r.output.find(s), std::string::npos) << s;
  r = kiln("bench --help");
  for (const char* s : {"--iterations", "--duration", "--warmup", "--json"})
    EXPECT_NE(r.output.find(s), std::string::npos) << s;
  EXPECT_NE(kiln("").exitCode, 0);
  EXPECT_NE(kiln("frobnicate").exitCode, 0);
}

TEST_F(Cli, BuildRunInspectBench) {
  auto r = kiln("build " + digitsModel() + " -o " + dir + "/d.plan --shapes image=8x1x8x8");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  r = kiln("run " + dir + "/d.plan --inputs " + digitsSet() + " --expected " + digitsSet());
  EXPECT_EQ(r.exitCode, 0) << r.output;
  r = kiln("inspect " + dir + "/d.plan");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("Convolution"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("arena:"), std::string::npos) << r.output;
  r = kiln("inspect --json " + dir + "/d.plan");
  EXPECT_NE(r.output.find("\"arena_bytes\""), std::string::npos) << r.output;
  r = kiln("bench " + dir + "/d.plan --iterations 5 --warmup 1 --json");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("\"p99\""), std::string::npos) << r.output;
  // An ONNX file runs directly, shapes taken from the inputs.
  r = kiln("run " + digitsModel() + " --inputs " + digitsSet() + " --expected " + digitsSet());
  EXPECT_EQ(r.exitCode, 0) << r.output;
}

TEST_F(Cli, MismatchExitsNonZeroAndShowsWorstElement) {
  // Compare digits outputs against themselves shifted: use the input file as "expected".
  std::filesystem::create_directories(dir + "/exp");
  std::filesystem::copy_file(digitsSet() + "/input_0.pb", dir + "/exp/output_0.pb");
  auto r =
      kiln("run " + digitsModel() + " --inputs " + digitsSet() + " --expected " + dir + "/exp");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("MISMATCH"), std::string::npos) << r.output;
}

TEST_F(Cli, TruncatedOnnx) {
  auto b = readAll(digitsModel());
  b.resize(1000);
  writeAll(dir + "/t.onnx", b);
  auto r = kiln("build " + dir + "/t.onnx -o " + dir + "/t.plan --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("t.onnx"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Segmentation"), std::string::npos);
}

TEST_F(Cli, UnknownOpNamesOpAndNode) {
  auto b = readAll(digitsModel());
  // op_type is NodeProto field 4: tag 0x22, then the length.
  ASSERT_TRUE(patch(b, std::string("\x22\x04Relu"), std::string("\x22\x04Relx")));
  writeAll(dir + "/u.onnx", b);
  auto r = kiln("build " + dir + "/u.onnx -o " + dir + "/u.plan --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("'Relx'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("node '"), std::string::npos) << r.output;
}

TEST_F(Cli, MissingInitializerNamesNodeAndTensor) {
  auto b = readAll(digitsModel());
  // The last occurrence of the classifier weight's name is the initializer's own name.
  ASSERT_TRUE(patch(b, "head.weight", "head.wXight", /*last=*/true));
  writeAll(dir + "/m.onnx", b);
  auto r = kiln("build " + dir + "/m.onnx -o " + dir + "/m.plan --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("head.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("node '"), std::string::npos) << r.output;
}

TEST_F(Cli, BadPlansAreRefused) {
  ASSERT_EQ(
      kiln("build " + digitsModel() + " -o " + dir + "/d.plan --shapes image=8x1x8x8").exitCode, 0);
  auto b = readAll(dir + "/d.plan");
  auto t = b;
  t.resize(b.size() / 2);
  writeAll(dir + "/trunc.plan", t);
  auto r = kiln("run " + dir + "/trunc.plan --inputs " + digitsSet());
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;

  auto c = b;
  c[c.size() - 100] ^= 0x55;
  writeAll(dir + "/corrupt.plan", c);
  r = kiln("run " + dir + "/corrupt.plan --inputs " + digitsSet());
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("checksum"), std::string::npos) << r.output;

  auto v = b;
  v[8] = 99;
  writeAll(dir + "/version.plan", v);
  r = kiln("inspect " + dir + "/version.plan");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("format version 99"), std::string::npos) << r.output;
}

TEST_F(Cli, WrongInputsNameTheInput) {
  ASSERT_EQ(
      kiln("build " + digitsModel() + " -o " + dir + "/d.plan --shapes image=2x1x8x8").exitCode, 0);
  // Shape: the stored input has batch 8.
  auto r = kiln("run " + dir + "/d.plan --inputs " + digitsSet());
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("'image'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[2, 1, 8, 8]"), std::string::npos) << r.output;
  // Dtype: an int64 tensor of the right shape for a float input.
  ASSERT_TRUE(
      writeTensorFile(dir + "/ints.pb", "image", *Weights::zeros(DataType::kInt64, {2, 1, 8, 8}))
          .isOk());
  r = kiln("run " + dir + "/d.plan --input image=" + dir + "/ints.pb");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("i64"), std::string::npos) << r.output;
  // Name: an input the model does not have, given by name.
  r = kiln("run " + dir + "/d.plan --input pixels=" + digitsSet() + "/input_0.pb");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  // Missing model file.
  r = kiln("run " + dir + "/nope.plan --inputs " + digitsSet());
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("nope.plan"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kiln
