/* Listening sockets handed to us as bare descriptors (systemd's LISTEN_FDS, the privileged
 * process's fds 4..): what each one is (getsockname, SO_TYPE, SO_ACCEPTCONN) without listening
 * on it, and its close-on-exec flag (Node has no fcntl); and sd_notify's datagram. Used by the
 * daemon under systemd. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

static napi_value fd_error(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : "ERR_SOCKFD", msg);
  return NULL;
}

static int fd_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "a file descriptor is required");
    return -1;
  }
  return fd;
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

static void set_num(napi_env env, napi_value obj, const char *key, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  napi_set_named_property(env, obj, key, v);
}

static void set_bool(napi_env env, napi_value obj, const char *key, int b) {
  napi_value v;
  napi_get_boolean(env, b != 0, &v);
  napi_set_named_property(env, obj, key, v);
}

/* socketInfo(fd): { family: 4 | 6 | 0, address, port, stream, listening }; family 0 for any
 * other kind of socket (unix, netlink: address ""). Throws ENOTSOCK / EBADF. */
static napi_value socket_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd = fd_arg(env, info, 1, argv);
  if (fd < 0) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return fd_error(env, "getsockname", errno);
  int type = 0, acc = 0;
  socklen_t olen = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0) return fd_error(env, "getsockopt(SO_TYPE)", errno);
  olen = sizeof acc;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &olen) != 0) return fd_error(env, "getsockopt(SO_ACCEPTCONN)", errno);
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = "";
  int family = 0, port = 0;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    family = 4;
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, INET6_ADDRSTRLEN);
    /* A link-local address is written with its interface, as the configuration writes it. */
    char ifname[IF_NAMESIZE];
    if (in6->sin6_scope_id != 0 && if_indextoname(in6->sin6_scope_id, ifname) != NULL) {
      strncat(text, "%", sizeof text - strlen(text) - 1);
      strncat(text, ifname, sizeof text - strlen(text) - 1);
    }
    family = 6;
    port = ntohs(in6->sin6_port);
  }
  napi_value out;
  napi_create_object(env, &out);
  set_num(env, out, "family", family);
  set_str(env, out, "address", text);
  set_num(env, out, "port", port);
  set_bool(env, out, "stream", type == SOCK_STREAM);
  set_bool(env, out, "listening", acc);
  return out;
}

/* setCloexec(fd, on): sets or clears FD_CLOEXEC; returns whether it was set before. */
static napi_value set_cloexec(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd = fd_arg(env, info, 2, argv);
  if (fd < 0) return NULL;
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return fd_error(env, "fcntl(F_GETFD)", errno);
  int want = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (want != flags && fcntl(fd, F_SETFD, want) != 0) return fd_error(env, "fcntl(F_SETFD)", errno);
  napi_value was;
  napi_get_boolean(env, (flags & FD_CLOEXEC) != 0, &was);
  return was;
}

/* notifyDatagram(path, message): one datagram to the unix socket `path` ("@name": the abstract
 * namespace), as sd_notify(3) sends it to $NOTIFY_SOCKET. Node has no unix datagram sockets. */
static napi_value notify_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  size_t plen = 0;
  char msg[1024];
  size_t mlen = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], sun.sun_path, sizeof sun.sun_path, &plen) != napi_ok || plen == 0 ||
      plen >= sizeof sun.sun_path - 1 || napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &mlen) != napi_ok || mlen >= sizeof msg - 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "notifyDatagram: a socket path and a message (under 1 KiB) are required");
    return NULL;
  }
  if (sun.sun_path[0] == '@') sun.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fd_error(env, "socket", errno);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
  ssize_t n = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
  int err = errno;
  close(fd);
  if (n < 0) return fd_error(env, "sendto", err);
  return NULL;
}

void sockfd_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "socketInfo", NAPI_AUTO_LENGTH, socket_info, NULL, &fn);
  napi_set_named_property(env, exports, "socketInfo", fn);
  napi_create_function(env, "setCloexec", NAPI_AUTO_LENGTH, set_cloexec, NULL, &fn);
  napi_set_named_property(env, exports, "setCloexec", fn);
  napi_create_function(env, "notifyDatagram", NAPI_AUTO_LENGTH, notify_datagram, NULL, &fn);
  napi_set_named_property(env, exports, "notifyDatagram", fn);
}
