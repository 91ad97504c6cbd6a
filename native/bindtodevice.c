/*
 * bindtodevice: the one thing Node's dgram cannot do for a DHCP server — SO_BINDTODEVICE (socket(7)).
 * A UDP socket bound to 0.0.0.0:67 hears broadcasts from every interface, and a broadcast it sends
 * leaves by the default route. With SO_BINDTODEVICE the kernel delivers to it only datagrams that
 * arrived on the named interface and routes its sends out of that interface.
 *
 * N-API (ABI-stable), no dependencies. Build: npm run build:native (see native/build.sh).
 */
#include <errno.h>
#include <net/if.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"bindToDevice", NULL, bind_to_device, NULL, NULL, NULL, napi_enumerable, NULL},
    {"boundDevice", NULL, bound_device, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
