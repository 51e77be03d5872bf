// p2sam_torch.node: loads TorchScript SAM models with libtorch and hands the runners to
// p2sam.node (addon/runner_handle.hpp). lib/torch.ts requires it only when a TorchScript
// model is given, so the ONNX path never maps libtorch into the process.
#include <napi.h>

#include "addon/async_task.hpp"
#include "addon/convert.hpp"
#include "addon/instance_data.hpp"
#include "addon/runner_handle.hpp"
#include "runtime/torch_models.hpp"

namespace p2sam::addon {

namespace {

bool read_source(const Napi::Object& o, const char* key, runtime::ModelSource& s) {
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) return false;
  Napi::Object src = v.As<Napi::Object>();
  s.label = key;
  if (src.Get("path").IsString())
    s.path = src.Get("path").As<Napi::String>().Utf8Value();
  else
    s.bytes = copy_in<uint8_t>(src.Get("bytes"), "model bytes");
  return true;
}

// loadRunners({ encoder?: {path}|{bytes}, decoder?: ..., device: 'cpu'|'cuda', threads })
//   → Promise<External<RunnerHandoff>>
Napi::Value LoadRunners(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "loadRunners expects an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  struct Args {
    runtime::ModelSource encoder, decoder;
    bool has_encoder = false, has_decoder = false;
    runtime::TorchConfig config;
  };
  auto args = std::make_shared<Args>();
  args->has_encoder = read_source(o, "encoder", args->encoder);
  args->has_decoder = read_source(o, "decoder", args->decoder);
  args->config.device = get_string(o, "device", "cpu");
  args->config.threads = get_int(o, "threads", 0);
  return queue_task<std::unique_ptr<RunnerHandoff>>(
      env,
      [args]() {
        auto h = std::make_unique<RunnerHandoff>();
        if (args->has_encoder) h->encoder = std::make_shared<runtime::TorchEncoder>(args->encoder, args->config);
        if (args->has_decoder) h->decoder = std::make_shared<runtime::TorchDecoder>(args->decoder, args->config);
        args->encoder.bytes.clear();
        args->decoder.bytes.clear();
        return h;
      },
      [](Napi::Env env, std::unique_ptr<RunnerHandoff>& h) -> Napi::Value { return WrapHandoff(env, std::move(h)); });
}

Napi::Array tensors_to_js(Napi::Env env, const std::vector<runtime::TensorInfo>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("name", ts[i].name);
    t.Set("type", ts[i].type);
    t.Set("dims", Napi::Array::New(env, 0));  // TorchScript signatures carry no shapes
    a.Set(i, t);
  }
  return a;
}

// inspectModel({path}|{bytes}) → Promise<{ kind, maskOutputs, reason, inputs, outputs, producer, graphName }>,
// the shape p2sam.node's inspectModel returns for ONNX files.
Napi::Value InspectModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "inspectModel expects {path} or {bytes}");
  auto source = std::make_shared<runtime::ModelSource>();
  Napi::Object wrapper = Napi::Object::New(env);
  wrapper.Set("model", info[0]);
  read_source(wrapper, "model", *source);
  source->label = "TorchScript";
  return queue_task<runtime::TorchModelReport>(
      env, [source]() { return runtime::inspect_torch_model(*source); },
      [](Napi::Env env, runtime::TorchModelReport& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("inputs", tensors_to_js(env, r.graph.inputs));
        o.Set("outputs", tensors_to_js(env, r.graph.outputs));
        o.Set("producer", r.graph.producer);
        o.Set("graphName", r.graph.graph_name);
        o.Set("kind", runtime::kind_name(r.classification.kind));
        o.Set("maskOutputs", r.classification.mask_outputs);
        o.Set("reason", r.classification.reason);
        return o;
      });
}

Napi::Value Status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  runtime::TorchStatus s = runtime::torch_status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", s.version);
  o.Set("cudaCompiled", s.cuda_compiled);
  o.Set("cudaAvailable", s.cuda_available);
  o.Set("cudaDevices", s.cuda_devices);
  if (!s.reason.empty()) o.Set("reason", s.reason);
  o.Set("interfaceVersion", runtime::kRunnerInterfaceVersion);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // copy_in (convert.hpp) counts copied bytes in the env's InstanceData; this addon has
  // no classes of its own, but the counter must exist.
  env.SetInstanceData<InstanceData>(new InstanceData());
  exports.Set("loadRunners", Napi::Function::New(env, LoadRunners, "loadRunners"));
  exports.Set("status", Napi::Function::New(env, Status, "status"));
  exports.Set("inspectModel", Napi::Function::New(env, InspectModel, "inspectModel"));
  return exports;
}

}  // namespace

}  // namespace p2sam::addon

static Napi::Object InitP2SamTorch(Napi::Env env, Napi::Object exports) { return p2sam::addon::Init(env, exports); }

NODE_API_MODULE(p2sam_torch, InitP2SamTorch)
