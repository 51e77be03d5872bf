// Errors thrown by the core. The addon maps each code to P2SamError.code in JS, so the
// codes are part of the public contract: add new ones, never rename.
#pragma once

#include <stdexcept>
#include <string>

namespace p2sam::core {

class CoreError : public std::runtime_error {
 public:
  CoreError(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// Invalid arguments that slipped past the TypeScript validation (programmer error in
// the library itself, or a direct caller of the core).
inline CoreError invalid_argument(const std::string& message) { return CoreError("INVALID_ARGUMENT", message); }

}  // namespace p2sam::core
