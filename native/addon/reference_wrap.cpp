#include "reference_wrap.hpp"

#include "addon/async_task.hpp"
#include "addon/convert.hpp"
#include "addon/instance_data.hpp"
#include "addon/maths_js.hpp"
#include "addon/model_wrap.hpp"
#include "cuda/kernels.hpp"
#include "runtime/reference_format.hpp"
#include "similarity.hpp"

namespace p2sam::addon {

namespace {

Napi::Array ints_to_js(Napi::Env env, const std::vector<int>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a.Set(uint32_t(i), v[i]);
  return a;
}

Napi::Array sets_to_js(Napi::Env env, const std::vector<runtime::ReferencePrototypes>& sets) {
  Napi::Array a = Napi::Array::New(env, sets.size());
  for (std::size_t i = 0; i < sets.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("k", sets[i].k);
    o.Set("prototypes", copy_out(env, sets[i].prototypes));
    o.Set("inertia", sets[i].inertia);
    a.Set(uint32_t(i), o);
  }
  return a;
}

// buildReference(embedding, mask: Uint8Array, width, height, { mode, partsMin, partsMax,
//   negativesMin, negativesMax, restarts, maxIterations, tolerance, seed, threads, device,
//   encoderIdentity }) → Promise<{ reference: NativeReference, featuresMs, prototypesMs }>
// The whole reference in one task: grid, features, every prototype set.
Napi::Value BuildReference(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto emb = EmbeddingWrap::Get(info[0]);
  auto mask = std::make_shared<std::vector<uint8_t>>(copy_in<uint8_t>(info[1], "mask"));
  if (!info[2].IsNumber() || !info[3].IsNumber())
    throw Napi::TypeError::New(env, "buildReference: width and height must be numbers");
  const int w = info[2].As<Napi::Number>().Int32Value();
  const int h = info[3].As<Napi::Number>().Int32Value();
  // reference_grid reads w×h bytes of the mask.
  if (w < 1 || h < 1 || mask->size() != std::size_t(w) * std::size_t(h))
    throw Napi::RangeError::New(env, "mask length must be width×height");
  Napi::Object o = options_arg(info, 4, "buildReference");
  auto opts = std::make_shared<runtime::ReferenceOptions>();
  opts->mode =
      get_string(o, "mode", "natural") == "medical" ? runtime::SegmentMode::Medical : runtime::SegmentMode::Natural;
  opts->parts_min = get_int(o, "partsMin", 1);
  opts->parts_max = get_int(o, "partsMax", 5);
  opts->negatives_min = get_int(o, "negativesMin", 0);
  opts->negatives_max = get_int(o, "negativesMax", 0);
  // Both ranges bound the k-means batch; the TS layer allows parts ≤ 64 and negatives ≤ 64.
  if (opts->parts_min < 1 || opts->parts_max < opts->parts_min || opts->parts_max > 4096 || opts->negatives_min < 0 ||
      opts->negatives_max < opts->negatives_min || opts->negatives_max > 4096)
    throw Napi::RangeError::New(env,
                                "buildReference: parts must be 1 ≤ min ≤ max ≤ 4096, negatives 0 ≤ min ≤ max ≤ 4096");
  opts->kmeans.restarts = get_int(o, "restarts", opts->kmeans.restarts);
  opts->kmeans.max_iterations = get_int(o, "maxIterations", opts->kmeans.max_iterations);
  opts->kmeans.relative_tolerance = get_double(o, "tolerance", opts->kmeans.relative_tolerance);
  opts->kmeans.seed = static_cast<std::uint64_t>(get_double(o, "seed", 0));
  // 'sklearn' (default) or 'p2sam'; the TypeScript layer validates the name.
  opts->kmeans.seeding =
      get_string(o, "seeding", "sklearn") == "p2sam" ? core::KMeansSeeding::P2sam : core::KMeansSeeding::Sklearn;
  opts->kmeans.threads = get_int(o, "threads", 0);
  opts->threads = opts->kmeans.threads;
  opts->gpu_kmeans = get_string(o, "device", "cpu") == "cuda";
  opts->encoder_identity = get_string(o, "encoderIdentity", "");
  struct Out {
    std::shared_ptr<const runtime::Reference> reference;
    runtime::ReferenceTimings timings;
  };
  return queue_task<Out>(
      env,
      [emb, mask, w, h, opts]() {
        Out out;
        out.reference = runtime::build_reference(*emb, mask->data(), w, h, *opts, &out.timings);
        return out;
      },
      [](Napi::Env env, Out& out) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("reference", ReferenceWrap::Create(env, out.reference));
        r.Set("featuresMs", out.timings.features_ms);
        r.Set("prototypesMs", out.timings.prototypes_ms);
        return r;
      });
}

// selectReferencePoints(embedding, reference, threads, device) → the selectPoints result
// for the reference's part sets (mean-map argmin in natural mode) then its background
// sets, without shipping a prototype across.
Napi::Value SelectReferencePoints(const Napi::CallbackInfo& info) {
  auto emb = EmbeddingWrap::Get(info[0]);
  auto ref = ReferenceWrap::Get(info[1]);
  const int threads = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  const bool gpu = info[3].IsString() && info[3].As<Napi::String>().Utf8Value() == "cuda";
  return queue_task<std::vector<core::PointSet>>(
      info.Env(),
      [emb, ref, threads, gpu]() {
        const bool natural = ref->mode == runtime::SegmentMode::Natural;
        std::vector<core::PointRequest> requests;
        for (const auto& s : ref->part_sets) requests.push_back({s.prototypes.data(), s.k, natural});
        for (const auto& s : ref->negative_sets) requests.push_back({s.prototypes.data(), s.k, false});
        core::ResizeInfo geo{emb->orig_w, emb->orig_h, emb->input_w, emb->input_h};
        if (gpu) {
          std::vector<float> t = cuda::gpu_normalize_target_features(emb->data.data());
          return cuda::gpu_select_points(t.data(), geo, requests);
        }
        std::vector<float> t = core::normalize_target_features(emb->data.data(), threads);
        return core::select_points(t.data(), geo, requests, threads);
      },
      [](Napi::Env env, std::vector<core::PointSet>& ps) { return point_sets_to_js(env, ps); });
}

// copiedInBytes() → bytes copied out of JS buffers by this env so far (diagnostic).
Napi::Value CopiedInBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(instance_data(info.Env()).copied_in_bytes));
}

}  // namespace

