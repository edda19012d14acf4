{
  "targets": [
    {
      "target_name": "peercred",
      "sources": ["native/peercred.c", "native/sockfd.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
