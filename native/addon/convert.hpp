// Copies between JS typed arrays and C++ vectors.
//
// Inputs are copied (not borrowed) because the work runs on another thread while JS may
// keep using — or transfer/detach — its buffers. Outputs are fresh JS-owned buffers
// (Napi::ArrayBuffer::New + memcpy), never external ones: Electron's V8 memory cage
// refuses external ArrayBuffers.
#pragma once

#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "addon/instance_data.hpp"

namespace p2sam::addon {

template <typename T, typename ArrayT = Napi::TypedArrayOf<T>>
std::vector<T> copy_in(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a typed array");
  auto arr = value.As<ArrayT>();
  instance_data(value.Env()).copied_in_bytes += arr.ElementLength() * sizeof(T);
  return std::vector<T>(arr.Data(), arr.Data() + arr.ElementLength());
}

template <typename T>
Napi::TypedArrayOf<T> copy_out(Napi::Env env, const T* data, size_t count) {
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, count * sizeof(T));
  if (count) std::memcpy(buf.Data(), data, count * sizeof(T));
  return Napi::TypedArrayOf<T>::New(env, count, buf, 0);
}

template <typename T>
Napi::TypedArrayOf<T> copy_out(Napi::Env env, const std::vector<T>& v) {
  return copy_out<T>(env, v.data(), v.size());
}

inline int get_int(const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

inline double get_double(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

inline bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

inline std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}

}  // namespace p2sam::addon
