// A deliberately tiny test harness for the pure C++ core (no third-party test
// framework: the core must build with nothing but a C++17 compiler).
//
// Usage in a test file:
//   #include "harness.hpp"
//   TEST_CASE(kmeans_is_deterministic) { CHECK(a == b); CHECK_NEAR(x, y, 1e-9); }
// All test files are linked into one executable whose main() is in test_main.cpp.
// Running it with a substring argument runs only the matching tests.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace p2sam::testing {

struct TestCase {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline int& failure_count() {
  static int failures = 0;
  return failures;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline void report_failure(const char* file, int line, const std::string& what) {
  ++failure_count();
  std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace p2sam::testing

#define P2SAM_CONCAT2(a, b) a##b
#define P2SAM_CONCAT(a, b) P2SAM_CONCAT2(a, b)

#define TEST_CASE(name)                                                            \
  static void name();                                                              \
  static ::p2sam::testing::Registrar P2SAM_CONCAT(registrar_, name)(#name, &name); \
  static void name()

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) ::p2sam::testing::report_failure(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                          \
  do {                                                                                                 \
    double va_ = static_cast<double>(a), vb_ = static_cast<double>(b);                                 \
    if (!(std::fabs(va_ - vb_) <= (tol))) {                                                            \
      char buf_[256];                                                                                  \
      std::snprintf(buf_, sizeof buf_, "CHECK_NEAR(" #a ", " #b ") %.17g vs %.17g (tol %g)", va_, vb_, \
                    static_cast<double>(tol));                                                         \
      ::p2sam::testing::report_failure(__FILE__, __LINE__, buf_);                                      \
    }                                                                                                  \
  } while (0)

#define CHECK_THROWS(expr)                                                                       \
  do {                                                                                           \
    bool threw_ = false;                                                                         \
    try {                                                                                        \
      (void)(expr);                                                                              \
    } catch (...) {                                                                              \
      threw_ = true;                                                                             \
    }                                                                                            \
    if (!threw_) ::p2sam::testing::report_failure(__FILE__, __LINE__, "expected throw: " #expr); \
  } while (0)
