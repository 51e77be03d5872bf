#include "torch_models.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/api/include/torch/cuda.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "errors.hpp"

namespace p2sam::runtime {

namespace {

using core::CoreError;

// The one extra file of a TorchScript archive this project reads: what the module is,
// written by `p2sam export` and the testkit generator (docs/torchscript.md).
constexpr const char* kMetadataFile = "p2sam.json";

std::string torch_message(const c10::Error& e) { return e.what_without_backtrace(); }

bool mentions_cuda(const std::string& message) {
  return message.find("CUDA") != std::string::npos || message.find("cuda") != std::string::npos;
}

// TorchScript archives from memory without copying them into a stringstream first.
class BytesReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesReader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char*) const override {
    if (pos >= bytes_.size()) return 0;
    size_t count = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, count);
    return count;
  }

 private:
  const std::vector<uint8_t>& bytes_;
};

std::string describe_source(const ModelSource& s) {
  return "the " + s.label + " model" + (s.path.empty() ? " (from a buffer)" : " '" + s.path + "'");
}

// First bytes of the file or buffer, to tell "not a zip at all" from "a zip that is not
// TorchScript" before libtorch's less readable messages.
std::string leading_bytes(const ModelSource& s, size_t n) {
  if (!s.path.empty()) {
    std::ifstream in(s.path, std::ios::binary);
    if (!in)
      throw CoreError("MODEL_NOT_FOUND", describe_source(s) + " cannot be opened (no such file or no permission)");
    std::string head(n, '\0');
    in.read(head.data(), static_cast<std::streamsize>(n));
    head.resize(static_cast<size_t>(in.gcount()));
    return head;
  }
  if (s.bytes.empty()) throw CoreError("MODEL_INVALID", s.label + " model buffer is empty");
  return std::string(s.bytes.begin(), s.bytes.begin() + static_cast<std::ptrdiff_t>(std::min(n, s.bytes.size())));
}

// A TorchScript archive is a zip with data.pkl, constants.pkl and code/…; torch.save of a
// state dict is a zip with data.pkl and data/… only, and pre-1.6 torch.save a bare pickle.
void check_archive_layout(const ModelSource& s) {
  std::string head = leading_bytes(s, 4);
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] <= 0x05)
    throw CoreError("MODEL_UNSUPPORTED", describe_source(s) +
                                             " is a legacy PyTorch pickle (torch.save before 1.6, a checkpoint of "
                                             "weights), not a TorchScript module; convert it with `p2sam export`");
  if (head != std::string("PK\x03\x04", 4))
    throw CoreError("MODEL_INVALID", describe_source(s) +
                                         " is not a TorchScript archive (a zip written by torch.jit.save; this file "
                                         "does not start with the zip signature)");
  std::vector<std::string> records;
  try {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    if (!s.path.empty())
      reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(s.path);
    else
      reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::make_shared<BytesReader>(s.bytes));
    records = reader->getAllRecords();
  } catch (const c10::Error& e) {
    throw CoreError("MODEL_INVALID", describe_source(s) + " is a damaged or foreign zip archive: " + torch_message(e));
  }
  bool has_data = false, has_code = false, has_constants = false;
  for (const auto& r : records) {
    has_data |= r == "data.pkl";
    has_constants |= r == "constants.pkl";
    has_code |= r.rfind("code/", 0) == 0;
  }
  if (has_data && !has_code)
    throw CoreError("MODEL_UNSUPPORTED", describe_source(s) +
                                             " is a PyTorch checkpoint (torch.save of weights), not a TorchScript "
                                             "module: it has no code. Convert it with `p2sam export` (docs/export.md)");
  if (!has_data || !has_constants)
    throw CoreError("MODEL_INVALID", describe_source(s) +
                                         " is a zip archive without the TorchScript layout "
                                         "(data.pkl, constants.pkl, code/)");
}

// Minimal reader for the two fields of p2sam.json; the file is ours and flat.
std::string json_string_field(const std::string& json, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + key + "\"\\s*:\\s*\"([^\"]*)\""))) return m[1];
  return "";
}

