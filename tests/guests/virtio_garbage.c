/* virtio_garbage: feeds every virtio device malformed rings and descriptor
 * chains and checks that the device refuses them the way the virtio 1.x
 * spec asks (2.1.2 DEVICE_NEEDS_RESET, 4.2 virtio-mmio): the device stops,
 * sets DEVICE_NEEDS_RESET (0x40) in Status, sets bit 1 (configuration
 * change) in InterruptStatus and raises its interrupt; the used ring does
 * not move for the bad request; after a reset (Status = 0) and a fresh
 * initialisation the device works again.
 *
 * Needs a virtio-blk, a virtio-net and a virtio-rng device on the virt
 * board's virtio-mmio slots (0x10001000 + i * 0x1000, irq 1 + i), in modern
 * mode (Version 2). The disk's first sector holds the pattern run_guest.py
 * --scratch-disk writes (see disk_byte()). Under Rewind:
 *     -drive file=DISK,format=raw,if=virtio -nic user -device virtio-rng
 * under QEMU (whose virtio-mmio is legacy unless told otherwise):
 *     -global virtio-mmio.force-legacy=false
 *     -drive file=DISK,format=raw,if=none,id=d0 -device virtio-blk-device,drive=d0
 *     -netdev user,id=n0 -device virtio-net-device,netdev=n0
 *     -device virtio-rng-device
 *
 * One line per case: "virtio-garbage: DEV CASE: needs-reset ok" when the
 * device flagged it as it should; "not flagged (...)" when it did not (QEMU
 * lets some through: see virtio_garbage.expect). QueueNum above QueueNumMax
 * may be ignored or flagged ("ignored ok" / "flagged ok"). The exit status
 * is a failure only when something is wrong beyond a missing flag: a device
 * missing or not modern, a flag without its interrupt or with the used ring
 * moved, a device that does not work again after a reset, or guest memory
 * that changed under it. The last line is "all N cases handled" only when
 * every case was handled as the spec asks. */
#include <stdio.h>
#include <string.h>
#include "rt.h"

/* ---- virtio-mmio registers (modern) ---- */
#define VIRTIO_SLOTS        8
#define VIRTIO_SLOT(i)      (0x10001000UL + 0x1000UL * (i))
#define VIRTIO_IRQ(i)       (1 + (i))
#define VM_MAGIC            0x000
#define VM_VERSION          0x004
#define VM_DEVICE_ID        0x008
#define VM_VENDOR_ID        0x00c
#define VM_DEV_FEATURES     0x010
#define VM_DEV_FEATURES_SEL 0x014
#define VM_DRV_FEATURES     0x020
#define VM_DRV_FEATURES_SEL 0x024
#define VM_QUEUE_SEL        0x030
#define VM_QUEUE_NUM_MAX    0x034
#define VM_QUEUE_NUM        0x038
#define VM_QUEUE_READY      0x044
#define VM_QUEUE_NOTIFY     0x050
#define VM_INT_STATUS       0x060
#define VM_INT_ACK          0x064
#define VM_STATUS           0x070
#define VM_QUEUE_DESC_LO    0x080
#define VM_QUEUE_DESC_HI    0x084
#define VM_QUEUE_DRIVER_LO  0x090
#define VM_QUEUE_DRIVER_HI  0x094
#define VM_QUEUE_DEVICE_LO  0x0a0
#define VM_QUEUE_DEVICE_HI  0x0a4
#define VM_CONFIG           0x100

#define VIRTIO_MAGIC        0x74726976      /* "virt" */

#define ST_ACKNOWLEDGE      0x01
#define ST_DRIVER           0x02
#define ST_DRIVER_OK        0x04
#define ST_FEATURES_OK      0x08
#define ST_NEEDS_RESET      0x40
#define ST_FAILED           0x80

#define INT_USED            0x1
#define INT_CONFIG          0x2

#define F_INDIRECT_DESC     (1ULL << 28)
#define F_EVENT_IDX         (1ULL << 29)
#define F_VERSION_1         (1ULL << 32)

#define ID_NET 1
#define ID_BLK 2
#define ID_RNG 4

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
#define D_NEXT     1
#define D_WRITE    2
#define D_INDIRECT 4

