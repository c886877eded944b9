// The kiln CLI on good and bad input: help, exit codes, and messages that name what is wrong.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "importer/onnx/model_builder.h"
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

TEST_F(Cli, MismatchExitsThreeAndShowsWorstElement) {
  // A reference for 'logits' whose values are all off by one.
  auto ref = readTensorFile(digitsSet() + "/output_0.pb");
  ASSERT_TRUE(ref) << ref.status().toString();
  Weights off = Weights::zeros(DataType::kFloat32, ref->value.dims()).value();
  for (int64_t i = 0; i < off.count(); ++i)
    static_cast<float*>(off.mutableData())[i] = ref->value.as<float>()[i] + 1.0f;
  std::filesystem::create_directories(dir + "/exp");
  ASSERT_TRUE(writeTensorFile(dir + "/exp/output_0.pb", "logits", off).isOk());
  auto r =
      kiln("run " + digitsModel() + " --inputs " + digitsSet() + " --expected " + dir + "/exp");
  EXPECT_EQ(r.exitCode, 3) << r.output;
  EXPECT_NE(r.output.find("MISMATCH"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("outputs differ from " + dir + "/exp"), std::string::npos) << r.output;
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
  EXPECT_NE(r.output.find("1 operator is not supported: Relx (node /stem/stem.2/Relu)"),
            std::string::npos)
      << r.output;
}

TEST_F(Cli, BuildListsEveryUnsupportedOperator) {
  auto b = readAll(digitsModel());
  // Every Relu becomes Relx, the first Conv becomes Conx: all are named, with their nodes.
  size_t relus = 0;
  while (patch(b, std::string("\x22\x04Relu"), std::string("\x22\x04Relx")))
    ++relus;
  ASSERT_GT(relus, 1u);
  ASSERT_TRUE(patch(b, std::string("\x22\x04") + "Conv", std::string("\x22\x04") + "Conx"));
  writeAll(dir + "/u.onnx", b);
  auto r = kiln("build " + dir + "/u.onnx -o " + dir + "/u.plan --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("2 operators are not supported: Conx (node "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Relx (nodes /stem/stem.2/Relu, "), std::string::npos) << r.output;
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
  EXPECT_NE(r.output.find("the model has no input 'pixels'; its inputs are 'image'"),
            std::string::npos)
      << r.output;
  // Missing model file.
  r = kiln("run " + dir + "/nope.plan --inputs " + digitsSet());
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("nope.plan"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("No such file or directory"), std::string::npos) << r.output;
}

// ---- exit codes ------------------------------------------------------------------------------

TEST_F(Cli, ExitCodesAreDocumentedInHelp) {
  for (const char* args : {"--help", "run --help", "build --help", "bench --help"}) {
    auto r = kiln(args);
    EXPECT_EQ(r.exitCode, 0) << args;
    for (const char* s : {"Exit status: 0 success", "1 error", "2 usage error", "3 outputs differ"})
      EXPECT_NE(r.output.find(s), std::string::npos) << args << ": " << s << "\n" << r.output;
  }
  EXPECT_EQ(kiln("--version").exitCode, 0);
}

TEST_F(Cli, CommandLineParseErrorsExitTwo) {
  // Before, CLI11's own codes leaked out (104 to 109).
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "A subcommand is required"},
           {"frobnicate", "A subcommand is required"},
           {"run " + digitsModel() + " --bogus 1", "--bogus"},
           {"build " + digitsModel(), "--output is required"},
           {"run", "model is required"},
           {"bench " + digitsModel() + " --iterations", "--iterations"},
       }) {
    auto r = kiln(c.args);
    EXPECT_EQ(r.exitCode, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

// ---- option values ---------------------------------------------------------------------------

TEST_F(Cli, NumericFlagsAreCheckedNamingFlagAndValue) {
  struct Case {
    std::string args, message;
  };
  const std::string run = "run " + digitsModel() + " --inputs " + digitsSet();
  const std::string bench = "bench " + digitsModel();
  for (const Case& c : std::vector<Case>{
           {run + " --rtol nan", "--rtol must be a finite number >= 0, got nan"},
           {run + " --rtol -1", "--rtol must be a finite number >= 0, got -1"},
           {run + " --rtol inf", "--rtol must be a finite number >= 0, got inf"},
           {run + " --rtol 1e999", "--rtol 1e999 is out of range"},
           {run + " --rtol abc", "--rtol 'abc' is not a number"},
           {run + " --atol nan", "--atol must be a finite number >= 0, got nan"},
           {run + " --atol -0.5", "--atol must be a finite number >= 0, got -0.5"},
           {run + " --atol 1e-5x", "--atol '1e-5x' is not a number"},
           // Would spin forever: the time check never holds for NaN.
           {bench + " --duration nan", "--duration must be a finite number of seconds"},
           {bench + " --duration inf", "got inf"},
           {bench + " --duration 0", "--duration must be a finite number of seconds in (0, "},
           {bench + " --duration -2", "got -2"},
           {bench + " --duration 1e7", "got 10000000"},
           {bench + " --iterations -1", "--iterations must be in [0, 100000000], got -1"},
           {bench + " --iterations 100000001", "got 100000001"},
           // CLI11 alone would saturate this to INT64_MAX.
           {bench + " --iterations 99999999999999999999",
            "--iterations 99999999999999999999 is out of range"},
           {bench + " --iterations 1.5", "--iterations '1.5' is not an integer"},
           {bench + " --warmup -1", "--warmup must be >= 0, got -1"},
           {bench + " --warmup 1x", "--warmup '1x' is not an integer"},
           {"build " + digitsModel() + " -o " + dir + "/p.plan --precision fp99",
            "--precision 'fp99' is not a precision"},
       }) {
    auto r = test::runCommand("timeout 120 " + test::cliPath() + " " + c.args);
    EXPECT_EQ(r.exitCode, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  // In range, they run.
  auto r = kiln(bench + " --iterations 0 --duration 0.05 --warmup 0 --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 0) << r.output;
}

TEST_F(Cli, ShapesAreParsedStrictly) {
  struct Case {
    std::string shapes, message;
  };
  const std::string build = "build " + digitsModel() + " -o " + dir + "/s.plan --shapes ";
  for (const Case& c : std::vector<Case>{
           // Above INT64_MAX: refused, never saturated.
           {"image=99999999999999999999x1x8x8",
            "dimension 99999999999999999999 is larger "
            "than 2^63 - 1"},
           {"image=9223372036854775808x1x8x8", "dimension 9223372036854775808 is larger"},
           {"image=1x-1x8x8", "dimension -1 is negative"},
           {"image=-99999999999999999999x1x8x8", "dimension -99999999999999999999 is negative"},
           {"image=1xax8x8", "'a' is not a dimension"},
           {"image=1x1x8x8x", "'' is not a dimension"},
           {"image=1x1x8x8garbage", "'8garbage' is not a dimension"},
           {"image=+1x1x8x8", "'+1' is not a dimension"},
           {"image", "'image' is not name=AxBxC"},
           {"=1x1x8x8", "'=1x1x8x8' is not name=AxBxC"},
           {"image=1x1x8x8,image=2x1x8x8", "--shapes gives input 'image' twice"},
           // Each dim fits, their product does not.
           {"image=4294967296x4294967296x1x1", "element count overflows"},
       }) {
    auto r = kiln(build + c.shapes);
    EXPECT_EQ(r.exitCode, 2) << c.shapes << "\n" << r.output;
    EXPECT_NE(r.output.find("--shapes"), std::string::npos) << c.shapes << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.shapes << "\n" << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/s.plan"));
  auto r = kiln("run " + digitsModel() + " --inputs " + digitsSet() + " --shapes image=1x1x8x8x");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  r = kiln("bench " + digitsModel() + " --shapes image=-8x1x8x8");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find("dimension -8 is negative"), std::string::npos) << r.output;
}

// ---- files that must not be overwritten ------------------------------------------------------

TEST_F(Cli, OutputDirNeverOverwritesTheReference) {
  namespace fs = std::filesystem;
  fs::copy(digitsSet(), dir + "/set");
  fs::create_directory_symlink(dir + "/set", dir + "/alias");
  const auto reference = readAll(dir + "/set/output_0.pb");
  const std::string run = "run " + digitsModel() + " --inputs " + digitsSet();
  // The same folder, spelled in three ways.
  for (const std::string& out : {dir + "/set", dir + "/set/.", dir + "/alias"}) {
    auto r = kiln(run + " --expected " + dir + "/set --output-dir " + out);
    EXPECT_EQ(r.exitCode, 2) << out << "\n" << r.output;
    EXPECT_NE(r.output.find("--output-dir '" + out + "' is the --expected folder '" + dir +
                            "/set'; writing there would overwrite the reference"),
              std::string::npos)
        << r.output;
  }
  EXPECT_EQ(readAll(dir + "/set/output_0.pb"), reference);

  // Outputs are compared before any is written: a wrong reference reached through a symlink
  // from the output folder is reported as a mismatch, not overwritten first and then passed.
  auto ref = readTensorFile(dir + "/set/output_0.pb");
  ASSERT_TRUE(ref);
  ASSERT_TRUE(writeTensorFile(dir + "/set/output_0.pb", "logits",
                              Weights::zeros(DataType::kFloat32, ref->value.dims()).value())
                  .isOk());
  fs::create_directories(dir + "/out");
  fs::create_symlink(dir + "/set/output_0.pb", dir + "/out/output_0.pb");
  auto r = kiln(run + " --expected " + dir + "/set --output-dir " + dir + "/out");
  EXPECT_EQ(r.exitCode, 3) << r.output;
  EXPECT_NE(r.output.find("MISMATCH"), std::string::npos) << r.output;
  // A separate folder is fine.
  r = kiln(run + " --expected " + digitsSet() + " --output-dir " + dir + "/fresh");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/fresh/output_0.pb"));
}

TEST_F(Cli, BuildRefusesToOverwriteItsInput) {
  namespace fs = std::filesystem;
  fs::copy_file(digitsModel(), dir + "/m.onnx");
  fs::create_directories(dir + "/sub");
  fs::create_symlink(dir + "/m.onnx", dir + "/link.onnx");
  fs::create_hard_link(dir + "/m.onnx", dir + "/hard.onnx");
  const auto model = readAll(dir + "/m.onnx");
  // The same file: same path, another spelling, a symlink, a hard link (same device + inode).
  for (const std::string& out :
       {dir + "/m.onnx", dir + "/sub/../m.onnx", dir + "/link.onnx", dir + "/hard.onnx"}) {
    auto r = kiln("build " + dir + "/m.onnx -o " + out + " --shapes image=1x1x8x8");
    EXPECT_EQ(r.exitCode, 2) << out << "\n" << r.output;
    EXPECT_NE(r.output.find("-o '" + out + "' is the model file '" + dir +
                            "/m.onnx' itself; refusing to overwrite it"),
              std::string::npos)
        << r.output;
  }
  EXPECT_EQ(readAll(dir + "/m.onnx"), model);
  auto r = kiln("build " + dir + "/link.onnx -o " + dir + "/m.onnx --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_EQ(readAll(dir + "/m.onnx"), model);
  r = kiln("build " + dir + "/m.onnx -o " + dir + "/m.plan --shapes image=1x1x8x8");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  // A plan rebuilt over itself is refused the same way.
  r = kiln("build " + dir + "/m.plan -o " + dir + "/m.plan");
  EXPECT_EQ(r.exitCode, 2) << r.output;
}

// ---- file errors -----------------------------------------------------------------------------

TEST_F(Cli, FileErrorsCarryTheSystemsReason) {
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((dir + "/fifo.plan").c_str(), 0600), 0);
  std::filesystem::create_directories(dir + "/folder.onnx");
  struct Case {
    std::string args, message;
  };
  const std::string in = " --input image=" + digitsSet() + "/input_0.pb";
  for (const Case& c : std::vector<Case>{
           {"build " + dir + "/none.onnx -o " + dir + "/x.plan",
            "cannot open model '" + dir + "/none.onnx': No such file or directory"},
           {"build " + dir + "/folder.onnx -o " + dir + "/x.plan",
            "model '" + dir + "/folder.onnx' is a directory, not a regular file"},
           {"build /dev/zero -o " + dir + "/x.plan",
            "model '/dev/zero' is a character device, not a regular file"},
           {"build " + dir + "/fifo -o " + dir + "/x.plan",
            "model '" + dir + "/fifo' is a FIFO, not a regular file"},
           {"run " + dir + "/fifo.plan" + in, "'" + dir + "/fifo.plan' is a FIFO"},
           {"inspect /dev/zero", "model '/dev/zero' is a character device"},
           {"bench " + dir + "/fifo", "'" + dir + "/fifo' is a FIFO"},
           {"run " + digitsModel() + " --input image=/dev/zero",
            "tensor file '/dev/zero' is a character device, not a regular file"},
           {"run " + digitsModel() + " --input image=" + dir + "/fifo",
            "tensor file '" + dir + "/fifo' is a FIFO"},
           {"run " + digitsModel() + " --input image=" + dir,
            "tensor file '" + dir + "' is a directory"},
           {"run " + digitsModel() + " --input image=" + dir + "/none.pb",
            "cannot open tensor file '" + dir + "/none.pb': No such file or directory"},
           {"run " + digitsModel() + " --inputs " + dir + "/nodir",
            "inputs folder '" + dir + "/nodir': No such file or directory"},
           {"run " + digitsModel() + " --inputs " + dir + "/fifo",
            "inputs folder '" + dir + "/fifo' is a FIFO, not a folder"},
           {"run " + digitsModel() + " --inputs " + digitsSet() + " --expected " + dir + "/nodir",
            "--expected folder '" + dir + "/nodir': No such file or directory"},
           {"build " + digitsModel() + " --shapes image=1x1x8x8 -o " + dir,
            "plan '" + dir + "' is a directory, not a regular file"},
           {"build " + digitsModel() + " --shapes image=1x1x8x8 -o " + dir + "/nodir/x.plan",
            "cannot open plan '" + dir + "/nodir/x.plan' for writing: No such file or directory"},
           {"build " + digitsModel() + " --shapes image=1x1x8x8 -o " + dir + "/fifo",
            "plan '" + dir + "/fifo' is a FIFO"},
       }) {
    // `timeout`: a FIFO opened for a blocking read or write would hang here.
    auto r = test::runCommand("timeout 120 " + test::cliPath() + " " + c.args);
    EXPECT_EQ(r.exitCode, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  // Permission denied: as an unprivileged user when the tests run as root (root reads all).
  writeAll(dir + "/locked.onnx", readAll(digitsModel()));
  ::chmod((dir + "/locked.onnx").c_str(), 0);
  std::string prefix;
  if (::geteuid() == 0) {
    if (test::runCommand("setpriv --reuid=65534 --regid=65534 --clear-groups true").exitCode != 0)
      GTEST_SKIP() << "running as root without setpriv: permission checks do not apply";
    prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  auto r = test::runCommand(prefix + test::cliPath() + " build " + dir + "/locked.onnx -o " + dir +
                            "/l.plan");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("cannot open model '" + dir + "/locked.onnx': Permission denied"),
            std::string::npos)
      << r.output;
}

// ---- inputs and outputs bind by name ---------------------------------------------------------

/// A model with inputs a, b (f32[2]) and outputs diff = a - b, sum = a + b: binding a and b the
/// wrong way round changes `diff`.
class CliBinding : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    onnx_import::ModelBuilder b(17);
    b.input("a", DataType::kFloat32, {Dim::fixed(2)})
        .input("b", DataType::kFloat32, {Dim::fixed(2)})
        .node({"Sub", {"a", "b"}, {"diff"}})
        .node({"Add", {"a", "b"}, {"sum"}})
        .output("diff")
        .output("sum");
    writeAll(dir + "/ab.onnx", toChars(b.serialize()));
    ASSERT_EQ(kiln("build " + dir + "/ab.onnx -o " + dir + "/ab.plan").exitCode, 0);
  }
  static std::vector<char> toChars(const std::string& s) { return {s.begin(), s.end()}; }
  /// Writes dir/NAME holding tensor `tensorName` ("" for none) with `values`.
  std::string tensor(const std::string& name, const std::string& tensorName,
                     std::vector<float> values) {
    std::string p = dir + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    EXPECT_TRUE(writeTensorFile(p, tensorName, Weights::fromFloats(values)).isOk());
    return p;
  }
  /// The values of output file `path`.
  std::vector<float> values(const std::string& path) {
    auto t = readTensorFile(path);
    EXPECT_TRUE(t) << t.status().toString();
    if (!t) return {};
    return std::vector<float>(t->value.as<float>(), t->value.as<float>() + t->value.count());
  }
};

TEST_F(CliBinding, InputFlagsBindByName) {
  std::string a = tensor("a.pb", "", {10, 20}), b = tensor("b.pb", "", {1, 2});
  for (const std::string& model : {dir + "/ab.plan", dir + "/ab.onnx"}) {
    // Given in the other order, still bound by name.
    auto r = kiln("run " + model + " --input b=" + b + " --input a=" + a + " --output-dir " + dir +
                  "/out");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_EQ(values(dir + "/out/output_0.pb"), (std::vector<float>{9, 18})) << model;
    // Unknown names are errors listing the model's inputs; they used to bind by position.
    r = kiln("run " + model + " --input foo=" + a + " --input bar=" + b);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("--input 'foo=" + a +
                            "': the model has no input 'foo'; its inputs "
                            "are 'a', 'b'"),
              std::string::npos)
        << r.output;
    r = kiln("run " + model + " --input a=" + a);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("no data given for input 'b'"), std::string::npos) << r.output;
    r = kiln("run " + model + " --input a=" + a + " --input a=" + b);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("input 'a' is given twice: by '" + a + "' and by '" + b + "'"),
              std::string::npos)
        << r.output;
    r = kiln("run " + model + " --input a=");
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_NE(r.output.find("--input 'a=' is not NAME=FILE"), std::string::npos) << r.output;
  }
}

TEST_F(CliBinding, FolderFilesBindByTheirTensorNameElsePosition) {
  // Files that carry each other's tensors: input_0.pb holds b, input_1.pb holds a.
  tensor("swapped/input_0.pb", "b", {1, 2});
  tensor("swapped/input_1.pb", "a", {10, 20});
  // Unnamed tensors bind by position; named and unnamed mix.
  tensor("unnamed/input_0.pb", "", {10, 20});
  tensor("unnamed/input_1.pb", "", {1, 2});
  tensor("mixed/input_0.pb", "", {10, 20});
  tensor("mixed/input_1.pb", "b", {1, 2});
  for (const std::string& model : {dir + "/ab.plan", dir + "/ab.onnx"}) {
    for (const char* set : {"swapped", "unnamed", "mixed"}) {
      std::filesystem::remove_all(dir + "/out");
      auto r =
          kiln("run " + model + " --inputs " + dir + "/" + set + " --output-dir " + dir + "/out");
      ASSERT_EQ(r.exitCode, 0) << set << "\n" << r.output;
      EXPECT_EQ(values(dir + "/out/output_0.pb"), (std::vector<float>{9, 18})) << set;
    }
  }
  // A name that is no input: the error names the file, the name and the inputs.
  std::string bad = tensor("bad/input_0.pb", "a", {10, 20});
  std::string c = tensor("bad/input_1.pb", "c", {1, 2});
  auto r = kiln("run " + dir + "/ab.plan --inputs " + dir + "/bad");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("'" + c +
                          "' holds tensor 'c', which is no input of the model; its "
                          "inputs are 'a', 'b'"),
            std::string::npos)
      << r.output;
  // Two files for one input.
  std::string d0 = tensor("dup/input_0.pb", "a", {10, 20});
  std::string d1 = tensor("dup/input_1.pb", "a", {1, 2});
  r = kiln("run " + dir + "/ab.plan --inputs " + dir + "/dup");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("input 'a' is given twice: by '" + d0 + "' and by '" + d1 + "'"),
            std::string::npos)
      << r.output;
  // An unnamed file at position 0 binds to 'a', as does a file named 'a'.
  tensor("dup2/input_0.pb", "", {10, 20});
  tensor("dup2/input_1.pb", "a", {1, 2});
  r = kiln("run " + dir + "/ab.onnx --inputs " + dir + "/dup2");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("input 'a' is given twice"), std::string::npos) << r.output;
  // A missing input, and an unnamed file past the last position.
  tensor("one/input_0.pb", "b", {1, 2});
  r = kiln("run " + dir + "/ab.plan --inputs " + dir + "/one");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("no data given for input 'a'"), std::string::npos) << r.output;
  tensor("three/input_0.pb", "", {1, 2});
  tensor("three/input_1.pb", "", {1, 2});
  std::string third = tensor("three/input_2.pb", "", {1, 2});
  r = kiln("run " + dir + "/ab.plan --inputs " + dir + "/three");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("'" + third +
                          "' holds an unnamed tensor at position 2, but the model "
                          "has 2 inputs ('a', 'b')"),
            std::string::npos)
      << r.output;
  // bench binds its --inputs folder by the same rules.
  r = kiln("bench " + dir + "/ab.plan --iterations 1 --inputs " + dir + "/bad");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("holds tensor 'c', which is no input"), std::string::npos) << r.output;
  r = kiln("bench " + dir + "/ab.onnx --iterations 1 --inputs " + dir + "/swapped");
  EXPECT_EQ(r.exitCode, 0) << r.output;
}