int json_int_field(const std::string& json, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + key + "\"\\s*:\\s*(\\d+)"))) return std::stoi(m[1]);
  return 0;
}

// "forward(Tensor x, Tensor y) -> Tensor": the method as its author wrote it, without `self`.
std::string schema_text(const c10::FunctionSchema& schema) {
  std::ostringstream os;
  os << schema.name() << '(';
  for (size_t i = 1; i < schema.arguments().size(); ++i)
    os << (i > 1 ? ", " : "") << schema.arguments()[i].type()->annotation_str() << ' ' << schema.arguments()[i].name();
  os << ") -> ";
  if (schema.returns().size() == 1)
    os << schema.returns()[0].type()->annotation_str();
  else
    os << "(" << schema.returns().size() << " values)";
  return os.str();
}

std::string type_text(const c10::TypePtr& t) { return t->kind() == c10::TypeKind::TensorType ? "tensor" : t->str(); }

// True when the module's code (all methods it calls, inlined) names a CUDA device:
// tracing on a GPU bakes `device="cuda:0"` into factory calls. Such a module cannot run
// on a CPU-only libtorch, whatever map_location does for its weights.
bool code_uses_cuda(torch::jit::Module& module) {
  std::shared_ptr<torch::jit::Graph> g = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*g);
  std::function<bool(torch::jit::Block*)> scan = [&](torch::jit::Block* block) {
    for (torch::jit::Node* node : block->nodes()) {
      if (node->kind() == c10::prim::Constant) {
        c10::optional<c10::IValue> value = torch::jit::toIValue(node->output());
        if (value && value->isDevice() && value->toDevice().is_cuda()) return true;
        if (value && value->isString()) {
          const std::string& text = value->toStringRef();
          if (text == "cuda" || text.rfind("cuda:", 0) == 0) return true;
        }
        if (value && value->isTensor() && value->toTensor().is_cuda()) return true;
      }
      for (torch::jit::Block* inner : node->blocks())
        if (scan(inner)) return true;
    }
    return false;
  };
  return scan(g->block());
}

c10::Device parse_device(const TorchConfig& config) {
  if (config.device == "cpu") return c10::Device(c10::kCPU);
  if (config.device != "cuda")
    throw core::invalid_argument("torch device must be 'cpu' or 'cuda', got '" + config.device + "'");
  TorchStatus s = torch_status();
  if (!s.cuda_available) throw CoreError("BACKEND_UNAVAILABLE", "device 'cuda' for TorchScript models: " + s.reason);
  return c10::Device(c10::kCUDA, 0);
}

// What every TorchScript runner holds: the module, its signature, where it runs.
struct LoadedModule {
  mutable torch::jit::Module module;  // forward() is not const in the API; calls are safe concurrently
  GraphInfo graph;
  Classification cls;
  std::string label;
  c10::Device device{c10::kCPU};
  std::string metadata;  // p2sam.json, empty when absent
};

const std::vector<std::string> kDecoderOutputs = {"masks", "iou_predictions", "low_res_masks"};