struct vring_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

struct vring_used {
    uint16_t flags;
    uint16_t idx;
    struct vring_used_elem ring[];
};

/* ---- memory ---- */
#define RAM_BASE    0x80000000UL
#define RAM_END     (RAM_BASE + 128UL * 1024 * 1024)    /* default -m 128M */
#define OUTSIDE_RAM 0x1000000000000UL                   /* 2^48: nothing there */
#define TOP_PAGE    0xfffffffffffff000UL

#define QSIZE       16          /* queue size used (or QueueNumMax if smaller) */
#define HUGE_NUM    0x8000      /* above every QueueNumMax and QEMU's 1024 */

/* The queue the cases go to: room for HUGE_NUM entries in every ring. */
#define DESC_OFF    0                       /* 16 * 0x8000 = 512 KiB */
#define AVAIL_OFF   (512 * 1024)            /* 6 + 2 * 0x8000 */
#define USED_OFF    (640 * 1024)            /* 6 + 8 * 0x8000 */
static uint8_t ringmem[1024 * 1024] __attribute__((aligned(4096)));
/* virtio-net's receive queue */
static uint8_t rxring[3 * 4096] __attribute__((aligned(4096)));

/* buffers */
struct blk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};
#define BLK_T_IN 0
static struct blk_hdr blkhdr __attribute__((aligned(16)));
static uint8_t blkdata[512] __attribute__((aligned(16)));
static volatile uint8_t blkstatus;
static uint8_t rngbuf[16] __attribute__((aligned(16)));
#define NET_HDR_LEN 12          /* virtio_net_hdr with num_buffers (VERSION_1) */
#define TX_LEN      (NET_HDR_LEN + 60)
static uint8_t txbuf[TX_LEN] __attribute__((aligned(16)));
static uint8_t rxbuf[2048] __attribute__((aligned(16)));
static uint8_t scratch[4096] __attribute__((aligned(16)));
static struct vring_desc itable[8] __attribute__((aligned(16)));
static struct vring_desc itable2[8] __attribute__((aligned(16)));

/* ---- devices ---- */
struct vq {
    unsigned num;
    struct vring_desc *desc;        /* NULL when the ring is outside RAM */
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t avail_idx;
};

struct dev {
    const char *name;
    uint32_t id;
    int slot;
    uintptr_t base;
    unsigned nqueues, tq;           /* the cases go to queue tq */
    unsigned main;                  /* the valid chain's data descriptor */
    uint64_t offered, accepted;
    struct vq q[2];
};

static struct dev devs[3] = {
    { "blk", ID_BLK, -1, 0, 1, 0, 1, 0, 0, {{0}} },
    { "net", ID_NET, -1, 0, 2, 1, 0, 0, 0, {{0}} },
    { "rng", ID_RNG, -1, 0, 1, 0, 0, 0, 0, {{0}} },
};

static inline uint32_t rd(struct dev *d, unsigned off) { return MMIO32(d->base + off); }
static inline void wr(struct dev *d, unsigned off, uint32_t v) { MMIO32(d->base + off) = v; }
static inline void io_fence(void) { __asm__ volatile ("fence iorw, iorw" ::: "memory"); }
static inline uint16_t vread16(const uint16_t *p) { return *(volatile const uint16_t *)p; }

static int mismatches, unflagged, handled, total;

/* The disk pattern (run_guest.py --scratch-disk): byte at offset o, with
 * the first 16 bytes replaced by a tag. */
static const char disk_tag[16] = "rewind-virtio-0\n";
static uint8_t disk_byte(unsigned long o)
{
    if (o < 16)
        return (uint8_t)disk_tag[o];
    return (uint8_t)((o * 7 + (o >> 9) * 13 + 1) & 0xff);
}

/* ---- PLIC: sources 1..8 enabled for context 0, never taken (mie = 0) ---- */
static void plic_setup(void)
{
    for (int i = 0; i < VIRTIO_SLOTS; i++)
        MMIO32(PLIC_PRIORITY(VIRTIO_IRQ(i))) = 1;
    MMIO32(PLIC_ENABLE(0, 0)) = 0x1feu;
    MMIO32(PLIC_THRESHOLD(0)) = 0;
}

