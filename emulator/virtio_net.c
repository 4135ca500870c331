/* virtio-net (virtio 1.2, 5.1): queue 0 receives, queue 1 transmits.
 * Every buffer starts with the 12-byte virtio_net_hdr (VERSION_1 always
 * has num_buffers); no offloads are offered, so the header is all zero.
 *
 * Frames to the guest come from the host (host_input.c: slirp while
 * running or recording, the log while replaying) between two runs of the
 * machine. Frames from the guest go to slirp, or nowhere in replay: they
 * are counted either way (a replay that sends a different number of
 * frames than its recording has diverged). */
#include "virtio.h"
#include "devices.h"

#include <string.h>

#define NET_F_MAC (1ull << 5)
#define NET_F_STATUS (1ull << 16)
#define NET_HDR 12

typedef struct NetState {
    uint64_t tx_frames;     /* frames the guest sent */
    uint64_t rx_frames;     /* frames given to the guest */
} NetState;

typedef struct VirtioNet {
    NetState st;
} VirtioNet;

static void net_tx(VirtioDevice *d)
{
    VirtioNet *n = d->opaque;
    VirtioReq req;
    bool any = false;
    int r;
    while ((r = virtio_pop(d, 1, &req)) == 1) {
        if (req.out_len < NET_HDR) {
            virtio_error(d, "transmit buffer at descriptor %u is shorter than the %d-byte "
                            "header", req.head, NET_HDR);
            return;
        }
        size_t len = req.out_len - NET_HDR;
        if (len > VIRTIO_NET_MAX_FRAME)
            len = VIRTIO_NET_MAX_FRAME;
        uint8_t *frame = g_malloc(len ? len : 1);
        virtio_req_read(d, &req, NET_HDR, frame, len);
        n->st.tx_frames++;
        host_net_send(d->m, frame, len);
        g_free(frame);
        virtio_push(d, 1, &req, 0);
        any = true;
    }
    if (any)
        virtio_notify_used(d, 1);
}

static bool rx_chain_ok(VirtioDevice *d, const VirtioReq *req)
{
    return virtio_req_writable_only(d, req, "receive buffer");
}

static void net_notify(VirtioDevice *d, int queue)
{
    if (queue == 1)
        net_tx(d);
    else    /* receive buffers wait for frames from the host: check them now */
        virtio_check_avail(d, 0, rx_chain_ok);
}

bool virtio_net_can_receive(VirtioDevice *d)
{
    return virtio_queue_has_avail(d, 0);
}

bool virtio_net_receive(VirtioDevice *d, const uint8_t *frame, size_t len)
{
    VirtioNet *n = d->opaque;
    VirtioReq req;
    int r = virtio_pop(d, 0, &req);
    if (r == 0)
        return false;
    /* a bad buffer breaks the device; the frame is gone (true: the same
     * happens in replay, where false would mean a divergence) */
    if (r < 0 || !rx_chain_ok(d, &req))
        return true;
    if (req.in_len < NET_HDR + len) {
        /* too small for the frame: it is dropped, the buffer stays posted
         * (QEMU does the same, less politely) */
        virtio_unpop(d, 0);
        return true;
    }
    uint8_t hdr[NET_HDR] = { 0 };
    hdr[10] = 1;    /* num_buffers */
    virtio_req_write(d, &req, 0, hdr, NET_HDR);
    virtio_req_write(d, &req, NET_HDR, frame, len);
    virtio_push(d, 0, &req, (uint32_t)(NET_HDR + len));
    virtio_notify_used(d, 0);
    n->st.rx_frames++;
    return true;
}

uint64_t virtio_net_tx_count(const VirtioDevice *d)
{
    const VirtioNet *n = d->opaque;
    return n->st.tx_frames;
}

static void net_save(const VirtioDevice *d, void *buf)
{
    const VirtioNet *n = d->opaque;
    memcpy(buf, &n->st, sizeof n->st);
}

static void net_load(VirtioDevice *d, const void *buf)
{
    VirtioNet *n = d->opaque;
    memcpy(&n->st, buf, sizeof n->st);
}

static void net_free(VirtioDevice *d)
{
    g_free(d->opaque);
}

static const VirtioOps net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .nqueues = 2,
    .notify = net_notify,
    .state_size = sizeof(NetState),
    .save = net_save,
    .load = net_load,
    .free = net_free,
};

VirtioDevice *virtio_net_new(Machine *m, const uint8_t mac[6])
{
    VirtioNet *n = g_new0(VirtioNet, 1);
    VirtioDevice *d = virtio_new(m, &net_ops, NET_F_MAC | NET_F_STATUS, n);
    if (!d) {
        g_free(n);
        return NULL;
    }
    /* struct virtio_net_config: mac[6], status (VIRTIO_NET_S_LINK_UP) */
    memcpy(d->config, mac, 6);
    d->config[6] = 1;
    d->config_size = 8;
    return d;
}