Classification classify_module(const GraphInfo& g, const c10::FunctionSchema& schema, const std::string& metadata) {
  Classification c;
  const auto& wanted = sam_decoder_input_names();
  int decoder_hits = 0;
  for (const auto& in : g.inputs)
    for (const auto& w : wanted) decoder_hits += in.name == w ? 1 : 0;
  const c10::TypePtr& ret = schema.returns().empty() ? c10::NoneType::get() : schema.returns()[0].type();
  if (decoder_hits >= 3) {
    bool names_ok = g.inputs.size() == wanted.size();
    for (size_t i = 0; names_ok && i < wanted.size(); ++i)
      names_ok = g.inputs[i].name == wanted[i] && g.inputs[i].type == "tensor";
    if (!names_ok) {
      c.reason =
          "looks like a SAM decoder but its forward must take exactly (Tensor image_embeddings, Tensor "
          "point_coords, Tensor point_labels, Tensor mask_input, Tensor has_mask_input, Tensor orig_im_size) "
          "in that order; it is " +
          schema_text(schema);
      return c;
    }
    auto tuple = ret->cast<c10::TupleType>();
    bool out_ok = tuple && tuple->elements().size() == 3;
    for (size_t i = 0; out_ok && i < 3; ++i) out_ok = tuple->elements()[i]->kind() == c10::TypeKind::TensorType;
    if (!out_ok) {
      c.reason =
          "looks like a SAM decoder but its forward must return (masks, iou_predictions, low_res_masks) as a "
          "tuple of three tensors; it returns " +
          ret->str();
      return c;
    }
    c.kind = ModelKind::SamDecoder;
    c.has_full_masks = true;
    c.mask_outputs = json_int_field(metadata, "mask_outputs");
    return c;
  }
  if (g.inputs.size() == 1 && g.inputs[0].type == "tensor" && ret->kind() == c10::TypeKind::TensorType) {
    std::string kind = json_string_field(metadata, "kind");
    if (kind.empty() || kind == "sam-encoder-preprocessed") {
      c.kind = ModelKind::SamEncoderPreprocessed;
    } else if (kind == "sam-encoder-image") {
      c.kind = ModelKind::SamEncoderImage;
    } else {
      c.reason = "its p2sam.json says kind '" + kind + "', which is not a SAM encoder form";
    }
    return c;
  }
  c.reason =
      "neither a SAM encoder (forward(Tensor) -> Tensor) nor a SAM decoder (forward(image_embeddings, "
      "point_coords, point_labels, mask_input, has_mask_input, orig_im_size) -> (masks, iou_predictions, "
      "low_res_masks)); its forward is " +
      schema_text(schema);
  return c;
}

std::unique_ptr<LoadedModule> load_module(const ModelSource& source, const TorchConfig& config) {
  check_archive_layout(source);
  auto m = std::make_unique<LoadedModule>();
  m->label = source.label;
  m->device = parse_device(config);
  configure_torch_threads(config.threads);
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  try {
    // map_location = the target device: weights saved from a GPU load on the CPU and the
    // reverse; what the code itself names is checked below.
    if (!source.path.empty())
      m->module = torch::jit::load(source.path, m->device, extra);
    else
      m->module = torch::jit::load(std::make_shared<BytesReader>(source.bytes), m->device, extra);
  } catch (const c10::Error& e) {
    throw CoreError("MODEL_INVALID", "libtorch could not load " + describe_source(source) + ": " + torch_message(e));
  }
  m->metadata = extra[kMetadataFile];
  m->module.eval();
  auto forward = m->module.find_method("forward");
  if (!forward)
    throw CoreError("MODEL_UNSUPPORTED", describe_source(source) + " is a TorchScript module without forward()");
  const c10::FunctionSchema& schema = forward->function().getSchema();
  // arguments()[0] is `self`.
  for (size_t i = 1; i < schema.arguments().size(); ++i)
    m->graph.inputs.push_back({schema.arguments()[i].name(), type_text(schema.arguments()[i].type()), {}});
  m->graph.producer = "torchscript";
  m->graph.graph_name = m->module.type()->name() ? m->module.type()->name()->qualifiedName() : "";
  m->cls = classify_module(m->graph, schema, m->metadata);
  if (m->cls.kind == ModelKind::SamDecoder) {
    for (const auto& name : kDecoderOutputs) m->graph.outputs.push_back({name, "tensor", {}});
  } else if (!schema.returns().empty()) {
    m->graph.outputs.push_back({"image_embeddings", type_text(schema.returns()[0].type()), {}});
  }
  if (m->device.is_cpu() && code_uses_cuda(m->module))
    throw CoreError("BACKEND_UNAVAILABLE",
                    describe_source(source) +
                        " names a CUDA device in its code (it was traced or scripted on a GPU), and it is being loaded "
                        "for the CPU; export it again on the CPU (`p2sam export` traces on the CPU) or load it with "
                        "device 'cuda' where libtorch has CUDA");
  return m;
}

