{
  # The CPU variant of the addon for node-gyp tool-chains (@electron/rebuild, prebuild).
  # Same sources as CMakeLists.txt minus the CUDA kernels. Requires the ONNX Runtime
  # headers in deps/onnxruntime/include (scripts/fetch-ort-headers.sh). Flags and
  # defines come from native/build-flags.json, shared with CMakeLists.txt.
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
      "defines": ["<!@(node scripts/build-flags.js defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "<!@(node scripts/build-flags.js cflags)"],
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
