/* virtio-mmio transport, virtio 1.x (Version 2), split virtqueues.
 *
 * Register map (virtio 1.2, 4.2.2): 0x000 MagicValue, 0x004 Version,
 * 0x008 DeviceID, 0x00c VendorID, 0x010 DeviceFeatures, 0x014
 * DeviceFeaturesSel, 0x020 DriverFeatures, 0x024 DriverFeaturesSel, 0x030
 * QueueSel, 0x034 QueueNumMax, 0x038 QueueNum, 0x044 QueueReady, 0x050
 * QueueNotify, 0x060 InterruptStatus, 0x064 InterruptACK, 0x070 Status,
 * 0x080/0x084 QueueDesc, 0x090/0x094 QueueDriver (avail), 0x0a0/0x0a4
 * QueueDevice (used), 0x0fc ConfigGeneration, 0x100 the device's config.
 *
 * Guest mistakes are never trusted: ring addresses are checked when a
 * queue goes ready and again at every use (the guest may change RAM
 * under them), every descriptor is checked before its buffer is used, and
 * any failure puts the device in the error state (virtio_error). */
#include "virtio.h"
#include "devices.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    STATUS_ACKNOWLEDGE = 1,
    STATUS_DRIVER = 2,
    STATUS_DRIVER_OK = 4,
    STATUS_FEATURES_OK = 8,
    STATUS_NEEDS_RESET = 0x40,
    STATUS_FAILED = 0x80,
};

enum { DESC_F_NEXT = 1, DESC_F_WRITE = 2, DESC_F_INDIRECT = 4 };
enum { AVAIL_F_NO_INTERRUPT = 1 };

#define MAX_ERROR_LINES 20

/* ---- guest memory: RAM only, little-endian ---- */

static uint8_t *ram_ptr(VirtioDevice *d, uint64_t addr, uint64_t len)
{
    Machine *m = d->m;
    if (addr < m->ram_base || addr - m->ram_base > m->ram_size ||
        len > m->ram_size - (addr - m->ram_base))
        return NULL;
    return m->ram + (addr - m->ram_base);
}

static bool in_ram(VirtioDevice *d, uint64_t addr, uint64_t len)
{
    return ram_ptr(d, addr, len) != NULL;
}

