{
  # The CPU variant of the addon for node-gyp tool-chains (@electron/rebuild, prebuild).
  # Same sources as CMakeLists.txt minus the CUDA kernels. Requires the ONNX Runtime
  # headers in deps/onnxruntime/include (scripts/fetch-ort-headers.sh).
  "targets": [
    {
      "target_name": "p2sam",
      "sources": ["<!@(node scripts/gyp-sources.js)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "deps/onnxruntime/include",
        "native",
        "native/core",
        "native/cuda"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "ORT_API_MANUAL_INIT"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O3", "-fno-math-errno", "-march=x86-64-v2", "-fvisibility=hidden"],
      "libraries": ["<!(node scripts/ort-paths.js lib)", "-Wl,-rpath,'$$ORIGIN'", "-pthread"],
      "copies": [
        {
          "destination": "<(PRODUCT_DIR)",
          "files": ["<!(node scripts/ort-paths.js lib)"]
        }
      ]
    }
  ]
}
