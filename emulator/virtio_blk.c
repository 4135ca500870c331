/* virtio-blk (virtio 1.2, 5.2): one request queue, requests done at once
 * when the guest notifies, so a disk read is deterministic (the image
 * never changes under a recording: emulator/block.h).
 *
 * A request is a header (type, reserved, sector: 16 device-readable
 * bytes), data buffers, and a status byte (the last device-writable byte).
 * A chain that cannot hold that shape is a driver bug: device error. A
 * well-formed request the disk cannot serve (out of range, an I/O error,
 * a write to a read-only disk) gets VIRTIO_BLK_S_IOERR, as on QEMU. */
#include "virtio.h"
#include "block.h"
#include "devices.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { BLK_T_IN = 0, BLK_T_OUT = 1, BLK_T_FLUSH = 4, BLK_T_GET_ID = 8 };
enum { BLK_S_OK = 0, BLK_S_IOERR = 1, BLK_S_UNSUPP = 2 };

#define BLK_F_SEG_MAX (1ull << 2)
#define BLK_F_RO (1ull << 5)
#define BLK_F_BLK_SIZE (1ull << 6)
#define BLK_F_FLUSH (1ull << 9)

#define SECTOR 512u
#define BLK_ID_BYTES 20

typedef struct VirtioBlk {
    BlockDev *disk;
    int index;              /* which -drive: the serial number */
    int io_errors_shown;    /* host side */
} VirtioBlk;

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t do_io(VirtioDevice *d, VirtioBlk *b, const VirtioReq *req, uint32_t type,
                     uint64_t sector, uint64_t data_len, uint32_t *written)
{
    char err[256];
    uint64_t size = block_size(b->disk);
    uint64_t off = sector * SECTOR;
    if (data_len % SECTOR || sector > size / SECTOR || data_len > size - off)
        return BLK_S_IOERR;
    if (type == BLK_T_OUT && block_readonly(b->disk))
        return BLK_S_IOERR;
    uint8_t *buf = g_malloc(data_len ? data_len : 1);
    bool ok;
    if (type == BLK_T_IN) {
        ok = block_read(b->disk, off, buf, data_len, err, sizeof err);
        if (ok) {
            virtio_req_write(d, req, 0, buf, data_len);
            *written = (uint32_t)data_len;
        }
    } else {
        virtio_req_read(d, req, 16, buf, data_len);
        ok = block_write(b->disk, off, buf, data_len, err, sizeof err);
    }
    g_free(buf);
    if (!ok) {
        if (b->io_errors_shown++ < 10)
            fprintf(stderr, "rewind: %s at 0x%" PRIx64 ": %s\n", d->ops->name, d->base, err);
        return BLK_S_IOERR;
    }
    return BLK_S_OK;
}

/* Serves one chain; false when it was malformed (the device is broken). */
static bool handle(VirtioDevice *d, VirtioBlk *b, VirtioReq *req)
{
    uint8_t hdr[16];
    if (req->out_len < sizeof hdr) {
        virtio_error(d, "request at descriptor %u: the 16-byte header is not in "
                        "device-readable buffers (%" PRIu64 " bytes)", req->head, req->out_len);
        return false;
    }
    if (req->in_len < 1) {
        virtio_error(d, "request at descriptor %u: no device-writable status byte",
                     req->head);
        return false;
    }
    virtio_req_read(d, req, 0, hdr, sizeof hdr);
    uint32_t type = (uint32_t)(hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24);
    uint64_t sector = 0;
    for (int i = 15; i >= 8; i--)
        sector = sector << 8 | hdr[i];
    uint32_t written = 0;
    uint8_t status;
    char err[256];
    switch (type) {
    case BLK_T_IN:
        if (req->out_len != sizeof hdr) {
            status = BLK_S_IOERR;
            break;
        }
        status = do_io(d, b, req, type, sector, req->in_len - 1, &written);
        break;
    case BLK_T_OUT:
        if (req->in_len != 1) {
            status = BLK_S_IOERR;
            break;
        }
        status = do_io(d, b, req, type, sector, req->out_len - sizeof hdr, &written);
        break;
    case BLK_T_FLUSH:
        status = block_flush(b->disk, err, sizeof err) ? BLK_S_OK : BLK_S_IOERR;
        break;
    case BLK_T_GET_ID: {
        char id[BLK_ID_BYTES + 1];
        memset(id, 0, sizeof id);
        snprintf(id, sizeof id, "rewind-disk%d", b->index);
        uint64_t n = req->in_len - 1 < BLK_ID_BYTES ? req->in_len - 1 : BLK_ID_BYTES;
        written = (uint32_t)virtio_req_write(d, req, 0, id, n);
        status = BLK_S_OK;
        break;
    }
    default:
        status = BLK_S_UNSUPP;
        break;
    }
    virtio_req_write(d, req, req->in_len - 1, &status, 1);
    virtio_push(d, 0, req, written + 1);
    return true;
}

static void blk_notify(VirtioDevice *d, int queue)
{
    VirtioBlk *b = d->opaque;
    VirtioReq req;
    bool any = false;
    while (virtio_pop(d, queue, &req) == 1) {
        if (!handle(d, b, &req))
            return;
        any = true;
    }
    if (any)
        virtio_notify_used(d, queue);
}

static void blk_free(VirtioDevice *d)
{
    g_free(d->opaque);
}

static const VirtioOps blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .nqueues = 1,
    .notify = blk_notify,
    .free = blk_free,
};

VirtioDevice *virtio_blk_new(Machine *m, BlockDev *disk)
{
    VirtioBlk *b = g_new0(VirtioBlk, 1);
    b->disk = disk;
    for (int i = 0; i < m->ndisks; i++)
        if (m->disks[i] == disk)
            b->index = i;
    uint64_t features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH;
    if (block_readonly(disk))
        features |= BLK_F_RO;
    VirtioDevice *d = virtio_new(m, &blk_ops, features, b);
    if (!d) {
        g_free(b);
        return NULL;
    }
    /* struct virtio_blk_config: capacity (sectors), size_max, seg_max,
     * geometry, blk_size */
    put_le(d->config + 0, block_size(disk) / SECTOR, 8);
    put_le(d->config + 12, VIRTIO_MAX_SEGS - 2, 4);
    put_le(d->config + 20, SECTOR, 4);
    d->config_size = 24;
    return d;
}
