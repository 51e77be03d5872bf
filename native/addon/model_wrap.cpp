#include "model_wrap.hpp"

#include <chrono>

#include "addon/async_task.hpp"
#include "addon/candidates_js.hpp"
#include "addon/convert.hpp"
#include "addon/instance_data.hpp"
#include "addon/runner_handle.hpp"
#include "cuda/cuda_backend.hpp"
#include "runtime/candidate_cascade.hpp"
#include "runtime/encoder_input.hpp"

namespace p2sam::addon {

namespace {

runtime::ModelSource read_source(const Napi::Value& v, const char* label) {
  runtime::ModelSource s;
  s.label = label;
  Napi::Object o = v.As<Napi::Object>();
  if (o.Has("path") && o.Get("path").IsString()) {
    s.path = o.Get("path").As<Napi::String>().Utf8Value();
  } else {
    s.bytes = copy_in<uint8_t>(o.Get("bytes"), "model bytes");
  }
  return s;
}

Napi::Array dims_to_js(Napi::Env env, const std::vector<int64_t>& dims) {
  Napi::Array a = Napi::Array::New(env, dims.size());
  for (size_t i = 0; i < dims.size(); ++i) a.Set(i, dims[i] < 0 ? env.Null() : Napi::Number::New(env, double(dims[i])));
  return a;
}

Napi::Array tensors_to_js(Napi::Env env, const std::vector<runtime::TensorInfo>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("name", ts[i].name);
    t.Set("type", ts[i].type);
    t.Set("dims", dims_to_js(env, ts[i].dims));
    a.Set(i, t);
  }
  return a;
}

Napi::Object model_to_js(Napi::Env env, const runtime::ModelRunner& m, int mask_outputs) {
  Napi::Object o = GraphToJs(env, m.graph());
  o.Set("kind", runtime::kind_name(m.classification().kind));
  o.Set("provider", m.execution_provider());
  o.Set("runtime", m.runtime_name());
  if (mask_outputs >= 0) o.Set("maskOutputs", mask_outputs);
  return o;
}

}  // namespace

Napi::Object GraphToJs(Napi::Env env, const runtime::GraphInfo& g) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("inputs", tensors_to_js(env, g.inputs));
  o.Set("outputs", tensors_to_js(env, g.outputs));
  o.Set("producer", g.producer);
  o.Set("graphName", g.graph_name);
  return o;
}

// ---- EmbeddingWrap ----------------------------------------------------------------------

Napi::Function EmbeddingWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeEmbedding",
                     {InstanceMethod("meta", &EmbeddingWrap::Meta), InstanceMethod("data", &EmbeddingWrap::Data),
                      InstanceMethod("release", &EmbeddingWrap::Release)});
}

EmbeddingWrap::EmbeddingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EmbeddingWrap>(info) {
  // new NativeEmbedding(Float32Array(256*4096), { origWidth, origHeight, inputWidth, inputHeight })
  // lets users restore an embedding they stored; the wrapper created by encode() passes nothing.
  if (info.Length() >= 2 && info[0].IsTypedArray() && info[1].IsObject()) {
    auto e = std::make_shared<runtime::Embedding>();
    e->data = copy_in<float>(info[0], "embedding data");
    Napi::Object m = info[1].As<Napi::Object>();
    e->orig_w = get_int(m, "origWidth", 0);
    e->orig_h = get_int(m, "origHeight", 0);
    e->input_w = get_int(m, "inputWidth", 0);
    e->input_h = get_int(m, "inputHeight", 0);
    // Embedding.fromData validates all of this; the addon is also reachable directly,
    // and every later stage reads a full 256×64×64 grid and trusts the geometry, so a
    // short buffer here would become an out-of-bounds read on a worker thread.
    if (e->data.size() != std::size_t(256) * 64 * 64)
      throw Napi::RangeError::New(info.Env(), "embedding data must hold 256×64×64 floats");
    if (e->orig_w < 1 || e->orig_h < 1 || e->orig_w > 32768 || e->orig_h > 32768 || e->input_w < 1 || e->input_h < 1 ||
        e->input_w > 1024 || e->input_h > 1024)
      throw Napi::RangeError::New(info.Env(), "embedding meta: sizes out of range");
    embedding_ = std::move(e);
  }
}

