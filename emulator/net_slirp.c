/* User-mode networking through libslirp, as QEMU's `-nic user`: the guest
 * sits on 10.0.2.0/24 behind a NAT at 10.0.2.2 (which also reaches the
 * host's loopback), DNS at 10.0.2.3, DHCP hands out 10.0.2.15 onwards, and
 * hostfwd rules forward host ports into the guest.
 *
 * slirp runs on host time (its timers, its sockets); what it sends the
 * guest is queued here and delivered by host_input.c at an instruction
 * boundary, where recording logs it. Replay never creates a NetBackend. */
#include "devices.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RX_QUEUE_MAX 1024   /* frames waiting for guest buffers */

typedef struct SlirpTimer {
    SlirpTimerCb cb;        /* timer_new style, or NULL */
    SlirpTimerId id;        /* timer_new_opaque style */
    void *cb_opaque;
    int64_t expire_ms;      /* -1 when not armed */
} SlirpTimer;

struct NetBackend {
    Slirp *slirp;
    GQueue rx;              /* GBytes frames for the guest */
    GPtrArray *timers;
    GArray *pollfds;        /* struct pollfd, rebuilt for every poll */
    uint64_t rx_dropped;
};

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    NetBackend *nb = opaque;
    if (g_queue_get_length(&nb->rx) >= RX_QUEUE_MAX) {
        nb->rx_dropped++;   /* the guest posts no buffers: TCP will resend */
        return (ssize_t)len;
    }
    g_queue_push_tail(&nb->rx, g_bytes_new(buf, len));
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "rewind: slirp: %s\n", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return host_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    NetBackend *nb = opaque;
    SlirpTimer *t = g_new0(SlirpTimer, 1);
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->expire_ms = -1;
    g_ptr_array_add(nb->timers, t);
    return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    SlirpTimer *t = cb_timer_new(NULL, cb_opaque, opaque);
    t->id = id;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    NetBackend *nb = opaque;
    g_ptr_array_remove_fast(nb->timers, timer);
    g_free(timer);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    ((SlirpTimer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;
}

static void cb_notify(void *opaque)
{
    (void)opaque;
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" (QEMU's hostfwd). */
static bool add_hostfwd(NetBackend *nb, const char *rule, char *err, size_t errlen)
{
    char proto[8] = "tcp", haddr[128] = "", gaddr[128] = "";
    const char *p = rule;
    const char *colon = strchr(p, ':');
    const char *dash = strchr(p, '-');
    if (colon && (!dash || colon < dash) && (colon - p == 3)) {
        memcpy(proto, p, 3);
        proto[3] = 0;
        p = colon + 1;
    }
    bool udp = !strcmp(proto, "udp");
    if (!udp && strcmp(proto, "tcp"))
        goto bad;
    dash = strchr(p, '-');
    if (!dash)
        goto bad;
    char host[128], guest[128];
    snprintf(host, sizeof host, "%.*s", (int)(dash - p), p);
    snprintf(guest, sizeof guest, "%s", dash + 1);
    char *hc = strrchr(host, ':'), *gc = strrchr(guest, ':');
    if (!hc || !gc)
        goto bad;
    *hc = 0;
    *gc = 0;
    snprintf(haddr, sizeof haddr, "%s", host);
    snprintf(gaddr, sizeof gaddr, "%s", guest);
    char *end;
    long hport = strtol(hc + 1, &end, 10);
    if (*end || hport < 0 || hport > 65535)
        goto bad;
    long gport = strtol(gc + 1, &end, 10);
    if (*end || gport < 1 || gport > 65535)
        goto bad;
    struct in_addr ha = { .s_addr = INADDR_ANY }, ga;
    if (haddr[0] && !inet_aton(haddr, &ha))
        goto bad;
    if (!inet_aton(gaddr[0] ? gaddr : "10.0.2.15", &ga))
        goto bad;
    if (slirp_add_hostfwd(nb->slirp, udp, ha, (int)hport, ga, (int)gport) < 0) {
        snprintf(err, errlen, "-nic user,hostfwd=%s: cannot listen on %s:%ld: %s", rule,
                 haddr[0] ? haddr : "*", hport, strerror(errno));
        return false;
    }
    return true;
bad:
    snprintf(err, errlen,
             "-nic user,hostfwd=%s: expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
             rule);
    return false;
}

NetBackend *net_slirp_new(const char *const *hostfwd, int nhostfwd, char *err, size_t errlen)
{
    NetBackend *nb = g_new0(NetBackend, 1);
    g_queue_init(&nb->rx);
    nb->timers = g_ptr_array_new();
    nb->pollfds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
    SlirpConfig cfg = { 0 };
    cfg.version = 4;
    cfg.in_enabled = true;
    inet_aton("10.0.2.0", &cfg.vnetwork);
    inet_aton("255.255.255.0", &cfg.vnetmask);
    inet_aton("10.0.2.2", &cfg.vhost);
    inet_aton("10.0.2.15", &cfg.vdhcp_start);
    inet_aton("10.0.2.3", &cfg.vnameserver);
    cfg.vhostname = "rewind";
    nb->slirp = slirp_new(&cfg, &slirp_callbacks, nb);
    if (!nb->slirp) {
        snprintf(err, errlen, "-nic user: cannot start slirp");
        net_slirp_free(nb);
        return NULL;
    }
    for (int i = 0; i < nhostfwd; i++) {
        if (!add_hostfwd(nb, hostfwd[i], err, errlen)) {
            net_slirp_free(nb);
            return NULL;
        }
    }
    return nb;
}

void net_slirp_free(NetBackend *nb)
{
    if (!nb)
        return;
    if (nb->slirp)
        slirp_cleanup(nb->slirp);
    GBytes *b;
    while ((b = g_queue_pop_head(&nb->rx)))
        g_bytes_unref(b);
    for (guint i = 0; i < nb->timers->len; i++)
        g_free(nb->timers->pdata[i]);
    g_ptr_array_free(nb->timers, TRUE);
    g_array_free(nb->pollfds, TRUE);
    g_free(nb);
}

void net_slirp_send(NetBackend *nb, const uint8_t *frame, size_t len)
{
    slirp_input(nb->slirp, frame, (int)len);
}

static int cb_add_poll(int fd, int events, void *opaque)
{
    GArray *fds = opaque;
    struct pollfd p = { .fd = fd, .events = 0 };
    if (events & SLIRP_POLL_IN)
        p.events |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        p.events |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        p.events |= POLLPRI;
    g_array_append_val(fds, p);
    return (int)fds->len - 1;
}

static int cb_get_revents(int idx, void *opaque)
{
    GArray *fds = opaque;
    short r = g_array_index(fds, struct pollfd, idx).revents;
    int ev = 0;
    if (r & POLLIN)
        ev |= SLIRP_POLL_IN;
    if (r & POLLOUT)
        ev |= SLIRP_POLL_OUT;
    if (r & POLLPRI)
        ev |= SLIRP_POLL_PRI;
    if (r & POLLERR)
        ev |= SLIRP_POLL_ERR;
    if (r & POLLHUP)
        ev |= SLIRP_POLL_HUP;
    return ev;
}

static void run_timers(NetBackend *nb)
{
    int64_t now_ms = host_ns() / 1000000;
    for (guint i = 0; i < nb->timers->len; i++) {
        SlirpTimer *t = nb->timers->pdata[i];
        if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
            t->expire_ms = -1;
            if (t->cb)
                t->cb(t->cb_opaque);
            else
                slirp_handle_timer(nb->slirp, t->id, t->cb_opaque);
            i = (guint)-1;  /* the callback may have changed the list */
            now_ms = host_ns() / 1000000;
        }
    }
}

void net_slirp_poll(NetBackend *nb, int extra_fd, int timeout_ms)
{
    g_array_set_size(nb->pollfds, 0);
    uint32_t t = timeout_ms < 0 ? 0 : (uint32_t)timeout_ms;
    if (extra_fd >= 0)      /* polled with slirp's sockets, handled by the caller */
        cb_add_poll(extra_fd, SLIRP_POLL_IN, nb->pollfds);
    slirp_pollfds_fill(nb->slirp, &t, cb_add_poll, nb->pollfds);
    int64_t now_ms = host_ns() / 1000000;
    for (guint i = 0; i < nb->timers->len; i++) {
        SlirpTimer *tm = nb->timers->pdata[i];
        if (tm->expire_ms >= 0) {
            int64_t left = tm->expire_ms - now_ms;
            if (left < 0)
                left = 0;
            if ((uint64_t)left < t)
                t = (uint32_t)left;
        }
    }
    int r = poll((struct pollfd *)(void *)nb->pollfds->data, nb->pollfds->len, (int)t);
    slirp_pollfds_poll(nb->slirp, r < 0, cb_get_revents, nb->pollfds);
    run_timers(nb);
}

bool net_slirp_peek(NetBackend *nb, const uint8_t **frame, size_t *len)
{
    GBytes *b = g_queue_peek_head(&nb->rx);
    if (!b)
        return false;
    gsize n;
    *frame = g_bytes_get_data(b, &n);
    *len = n;
    return true;
}

void net_slirp_pop(NetBackend *nb)
{
    GBytes *b = g_queue_pop_head(&nb->rx);
    if (b)
        g_bytes_unref(b);
}
