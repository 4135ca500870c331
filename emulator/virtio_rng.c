/* virtio-rng (virtio 1.2, 5.4): one queue of device-writable buffers the
 * device fills with random bytes.
 *
 * The bytes come from the host, so they are an input of the machine: the
 * device never fetches them itself. A notify only leaves the buffers
 * posted; the host side (host_input.c) fills them between two runs of the
 * machine, recording logs what it gave, and replay gives the same bytes
 * at the same icount (virtio_rng_fill). */
#include "virtio.h"
#include "devices.h"

#include <string.h>

static bool rng_chain_ok(VirtioDevice *d, const VirtioReq *req)
{
    return virtio_req_writable_only(d, req, "buffer");
}

/* The bytes come later (a driver waiting for them waits in WFI, and a
 * posted buffer makes that wait one for the host: machine_run returns
 * RUN_IDLE instead of skipping time, so the run loop fills it at once).
 * The chains are checked now, at the guest's notify. */
static void rng_notify(VirtioDevice *d, int queue)
{
    virtio_check_avail(d, queue, rng_chain_ok);
}

static const VirtioOps rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .nqueues = 1,
    .notify = rng_notify,
};

VirtioDevice *virtio_rng_new(Machine *m)
{
    return virtio_new(m, &rng_ops, 0, NULL);
}

size_t virtio_rng_wanted(VirtioDevice *d)
{
    /* host side: no side effect (replay does not call this) */
    VirtioReq req;
    if (virtio_peek(d, 0, &req) != 1 || req.nout || req.in_len == 0)
        return 0;
    return req.in_len < VIRTIO_RNG_MAX_FILL ? (size_t)req.in_len : VIRTIO_RNG_MAX_FILL;
}

bool virtio_rng_fill(VirtioDevice *d, const uint8_t *data, size_t len)
{
    VirtioReq req;
    int r = virtio_pop(d, 0, &req);
    if (r == 0)
        return false;
    if (r < 0 || !rng_chain_ok(d, &req))
        return true;    /* the device broke: as in the recording */
    if (len > req.in_len) {
        virtio_unpop(d, 0);
        return false;
    }
    virtio_req_write(d, &req, 0, data, len);
    virtio_push(d, 0, &req, (uint32_t)len);
    virtio_notify_used(d, 0);
    return true;
}