Napi::Function ReferenceWrap::Define(Napi::Env env) {
  return DefineClass(
      env, "NativeReference",
      {InstanceMethod("summary", &ReferenceWrap::Summary), InstanceMethod("toData", &ReferenceWrap::ToData),
       InstanceMethod("contents", &ReferenceWrap::Contents), InstanceMethod("release", &ReferenceWrap::Release)});
}

ReferenceWrap::ReferenceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ReferenceWrap>(info) {
  if (info.Length() == 0) return;
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(info.Env(), "NativeReference: saved data must be a Uint8Array");
  std::vector<uint8_t> bytes = copy_in<uint8_t>(info[0], "reference data");
  try {
    reference_ = runtime::deserialize_reference(bytes.data(), bytes.size());
  } catch (const core::CoreError& e) {
    throw coded_error(info.Env(), e.code(), e.what());
  }
}

Napi::Object ReferenceWrap::Create(Napi::Env env, std::shared_ptr<const runtime::Reference> reference) {
  Napi::Object obj = instance_data(env).reference_ctor.New({});
  Napi::ObjectWrap<ReferenceWrap>::Unwrap(obj)->reference_ = std::move(reference);
  return obj;
}

std::shared_ptr<const runtime::Reference> ReferenceWrap::Get(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(instance_data(env).reference_ctor.Value()))
    throw Napi::TypeError::New(env, "expected a NativeReference");
  auto* self = Napi::ObjectWrap<ReferenceWrap>::Unwrap(value.As<Napi::Object>());
  if (!self->reference_) throw coded_error(env, "DISPOSED", "this reference has been disposed");
  return self->reference_;
}

const runtime::Reference& ReferenceWrap::get(const Napi::Env& env) const {
  if (!reference_) throw coded_error(env, "DISPOSED", "this reference has been disposed");
  return *reference_;
}

Napi::Value ReferenceWrap::Summary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const runtime::Reference& r = get(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("mode", r.mode == runtime::SegmentMode::Medical ? "medical" : "natural");
  o.Set("width", r.width);
  o.Set("height", r.height);
  o.Set("grid", copy_out(env, r.grid));
  o.Set("foregroundCells", r.foreground_cells);
  o.Set("backgroundCells", r.background_cells);
  std::vector<int> parts, negatives;
  for (const auto& s : r.part_sets) parts.push_back(s.k);
  o.Set("parts", ints_to_js(env, parts));
  o.Set("skippedParts", ints_to_js(env, r.skipped_parts));
  o.Set("negatives", ints_to_js(env, r.negative_counts));
  o.Set("skippedNegatives", ints_to_js(env, r.skipped_negatives));
  o.Set("seed", double(r.seed));
  o.Set("encoderIdentity", r.encoder_identity);
  return o;
}

Napi::Value ReferenceWrap::ToData(const Napi::CallbackInfo& info) {
  return copy_out(info.Env(), runtime::serialize_reference(get(info.Env())));
}

Napi::Value ReferenceWrap::Contents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const runtime::Reference& r = get(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("foreground", copy_out(env, r.foreground));
  o.Set("partSets", sets_to_js(env, r.part_sets));
  o.Set("negativeSets", sets_to_js(env, r.negative_sets));
  return o;
}

Napi::Value ReferenceWrap::Release(const Napi::CallbackInfo& info) {
  reference_.reset();
  return info.Env().Undefined();
}

void RegisterReferenceBindings(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ReferenceWrap::Define(env);
  instance_data(env).reference_ctor = Napi::Persistent(ctor);
  exports.Set("NativeReference", ctor);
  exports.Set("buildReference", Napi::Function::New(env, BuildReference, "buildReference"));
  exports.Set("selectReferencePoints", Napi::Function::New(env, SelectReferencePoints, "selectReferencePoints"));
  exports.Set("copiedInBytes", Napi::Function::New(env, CopiedInBytes, "copiedInBytes"));
}

}  // namespace p2sam::addon