static int plic_pending(int irq)
{
    return !!(MMIO32(PLIC_PENDING(irq)) & (1u << (irq % 32)));
}

/* claim and complete whatever is pending, so that a stale pending bit does
 * not count as the next case's interrupt */
static void plic_drain(void)
{
    for (int i = 0; i < 16; i++) {
        uint32_t irq = MMIO32(PLIC_CLAIM(0));
        if (irq == 0)
            break;
        MMIO32(PLIC_CLAIM(0)) = irq;
    }
}

/* ---- time ---- */
#define MS (TIMEBASE_HZ / 1000)

/* ---- initialisation ---- */
enum ring_kind { R_NORMAL, R_DESC_OUT, R_AVAIL_OUT, R_USED_OUT, R_HUGE_NUM };

static int reset(struct dev *d)
{
    wr(d, VM_STATUS, 0);
    for (int i = 0; i < 1000; i++)
        if (rd(d, VM_STATUS) == 0)
            return 0;
    return -1;
}

static void set_queue_addr(struct dev *d, unsigned lo, uint64_t a)
{
    wr(d, lo, (uint32_t)a);
    wr(d, lo + 4, (uint32_t)(a >> 32));
}

/* The modern initialisation (3.1.1): reset, ACKNOWLEDGE, DRIVER, features,
 * FEATURES_OK, queues, DRIVER_OK. `ring` lays out the test queue wrongly on
 * purpose. Returns NULL, or what went wrong. */