static uint16_t rd16(VirtioDevice *d, uint64_t addr)
{
    uint8_t *p = ram_ptr(d, addr, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static void wr16(VirtioDevice *d, uint64_t addr, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    machine_phys_write(d->m, addr, b, 2);
}

static void wr32(VirtioDevice *d, uint64_t addr, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    machine_phys_write(d->m, addr, b, 4);
}

/* ---- interrupts and errors ---- */

static void update_irq(VirtioDevice *d)
{
    bool level = d->vs.interrupt_status != 0;
    if (level != d->irq_level) {
        d->irq_level = level;
        if (d->m->plic)
            plic_set_irq(d->m->plic, d->irq, level);
    }
}

static int error_lines;     /* host-side: stderr is not guest state */

void virtio_error(VirtioDevice *d, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (error_lines < MAX_ERROR_LINES) {
        fprintf(stderr, "rewind: %s at 0x%" PRIx64 ": %s; device stopped until the guest resets it\n",
                d->ops->name, d->base, msg);
        if (++error_lines == MAX_ERROR_LINES)
            fprintf(stderr, "rewind: (further virtio device errors are not shown)\n");
    }
    d->vs.broken = 1;
    d->vs.status |= STATUS_NEEDS_RESET;
    /* only a driver that finished set-up hears of it (spec 2.1.2) */
    if (d->vs.status & STATUS_DRIVER_OK) {
        d->vs.interrupt_status |= 2;
        d->vs.config_generation++;
        update_irq(d);
    }
}

/* ---- queues ---- */

bool virtio_live(const VirtioDevice *d)
{
    return (d->vs.status & STATUS_DRIVER_OK) && !d->vs.broken;
}

bool virtio_queue_live(const VirtioDevice *d, int queue)
{
    return virtio_live(d) && queue >= 0 && queue < d->ops->nqueues && d->vs.q[queue].ready;
}

static bool event_idx(const VirtioDevice *d)
{
    return (d->vs.driver_features & VIRTIO_RING_F_EVENT_IDX) != 0;
}

/* The three areas of a queue, sized for its num; checked at QueueReady
 * and before every use. */
static bool queue_areas_ok(VirtioDevice *d, int qi, bool report)
{
    VirtQueue *q = &d->vs.q[qi];
    uint32_t n = q->num;
    const char *what = NULL;
    uint64_t addr = 0;
    if (n == 0 || n > VIRTIO_QUEUE_MAX || (n & (n - 1))) {
        if (report)
            virtio_error(d, "queue %d: size %" PRIu32 " is not a power of two in 1..%d", qi,
                         n, VIRTIO_QUEUE_MAX);
        return false;
    }
    if ((q->desc & 15) || !in_ram(d, q->desc, 16ull * n))
        what = "descriptor table", addr = q->desc;
    else if ((q->avail & 1) || !in_ram(d, q->avail, 6ull + 2ull * n))
        what = "available ring", addr = q->avail;
    else if ((q->used & 3) || !in_ram(d, q->used, 6ull + 8ull * n))
        what = "used ring", addr = q->used;
    if (what && report)
        virtio_error(d, "queue %d: %s at 0x%" PRIx64 " is misaligned or not in RAM", qi, what,
                     addr);
    return what == NULL;
}

bool virtio_queue_has_avail(VirtioDevice *d, int queue)
{
    if (!virtio_queue_live(d, queue) || !queue_areas_ok(d, queue, false))
        return false;
    VirtQueue *q = &d->vs.q[queue];
    return rd16(d, q->avail + 2) != q->last_avail;
}

/* Walks the chain at avail ring position `pos` into *req without changing
 * anything: 1 when it is well-formed, -1 when not (reported with
 * virtio_error only when `report`). */
static int walk_chain(VirtioDevice *d, int queue, uint16_t pos, VirtioReq *req, bool report)
{
    VirtQueue *q = &d->vs.q[queue];
#define BAD(...)                          \
    do {                                  \
        if (report)                       \
            virtio_error(d, __VA_ARGS__); \
        return -1;                        \
    } while (0)
    uint16_t head = rd16(d, q->avail + 4 + 2ull * (pos % q->num));
    if (head >= q->num)
        BAD("queue %d: chain head %u is not below the queue size %" PRIu32, queue, head, q->num);
    memset(req, 0, offsetof(VirtioReq, seg));
    req->head = head;
    uint16_t i = head;
    for (uint32_t count = 0;; count++) {
        if (count >= q->num)
            BAD("queue %d: the chain from descriptor %u loops (more than %" PRIu32
                " descriptors)", queue, head, q->num);
        const uint8_t *p = ram_ptr(d, q->desc + 16ull * i, 16);
        uint64_t addr = 0;
        for (int b = 7; b >= 0; b--)
            addr = addr << 8 | p[b];
        uint32_t len = (uint32_t)(p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24);
        uint16_t flags = (uint16_t)(p[12] | p[13] << 8);
        uint16_t next = (uint16_t)(p[14] | p[15] << 8);
        if (flags & DESC_F_INDIRECT)
            BAD("queue %d: descriptor %u is indirect, a feature not negotiated", queue, i);
        if (len == 0)
            BAD("queue %d: descriptor %u has length 0", queue, i);
        if (addr + len < addr)
            BAD("queue %d: descriptor %u: 0x%" PRIx64 " + 0x%" PRIx32
                " overflows the address space", queue, i, addr, len);
        if (!in_ram(d, addr, len))
            BAD("queue %d: descriptor %u: buffer 0x%" PRIx64 "..0x%" PRIx64 " is not in RAM",
                queue, i, addr, addr + len - 1);
        bool write = flags & DESC_F_WRITE;
        if (!write && req->nseg > req->nout)
            BAD("queue %d: descriptor %u is device-readable after a device-writable one",
                queue, i);
        if (req->nseg >= VIRTIO_MAX_SEGS)
            BAD("queue %d: chain from descriptor %u has more than %d buffers", queue, head,
                VIRTIO_MAX_SEGS);
        req->seg[req->nseg++] = (VirtioSeg){ .addr = addr, .len = len, .write = write };
        if (write) {
            req->in_len += len;
        } else {
            req->nout++;
            req->out_len += len;
        }
        if (!(flags & DESC_F_NEXT))
            break;
        if (next >= q->num)
            BAD("queue %d: descriptor %u: next %u is not below the queue size %" PRIu32, queue,
                i, next, q->num);
        i = next;
    }
#undef BAD
    return 1;
}

/* Chains available and not taken yet; -1 when the index is impossible. */
static int avail_count(VirtioDevice *d, int queue, bool report)
{
    VirtQueue *q = &d->vs.q[queue];
    uint16_t avail_idx = rd16(d, q->avail + 2);
    uint16_t n = (uint16_t)(avail_idx - q->last_avail);
    if (n > q->num) {
        if (report)
            virtio_error(d, "queue %d: available index moved from %u to %u, more than the %"
                            PRIu32 " entries of the queue", queue, q->last_avail, avail_idx,
                         q->num);
        return -1;
    }
    return n;
}

int virtio_pop(VirtioDevice *d, int queue, VirtioReq *req)
{
    if (!virtio_queue_live(d, queue))
        return 0;
    if (!queue_areas_ok(d, queue, true))
        return -1;
    int n = avail_count(d, queue, true);
    if (n <= 0)
        return n;
    VirtQueue *q = &d->vs.q[queue];
    if (walk_chain(d, queue, q->last_avail, req, true) < 0)
        return -1;
    q->last_avail++;
    if (event_idx(d))
        wr16(d, q->used + 4 + 8ull * q->num, q->last_avail);   /* avail_event */
    return 1;
}

int virtio_peek(VirtioDevice *d, int queue, VirtioReq *req)
{
    if (!virtio_queue_live(d, queue) || !queue_areas_ok(d, queue, false))
        return 0;
    int n = avail_count(d, queue, false);
    if (n <= 0)
        return n;
    return walk_chain(d, queue, d->vs.q[queue].last_avail, req, false);
}

bool virtio_check_avail(VirtioDevice *d, int queue, bool (*check)(VirtioDevice *d,
                                                                   const VirtioReq *req))
{
    if (!virtio_queue_live(d, queue))
        return true;
    if (!queue_areas_ok(d, queue, true))
        return false;
    int n = avail_count(d, queue, true);
    if (n < 0)
        return false;
    VirtioReq req;
    for (int i = 0; i < n; i++) {
        if (walk_chain(d, queue, (uint16_t)(d->vs.q[queue].last_avail + i), &req, true) < 0)
            return false;
        if (check && !check(d, &req))
            return false;
    }
    return true;
}

void virtio_unpop(VirtioDevice *d, int queue)
{
    d->vs.q[queue].last_avail--;
}

void virtio_push(VirtioDevice *d, int queue, const VirtioReq *req, uint32_t written)
{
    VirtQueue *q = &d->vs.q[queue];
    if (!queue_areas_ok(d, queue, true))
        return;
    uint64_t e = q->used + 4 + 8ull * (q->used_idx % q->num);
    wr32(d, e, req->head);
    wr32(d, e + 4, written);
    q->used_idx++;
    wr16(d, q->used + 2, q->used_idx);
}

void virtio_notify_used(VirtioDevice *d, int queue)
{
    VirtQueue *q = &d->vs.q[queue];
    if (!virtio_queue_live(d, queue) || !queue_areas_ok(d, queue, false))
        return;
    bool notify;
    if (event_idx(d)) {
        /* notify when used_event lies in (old, new]: virtio 1.2, 2.7.10 */
        uint16_t used_event = rd16(d, q->avail + 4 + 2ull * q->num);
        uint16_t old = q->signalled_used, now = q->used_idx;
        notify = !q->signalled_valid ||
                 (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
        q->signalled_used = now;
        q->signalled_valid = 1;
    } else {
        notify = !(rd16(d, q->avail) & AVAIL_F_NO_INTERRUPT);
    }
    if (notify) {
        d->vs.interrupt_status |= 1;
        update_irq(d);
    }
}

/* ---- copying to and from chains ---- */

/* Copies between buf and the segments [first, last) of a chain, from
 * byte off of them on (segments were checked to lie in RAM). */
static size_t copy_segs(VirtioDevice *d, const VirtioReq *req, int first, int last,
                        uint64_t off, uint8_t *buf, size_t len, bool to_guest)
{
    size_t done = 0;
    for (int i = first; i < last && done < len; i++) {
        const VirtioSeg *s = &req->seg[i];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off;
        if (n > len - done)
            n = len - done;
        bool ok = to_guest ? machine_phys_write(d->m, s->addr + off, buf + done, n)
                           : machine_phys_read(d->m, s->addr + off, buf + done, n);
        if (!ok)
            break;
        done += n;
        off = 0;
    }
    return done;
}

size_t virtio_req_read(VirtioDevice *d, const VirtioReq *req, uint64_t off, void *buf,
                       size_t len)
{
    return copy_segs(d, req, 0, req->nout, off, buf, len, false);
}

size_t virtio_req_write(VirtioDevice *d, const VirtioReq *req, uint64_t off,
                        const void *buf, size_t len)
{
    return copy_segs(d, req, req->nout, req->nseg, off, (uint8_t *)buf, len, true);
}

bool virtio_req_writable_only(VirtioDevice *d, const VirtioReq *req, const char *what)
{
    if (req->nout == 0)
        return true;
    virtio_error(d, "%s at descriptor %u is not device-writable", what, req->head);
    return false;
}

/* ---- registers ---- */

void virtio_reset(VirtioDevice *d)
{
    memset(&d->vs, 0, sizeof d->vs);
    if (d->ops->reset)
        d->ops->reset(d);
    update_irq(d);
}

static bool features_acceptable(const VirtioDevice *d)
{
    uint64_t f = d->vs.driver_features;
    return (f & VIRTIO_F_VERSION_1) && !(f & ~d->host_features);
}

static void write_status(VirtioDevice *d, uint32_t val)
{
    if (val == 0) {
        virtio_reset(d);
        return;
    }
    uint32_t old = d->vs.status;
    /* the device's own bits stay; a driver cannot clear NEEDS_RESET but by
     * resetting */
    val |= old & STATUS_NEEDS_RESET;
    if ((val & STATUS_FEATURES_OK) && !(old & STATUS_FEATURES_OK) && !features_acceptable(d))
        val &= ~(uint32_t)STATUS_FEATURES_OK;   /* refused: a legacy driver */
    d->vs.status = val & 0xff;
    if ((val & STATUS_DRIVER_OK) && !(old & STATUS_DRIVER_OK) && !d->vs.broken) {
        /* buffers posted before DRIVER_OK may be waiting */
        for (int i = 0; i < d->ops->nqueues; i++)
            if (d->vs.q[i].ready && d->ops->notify)
                d->ops->notify(d, i);
    }
}

static VirtQueue *sel_queue(VirtioDevice *d)
{
    return d->vs.queue_sel < (uint32_t)d->ops->nqueues ? &d->vs.q[d->vs.queue_sel] : NULL;
}

static bool virtio_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    VirtioDevice *d = opaque;
    if (off >= 0x100) {
        uint64_t c = off - 0x100, v = 0;
        for (unsigned i = 0; i < size; i++)
            if (c + i < d->config_size)
                v |= (uint64_t)d->config[c + i] << (8 * i);
        *val = v;
        return true;
    }
    *val = 0;
    if (size != 4 || (off & 3))
        return true;    /* the spec allows 32-bit register accesses only */
    VirtQueue *q = sel_queue(d);
    switch (off) {
    case 0x000: *val = 0x74726976; break;   /* "virt" */
    case 0x004: *val = 2; break;
    case 0x008: *val = d->ops->device_id; break;
    case 0x00c: *val = 0x554d4551; break;   /* "QEMU" */
    case 0x010:
        if (d->vs.dev_features_sel < 2)
            *val = (uint32_t)(d->host_features >> (32 * d->vs.dev_features_sel));
        break;
    case 0x034: *val = q ? VIRTIO_QUEUE_MAX : 0; break;
    case 0x038: *val = q ? q->num : 0; break;
    case 0x044: *val = q ? q->ready : 0; break;
    case 0x060: *val = d->vs.interrupt_status; break;
    case 0x070: *val = d->vs.status; break;
    case 0x080: *val = q ? (uint32_t)q->desc : 0; break;
    case 0x084: *val = q ? (uint32_t)(q->desc >> 32) : 0; break;
    case 0x090: *val = q ? (uint32_t)q->avail : 0; break;
    case 0x094: *val = q ? (uint32_t)(q->avail >> 32) : 0; break;
    case 0x0a0: *val = q ? (uint32_t)q->used : 0; break;
    case 0x0a4: *val = q ? (uint32_t)(q->used >> 32) : 0; break;
    case 0x0fc: *val = d->vs.config_generation; break;
    default: break;
    }
    return true;
}

static void set_lo(uint64_t *r, uint32_t v) { *r = (*r & ~0xffffffffull) | v; }
static void set_hi(uint64_t *r, uint32_t v) { *r = (*r & 0xffffffffull) | (uint64_t)v << 32; }

static bool virtio_write(void *opaque, uint64_t off, unsigned size, uint64_t val64)
{
    VirtioDevice *d = opaque;
    if (off >= 0x100 || size != 4 || (off & 3))
        return true;    /* no writable config; odd accesses are ignored */
    uint32_t val = (uint32_t)val64;
    VirtQueue *q = sel_queue(d);
    /* a queue's set-up is frozen while it is ready (virtio 1.2, 4.2.3.2) */
    bool q_open = q && !q->ready;
    switch (off) {
    case 0x014: d->vs.dev_features_sel = val; break;
    case 0x020:
        if (!(d->vs.status & STATUS_FEATURES_OK)) {
            if (d->vs.drv_features_sel == 0)
                set_lo(&d->vs.driver_features, val);
            else if (d->vs.drv_features_sel == 1)
                set_hi(&d->vs.driver_features, val);
        }
        break;
    case 0x024: d->vs.drv_features_sel = val; break;
    case 0x030: d->vs.queue_sel = val; break;
    case 0x038: if (q_open) q->num = val; break;
    case 0x044:
        if (!q)
            break;
        if (val & 1) {
            if (!q->ready && !d->vs.broken) {
                q->ready = 1;
                if (!queue_areas_ok(d, (int)d->vs.queue_sel, true))
                    q->ready = 0;
            }
        } else {
            q->ready = 0;
        }
        break;
    case 0x050:
        if (val < (uint32_t)d->ops->nqueues && virtio_queue_live(d, (int)val) && d->ops->notify)
            d->ops->notify(d, (int)val);
        break;
    case 0x064:
        d->vs.interrupt_status &= ~val;
        update_irq(d);
        break;
    case 0x070: write_status(d, val); break;
    case 0x080: if (q_open) set_lo(&q->desc, val); break;
    case 0x084: if (q_open) set_hi(&q->desc, val); break;
    case 0x090: if (q_open) set_lo(&q->avail, val); break;
    case 0x094: if (q_open) set_hi(&q->avail, val); break;
    case 0x0a0: if (q_open) set_lo(&q->used, val); break;
    case 0x0a4: if (q_open) set_hi(&q->used, val); break;
    default: break;
    }
    return true;
}

/* ---- snapshots ---- */

static void state_save(const void *opaque, void *buf)
{
    const VirtioDevice *d = opaque;
    uint8_t *p = buf;
    memcpy(p, &d->vs, sizeof d->vs);
    p[sizeof d->vs] = d->irq_level;
    if (d->ops->save)
        d->ops->save(d, p + sizeof d->vs + 1);
}

static void state_load(void *opaque, const void *buf)
{
    VirtioDevice *d = opaque;
    const uint8_t *p = buf;
    memcpy(&d->vs, p, sizeof d->vs);
    d->irq_level = p[sizeof d->vs];
    if (d->ops->load)
        d->ops->load(d, p + sizeof d->vs + 1);
}

/* ---- creation ---- */

static int free_slot(const Machine *m)
{
    for (int i = VIRT_VIRTIO_COUNT - 1; i >= 0; i--)
        if (!machine_mmio_taken(m, VIRT_VIRTIO_BASE + (uint64_t)i * VIRT_VIRTIO_SIZE))
            return i;
    return -1;
}

VirtioDevice *virtio_new(Machine *m, const VirtioOps *ops, uint64_t features, void *opaque)
{
    int slot = free_slot(m);
    if (slot < 0 || m->nvirtio >= VIRT_VIRTIO_COUNT)
        return NULL;
    VirtioDevice *d = g_new0(VirtioDevice, 1);
    d->m = m;
    d->ops = ops;
    d->base = VIRT_VIRTIO_BASE + (uint64_t)slot * VIRT_VIRTIO_SIZE;
    d->irq = VIRT_VIRTIO_IRQ + slot;
    d->host_features = features | VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX;
    d->opaque = opaque;
    d->state_name = g_strdup_printf("%s@%" PRIx64, ops->name, d->base);
    d->state_ops = (DeviceStateOps){
        .name = d->state_name,
        .size = sizeof(VirtioState) + 1 + ops->state_size,
        .save = state_save,
        .load = state_load,
    };
    MmioRegion r = {
        .name = ops->name,
        .base = d->base,
        .size = VIRT_VIRTIO_SIZE,
        .opaque = d,
        .read = virtio_read,
        .write = virtio_write,
    };
    if (!machine_add_mmio(m, &r) || !machine_add_device_state(m, &d->state_ops, d)) {
        g_free(d->state_name);
        g_free(d);
        return NULL;
    }
    m->virtio[m->nvirtio++] = d;
    return d;
}

void virtio_free(VirtioDevice *d)
{
    if (!d)
        return;
    if (d->ops->free)
        d->ops->free(d);
    g_free(d->state_name);
    g_free(d);
}
