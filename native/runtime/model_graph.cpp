#include "model_graph.hpp"

namespace p2sam::runtime {

namespace {

std::string type_name(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
      return "bfloat16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
      return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return "bool";
    default:
      return "other(" + std::to_string(static_cast<int>(t)) + ")";
  }
}

TensorInfo tensor_info(const std::string& name, const Ort::TypeInfo& info) {
  TensorInfo t;
  t.name = name;
  if (info.GetONNXType() != ONNX_TYPE_TENSOR) {
    t.type = "non-tensor";
    return t;
  }
  auto shape = info.GetTensorTypeAndShapeInfo();
  t.type = type_name(shape.GetElementType());
  t.dims = shape.GetShape();
  return t;
}

}  // namespace

GraphInfo inspect_session(Ort::Session& session) {
  GraphInfo g;
  Ort::AllocatorWithDefaultOptions alloc;
  for (size_t i = 0; i < session.GetInputCount(); ++i) {
    auto name = session.GetInputNameAllocated(i, alloc);
    g.inputs.push_back(tensor_info(name.get(), session.GetInputTypeInfo(i)));
  }
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    auto name = session.GetOutputNameAllocated(i, alloc);
    g.outputs.push_back(tensor_info(name.get(), session.GetOutputTypeInfo(i)));
  }
  auto meta = session.GetModelMetadata();
  g.producer = meta.GetProducerNameAllocated(alloc).get();
  g.graph_name = meta.GetGraphNameAllocated(alloc).get();
  g.model_version = meta.GetVersion();
  return g;
}

}  // namespace p2sam::runtime