std::string shape_string(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

std::vector<float> to_host_vector(const at::Tensor& t, const std::string& what) {
  if (t.scalar_type() != at::kFloat) throw CoreError("MODEL_OUTPUT_INVALID", what + " is not float32");
  at::Tensor host = t.to(c10::kCPU).contiguous();
  const float* p = host.data_ptr<float>();
  return std::vector<float>(p, p + host.numel());
}

c10::IValue run_forward(const LoadedModule& m, std::vector<c10::IValue> inputs, const std::string& what) {
  try {
    return m.module.forward(std::move(inputs));
  } catch (const c10::Error& e) {
    std::string message = torch_message(e);
    if (m.device.is_cpu() && mentions_cuda(message))
      throw CoreError("BACKEND_UNAVAILABLE", what + " needs CUDA, which this libtorch or machine lacks: " + message);
    throw CoreError("INFERENCE_FAILED", "libtorch, " + what + ": " + message);
  }
}

// The embedding a TorchEncoder left on its device for the decoder passes.
class TorchDeviceEmbedding : public DeviceEmbedding {
 public:
  explicit TorchDeviceEmbedding(at::Tensor t) : tensor(std::move(t)) {}
  at::Tensor tensor;  // [1,256,64,64] on the encoder's device, contiguous, never written
};

}  // namespace

void configure_torch_threads(int threads) {
  static std::once_flag once;
  std::call_once(once, [threads] {
    int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
    // SAM's graphs are sequential; a second pool of inter-op threads would only compete.
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
      // Already in use (another library in this process started it): keep its size.
    }
    // The profiling executor re-specialises the decoder for each prompt length and its
    // fusions change float rounding between the first runs and later ones; plain
    // interpretation keeps every run of a module identical (ONNX parity, reproducibility).
    torch::jit::setGraphExecutorOptimize(false);
  });
}

TorchStatus torch_status() {
  TorchStatus s;
  s.version = TORCH_VERSION;
  s.cuda_compiled = at::hasCUDA();
  if (!s.cuda_compiled) {
    s.reason = "this libtorch was built without CUDA (CPU only)";
    return s;
  }
  s.cuda_devices = static_cast<int>(torch::cuda::device_count());
  s.cuda_available = s.cuda_devices > 0;
  if (!s.cuda_available) s.reason = "libtorch has CUDA but sees no GPU (no device or no driver)";
  return s;
}

TorchModelReport inspect_torch_model(const ModelSource& source) {
  TorchConfig config;
  config.threads = 1;
  std::unique_ptr<LoadedModule> m = load_module(source, config);
  return {m->graph, m->cls};
}

// ---- encoder ------------------------------------------------------------------------

struct TorchEncoder::Impl {
  std::unique_ptr<LoadedModule> m;
};

TorchEncoder::TorchEncoder(const ModelSource& source, const TorchConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->m = load_module(source, config);
  const Classification& cls = impl_->m->cls;
  switch (cls.kind) {
    case ModelKind::SamEncoderImage:
    case ModelKind::SamEncoderPreprocessed:
      break;
    case ModelKind::SamDecoder:
      throw CoreError("MODEL_MISMATCH",
                      "the TorchScript model given as the encoder is a SAM decoder (it takes "
                      "image_embeddings and prompts); pass it as the decoder");
    default:
      throw CoreError("MODEL_UNSUPPORTED", "the encoder is not a SAM image encoder: " + cls.reason);
  }
}

TorchEncoder::~TorchEncoder() = default;
const GraphInfo& TorchEncoder::graph() const { return impl_->m->graph; }
const Classification& TorchEncoder::classification() const { return impl_->m->cls; }
const std::string& TorchEncoder::label() const { return impl_->m->label; }
std::string TorchEncoder::execution_provider() const { return impl_->m->device.is_cuda() ? "cuda" : "cpu"; }