TEST_F(CliBinding, ExpectedOutputsBindByName) {
  tensor("in/input_0.pb", "a", {10, 20});
  tensor("in/input_1.pb", "b", {1, 2});
  const std::string run = "run " + dir + "/ab.plan --inputs " + dir + "/in --expected ";
  // Swapped names: diff in output_1.pb, sum in output_0.pb.
  tensor("swapped/output_0.pb", "sum", {11, 22});
  tensor("swapped/output_1.pb", "diff", {9, 18});
  auto r = kiln(run + dir + "/swapped");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  // Unnamed: by position.
  tensor("unnamed/output_0.pb", "", {9, 18});
  tensor("unnamed/output_1.pb", "", {11, 22});
  r = kiln(run + dir + "/unnamed");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  // By position but in the wrong order: a mismatch (exit 3), not an error.
  tensor("wrong/output_0.pb", "", {11, 22});
  tensor("wrong/output_1.pb", "", {9, 18});
  r = kiln(run + dir + "/wrong");
  EXPECT_EQ(r.exitCode, 3) << r.output;
  // A name that is no output, a missing output, a duplicate.
  tensor("bad/output_0.pb", "diff", {9, 18});
  std::string z = tensor("bad/output_1.pb", "z", {11, 22});
  r = kiln(run + dir + "/bad");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("'" + z +
                          "' holds tensor 'z', which is no output of the model; its "
                          "outputs are 'diff', 'sum'"),
            std::string::npos)
      << r.output;
  tensor("missing/output_0.pb", "diff", {9, 18});
  r = kiln(run + dir + "/missing");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("no data given for output 'sum'"), std::string::npos) << r.output;
  tensor("dup/output_0.pb", "sum", {9, 18});
  tensor("dup/output_1.pb", "sum", {11, 22});
  r = kiln(run + dir + "/dup");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("output 'sum' is given twice"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

class CliShapes : public ::testing::Test {
 protected:
  void SetUp() override { dir = test::tempDir("cli_shapes"); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  test::CommandResult kiln(const std::string& args) {
    return test::runCommand(test::cliPath() + " " + args);
  }
  std::string dir;
  const std::string bert = test::modelDir("bert_mini") + "/model.onnx";
};

TEST_F(CliShapes, OnePlanWithoutShapesRunsEveryShape) {
  const std::string plan = dir + "/bert.plan";
  auto r = kiln("build " + bert + " -o " + plan + " -v");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("tactics are timed at"), std::string::npos) << r.output;
  r = kiln("inspect " + plan);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("i64[batch, seq]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("every dynamic dimension is free"), std::string::npos) << r.output;
  const std::string set = test::modelDir("bert_mini") + "/test_data_set_0";
  r = kiln("run " + plan + " --inputs " + set + " --expected " + set);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  for (const char* shape : {"1x5", "3x40"}) {
    r = kiln("bench " + plan + " --iterations 1 --warmup 0 --shapes input_ids=" + shape +
             ",attention_mask=" + shape);
    EXPECT_EQ(r.exitCode, 0) << r.output;
  }
}

TEST_F(CliShapes, ProfilesFromMinOptMaxShapes) {
  const std::string plan = dir + "/bert.plan";
  // trtexec's name:AxB and kiln's name=AxB both parse.
  auto r = kiln("build " + bert + " -o " + plan +
                " --min-shapes input_ids:1x1,attention_mask:1x1"
                " --opt-shapes input_ids=2x16,attention_mask=2x16"
                " --max-shapes input_ids=4x32,attention_mask=4x32");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  r = kiln("inspect " + plan);
  EXPECT_NE(r.output.find("profile 0: attention_mask min [1, 1] opt [2, 16] max [4, 32]"),
            std::string::npos)
      << r.output;
  r = kiln("inspect --json " + plan);
  EXPECT_NE(r.output.find("\"profiles\""), std::string::npos) << r.output;
  r = kiln("bench " + plan + " --iterations 1 --shapes input_ids=1x33,attention_mask=1x33");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  for (const char* part : {"input_ids", "profile 0", "[1, 32]", "[4, 32]"})
    EXPECT_NE(r.output.find(part), std::string::npos) << part << " in: " << r.output;
  r = kiln("bench " + plan + " --iterations 1 --profile 1");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("profile 1 does not exist"), std::string::npos) << r.output;
}

TEST_F(CliShapes, ConflictingOrIncompleteShapeFlagsAreUsageErrors) {
  const std::string plan = dir + "/bert.plan";
  auto r = kiln("build " + bert + " -o " + plan +
                " --shapes input_ids=1x8 --min-shapes input_ids=1x1 --max-shapes input_ids=1x9");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find("cannot be combined"), std::string::npos) << r.output;
  r = kiln("build " + bert + " -o " + plan + " --min-shapes input_ids=1x1");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find("--max-shapes"), std::string::npos) << r.output;
  r = kiln("build " + bert + " -o " + plan + " --max-shapes input_ids=1x1x");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  r = kiln("build " + bert + " -o " + plan + " --profile -1");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  r = kiln("build " + bert + " -o " + plan +
           " --min-shapes input_ids=4x1,attention_mask=4x1 --max-shapes "
           "input_ids=2x8,attention_mask=2x8");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("min <= opt <= max"), std::string::npos) << r.output;
}

TEST_F(CliShapes, MemoryLimitFlags) {
  const std::string plan = dir + "/m.plan";
  auto r = kiln("build " + test::modelDir("mobilenet_v2") + "/model.onnx -o " + plan +
                " --shapes input=1x3x224x224 --max-arena-bytes 1000");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("above the limit of 1000 bytes"), std::string::npos) << r.output;
  r = kiln("build " + test::modelDir("mobilenet_v2") + "/model.onnx -o " + plan +
           " --max-tensor-bytes 0");
  EXPECT_EQ(r.exitCode, 2) << r.output;
  r = kiln("build " + test::modelDir("mobilenet_v2") + "/model.onnx -o " + plan +
           " --shapes input=100000x3x224x224");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("limit"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kiln
