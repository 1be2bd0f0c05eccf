{
  "targets": [
    {
      "target_name": "fdlab",
      "sources": [
        "native/errors.cc",
        "native/fdpass.cc",
        "native/flock.cc",
        "native/inspect.cc",
        "native/listen.cc",
        "native/poller.cc",
        "native/supervise.cc",
        "native/tcp-repair.cc",
        "native/tcp-state.cc",
        "native/module.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "configurations": {
        "Debug": {
          "cflags_cc": ["-g3", "-O0"]
        }
      }
    }
  ]
}
