/*
 * bootrack-probe — the two things the discovery OS needs that busybox cannot do. Built static
 * (gcc -static -Os) so it runs in the initramfs with no loader; see native/build.sh.
 *
 *   bootrack-probe lldp <iface> <seconds>
 *       Listens on <iface> for LLDP (IEEE 802.1AB, ethertype 0x88cc) for <seconds> (1..600) and
 *       prints each distinct LLDPDU received (the bytes after the Ethernet header, padding
 *       included) as lowercase hex, one per line, as it arrives. Decoding is the appliance's job
 *       (src/protocol/lldp). Exit 0 when the window ends, whether or not a frame was seen.
 *   bootrack-probe bmc-lan [channel]
 *       Asks the local BMC through /dev/ipmi0 (ipmi_si + ipmi_devintf) for its LAN configuration
 *       (IPMI v2.0 §23.2 Get LAN Configuration Parameters, NetFn 0x0c cmd 0x02: parameter 3 IP
 *       address, parameter 5 MAC address) and prints "channel=N", "ip=A.B.C.D", "mac=aa:..".
 *       Without a channel, the first 802.3 LAN channel found by Get Channel Info (App 0x06 cmd
 *       0x42, §22.24) among 1..11 is used (vendors number it 1, 2, 3 or 8).
 *
 * Exit codes: 0 ok; 2 usage; 3 the interface or /dev/ipmi0 does not exist; 4 a system call failed;
 * 5 the BMC did not answer in time; 6 the BMC answered with an error or has no LAN channel.
 * Every wait is bounded (poll with a deadline on CLOCK_MONOTONIC); messages go to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ipmi.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_MISSING 3
#define EXIT_SYSCALL 4
#define EXIT_TIMEOUT 5
#define EXIT_BMC 6

#define ETH_P_LLDP_ 0x88cc
#define MAX_FRAME 1600
#define MAX_DISTINCT 64

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_int(const char *s, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

/* ---- lldp ---------------------------------------------------------------------------------- */

struct seen {
  size_t len;
  unsigned char data[MAX_FRAME];
};

static int cmd_lldp(const char *iface, const char *secs) {
  long seconds;
  if (parse_int(secs, 1, 600, &seconds)) {
    fprintf(stderr, "bootrack-probe lldp: seconds must be 1..600, got '%s'\n", secs);
    return EXIT_USAGE;
  }
  unsigned int ifindex = if_nametoindex(iface);
  if (ifindex == 0) {
    fprintf(stderr, "bootrack-probe lldp: no interface '%s'\n", iface);
    return EXIT_MISSING;
  }
  /* SOCK_DGRAM: the kernel strips the link-layer header (and a VLAN tag), so a read is the LLDPDU. */
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_LLDP_));
  if (fd < 0) {
    fprintf(stderr, "bootrack-probe lldp: socket(AF_PACKET): %s\n", strerror(errno));
    return EXIT_SYSCALL;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_LLDP_);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    fprintf(stderr, "bootrack-probe lldp: bind %s: %s\n", iface, strerror(errno));
    close(fd);
    return EXIT_SYSCALL;
  }
  /* The three LLDP group addresses (802.1AB-2016 §7.1): nearest bridge, non-TPMR bridge, customer
   * bridge. A NIC with a multicast filter (virtio-net, most real ones) drops them unless joined. */
  static const unsigned char groups[3][6] = {
    {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}, {0x01, 0x80, 0xc2, 0x00, 0x00, 0x03}, {0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}};
  for (int i = 0; i < 3; i++) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = (int)ifindex;
    mr.mr_type = PACKET_MR_MULTICAST;
    mr.mr_alen = 6;
    memcpy(mr.mr_address, groups[i], 6);
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
      fprintf(stderr, "bootrack-probe lldp: joining %02x:..:%02x on %s: %s (continuing)\n", groups[i][0], groups[i][5], iface, strerror(errno));
  }
  static struct seen seen[MAX_DISTINCT];
  int nseen = 0;
  unsigned char buf[MAX_FRAME];
  long long deadline = now_ms() + seconds * 1000;
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)left);
    if (r < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "bootrack-probe lldp: poll: %s\n", strerror(errno));
      close(fd);
      return EXIT_SYSCALL;
    }
    if (r == 0) break;
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fprintf(stderr, "bootrack-probe lldp: recv: %s\n", strerror(errno));
      close(fd);
      return EXIT_SYSCALL;
    }
    if (from.sll_pkttype == PACKET_OUTGOING) continue; /* our own transmissions, if any */
    if ((size_t)n > sizeof buf) {
      fprintf(stderr, "bootrack-probe lldp: skipped a %zd-byte frame (over %d)\n", n, MAX_FRAME);
      continue;
    }
    int dup = 0;
    for (int i = 0; i < nseen && !dup; i++) dup = seen[i].len == (size_t)n && memcmp(seen[i].data, buf, (size_t)n) == 0;
    if (dup) continue;
    if (nseen == MAX_DISTINCT) {
      fprintf(stderr, "bootrack-probe lldp: more than %d distinct LLDPDUs; ignoring the rest\n", MAX_DISTINCT);
      break;
    }
    seen[nseen].len = (size_t)n;
    memcpy(seen[nseen].data, buf, (size_t)n);
    nseen++;
    for (ssize_t i = 0; i < n; i++) printf("%02x", buf[i]);
    putchar('\n');
    fflush(stdout);
  }
  close(fd);
  return 0;
}