Napi::Object EmbeddingWrap::Create(Napi::Env env, std::shared_ptr<const runtime::Embedding> embedding) {
  Napi::Object obj = instance_data(env).embedding_ctor.New({});
  Napi::ObjectWrap<EmbeddingWrap>::Unwrap(obj)->embedding_ = std::move(embedding);
  return obj;
}

std::shared_ptr<const runtime::Embedding> EmbeddingWrap::Get(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(instance_data(env).embedding_ctor.Value()))
    throw Napi::TypeError::New(env, "expected a NativeEmbedding");
  auto* self = Napi::ObjectWrap<EmbeddingWrap>::Unwrap(value.As<Napi::Object>());
  if (!self->embedding_) throw coded_error(env, "DISPOSED", "this embedding has been disposed");
  return self->embedding_;
}

Napi::Value EmbeddingWrap::Meta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!embedding_) throw coded_error(env, "DISPOSED", "this embedding has been disposed");
  Napi::Object m = Napi::Object::New(env);
  m.Set("origWidth", embedding_->orig_w);
  m.Set("origHeight", embedding_->orig_h);
  m.Set("inputWidth", embedding_->input_w);
  m.Set("inputHeight", embedding_->input_h);
  return m;
}

Napi::Value EmbeddingWrap::Data(const Napi::CallbackInfo& info) {
  if (!embedding_) throw coded_error(info.Env(), "DISPOSED", "this embedding has been disposed");
  return copy_out(info.Env(), embedding_->data);
}

Napi::Value EmbeddingWrap::Release(const Napi::CallbackInfo& info) {
  embedding_.reset();
  return info.Env().Undefined();
}

// ---- ModelWrap --------------------------------------------------------------------------

Napi::Function ModelWrap::Define(Napi::Env env) {
  return DefineClass(
      env, "NativeModel",
      {InstanceMethod("info", &ModelWrap::Info), InstanceMethod("encode", &ModelWrap::Encode),
       InstanceMethod("decode", &ModelWrap::Decode), InstanceMethod("runCandidates", &ModelWrap::RunCandidates),
       InstanceMethod("release", &ModelWrap::Release)});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

Napi::Object ModelWrap::Create(Napi::Env env, std::shared_ptr<ModelPair> pair) {
  Napi::Object obj = instance_data(env).model_ctor.New({});
  Napi::ObjectWrap<ModelWrap>::Unwrap(obj)->pair_ = std::move(pair);
  return obj;
}

std::shared_ptr<ModelPair> ModelWrap::pair(const Napi::Env& env) const {
  if (!pair_) throw coded_error(env, "DISPOSED", "this model has been disposed");
  return pair_;
}

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = pair(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("encoder", model_to_js(env, *p->encoder, -1));
  Napi::Object dec = model_to_js(env, *p->decoder, p->decoder->mask_outputs());
  dec.Set("cascade", p->cascade != p->decoder ? "pruned" : "full");
  if (!p->cascade_note.empty()) dec.Set("cascadeNote", p->cascade_note);
  o.Set("decoder", dec);
  return o;
}

Napi::Value ModelWrap::Release(const Napi::CallbackInfo& info) {
  pair_.reset();
  return info.Env().Undefined();
}

// encode(pixels: Uint8Array, width, height, channels, normalization: 'sam'|'medsam', threads)
Napi::Value ModelWrap::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = pair(env);
  struct Args {
    std::vector<uint8_t> pixels;
    int width, height, channels, threads;
    runtime::Normalization norm;
  };
  auto args = std::make_shared<Args>();
  args->pixels = copy_in<uint8_t>(info[0], "image data");
  args->width = info[1].As<Napi::Number>().Int32Value();
  args->height = info[2].As<Napi::Number>().Int32Value();
  args->channels = info[3].As<Napi::Number>().Int32Value();
  args->norm =
      info[4].As<Napi::String>().Utf8Value() == "medsam" ? runtime::Normalization::MedSam : runtime::Normalization::Sam;
  args->threads = info.Length() > 5 && info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
  // The resize reads width×height×channels bytes; the TS layer checks this, the addon
  // must not trust it (it can be loaded directly).
  if (args->width < 1 || args->height < 1 || args->width > 32768 || args->height > 32768 ||
      (args->channels != 1 && args->channels != 3 && args->channels != 4) ||
      args->pixels.size() != std::size_t(args->width) * std::size_t(args->height) * std::size_t(args->channels))
    throw Napi::RangeError::New(env,
                                "image data must hold width×height×channels bytes (1..32768 per side, 1/3/4 channels)");
  struct Out {
    std::shared_ptr<const runtime::Embedding> embedding;
    double prepare_ms, encode_ms;
  };
  return queue_task<Out>(
      env,
      [p, args]() {
        auto t0 = std::chrono::steady_clock::now();
        runtime::PreparedInput in =
            runtime::prepare_encoder_input(args->pixels.data(), args->width, args->height, args->channels,
                                           p->encoder->form(), args->norm, args->threads);
        auto t1 = std::chrono::steady_clock::now();
        auto e = std::make_shared<runtime::Embedding>();
        runtime::EncoderOutput encoded = p->encoder->run(in.tensor.data(), in.input_h, in.input_w);
        e->data = std::move(encoded.data);
        e->device = std::move(encoded.device);
        e->orig_w = args->width;
        e->orig_h = args->height;
        e->input_w = in.input_w;
        e->input_h = in.input_h;
        auto t2 = std::chrono::steady_clock::now();
        return Out{std::move(e), std::chrono::duration<double, std::milli>(t1 - t0).count(),
                   std::chrono::duration<double, std::milli>(t2 - t1).count()};
      },
      [](Napi::Env env, Out& out) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("embedding", EmbeddingWrap::Create(env, out.embedding));
        r.Set("prepareMs", out.prepare_ms);
        r.Set("encodeMs", out.encode_ms);
        return r;
      });
}