static const char *dev_init(struct dev *d, enum ring_kind ring)
{
    if (reset(d))
        return "Status does not read 0 after a reset";
    if (rd(d, VM_INT_STATUS) != 0)
        return "InterruptStatus not 0 after a reset";
    wr(d, VM_STATUS, ST_ACKNOWLEDGE);
    wr(d, VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);

    wr(d, VM_DEV_FEATURES_SEL, 0);
    uint64_t f = rd(d, VM_DEV_FEATURES);
    wr(d, VM_DEV_FEATURES_SEL, 1);
    f |= (uint64_t)rd(d, VM_DEV_FEATURES) << 32;
    d->offered = f;
    if (!(f & F_VERSION_1))
        return "VIRTIO_F_VERSION_1 not offered";
    d->accepted = F_VERSION_1 | (f & (F_INDIRECT_DESC | F_EVENT_IDX));
    wr(d, VM_DRV_FEATURES_SEL, 0);
    wr(d, VM_DRV_FEATURES, (uint32_t)d->accepted);
    wr(d, VM_DRV_FEATURES_SEL, 1);
    wr(d, VM_DRV_FEATURES, (uint32_t)(d->accepted >> 32));
    wr(d, VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
    if (!(rd(d, VM_STATUS) & ST_FEATURES_OK))
        return "FEATURES_OK not kept";

    for (unsigned qi = 0; qi < d->nqueues; qi++) {
        struct vq *q = &d->q[qi];
        wr(d, VM_QUEUE_SEL, qi);
        if (rd(d, VM_QUEUE_READY) != 0)
            return "QueueReady not 0 after a reset";
        unsigned max = rd(d, VM_QUEUE_NUM_MAX);
        if (max == 0)
            return "QueueNumMax is 0";
        unsigned num = max < QSIZE ? max : QSIZE;
        uint8_t *base = qi == d->tq ? ringmem : rxring;
        uint64_t desc = (uintptr_t)base + (qi == d->tq ? DESC_OFF : 0);
        uint64_t avail = (uintptr_t)base + (qi == d->tq ? AVAIL_OFF : 4096);
        uint64_t used = (uintptr_t)base + (qi == d->tq ? USED_OFF : 8192);
        unsigned layout = num;              /* entries the rings have room for */
        if (qi == d->tq) {
            switch (ring) {
            case R_DESC_OUT:  desc = OUTSIDE_RAM; break;
            case R_AVAIL_OUT: avail = OUTSIDE_RAM; break;
            case R_USED_OUT:  used = OUTSIDE_RAM; break;
            case R_HUGE_NUM:  num = HUGE_NUM; layout = HUGE_NUM; break;
            default: break;
            }
        }
        /* clear the rings (in RAM) */
        if (desc < RAM_END && desc >= RAM_BASE)
            memset((void *)(uintptr_t)desc, 0, 16 * layout);
        if (avail < RAM_END && avail >= RAM_BASE)
            memset((void *)(uintptr_t)avail, 0, 6 + 2 * layout);
        if (used < RAM_END && used >= RAM_BASE)
            memset((void *)(uintptr_t)used, 0, 6 + 8 * layout);
        q->num = num;
        q->desc = desc == OUTSIDE_RAM ? NULL : (struct vring_desc *)(uintptr_t)desc;
        q->avail = avail == OUTSIDE_RAM ? NULL : (struct vring_avail *)(uintptr_t)avail;
        q->used = used == OUTSIDE_RAM ? NULL : (struct vring_used *)(uintptr_t)used;
        q->avail_idx = 0;
        fence();
        wr(d, VM_QUEUE_NUM, num);
        set_queue_addr(d, VM_QUEUE_DESC_LO, desc);
        set_queue_addr(d, VM_QUEUE_DRIVER_LO, avail);
        set_queue_addr(d, VM_QUEUE_DEVICE_LO, used);
        wr(d, VM_QUEUE_READY, 1);
    }
    wr(d, VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    return NULL;
}

/* ---- requests ---- */
static void publish(struct vq *q, uint16_t head)
{
    q->avail->ring[q->avail_idx % q->num] = head;
    fence();
    q->avail_idx++;
    *(volatile uint16_t *)&q->avail->idx = q->avail_idx;
}

static void notify(struct dev *d, unsigned qi)
{
    io_fence();
    wr(d, VM_QUEUE_NOTIFY, qi);
}

static void set_desc(struct vring_desc *t, unsigned i, const void *addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    t[i].addr = (uintptr_t)addr;
    t[i].len = len;
    t[i].flags = flags;
    t[i].next = next;
}

/* The device's valid request, as a chain from entry 0 of table t. */
static void valid_chain(struct dev *d, struct vring_desc *t)
{
    switch (d->id) {
    case ID_BLK:
        blkhdr.type = BLK_T_IN;
        blkhdr.reserved = 0;
        blkhdr.sector = 0;
        memset(blkdata, 0, sizeof blkdata);
        blkstatus = 0xff;
        set_desc(t, 0, &blkhdr, sizeof blkhdr, D_NEXT, 1);
        set_desc(t, 1, blkdata, sizeof blkdata, D_NEXT | D_WRITE, 2);
        set_desc(t, 2, (const void *)&blkstatus, 1, D_WRITE, 0);
        break;
    case ID_RNG:
        memset(rngbuf, 0, sizeof rngbuf);
        set_desc(t, 0, rngbuf, sizeof rngbuf, D_WRITE, 0);
        break;
    case ID_NET: {
        memset(txbuf, 0, sizeof txbuf);
        uint8_t *e = txbuf + NET_HDR_LEN;
        memset(e, 0xff, 6);                             /* broadcast */
        static const uint8_t src[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
        memcpy(e + 6, src, 6);
        e[12] = 0x88; e[13] = 0xb5;                     /* local experimental */
        memcpy(e + 14, "rewind virtio-garbage", 21);
        set_desc(t, 0, txbuf, TX_LEN, 0, 0);
        break;
    }
    }
}

/* Waits until the device flags an error or the used ring moves (then a
 * little longer, for the rest of what it does with the request). */
static void wait_outcome(struct dev *d, struct vq *q, uint64_t ticks)
{
    uint64_t end = mtime() + ticks;
    while (mtime() < end) {
        if (rd(d, VM_STATUS) & ST_NEEDS_RESET)
            return;
        if (q->used && vread16(&q->used->idx) != 0) {
            end = mtime() + 20 * MS;
            while (mtime() < end && !(rd(d, VM_STATUS) & ST_NEEDS_RESET))
                ;
            return;
        }
    }
}

/* One valid request on a freshly initialised device. NULL or a problem. */
static char problem[160];
static const char *valid_request(struct dev *d)
{
    struct vq *q = &d->q[d->tq];
    if (d->id == ID_NET) {
        struct vq *rx = &d->q[0];
        memset(rxbuf, 0, sizeof rxbuf);
        set_desc(rx->desc, 0, rxbuf, sizeof rxbuf, D_WRITE, 0);
        publish(rx, 0);
        notify(d, 0);
    }
    valid_chain(d, q->desc);
    publish(q, 0);
    notify(d, d->tq);
    uint64_t end = mtime() + 2000 * MS;
    while (vread16(&q->used->idx) == 0 && mtime() < end)
        if (rd(d, VM_STATUS) & ST_NEEDS_RESET)
            break;
    fence();
    uint32_t st = rd(d, VM_STATUS);
    uint16_t uidx = vread16(&q->used->idx);
    if (st & ST_NEEDS_RESET) {
        snprintf(problem, sizeof problem, "valid request flagged (status %#x)", (unsigned)st);
        return problem;
    }
    if (uidx != 1) {
        snprintf(problem, sizeof problem, "valid request not used (used idx %u)", uidx);
        return problem;
    }
    if (q->used->ring[0].id != 0) {
        snprintf(problem, sizeof problem, "used id %u, want 0", (unsigned)q->used->ring[0].id);
        return problem;
    }
    uint32_t len = q->used->ring[0].len;
    switch (d->id) {
    case ID_BLK:
        if (blkstatus != 0) {
            snprintf(problem, sizeof problem, "blk status %u", blkstatus);
            return problem;
        }
        for (unsigned i = 0; i < sizeof blkdata; i++)
            if (blkdata[i] != disk_byte(i)) {
                snprintf(problem, sizeof problem,
                         "sector 0 byte %u is %#x, want %#x", i, blkdata[i], disk_byte(i));
                return problem;
            }
        break;
    case ID_RNG:
        if (len == 0 || len > sizeof rngbuf) {
            snprintf(problem, sizeof problem, "rng used len %u", (unsigned)len);
            return problem;
        }
        break;
    default:
        break;
    }
    wr(d, VM_INT_ACK, rd(d, VM_INT_STATUS));
    return NULL;
}

/* ---- the cases ---- */
typedef void build_fn(struct dev *d, struct vq *q);

static void dir_desc(struct dev *d, struct vring_desc *t, unsigned i, void *buf,
                     uint32_t len, uint16_t flags, uint16_t next)
{
    /* data in the direction the device expects: writable for rng */
    set_desc(t, i, buf, len, flags | (d->id == ID_RNG ? D_WRITE : 0), next);
}

static void b_addr_high(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[d->main].addr = OUTSIDE_RAM;
    publish(q, 0);
}

static void b_addr_top(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[d->main].addr = TOP_PAGE;
    publish(q, 0);
}

static void b_len_wrap(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[d->main].addr = 0xffffffffffffff00UL;   /* + 0x200 wraps to 0x100 */
    q->desc[d->main].len = 0x200;
    publish(q, 0);
}

static void b_len_past_ram(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[d->main].addr = RAM_END - 0x100;         /* crosses the end of RAM */
    q->desc[d->main].len = 0x200;
    publish(q, 0);
}

static void b_chain_loop(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);            /* blk: entry 0 stays the header */
    if (d->id != ID_BLK)
        dir_desc(d, q->desc, 0, scratch, 64, D_NEXT, 1);
    else
        q->desc[0].flags = D_NEXT, q->desc[0].next = 1;
    dir_desc(d, q->desc, 1, scratch + 64, 64, D_NEXT, 0);
    publish(q, 0);
}

static void b_next_oor(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[0].flags |= D_NEXT;
    q->desc[0].next = (uint16_t)q->num;
    publish(q, 0);
}

static void b_head_oor(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    publish(q, (uint16_t)q->num);
}

static void b_avail_jump(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    for (unsigned i = 0; i < q->num; i++)
        q->avail->ring[i] = 0;
    fence();
    q->avail_idx = (uint16_t)(q->num + 1);
    *(volatile uint16_t *)&q->avail->idx = q->avail_idx;
}

static void b_write_before_read(struct dev *d, struct vq *q)
{
    (void)d;
    set_desc(q->desc, 0, scratch, 64, D_NEXT | D_WRITE, 1);
    set_desc(q->desc, 1, scratch + 64, 64, 0, 0);
    publish(q, 0);
}

static void b_desc_out(struct dev *d, struct vq *q)
{
    (void)d;
    publish(q, 0);                      /* entry 0 of a table outside RAM */
}

static void b_avail_out(struct dev *d, struct vq *q)
{
    (void)d; (void)q;                   /* nothing the guest can write */
}

static void b_valid(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    publish(q, 0);
}

static void b_blk_hdr_writable(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[0].flags |= D_WRITE;
    publish(q, 0);
}

static void b_blk_hdr_short(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[0].len = 8;
    publish(q, 0);
}

static void b_blk_hdr_zero(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[0].len = 0;
    publish(q, 0);
}

static void b_blk_status_ro(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[2].flags &= (uint16_t)~D_WRITE;
    publish(q, 0);
}

static void b_blk_status_zero(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[2].len = 0;
    publish(q, 0);
}

static void b_rng_readonly(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[0].flags &= (uint16_t)~D_WRITE;
    publish(q, 0);
}

static void b_net_tx_writable(struct dev *d, struct vq *q)
{
    valid_chain(d, q->desc);
    q->desc[0].flags |= D_WRITE;
    publish(q, 0);
}

/* indirect tables (only when the device offers VIRTIO_RING_F_INDIRECT_DESC) */
static unsigned chain_len(struct dev *d) { return d->id == ID_BLK ? 3 : 1; }

static void b_ind_outside(struct dev *d, struct vq *q)
{
    set_desc(q->desc, 0, (const void *)OUTSIDE_RAM, 16 * chain_len(d), D_INDIRECT, 0);
    publish(q, 0);
}

static void b_ind_bad_len(struct dev *d, struct vq *q)
{
    valid_chain(d, itable);
    set_desc(q->desc, 0, itable, 16 * chain_len(d) + 1, D_INDIRECT, 0);
    publish(q, 0);
}

static void b_ind_nested(struct dev *d, struct vq *q)
{
    valid_chain(d, itable2);
    set_desc(itable, 0, itable2, 16 * chain_len(d), D_INDIRECT, 0);
    set_desc(q->desc, 0, itable, 16, D_INDIRECT, 0);
    publish(q, 0);
}

static void b_ind_next_oor(struct dev *d, struct vq *q)
{
    valid_chain(d, itable);
    itable[0].flags |= D_NEXT;
    itable[0].next = (uint16_t)chain_len(d);    /* one past the table */
    set_desc(q->desc, 0, itable, 16 * chain_len(d), D_INDIRECT, 0);
    publish(q, 0);
}

#define ALL ((1u << ID_BLK) | (1u << ID_NET) | (1u << ID_RNG))
#define BLK (1u << ID_BLK)
#define NET (1u << ID_NET)
#define RNG (1u << ID_RNG)

struct gcase {
    const char *name;
    unsigned devices;
    enum ring_kind ring;
    int indirect;                       /* needs VIRTIO_RING_F_INDIRECT_DESC */
    build_fn *build;
};

static const struct gcase cases[] = {
    { "desc-addr-high",       ALL, R_NORMAL,    0, b_addr_high },
    { "desc-addr-top",        ALL, R_NORMAL,    0, b_addr_top },
    { "len-wrap",             ALL, R_NORMAL,    0, b_len_wrap },
    { "len-past-ram",         ALL, R_NORMAL,    0, b_len_past_ram },
    { "chain-loop",           ALL, R_NORMAL,    0, b_chain_loop },
    { "next-out-of-range",    ALL, R_NORMAL,    0, b_next_oor },
    { "head-out-of-range",    ALL, R_NORMAL,    0, b_head_oor },
    { "avail-idx-jump",       ALL, R_NORMAL,    0, b_avail_jump },
    { "write-before-read",    ALL, R_NORMAL,    0, b_write_before_read },
    { "desc-table-outside-ram", ALL, R_DESC_OUT, 0, b_desc_out },
    { "avail-outside-ram",    ALL, R_AVAIL_OUT, 0, b_avail_out },
    { "used-outside-ram",     ALL, R_USED_OUT,  0, b_valid },
    { "hdr-writable",         BLK, R_NORMAL,    0, b_blk_hdr_writable },
    { "hdr-short",            BLK, R_NORMAL,    0, b_blk_hdr_short },
    { "hdr-zero-len",         BLK, R_NORMAL,    0, b_blk_hdr_zero },
    { "status-readonly",      BLK, R_NORMAL,    0, b_blk_status_ro },
    { "status-zero-len",      BLK, R_NORMAL,    0, b_blk_status_zero },
    { "buffer-readonly",      RNG, R_NORMAL,    0, b_rng_readonly },
    { "tx-writable",          NET, R_NORMAL,    0, b_net_tx_writable },
    { "indirect-outside-ram", ALL, R_NORMAL,    1, b_ind_outside },
    { "indirect-bad-len",     ALL, R_NORMAL,    1, b_ind_bad_len },
    { "indirect-nested",      ALL, R_NORMAL,    1, b_ind_nested },
    { "indirect-next-out-of-range", ALL, R_NORMAL, 1, b_ind_next_oor },
    { "queue-num-huge",       ALL, R_HUGE_NUM,  0, b_valid },
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Checks after the device was told about a garbage request. */
static void run_case(struct dev *d, const struct gcase *c)
{
    char line[200];
    const char *err = dev_init(d, c->ring);
    if (err) {
        printf("virtio-garbage: %s %s: FAIL: set-up: %s\n", d->name, c->name, err);
        mismatches++;
        return;
    }
    struct vq *q = &d->q[d->tq];
    int irq = VIRTIO_IRQ(d->slot);
    plic_drain();
    uint32_t st0 = rd(d, VM_STATUS);
    wr(d, VM_QUEUE_SEL, d->tq);
    uint32_t ready = rd(d, VM_QUEUE_READY);
    int early = !!(st0 & ST_NEEDS_RESET);       /* refused while setting up */
    if (!early) {
        c->build(d, q);
        notify(d, d->tq);
        wait_outcome(d, q, c->ring == R_HUGE_NUM ? 2000 * MS : 300 * MS);
    }
    fence();
    uint32_t st = rd(d, VM_STATUS);
    uint32_t isr = rd(d, VM_INT_STATUS);
    int pend = plic_pending(irq);
    uint16_t uidx = q->used ? vread16(&q->used->idx) : 0;
    int ok = 0;
    if (st & ST_NEEDS_RESET) {
        if (!early && !(isr & INT_CONFIG))
            snprintf(line, sizeof line, "FAIL: needs-reset without the configuration-change "
                     "bit (InterruptStatus %#x)", (unsigned)isr), mismatches++;
        else if (!early && !pend)
            snprintf(line, sizeof line, "FAIL: needs-reset, InterruptStatus %#x, but irq %d "
                     "not pending at the PLIC", (unsigned)isr, irq), mismatches++;
        else if (uidx != 0)
            snprintf(line, sizeof line, "FAIL: needs-reset but the used ring moved to %u",
                     uidx), mismatches++;
        else
            snprintf(line, sizeof line, "%s ok",
                     c->ring == R_HUGE_NUM ? "flagged" : "needs-reset"), ok = 1;
    } else if (c->ring == R_HUGE_NUM && !ready) {
        snprintf(line, sizeof line, "refused ok (QueueReady stays 0)");
        ok = 1;
    } else if (c->ring == R_HUGE_NUM && uidx == 1) {
        snprintf(line, sizeof line, "ignored ok (the request was served)");
        ok = 1;
    } else {
        snprintf(line, sizeof line, "not flagged (status %#x, InterruptStatus %#x, "
                 "used idx %u)", (unsigned)st, (unsigned)isr, uidx);
        unflagged++;
    }
    if (isr)
        wr(d, VM_INT_ACK, isr);
    plic_drain();

    /* the device works again after a reset */
    err = dev_init(d, R_NORMAL);
    if (!err)
        err = valid_request(d);
    if (err) {
        printf("virtio-garbage: %s %s: %s; FAIL: after a reset: %s\n",
               d->name, c->name, line, err);
        mismatches++;
        ok = 0;
    } else {
        printf("virtio-garbage: %s %s: %s\n", d->name, c->name, line);
    }
    reset(d);
    plic_drain();
    total++;
    handled += ok;
}

/* text + rodata checksum: a device writing where it must not would show */
extern char __data_start[];
static uint64_t image_sum(void)
{
    uint64_t h = 1469598103934665603ULL;
    for (const uint64_t *p = (const uint64_t *)RAM_BASE; p < (const uint64_t *)__data_start; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static const char *id_name(uint32_t id)
{
    switch (id) {
    case ID_NET: return "net";
    case ID_BLK: return "blk";
    case ID_RNG: return "rng";
    default: return "other";
    }
}

int main(void)
{
    printf("virtio-garbage: start\n");
    uint64_t sum0 = image_sum();
    plic_setup();

    for (int i = 0; i < VIRTIO_SLOTS; i++) {
        uintptr_t base = VIRTIO_SLOT(i);
        uint32_t magic = MMIO32(base + VM_MAGIC);
        uint32_t version = MMIO32(base + VM_VERSION);
        uint32_t id = MMIO32(base + VM_DEVICE_ID);
        if (magic != VIRTIO_MAGIC) {
            printf("virtio-garbage: slot %d: bad magic %#x\n", i, (unsigned)magic);
            mismatches++;
            continue;
        }
        if (id == 0)
            continue;
        printf("virtio-garbage: slot %d: %s (device id %u, version %u)\n",
               i, id_name(id), (unsigned)id, (unsigned)version);
        for (int k = 0; k < 3; k++)
            if (devs[k].id == id && devs[k].slot < 0) {
                if (version != 2) {
                    printf("virtio-garbage: %s: FAIL: Version %u, not 2 (modern)\n",
                           devs[k].name, (unsigned)version);
                    mismatches++;
                    break;
                }
                devs[k].slot = i;
                devs[k].base = base;
            }
    }

    for (int k = 0; k < 3; k++) {
        struct dev *d = &devs[k];
        if (d->slot < 0) {
            printf("virtio-garbage: %s: FAIL: no such device\n", d->name);
            mismatches++;
            continue;
        }
        const char *err = dev_init(d, R_NORMAL);
        if (!err)
            err = valid_request(d);
        if (err) {
            printf("virtio-garbage: %s: FAIL: %s\n", d->name, err);
            mismatches++;
            reset(d);
            continue;
        }
        printf("virtio-garbage: %s: works\n", d->name);
        printf("virtio-garbage: %s: indirect descriptors %s, event index %s\n",
               d->name, d->offered & F_INDIRECT_DESC ? "offered" : "not offered",
               d->offered & F_EVENT_IDX ? "offered" : "not offered");
        if (d->id == ID_BLK) {
            uint64_t cap = MMIO32(d->base + VM_CONFIG) |
                           (uint64_t)MMIO32(d->base + VM_CONFIG + 4) << 32;
            printf("virtio-garbage: blk: capacity %lu sectors\n", (unsigned long)cap);
        }
        reset(d);
        for (unsigned c = 0; c < NCASES; c++) {
            if (!(cases[c].devices & (1u << d->id)))
                continue;
            if (cases[c].indirect && !(d->offered & F_INDIRECT_DESC))
                continue;
            run_case(d, &cases[c]);
        }
    }

    if (image_sum() != sum0) {
        printf("virtio-garbage: FAIL: the program's text or rodata changed\n");
        mismatches++;
    }
    if (handled == total && !mismatches)
        printf("virtio-garbage: all %d cases handled\n", total);
    else
        printf("virtio-garbage: %d of %d cases handled, %d not flagged, %d failed\n",
               handled, total, unflagged, mismatches);
    if (mismatches)
        rt_fail(mismatches);
    rt_pass();
}
