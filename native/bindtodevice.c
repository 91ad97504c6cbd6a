/*
 * bindtodevice: what Node's dgram cannot do for a DHCP server.
 * - SO_BINDTODEVICE (socket(7)). A UDP socket bound to 0.0.0.0:67 hears broadcasts from every
 *   interface, and a broadcast it sends leaves by the default route. With SO_BINDTODEVICE the kernel
 *   delivers to it only datagrams that arrived on the named interface and routes its sends out of it.
 * - Batched sends (sendmmsg(2)): one system call for the replies of a batch. dgram's send costs a
 *   system call plus about 2 us of JavaScript per datagram; under a boot storm that was a tenth of
 *   the DHCP loop.
 *
 * N-API (ABI-stable), no dependencies. Build: npm run build:native (see native/build.sh).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_BINDTODEVICE", msg);
  return NULL;
}

/* bindToDevice(fd: number, ifname: string): void */
static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) {
    napi_throw_type_error(env, NULL, "bindToDevice(fd, ifname) takes two arguments");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "fd must be a non-negative integer");
    return NULL;
  }
  char ifname[IFNAMSIZ + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], ifname, sizeof ifname, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "ifname must be a non-empty interface name shorter than IFNAMSIZ");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)len) != 0) return throw_errno(env, "setsockopt(SO_BINDTODEVICE)", errno);
  return NULL;
}

/* boundDevice(fd: number): string — reads SO_BINDTODEVICE back, so callers can prove it took effect. */
static napi_value bound_device(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "boundDevice(fd) takes one integer");
    return NULL;
  }
  char ifname[IFNAMSIZ + 1] = {0};
  socklen_t len = IFNAMSIZ;
  if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, &len) != 0) return throw_errno(env, "getsockopt(SO_BINDTODEVICE)", errno);
  napi_value out;
  napi_create_string_utf8(env, ifname, strnlen(ifname, IFNAMSIZ), &out);
  return out;
}

#define SEND_BATCH_MAX 64

static int array_element(napi_env env, napi_value array, uint32_t i, napi_value *out) {
  return napi_get_element(env, array, i, out) == napi_ok;
}

/*
 * sendBatch(fd, buffers: Buffer[], ips: number[], ports: number[], start: number): number
 * Sends buffers[start..] to ips[i]:ports[i] (IPv4 as an unsigned 32-bit number, host order) with
 * sendmmsg, on the caller's non-blocking socket. Returns how many the kernel took, counting from
 * `start` (all of them unless one failed), or -errno when the first one failed (-EAGAIN: the send
 * queue is full, nothing was sent).
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fd, start;
  uint32_t count = 0, ips_len = 0, ports_len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_array_length(env, argv[1], &count) != napi_ok || napi_get_array_length(env, argv[2], &ips_len) != napi_ok ||
      napi_get_array_length(env, argv[3], &ports_len) != napi_ok || napi_get_value_int32(env, argv[4], &start) != napi_ok ||
      ips_len != count || ports_len != count || start < 0 || (uint32_t)start > count || fd < 0) {
    napi_throw_type_error(env, NULL, "sendBatch(fd, buffers, ips, ports, start): arrays of one length and a start within them");
    return NULL;
  }
  struct mmsghdr msgs[SEND_BATCH_MAX];
  struct iovec iovs[SEND_BATCH_MAX];
  struct sockaddr_in addrs[SEND_BATCH_MAX];
  uint32_t sent = 0;
  int first_error = 0;
  for (uint32_t at = (uint32_t)start; at < count && first_error == 0;) {
    unsigned n = 0;
    for (; n < SEND_BATCH_MAX && at + n < count; n++) {
      napi_value buffer, ip, port;
      void *data;
      size_t length;
      uint32_t ip_value, port_value;
      if (!array_element(env, argv[1], at + n, &buffer) || napi_get_buffer_info(env, buffer, &data, &length) != napi_ok ||
          !array_element(env, argv[2], at + n, &ip) || napi_get_value_uint32(env, ip, &ip_value) != napi_ok ||
          !array_element(env, argv[3], at + n, &port) || napi_get_value_uint32(env, port, &port_value) != napi_ok || port_value > 65535) {
        napi_throw_type_error(env, NULL, "sendBatch: every entry needs a Buffer, an IPv4 number and a port");
        return NULL;
      }
      memset(&addrs[n], 0, sizeof addrs[n]);
      addrs[n].sin_family = AF_INET;
      addrs[n].sin_port = htons((uint16_t)port_value);
      addrs[n].sin_addr.s_addr = htonl(ip_value);
      iovs[n].iov_base = data;
      iovs[n].iov_len = length;
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &addrs[n];
      msgs[n].msg_hdr.msg_namelen = sizeof addrs[n];
      msgs[n].msg_hdr.msg_iov = &iovs[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
    }
    int r;
    do r = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0) first_error = errno;
    else {
      sent += (uint32_t)r;
      at += (uint32_t)r;
      if ((unsigned)r < n) break; /* the next one failed; the caller retries it and hears why */
    }
  }
  napi_value out;
  napi_create_int32(env, sent > 0 || first_error == 0 ? (int32_t)sent : -first_error, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"bindToDevice", NULL, bind_to_device, NULL, NULL, NULL, napi_enumerable, NULL},
    {"boundDevice", NULL, bound_device, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 3, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