// decode(embedding, coords: Float32Array (1024 frame), labels: Float32Array,
//        maskInput: Float32Array(65536) | null, wantFullMasks: boolean) — one raw pass
Napi::Value ModelWrap::Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = pair(env);
  auto emb = EmbeddingWrap::Get(info[0]);
  struct Args {
    runtime::DecoderPrompt prompt;
    std::vector<float> mask;
    bool full;
  };
  auto args = std::make_shared<Args>();
  args->prompt.coords = copy_in<float>(info[1], "coords");
  args->prompt.labels = copy_in<float>(info[2], "labels");
  if (info[3].IsTypedArray()) args->mask = copy_in<float>(info[3], "maskInput");
  // The decoder reads a full 256×256 plane from mask_input.
  if (!args->mask.empty() && args->mask.size() != 256 * 256)
    throw Napi::RangeError::New(env, "maskInput must hold 256×256 floats");
  args->full = info[4].ToBoolean().Value();
  args->prompt.orig_h = emb->orig_h;
  args->prompt.orig_w = emb->orig_w;
  return queue_task<runtime::DecoderResult>(
      env,
      [p, emb, args]() {
        args->prompt.mask_input = args->mask.empty() ? nullptr : args->mask.data();
        return p->decoder->run(*emb, args->prompt, args->full);
      },
      [emb](Napi::Env env, runtime::DecoderResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("channels", r.channels);
        o.Set("iou", copy_out(env, r.iou));
        o.Set("lowRes", copy_out(env, r.low_res));
        if (!r.masks.empty()) o.Set("masks", copy_out(env, r.masks));
        o.Set("width", emb->orig_w);
        o.Set("height", emb->orig_h);
        return o;
      });
}

Napi::Value ModelWrap::RunCandidates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = pair(env);
  auto emb = EmbeddingWrap::Get(info[0]);
  auto request = std::make_shared<runtime::CandidateRequest>(read_candidate_request(info[1].As<Napi::Object>()));
  return queue_task<std::vector<runtime::CandidateOutcome>>(
      env, [p, emb, request]() { return runtime::run_candidates(*p->cascade, *emb, *request); },
      [](Napi::Env env, std::vector<runtime::CandidateOutcome>& outcomes) -> Napi::Value {
        return candidate_outcomes_to_js(env, outcomes);
      });
}

