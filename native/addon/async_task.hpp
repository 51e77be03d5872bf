// Promise-returning background work for the addon.
//
// The pattern (sharp / node-llama-cpp style): the JS thread copies every input into a
// plain C++ struct, `work` runs on a libuv pool thread and never touches V8, and `done`
// turns the plain result into JS values back on the JS thread. Every exception thrown
// by `work` is caught here and becomes a rejected promise whose error carries a stable
// `code` — native code never takes the process down.
#pragma once

#include <napi.h>
#include <onnxruntime_cxx_api.h>

#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "addon/error_codes.hpp"
#include "addon/instance_data.hpp"
#include "cancel.hpp"
#include "errors.hpp"

namespace p2sam::addon {

// Creates `new Error(message)` with `.code` set; the TS layer rewraps it as P2SamError.
// The code goes through the one list (error_codes.hpp).
inline Napi::Error coded_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, listed_code(code.c_str())));
  return err;
}

template <typename Result>
class PromiseTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Done = std::function<Napi::Value(Napi::Env, Result&)>;

  static Napi::Promise Start(Napi::Env env, Work work, Done done) {
    auto* task = new PromiseTask(env, std::move(work), std::move(done));
    // An armed cancel token belongs to this task (see instance_data.hpp).
    task->cancel_ = std::move(instance_data(env).pending_cancel);
    Napi::Promise promise = task->deferred_.Promise();
    task->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    core::CancelScope scope(cancel_.get());
    try {
      result_ = std::make_unique<Result>(work_());
    } catch (const core::CoreError& e) {
      fail(e.code(), e.what());
    } catch (const Ort::Exception& e) {
      fail("INFERENCE_FAILED", std::string("ONNX Runtime: ") + e.what());
    } catch (const std::bad_alloc&) {
      fail("OUT_OF_MEMORY", "out of memory in native code");
    } catch (const std::exception& e) {
      fail("INTERNAL", e.what());
    } catch (...) {
      fail("INTERNAL", "unknown native exception");
    }
  }

  // Completion runs on the JS thread — or, when the work finished after its environment
  // began tearing down (a worker_threads Worker terminated mid-call), at a moment when
  // no N-API call can succeed. Nothing may escape from here then: an exception leaving a
  // completion callback is std::terminate. The result is dropped quietly instead; the
  // promise it would settle belongs to an environment that no longer runs JS.
  void OnOK() override {
    try {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      try {
        deferred_.Resolve(done_(env, *result_));
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      } catch (const std::exception& e) {
        deferred_.Reject(coded_error(env, "INTERNAL", e.what()).Value());
      }
    } catch (...) {
      // Environment gone (see above).
    }
    result_.reset();
  }

  void OnError(const Napi::Error&) override {
    try {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      deferred_.Reject(coded_error(env, code_, message_).Value());
    } catch (...) {
      // Environment gone (see OnOK).
    }
  }

 private:
  PromiseTask(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "p2sam"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}

  void fail(std::string code, std::string message) {
    code_ = std::move(code);
    message_ = std::move(message);
    SetError(message_);
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  std::unique_ptr<Result> result_;
  std::string code_, message_;
  std::shared_ptr<core::CancelToken> cancel_;
};

template <typename Result, typename WorkFn, typename DoneFn>
Napi::Promise queue_task(Napi::Env env, WorkFn&& work, DoneFn&& done) {
  return PromiseTask<Result>::Start(env, std::forward<WorkFn>(work), std::forward<DoneFn>(done));
}

}  // namespace p2sam::addon