/* ---- bmc-lan ------------------------------------------------------------------------------- */

#define IPMI_TIMEOUT_MS 5000
#define IPMI_TOTAL_MS 20000

static long msgid_counter = 1;
static long long ipmi_deadline;

/* One request to the BMC over the system interface; the response data (completion code first) in
 * out. Returns 0, or an exit code after printing why. */
static int ipmi_call(int fd, unsigned char netfn, unsigned char cmd, unsigned char *data, unsigned short len, unsigned char *out, unsigned short *outlen) {
  struct ipmi_system_interface_addr bmc;
  memset(&bmc, 0, sizeof bmc);
  bmc.addr_type = IPMI_SYSTEM_INTERFACE_ADDR_TYPE;
  bmc.channel = IPMI_BMC_CHANNEL;
  bmc.lun = 0;
  struct ipmi_req req;
  memset(&req, 0, sizeof req);
  req.addr = (unsigned char *)&bmc;
  req.addr_len = sizeof bmc;
  req.msgid = msgid_counter++;
  req.msg.netfn = netfn;
  req.msg.cmd = cmd;
  req.msg.data = data;
  req.msg.data_len = len;
  if (ioctl(fd, IPMICTL_SEND_COMMAND, &req) < 0) {
    fprintf(stderr, "bootrack-probe bmc-lan: IPMICTL_SEND_COMMAND netfn 0x%02x cmd 0x%02x: %s\n", netfn, cmd, strerror(errno));
    return EXIT_SYSCALL;
  }
  long long until = now_ms() + IPMI_TIMEOUT_MS;
  if (until > ipmi_deadline) until = ipmi_deadline;
  for (;;) {
    long long left = until - now_ms();
    if (left <= 0) {
      fprintf(stderr, "bootrack-probe bmc-lan: no answer to netfn 0x%02x cmd 0x%02x in time\n", netfn, cmd);
      return EXIT_TIMEOUT;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      fprintf(stderr, "bootrack-probe bmc-lan: poll: %s\n", strerror(errno));
      return EXIT_SYSCALL;
    }
    if (r == 0) continue;
    struct ipmi_addr from;
    struct ipmi_recv rcv;
    memset(&rcv, 0, sizeof rcv);
    rcv.addr = (unsigned char *)&from;
    rcv.addr_len = sizeof from;
    rcv.msg.data = out;
    rcv.msg.data_len = *outlen;
    if (ioctl(fd, IPMICTL_RECEIVE_MSG_TRUNC, &rcv) < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      fprintf(stderr, "bootrack-probe bmc-lan: IPMICTL_RECEIVE_MSG_TRUNC: %s\n", strerror(errno));
      return EXIT_SYSCALL;
    }
    /* Skip anything that is not the answer to this request (events, a late answer to an earlier one). */
    if (rcv.recv_type != IPMI_RESPONSE_RECV_TYPE || rcv.msgid != req.msgid) continue;
    if (rcv.msg.data_len < 1) {
      fprintf(stderr, "bootrack-probe bmc-lan: empty response to netfn 0x%02x cmd 0x%02x\n", netfn, cmd);
      return EXIT_BMC;
    }
    *outlen = rcv.msg.data_len;
    return 0;
  }
}