// ---- loading ----------------------------------------------------------------------------

Napi::Value LoadModels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  struct Args {
    runtime::ModelSource encoder, decoder, cascade;
    bool has_cascade = false;
    runtime::SessionConfig config;
    // TorchScript runners already loaded by p2sam_torch.node; an ONNX model fills
    // whichever of the two it leaves empty.
    std::shared_ptr<const runtime::EncoderRunner> given_encoder;
    std::shared_ptr<const runtime::DecoderRunner> given_decoder;
  };
  auto args = std::make_shared<Args>();
  if (!o.Get("runners").IsUndefined()) {
    const RunnerHandoff& h = UnwrapHandoff(o.Get("runners"));
    args->given_encoder = h.encoder;
    args->given_decoder = h.decoder;
  }
  if (!args->given_encoder) args->encoder = read_source(o.Get("encoder"), "encoder");
  if (!args->given_decoder) args->decoder = read_source(o.Get("decoder"), "decoder");
  if (o.Get("decoderCascade").IsObject()) {
    args->cascade = read_source(o.Get("decoderCascade"), "pruned decoder");
    args->has_cascade = true;
  }
  args->config.intra_op_threads = get_int(o, "threads", 0);
  args->config.graph_optimization = get_int(o, "graphOptimization", 99);
  args->config.memory_pattern = get_bool(o, "memoryPattern", false);
  args->config.cpu_arena = get_bool(o, "cpuArena", true);
  args->config.use_cuda = get_string(o, "device", "cpu") == "cuda";
  return queue_task<std::shared_ptr<ModelPair>>(
      env,
      [args]() {
        auto pair = std::make_shared<ModelPair>();
        pair->config = args->config;
        if (args->given_encoder)
          pair->encoder = args->given_encoder;
        else
          pair->encoder = std::make_shared<runtime::SamEncoder>(args->encoder, args->config);
        if (args->given_decoder)
          pair->decoder = args->given_decoder;
        else
          pair->decoder = std::make_shared<runtime::SamDecoder>(args->decoder, args->config);
        pair->cascade = pair->decoder;
        if (args->has_cascade && !args->given_decoder) {
          // Best effort: a pruned copy that fails to load (e.g. its weights live in an
          // external data file that cannot be found from a buffer) just means the full
          // decoder runs the cascade, at the cost of its unused full-resolution branch.
          try {
            auto pruned = std::make_shared<runtime::SamDecoder>(args->cascade, args->config);
            if (pruned->mask_outputs() == pair->decoder->mask_outputs())
              pair->cascade = std::move(pruned);
            else
              pair->cascade_note = "the pruned decoder's mask outputs differ from the original; using the original";
          } catch (const std::exception& e) {
            pair->cascade_note = std::string("the pruned decoder could not be loaded, using the original: ") + e.what();
          }
        }
        args->encoder.bytes.clear();
        args->decoder.bytes.clear();
        args->cascade.bytes.clear();
        return pair;
      },
      [](Napi::Env env, std::shared_ptr<ModelPair>& pair) -> Napi::Value { return ModelWrap::Create(env, pair); });
}

Napi::Value InspectModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto source = std::make_shared<runtime::ModelSource>(read_source(info[0], "ONNX"));
  struct Out {
    runtime::GraphInfo graph;
    runtime::Classification cls;
  };
  return queue_task<Out>(
      env,
      [source]() {
        runtime::SessionConfig config;
        config.intra_op_threads = 1;
        config.graph_optimization = 0;  // inspecting needs no optimised graph; loads faster
        runtime::OrtModel m(*source, config);
        return Out{m.graph(), m.classification()};
      },
      [](Napi::Env env, Out& out) -> Napi::Value {
        Napi::Object o = GraphToJs(env, out.graph);
        o.Set("kind", runtime::kind_name(out.cls.kind));
        o.Set("maskOutputs", out.cls.mask_outputs);
        o.Set("reason", out.cls.reason);
        return o;
      });
}

}  // namespace p2sam::addon
