// Copies between JS typed arrays and C++ vectors.
//
// Inputs are copied (not borrowed) because the work runs on another thread while JS may
// keep using — or transfer/detach — its buffers. Outputs are fresh JS-owned buffers
// (Napi::ArrayBuffer::New + memcpy), never external ones: Electron's V8 memory cage
// refuses external ArrayBuffers.
#pragma once

#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "addon/instance_data.hpp"

namespace p2sam::addon {

// The typed-array element type that holds T (Uint8ClampedArray also holds bytes).
template <typename T>
bool holds(napi_typedarray_type t);
template <>
inline bool holds<float>(napi_typedarray_type t) {
  return t == napi_float32_array;
}
template <>
inline bool holds<double>(napi_typedarray_type t) {
  return t == napi_float64_array;
}
template <>
inline bool holds<int32_t>(napi_typedarray_type t) {
  return t == napi_int32_array;
}
template <>
inline bool holds<uint8_t>(napi_typedarray_type t) {
  return t == napi_uint8_array || t == napi_uint8_clamped_array;
}

template <typename T>
const char* element_name();
template <>
inline const char* element_name<float>() {
  return "a Float32Array";
}
template <>
inline const char* element_name<double>() {
  return "a Float64Array";
}
template <>
inline const char* element_name<int32_t>() {
  return "an Int32Array";
}
template <>
inline const char* element_name<uint8_t>() {
  return "a Uint8Array";
}

// Copies a typed array of exactly T's element type. The element type is checked: a
// Uint8Array of n elements read as n floats would run 3n bytes past its end.
template <typename T>
std::vector<T> copy_in(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() || !holds<T>(value.As<Napi::TypedArray>().TypedArrayType()))
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be " + element_name<T>());
  auto arr = value.As<Napi::TypedArray>();
  instance_data(value.Env()).copied_in_bytes += arr.ElementLength() * sizeof(T);
  const T* data = reinterpret_cast<const T*>(static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
  return std::vector<T>(data, data + arr.ElementLength());
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

// Option getters: a missing (undefined) key gives the fallback; a key that is present
// with another type is an error — silently using the default would run something else
// than what the caller asked for.
inline Napi::Value option(const Napi::Object& o, const char* key, bool (Napi::Value::*is)() const,
                          const char* expected) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return v;
  if (!(v.*is)()) throw Napi::TypeError::New(o.Env(), std::string("option '") + key + "' must be " + expected);
  return v;
}

inline int get_int(const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = option(o, key, &Napi::Value::IsNumber, "a number");
  return v.IsUndefined() ? fallback : v.As<Napi::Number>().Int32Value();
}

inline double get_double(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = option(o, key, &Napi::Value::IsNumber, "a number");
  return v.IsUndefined() ? fallback : v.As<Napi::Number>().DoubleValue();
}

inline bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = option(o, key, &Napi::Value::IsBoolean, "a boolean");
  return v.IsUndefined() ? fallback : v.As<Napi::Boolean>().Value();
}

inline std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = option(o, key, &Napi::Value::IsString, "a string");
  return v.IsUndefined() ? fallback : v.As<Napi::String>().Utf8Value();
}

}  // namespace p2sam::addon