EncoderOutput TorchEncoder::run(const float* input, int h, int w) const {
  const LoadedModule& m = *impl_->m;
  c10::InferenceMode inference;  // no autograd records, no version counters
  std::vector<int64_t> shape;
  if (form() == ModelKind::SamEncoderImage)
    shape = {h, w, 3};
  else
    shape = {1, 3, 1024, 1024};
  // The module must not write to its input (the contract of both runtimes); from_blob
  // only borrows the prepared tensor for the duration of this call.
  at::Tensor in = torch::from_blob(const_cast<float*>(input), shape, at::kFloat);
  if (m.device.is_cuda()) in = in.to(m.device);
  c10::IValue out = run_forward(m, {in}, "the encoder");
  if (!out.isTensor())
    throw CoreError("MODEL_OUTPUT_INVALID", "the encoder returned " + out.tagKind() + ", not a tensor");
  at::Tensor emb = out.toTensor();
  if (emb.sizes() != c10::IntArrayRef({1, 256, 64, 64}))
    throw CoreError("MODEL_OUTPUT_INVALID", "the encoder produced an embedding of shape " + shape_string(emb.sizes()) +
                                                ", expected [1,256,64,64]");
  EncoderOutput result;
  result.data = to_host_vector(emb, "the encoder's output");
  for (float v : result.data)
    if (!std::isfinite(v))
      throw CoreError("NON_FINITE_EMBEDDING",
                      "the encoder produced NaN or infinite values in its embedding; the model "
                      "file is probably broken or was exported incorrectly");
  if (m.device.is_cuda()) result.device = std::make_shared<TorchDeviceEmbedding>(emb.contiguous());
  return result;
}

// ---- decoder ------------------------------------------------------------------------

struct TorchDecoder::Impl {
  std::unique_ptr<LoadedModule> m;
  at::Tensor zero_mask;  // [1,1,256,256] on the device; read-only, shared by all calls
  mutable std::atomic<int> mask_outputs{0};
};

TorchDecoder::TorchDecoder(const ModelSource& source, const TorchConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->m = load_module(source, config);
  const Classification& cls = impl_->m->cls;
  switch (cls.kind) {
    case ModelKind::SamDecoder:
      break;
    case ModelKind::SamEncoderImage:
    case ModelKind::SamEncoderPreprocessed:
      throw CoreError("MODEL_MISMATCH",
                      "the TorchScript model given as the decoder is a SAM image encoder (forward "
                      "takes one image tensor); pass it as the encoder");
    default:
      throw CoreError("MODEL_UNSUPPORTED", "the decoder is not a SAM v1 prompt decoder: " + cls.reason);
  }
  {
    c10::InferenceMode inference;
    impl_->zero_mask = torch::zeros({1, 1, 256, 256}, at::TensorOptions().dtype(at::kFloat).device(impl_->m->device));
  }
  impl_->mask_outputs = cls.mask_outputs;
  // One probe pass at load (a decoder pass is cheap next to an encoder run): a module
  // whose forward fails, returns the wrong shapes, or needs CUDA is refused now, with a
  // load error, instead of inside the first segment() call.
  Embedding probe;
  probe.data.assign(256 * 64 * 64, 0.0f);
  probe.orig_w = probe.orig_h = probe.input_w = probe.input_h = 64;
  DecoderPrompt prompt;
  prompt.coords = {512.0f, 512.0f, 0.0f, 0.0f};
  prompt.labels = {1.0f, -1.0f};
  prompt.orig_h = prompt.orig_w = 64;
  try {
    run(probe, prompt, true);
  } catch (const CoreError& e) {
    if (e.code() == "BACKEND_UNAVAILABLE") throw;
    throw CoreError("MODEL_UNSUPPORTED",
                    "the TorchScript decoder failed a probe pass with a one-point prompt: " + std::string(e.what()));
  }
}

TorchDecoder::~TorchDecoder() = default;
const GraphInfo& TorchDecoder::graph() const { return impl_->m->graph; }
const Classification& TorchDecoder::classification() const { return impl_->m->cls; }
const std::string& TorchDecoder::label() const { return impl_->m->label; }
std::string TorchDecoder::execution_provider() const { return impl_->m->device.is_cuda() ? "cuda" : "cpu"; }
int TorchDecoder::mask_outputs() const { return impl_->mask_outputs.load(); }

