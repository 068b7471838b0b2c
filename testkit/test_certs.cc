#include "testkit/test_certs.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace muster::testing {
namespace {

// Long enough for any test run, short enough to be obviously a test's.
constexpr const char* kDays = "30";

// A fresh random serial for every certificate, so a replaced certificate
// is told apart from its predecessor even with the same subject.
std::string Serial() {
  static std::mt19937_64 generator{std::random_device{}()};
  return absl::StrCat(generator() % 1000000000000ULL + 1);
}

[[noreturn]] void Die(const absl::Status& status) {
  std::fprintf(stderr, "test certificates: %s\n",
               std::string(status.message()).c_str());
  std::abort();
}

void WriteWholeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) Die(absl::InternalError(absl::StrCat("cannot write ", path)));
}

CertKey Paths(const std::string& dir, const std::string& name) {
  return CertKey{absl::StrCat(dir, "/", name, ".crt"),
                 absl::StrCat(dir, "/", name, ".key")};
}

void NewKey(const std::string& key) {
  absl::Status status =
      TestCerts::RunOpenssl({"genpkey", "-algorithm", "EC", "-pkeyopt",
                             "ec_paramgen_curve:P-256", "-out", key});
  if (!status.ok()) Die(status);
}

// Signs a CSR for `subject` with `ca`, adding the extensions in `ext`.
CertKey Issue(const std::string& dir, const CertKey& ca,
              const std::string& name, const std::string& subject,
              const std::string& ext) {
  CertKey out = Paths(dir, name);
  NewKey(out.key);
  const std::string csr = absl::StrCat(dir, "/", name, ".csr");
  const std::string ext_file = absl::StrCat(dir, "/", name, ".ext");
  WriteWholeFile(ext_file, ext);
  absl::Status status = TestCerts::RunOpenssl(
      {"req", "-new", "-key", out.key, "-subj", subject, "-out", csr});
  if (status.ok()) {
    status = TestCerts::RunOpenssl({"x509", "-req", "-in", csr, "-CA", ca.cert,
                                    "-CAkey", ca.key, "-set_serial", Serial(),
                                    "-days", kDays, "-sha256", "-extfile",
                                    ext_file, "-out", out.cert});
  }
  if (!status.ok()) Die(status);
  std::remove(csr.c_str());
  std::remove(ext_file.c_str());
  return out;
}

}  // namespace

absl::Status TestCerts::RunOpenssl(const std::vector<std::string>& args) {
  char err_path[] = "/tmp/muster-openssl-XXXXXX";
  const int err_fd = mkstemp(err_path);
  if (err_fd < 0) return absl::InternalError("mkstemp failed");
  std::vector<std::string> argv_strings = {"openssl"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(err_fd, 2);
    execvp("openssl", argv.data());
    _exit(127);
  }
  close(err_fd);
  int wstatus = 0;
  if (pid < 0 || waitpid(pid, &wstatus, 0) != pid) {
    unlink(err_path);
    return absl::InternalError("cannot run openssl");
  }
  const std::string err = ReadWholeFile(err_path);
  unlink(err_path);
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(absl::StrJoin(argv_strings, " "), " failed: ", err));
}

TestCerts::TestCerts(std::string dir) : dir_(std::move(dir)) {
  ca_ = MakeCa("ca");
  other_ca_ = MakeCa("other-ca");
  server_ = MakeServer(ca_, "server");
  other_server_ = MakeServer(other_ca_, "other-server");
  client_ = MakeClient(ca_, "client", "client");
  other_client_ = MakeClient(other_ca_, "other-client", "other-client");
}

CertKey TestCerts::MakeCa(const std::string& name) const {
  CertKey out = Paths(dir_, name);
  NewKey(out.key);
  absl::Status status =
      RunOpenssl({"req", "-x509", "-new", "-key", out.key, "-subj",
                  absl::StrCat("/CN=", name), "-days", kDays, "-sha256",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                  "keyUsage=critical,keyCertSign,cRLSign", "-set_serial",
                  Serial(), "-out", out.cert});
  if (!status.ok()) Die(status);
  return out;
}

CertKey TestCerts::MakeServer(const CertKey& ca,
                              const std::string& name) const {
  return Issue(dir_, ca, name, absl::StrCat("/CN=", name),
               "basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth,clientAuth\n"
               "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
}

CertKey TestCerts::MakeClient(const CertKey& ca, const std::string& name,
                              const std::string& common_name) const {
  return Issue(dir_, ca, name, absl::StrCat("/CN=", common_name),
               "basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=clientAuth\n");
}

void ReplaceFile(const std::string& from, const std::string& to) {
  const std::string content = ReadWholeFile(from);
  if (content.empty()) Die(absl::InternalError(absl::StrCat("empty ", from)));
  const std::string temporary = to + ".replacing";
  WriteWholeFile(temporary, content);
  if (std::rename(temporary.c_str(), to.c_str()) != 0) {
    Die(absl::InternalError(absl::StrCat("cannot rename over ", to)));
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace muster::testing
