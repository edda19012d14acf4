/* SO_PEERCRED for Node: the kernel's record of who is on the other end of a connected unix
 * socket (pid, uid, gid at connect time). Node has no API for it; the control socket and the
 * local enqueue socket decide privileges by it, never by what a client claims. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, err == EBADF ? "EBADF" : "ERR_PEERCRED", msg);
  return NULL;
}

static napi_value set_int(napi_env env, napi_value obj, const char *key, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  napi_set_named_property(env, obj, key, n);
  return obj;
}

/* peerCredentials(fd: number): { pid, uid, gid } */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "peerCredentials: a file descriptor is required");
    return NULL;
  }
  /* Only a unix socket has a peer the kernel vouches for (TCP answers with made-up values). */
  struct sockaddr_storage addr;
  socklen_t alen = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) return throw_errno(env, "getsockname", errno);
  if (addr.ss_family != AF_UNIX) {
    napi_throw_error(env, "ERR_NOT_UNIX", "peerCredentials: not a unix socket");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  if (len != sizeof cred) return throw_errno(env, "getsockopt(SO_PEERCRED)", EINVAL);
  napi_value out;
  napi_create_object(env, &out);
  set_int(env, out, "pid", cred.pid);
  set_int(env, out, "uid", cred.uid);
  set_int(env, out, "gid", cred.gid);
  return out;
}

void sockfd_init(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  sockfd_init(env, exports);
  napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &fn);
  napi_set_named_property(env, exports, "peerCredentials", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