/* Get LAN Configuration Parameters: out gets the parameter data (after completion code and revision). */
static int lan_param(int fd, unsigned char channel, unsigned char param, unsigned char *val, unsigned short want) {
  unsigned char rq[4] = {channel, param, 0, 0};
  unsigned char rs[64];
  unsigned short n = sizeof rs;
  int rc = ipmi_call(fd, 0x0c, 0x02, rq, sizeof rq, rs, &n);
  if (rc) return rc;
  if (rs[0] != 0) {
    fprintf(stderr, "bootrack-probe bmc-lan: Get LAN Configuration Parameters channel %u param %u: completion code 0x%02x\n", channel, param, rs[0]);
    return EXIT_BMC;
  }
  if (n < 2 + want) {
    fprintf(stderr, "bootrack-probe bmc-lan: channel %u param %u: %u-byte answer, want %u\n", channel, param, n, 2 + want);
    return EXIT_BMC;
  }
  memcpy(val, rs + 2, want);
  return 0;
}

/* The channels to ask, in order: those whose medium type is 802.3 LAN (0x04) per Get Channel Info;
 * if the BMC answers that command for none of 1..11 (some do not implement it), all of 1..11. */
static int lan_channels(int fd, unsigned char *list, int *count) {
  int answered = 0;
  *count = 0;
  for (unsigned char ch = 1; ch <= 11; ch++) {
    unsigned char rq[1] = {ch};
    unsigned char rs[16];
    unsigned short n = sizeof rs;
    int rc = ipmi_call(fd, 0x06, 0x42, rq, 1, rs, &n);
    if (rc == EXIT_TIMEOUT || rc == EXIT_SYSCALL) return rc;
    if (rc == 0 && rs[0] == 0 && n >= 3) {
      answered = 1;
      if ((rs[2] & 0x7f) == 0x04) list[(*count)++] = ch;
    }
  }
  if (*count == 0 && !answered) {
    fprintf(stderr, "bootrack-probe bmc-lan: Get Channel Info unanswered; trying channels 1..11\n");
    for (unsigned char ch = 1; ch <= 11; ch++) list[(*count)++] = ch;
  }
  if (*count == 0) {
    fprintf(stderr, "bootrack-probe bmc-lan: no 802.3 LAN channel among 1..11 (Get Channel Info)\n");
    return EXIT_BMC;
  }
  return 0;
}

static int cmd_bmc_lan(const char *chan) {
  unsigned char channel = 0;
  if (chan) {
    long v;
    if (parse_int(chan, 0, 15, &v)) {
      fprintf(stderr, "bootrack-probe bmc-lan: channel must be 0..15, got '%s'\n", chan);
      return EXIT_USAGE;
    }
    channel = (unsigned char)v;
  }
  int fd = open("/dev/ipmi0", O_RDWR | O_CLOEXEC);
  if (fd < 0) fd = open("/dev/ipmi/0", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "bootrack-probe bmc-lan: /dev/ipmi0: %s (needs ipmi_si and ipmi_devintf)\n", strerror(errno));
    return errno == ENOENT || errno == ENXIO || errno == ENODEV ? EXIT_MISSING : EXIT_SYSCALL;
  }
  ipmi_deadline = now_ms() + IPMI_TOTAL_MS;
  unsigned char list[16];
  int count = 1, rc = 0;
  list[0] = channel;
  if (!chan) rc = lan_channels(fd, list, &count);
  unsigned char ip[4], mac[6];
  if (!rc) {
    for (int i = 0; i < count; i++) {
      channel = list[i];
      rc = lan_param(fd, channel, 3, ip, 4);
      if (rc != EXIT_BMC) break; /* an answer, or a timeout the next channel would only repeat */
    }
  }
  if (!rc) {
    printf("channel=%u\nip=%u.%u.%u.%u\n", channel, ip[0], ip[1], ip[2], ip[3]);
    /* The MAC is optional: a BMC sharing the host NIC may refuse it. */
    if (lan_param(fd, channel, 5, mac, 6) == 0)
      printf("mac=%02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  }
  close(fd);
  return rc;
}

static int usage(void) {
  fprintf(stderr, "usage: bootrack-probe lldp <iface> <seconds>\n       bootrack-probe bmc-lan [channel]\n");
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "lldp") == 0) return cmd_lldp(argv[2], argv[3]);
  if ((argc == 2 || argc == 3) && strcmp(argv[1], "bmc-lan") == 0) return cmd_bmc_lan(argc == 3 ? argv[2] : NULL);
  return usage();
}
