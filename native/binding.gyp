{
  "targets": [
    {
      "target_name": "sipfarm",
      "sources": [
        "src/addon.c",
        "src/udp.c",
        "src/scanner.c",
        "src/classifier.c",
        "src/hash.c",
        "src/tokens.c",
        "src/envelope.c",
        "src/l2.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
