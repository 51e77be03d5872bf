#include "sam_models.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>

#include "cancel.hpp"
#include "errors.hpp"
#include "ort_api.hpp"

namespace p2sam::runtime {

namespace {

Ort::SessionOptions make_options(const SessionConfig& config, std::string& provider) {
  Ort::SessionOptions opts;
  if (config.intra_op_threads > 0) opts.SetIntraOpNumThreads(config.intra_op_threads);
  // Inter-op parallelism buys nothing for SAM's mostly sequential graphs and would
  // add a second pool of spinning threads.
  opts.SetInterOpNumThreads(1);
  switch (config.graph_optimization) {
    case 0:
      opts.SetGraphOptimizationLevel(ORT_DISABLE_ALL);
      break;
    case 1:
      opts.SetGraphOptimizationLevel(ORT_ENABLE_BASIC);
      break;
    case 2:
      opts.SetGraphOptimizationLevel(ORT_ENABLE_EXTENDED);
      break;
    default:
      opts.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
      break;
  }
  if (!config.memory_pattern) opts.DisableMemPattern();
  if (!config.cpu_arena) opts.DisableCpuMemArena();
  // Spinning worker threads burn a core each between runs; a segmentation service
  // interleaves model runs with our own maths, so let them sleep.
  opts.AddConfigEntry("session.intra_op.allow_spinning", "0");
  if (config.use_cuda) {
    // V2 options so TF32 can be switched off: with it ORT's convolutions/matmuls round
    // to 10-bit mantissas and embeddings drift visibly from the CPU's; the "DEFAULT"
    // cuDNN algorithm search keeps results identical from run to run.
    const OrtApi& api = Ort::GetApi();
    OrtCUDAProviderOptionsV2* cuda = nullptr;
    Ort::ThrowOnError(api.CreateCUDAProviderOptions(&cuda));
    std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> guard(
        cuda, [](OrtCUDAProviderOptionsV2* p) { Ort::GetApi().ReleaseCUDAProviderOptions(p); });
    const char* keys[] = {"device_id", "use_tf32", "cudnn_conv_algo_search"};
    const char* values[] = {"0", "0", "DEFAULT"};
    Ort::ThrowOnError(api.UpdateCUDAProviderOptions(cuda, keys, values, 3));
    opts.AppendExecutionProvider_CUDA_V2(*cuda);
    provider = "cuda";
  }
  return opts;
}

std::vector<float> copy_tensor(const Ort::Value& v, const std::string& what) {
  auto info = v.GetTensorTypeAndShapeInfo();
  if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
    throw core::CoreError("MODEL_OUTPUT_INVALID", what + " is not float32");
  size_t n = info.GetElementCount();
  const float* p = v.GetTensorData<float>();
  return std::vector<float>(p, p + n);
}

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// ±Infinity logits (an fp16 export that saturates) still say "certainly inside/outside",
// but they cannot be used as they are: bilinear upscaling multiplies them by zero
// weights (0·Inf = NaN, so the mask gets holes), and a low-res pass fed back as the next
// pass's mask_input turns into NaN inside the decoder. They are replaced by a value far
// beyond any real logit (SAM's are within ±~50; sigmoid(±1e4) is exactly 1 or 0 in
// float) yet small enough that the decoder's own convolutions cannot overflow on it.
// NaN keeps no meaning and stays an error.
constexpr float kSaturatedLogit = 1e4f;

void saturate_logits(std::vector<float>& logits, const char* output) {
  for (float& v : logits) {
    if (std::isnan(v))
      throw core::CoreError("MODEL_OUTPUT_INVALID",
                            std::string("the decoder produced NaN in ") + output +
                                "; the model file is probably broken or was exported incorrectly");
    if (v > kSaturatedLogit)
      v = kSaturatedLogit;
    else if (v < -kSaturatedLogit)
      v = -kSaturatedLogit;
  }
}

// One ONNX Runtime Run that an aborted call can stop mid-graph: the task's cancel token
// (core/cancel.hpp) gets a hook that sets RunOptions' terminate flag while the Run is in
// progress, and a terminated Run is reported as ABORTED, not as an inference failure.
std::vector<Ort::Value> cancellable_run(Ort::Session& session, const char* const* in_names, const Ort::Value* inputs,
                                        std::size_t n_in, const char* const* out_names, std::size_t n_out,
                                        const char* what) {
  core::throw_if_cancelled();
  Ort::RunOptions options;
  core::CancelToken* token = core::current_cancel_token();
  std::optional<core::CancelToken::Hook> hook;
  if (token) hook = token->add_hook([&options] { options.SetTerminate(); });
  std::vector<Ort::Value> out;
  try {
    out = session.Run(options, in_names, inputs, n_in, out_names, n_out);
  } catch (const Ort::Exception& e) {
    if (hook) token->remove_hook(*hook);
    core::throw_if_cancelled();
    throw run_error(e, what);
  }
  if (hook) token->remove_hook(*hook);
  core::throw_if_cancelled();
  return out;
}

// ONNX Runtime reports a refused pthread_create (pids limit, ulimit -u) as a load error.
bool thread_creation_refused(const Ort::Exception& e) {
  const std::string what = e.what();
  return what.find("pthread_create failed") != std::string::npos ||
         what.find("Resource temporarily unavailable") != std::string::npos;
}

}  // namespace

OrtModel::OrtModel(const ModelSource& source, const SessionConfig& config) : label_(source.label) {
  Ort::Env& env = ort_env();
  // More intra-op threads than cores only adds contention; and each is a thread the OS
  // may refuse. A request above the core count is capped to it.
  SessionConfig cfg = config;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (cfg.intra_op_threads > cores) cfg.intra_op_threads = cores;
  if (source.path.empty() && source.bytes.empty())
    throw core::CoreError("MODEL_INVALID", label_ + " model buffer is empty");
  const std::string where =
      "the " + label_ + " model" + (source.path.empty() ? " (from a buffer)" : " '" + source.path + "'");
  auto create = [&](const SessionConfig& c) {
    Ort::SessionOptions opts = make_options(c, provider_);
    if (source.path.empty() && !source.external_data_folder.empty())
      opts.AddConfigEntry("session.model_external_initializers_file_folder_path", source.external_data_folder.c_str());
    if (!source.path.empty())
      session_ = std::make_unique<Ort::Session>(env, source.path.c_str(), opts);
    else
      session_ = std::make_unique<Ort::Session>(env, source.bytes.data(), source.bytes.size(), opts);
  };
  try {
    create(cfg);
  } catch (const Ort::Exception& e) {
    if (!thread_creation_refused(e)) throw load_error(e, where);
    // The OS refused a pool thread: retry with the calling thread alone (one intra-op
    // thread starts no pool), which always works if anything does.
    SessionConfig single = cfg;
    single.intra_op_threads = 1;
    try {
      create(single);
    } catch (const Ort::Exception& e2) {
      if (thread_creation_refused(e2))
        throw core::CoreError("INTERNAL",
                              where + " could not be loaded: the operating system refused to start a thread (" +
                                  std::string(e2.what()) + "); raise the process or container thread limit");
      throw load_error(e2, where);
    }
  }
  graph_ = inspect_session(*session_);
  class_ = classify(graph_);
}

SamEncoder::SamEncoder(const ModelSource& source, const SessionConfig& config) : OrtRunner(source, config) {
  const Classification& cls = model_.classification();
  const GraphInfo& graph = model_.graph();
  switch (cls.kind) {
    case ModelKind::SamEncoderImage:
    case ModelKind::SamEncoderPreprocessed:
      break;
    case ModelKind::SamDecoder:
      throw core::CoreError("MODEL_MISMATCH",
                            "the model given as the encoder is a SAM decoder (it takes image_embeddings "
                            "and prompts); pass it as the decoder");
    case ModelKind::Sam2Encoder:
    case ModelKind::Sam2Decoder:
      throw core::CoreError("MODEL_UNSUPPORTED", std::string("the encoder is a SAM 2 ") +
                                                     (cls.kind == ModelKind::Sam2Encoder ? "encoder" : "decoder") +
                                                     " (high_res_feats/image_embed); SAM 2 exports are not supported "
                                                     "yet — use a SAM v1 family export (SAM, MobileSAM, MedSAM)");
    default:
      throw core::CoreError("MODEL_UNSUPPORTED", "the encoder is not a SAM image encoder: " + cls.reason);
  }
  input_name_ = graph.inputs[0].name;
  output_name_ = graph.outputs.size() == 1 ? graph.outputs[0].name : "image_embeddings";
}

EncoderOutput SamEncoder::run(const float* input, int h, int w) const {
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<int64_t> shape;
  if (form() == ModelKind::SamEncoderImage)
    shape = {h, w, 3};
  else
    shape = {1, 3, 1024, 1024};
  size_t count = 1;
  for (auto d : shape) count *= static_cast<size_t>(d);
  // ORT does not write to inputs; the const_cast only satisfies the C API signature.
  Ort::Value in = Ort::Value::CreateTensor<float>(mem, const_cast<float*>(input), count, shape.data(), shape.size());
  const char* in_names[] = {input_name_.c_str()};
  const char* out_names[] = {output_name_.c_str()};
  std::vector<Ort::Value> out = cancellable_run(model_.session(), in_names, &in, 1, out_names, 1, "the encoder");
  auto got = out[0].GetTensorTypeAndShapeInfo().GetShape();
  if (got != std::vector<int64_t>{1, 256, 64, 64})
    throw core::CoreError("MODEL_OUTPUT_INVALID", "the encoder produced " + output_name_ + " of shape " +
                                                      shape_string(got) + ", expected [1,256,64,64]");
  EncoderOutput result;
  result.data = copy_tensor(out[0], "encoder output " + output_name_);
  for (float v : result.data)
    if (!std::isfinite(v))
      throw core::CoreError("NON_FINITE_EMBEDDING",
                            "the encoder produced NaN or infinite values in its embedding; the model file is probably "
                            "broken or was exported incorrectly");
  return result;
}

SamDecoder::SamDecoder(const ModelSource& source, const SessionConfig& config) : OrtRunner(source, config) {
  const Classification& cls = model_.classification();
  const GraphInfo& graph = model_.graph();
  switch (cls.kind) {
    case ModelKind::SamDecoder:
      break;
    case ModelKind::SamEncoderImage:
    case ModelKind::SamEncoderPreprocessed:
      throw core::CoreError("MODEL_MISMATCH", "the model given as the decoder is a SAM image encoder (input " +
                                                  graph.inputs[0].name + "); pass it as the encoder");
    case ModelKind::Sam2Encoder:
    case ModelKind::Sam2Decoder:
      throw core::CoreError("MODEL_UNSUPPORTED",
                            "the decoder is a SAM 2 graph (image_embed/high_res_feats); SAM 2 exports "
                            "are not supported yet — use a SAM v1 family decoder export");
    default:
      throw core::CoreError("MODEL_UNSUPPORTED", "the decoder is not a SAM v1 prompt decoder: " + cls.reason);
  }
  mask_outputs_ = cls.mask_outputs;
}

DecoderResult SamDecoder::run(const Embedding& target, const DecoderPrompt& p, bool want_full_masks) const {
  const float* embedding = target.data.data();
  const int64_t n = static_cast<int64_t>(p.labels.size());
  if (n == 0 || p.coords.size() != static_cast<size_t>(n) * 2)
    throw core::invalid_argument("decoder prompt needs N>0 points with N×2 coordinates");
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  static const std::vector<float> zero_mask(256 * 256, 0.0f);
  float has_mask = p.mask_input ? 1.0f : 0.0f;
  float orig[2] = {static_cast<float>(p.orig_h), static_cast<float>(p.orig_w)};
  const int64_t emb_shape[] = {1, 256, 64, 64};
  const int64_t coord_shape[] = {1, n, 2};
  const int64_t label_shape[] = {1, n};
  const int64_t mask_shape[] = {1, 1, 256, 256};
  const int64_t one_shape[] = {1};
  const int64_t orig_shape[] = {2};
  std::vector<Ort::Value> inputs;
  inputs.reserve(6);
  inputs.push_back(Ort::Value::CreateTensor<float>(mem, const_cast<float*>(embedding), 256 * 64 * 64, emb_shape, 4));
  inputs.push_back(
      Ort::Value::CreateTensor<float>(mem, const_cast<float*>(p.coords.data()), p.coords.size(), coord_shape, 3));
  inputs.push_back(
      Ort::Value::CreateTensor<float>(mem, const_cast<float*>(p.labels.data()), p.labels.size(), label_shape, 2));
  inputs.push_back(Ort::Value::CreateTensor<float>(
      mem, const_cast<float*>(p.mask_input ? p.mask_input : zero_mask.data()), 256 * 256, mask_shape, 4));
  inputs.push_back(Ort::Value::CreateTensor<float>(mem, &has_mask, 1, one_shape, 1));
  inputs.push_back(Ort::Value::CreateTensor<float>(mem, orig, 2, orig_shape, 1));
  const char* in_names[] = {"image_embeddings", "point_coords",   "point_labels",
                            "mask_input",       "has_mask_input", "orig_im_size"};
  if (want_full_masks && !classification().has_full_masks)
    throw core::CoreError("MODEL_UNSUPPORTED", "this decoder export has no `masks` output (full-resolution logits)");
  std::vector<const char*> out_names = {"iou_predictions", "low_res_masks"};
  if (want_full_masks) out_names.push_back("masks");
  std::vector<Ort::Value> out = cancellable_run(model_.session(), in_names, inputs.data(), inputs.size(),
                                                out_names.data(), out_names.size(), "the decoder");
  DecoderResult r;
  auto iou_shape = out[0].GetTensorTypeAndShapeInfo().GetShape();
  auto low_shape = out[1].GetTensorTypeAndShapeInfo().GetShape();
  if (iou_shape.size() != 2 || iou_shape[0] != 1 || (iou_shape[1] != 1 && iou_shape[1] != 4))
    throw core::CoreError("MODEL_OUTPUT_INVALID",
                          "decoder iou_predictions has shape " + shape_string(iou_shape) + ", expected [1,4] or [1,1]");
  r.channels = static_cast<int>(iou_shape[1]);
  if (low_shape != std::vector<int64_t>{1, r.channels, 256, 256})
    throw core::CoreError("MODEL_OUTPUT_INVALID", "decoder low_res_masks has shape " + shape_string(low_shape) +
                                                      ", expected [1," + std::to_string(r.channels) + ",256,256]");
  mask_outputs_ = r.channels;
  r.iou = copy_tensor(out[0], "decoder iou_predictions");
  r.low_res = copy_tensor(out[1], "decoder low_res_masks");
  if (want_full_masks) {
    auto ms = out[2].GetTensorTypeAndShapeInfo().GetShape();
    if (ms != std::vector<int64_t>{1, r.channels, p.orig_h, p.orig_w})
      throw core::CoreError("MODEL_OUTPUT_INVALID", "decoder masks has shape " + shape_string(ms) + ", expected [1," +
                                                        std::to_string(r.channels) + "," + std::to_string(p.orig_h) +
                                                        "," + std::to_string(p.orig_w) + "]");
    r.masks = copy_tensor(out[2], "decoder masks");
  }
  for (float v : r.iou)
    if (!std::isfinite(v)) throw core::CoreError("MODEL_OUTPUT_INVALID", "decoder iou_predictions contains NaN/Inf");
  // NaN logits would threshold to an empty mask and pass as "nothing found"; a broken
  // export must be an error instead.
  saturate_logits(r.low_res, "low_res_masks");
  saturate_logits(r.masks, "masks");
  return r;
}

}  // namespace p2sam::runtime