DecoderResult TorchDecoder::run(const Embedding& target, const DecoderPrompt& p, bool want_full_masks) const {
  const LoadedModule& m = *impl_->m;
  const int64_t n = static_cast<int64_t>(p.labels.size());
  if (n == 0 || p.coords.size() != static_cast<size_t>(n) * 2)
    throw core::invalid_argument("decoder prompt needs N>0 points with N×2 coordinates");
  if (target.data.size() != std::size_t(256) * 64 * 64)
    throw core::invalid_argument("the embedding must hold 256×64×64 floats");
  c10::InferenceMode inference;
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
  // Prefer the copy the encoder left on the device; a host embedding (restored from
  // data, or made by an ONNX encoder) is uploaded for this pass, or borrowed on the CPU.
  at::Tensor emb;
  if (auto dev = std::dynamic_pointer_cast<const TorchDeviceEmbedding>(target.device);
      dev && dev->tensor.device() == m.device) {
    emb = dev->tensor;
  } else {
    emb = torch::from_blob(const_cast<float*>(target.data.data()), {1, 256, 64, 64}, f32);
    if (m.device.is_cuda()) emb = emb.to(m.device);
  }
  auto upload = [&](const float* data, std::vector<int64_t> shape) {
    at::Tensor t = torch::from_blob(const_cast<float*>(data), shape, f32);
    return m.device.is_cuda() ? t.to(m.device) : t;
  };
  at::Tensor coords = upload(p.coords.data(), {1, n, 2});
  at::Tensor labels = upload(p.labels.data(), {1, n});
  at::Tensor mask = p.mask_input ? upload(p.mask_input, {1, 1, 256, 256}) : impl_->zero_mask;
  at::Tensor has_mask = torch::full({1}, p.mask_input ? 1.0f : 0.0f, f32.device(m.device));
  at::Tensor orig = torch::tensor({static_cast<float>(p.orig_h), static_cast<float>(p.orig_w)}, f32).to(m.device);
  c10::IValue out = run_forward(m, {emb, coords, labels, mask, has_mask, orig}, "the decoder");
  if (!out.isTuple() || out.toTupleRef().elements().size() != 3)
    throw CoreError("MODEL_OUTPUT_INVALID", "the decoder must return (masks, iou_predictions, low_res_masks)");
  const auto& outs = out.toTupleRef().elements();
  for (size_t i = 0; i < 3; ++i)
    if (!outs[i].isTensor())
      throw CoreError("MODEL_OUTPUT_INVALID", "decoder output " + kDecoderOutputs[i] + " is not a tensor");
  at::Tensor masks = outs[0].toTensor(), iou = outs[1].toTensor(), low = outs[2].toTensor();
  if (iou.dim() != 2 || iou.size(0) != 1 || (iou.size(1) != 1 && iou.size(1) != 4))
    throw CoreError("MODEL_OUTPUT_INVALID",
                    "decoder iou_predictions has shape " + shape_string(iou.sizes()) + ", expected [1,4] or [1,1]");
  DecoderResult r;
  r.channels = static_cast<int>(iou.size(1));
  if (low.sizes() != c10::IntArrayRef({1, r.channels, 256, 256}))
    throw CoreError("MODEL_OUTPUT_INVALID", "decoder low_res_masks has shape " + shape_string(low.sizes()) +
                                                ", expected [1," + std::to_string(r.channels) + ",256,256]");
  impl_->mask_outputs = r.channels;
  r.iou = to_host_vector(iou, "decoder iou_predictions");
  r.low_res = to_host_vector(low, "decoder low_res_masks");
  if (want_full_masks) {
    if (masks.sizes() != c10::IntArrayRef({1, r.channels, p.orig_h, p.orig_w}))
      throw CoreError("MODEL_OUTPUT_INVALID", "decoder masks has shape " + shape_string(masks.sizes()) +
                                                  ", expected [1," + std::to_string(r.channels) + "," +
                                                  std::to_string(p.orig_h) + "," + std::to_string(p.orig_w) + "]");
    r.masks = to_host_vector(masks, "decoder masks");
  }
  for (float v : r.iou)
    if (!std::isfinite(v)) throw CoreError("MODEL_OUTPUT_INVALID", "decoder iou_predictions contains NaN/Inf");
  // NaN logits would threshold to an empty mask and pass as "nothing found".
  for (float v : r.low_res)
    if (std::isnan(v))
      throw CoreError("MODEL_OUTPUT_INVALID",
                      "the decoder produced NaN in low_res_masks; the model file is probably "
                      "broken or was exported incorrectly");
  return r;
}

}  // namespace p2sam::runtime
