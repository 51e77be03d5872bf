#include <cstring>
#include <exception>

#include "harness.hpp"

int main(int argc, char** argv) {
  using namespace p2sam::testing;
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int run = 0, failed_tests = 0;
  for (const auto& t : registry()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    ++run;
    int before = failure_count();
    try {
      t.fn();
    } catch (const std::exception& e) {
      report_failure(t.name, 0, std::string("unexpected exception: ") + e.what());
    } catch (...) {
      report_failure(t.name, 0, "unexpected non-std exception");
    }
    bool ok = failure_count() == before;
    if (!ok) ++failed_tests;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", t.name);
  }
  std::printf("%d passed, %d failed\n", run - failed_tests, failed_tests);
  return failed_tests == 0 && run > 0 ? 0 : 1;
}
