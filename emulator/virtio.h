/* Internal to emulator/: the virtio-mmio transport (virtio_mmio.c) and the
 * devices on it (virtio_blk.c, virtio_net.c, virtio_rng.c).
 *
 * Virtio 1.x "modern" MMIO (Version register 2) with split virtqueues and
 * the event index. Everything the guest hands the device (ring addresses,
 * descriptor chains) is checked before use: a mistake puts the device in
 * its error state (DEVICE_NEEDS_RESET, a configuration-change interrupt,
 * one line on stderr) until the guest resets it. The device never touches
 * memory outside RAM. */
#ifndef REWIND_VIRTIO_H
#define REWIND_VIRTIO_H

#include "machine.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

#define VIRTIO_F_VERSION_1 (1ull << 32)
#define VIRTIO_RING_F_EVENT_IDX (1ull << 29)

#define VIRTIO_MAX_QUEUES 2
#define VIRTIO_QUEUE_MAX 256
#define VIRTIO_MAX_SEGS 64      /* descriptors in one chain we accept */
#define VIRTIO_CONFIG_SIZE 64

typedef struct VirtQueue {
    uint32_t num;           /* QueueNum */
    uint32_t ready;         /* QueueReady */
    uint64_t desc, avail, used;
    uint16_t last_avail;    /* next avail ring entry the device takes */
    uint16_t used_idx;      /* the used ring's idx as the device wrote it */
    uint16_t signalled_used;    /* used_idx at the last interrupt decision */
    uint16_t signalled_valid;
} VirtQueue;

/* Guest-visible transport state (saved in snapshots as it is). */
typedef struct VirtioState {
    uint32_t status;
    uint32_t dev_features_sel, drv_features_sel;
    uint64_t driver_features;
    uint32_t queue_sel;
    uint32_t interrupt_status;
    uint32_t config_generation;
    uint32_t broken;        /* in the error state until reset */
    VirtQueue q[VIRTIO_MAX_QUEUES];
} VirtioState;

/* One buffer of a descriptor chain, checked to lie in RAM. */
typedef struct VirtioSeg {
    uint64_t addr;
    uint32_t len;
    bool write;             /* device-writable */
} VirtioSeg;

/* A descriptor chain taken from the avail ring. Device-readable segments
 * come first (the spec requires it; a chain that mixes them is an error). */
typedef struct VirtioReq {
    uint16_t head;
    int nseg, nout;         /* all segments; how many are device-readable */
    uint64_t out_len, in_len;
    VirtioSeg seg[VIRTIO_MAX_SEGS];
} VirtioReq;

typedef struct VirtioDevice VirtioDevice;

typedef struct VirtioOps {
    const char *name;       /* "virtio-blk" */
    uint32_t device_id;
    int nqueues;
    /* A queue was notified (or went ready). */
    void (*notify)(VirtioDevice *d, int queue);
    /* Device-specific part of a reset (status 0 or machine reset). */
    void (*reset)(VirtioDevice *d);
    /* Snapshots: the device-specific state after the transport's. */
    size_t state_size;
    void (*save)(const VirtioDevice *d, void *buf);
    void (*load)(VirtioDevice *d, const void *buf);
    void (*free)(VirtioDevice *d);
} VirtioOps;

struct VirtioDevice {
    Machine *m;
    const VirtioOps *ops;
    uint64_t base;
    int irq;
    uint64_t host_features;
    uint8_t config[VIRTIO_CONFIG_SIZE];   /* device configuration space */
    uint32_t config_size;
    bool irq_level;
    VirtioState vs;
    char *state_name;
    DeviceStateOps state_ops;
    void *opaque;           /* the device model */
};

/* Creates the transport in the next free slot (the highest address first,
 * as QEMU's virt fills them); NULL when every slot is taken. */
VirtioDevice *virtio_new(Machine *m, const VirtioOps *ops, uint64_t features, void *opaque);
void virtio_free(VirtioDevice *d);
void virtio_reset(VirtioDevice *d);

/* The driver finished initialisation and the device is not broken. */
bool virtio_live(const VirtioDevice *d);
bool virtio_queue_live(const VirtioDevice *d, int queue);

/* Takes the next available chain of a queue: 1 when *req holds one, 0
 * when the ring is empty, -1 when the guest's ring or chain is malformed
 * (the device is then in the error state). */
int virtio_pop(VirtioDevice *d, int queue, VirtioReq *req);
/* Puts a chain back at the front (the device could not use it yet). */
void virtio_unpop(VirtioDevice *d, int queue);
/* The next chain without taking it and without any side effect (no
 * error state, no guest memory written): for host-side code whose timing
 * replay does not repeat. 1, 0 (none) or -1 (malformed). */
int virtio_peek(VirtioDevice *d, int queue, VirtioReq *req);
/* At a notify: checks every available chain (and, with check, what the
 * device needs of it), putting the device in the error state at the first
 * bad one, without taking any. For devices that serve chains later, so
 * that a mistake is found at the guest's notify, a deterministic point. */
bool virtio_check_avail(VirtioDevice *d, int queue,
                        bool (*check)(VirtioDevice *d, const VirtioReq *req));
/* True when the queue has a chain the device has not taken. */
bool virtio_queue_has_avail(VirtioDevice *d, int queue);
/* Returns a chain to the driver with `written` bytes written into it. */
void virtio_push(VirtioDevice *d, int queue, const VirtioReq *req, uint32_t written);
/* Raises the used-buffer interrupt unless the driver suppressed it. */
void virtio_notify_used(VirtioDevice *d, int queue);

/* Copies between a chain's segments and a host buffer: the readable
 * segments from byte `off` on, or into the writable ones. Return bytes
 * done. */
size_t virtio_req_read(VirtioDevice *d, const VirtioReq *req, uint64_t off, void *buf,
                       size_t len);
size_t virtio_req_write(VirtioDevice *d, const VirtioReq *req, uint64_t off,
                        const void *buf, size_t len);

/* A chain of device-writable buffers only (rng, net receive); otherwise
 * the device error "WHAT at descriptor N is not device-writable". */
bool virtio_req_writable_only(VirtioDevice *d, const VirtioReq *req, const char *what);

/* Puts the device in the error state with a message (printed once per
 * error, on stderr, prefixed with the device's name and address). */
void virtio_error(VirtioDevice *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the devices ---- */

VirtioDevice *virtio_blk_new(Machine *m, BlockDev *disk);

/* virtio-rng: bytes the next posted buffer wants (0 when none is posted;
 * at most VIRTIO_RNG_MAX_FILL), and filling it with host bytes. */
#define VIRTIO_RNG_MAX_FILL 4096
VirtioDevice *virtio_rng_new(Machine *m);
size_t virtio_rng_wanted(VirtioDevice *d);
bool virtio_rng_fill(VirtioDevice *d, const uint8_t *data, size_t len);

/* virtio-net: frames to the guest (false when it posted no receive
 * buffer: the frame waits), and the count of frames the guest sent. */
#define VIRTIO_NET_MAX_FRAME 65536
VirtioDevice *virtio_net_new(Machine *m, const uint8_t mac[6]);
bool virtio_net_can_receive(VirtioDevice *d);
bool virtio_net_receive(VirtioDevice *d, const uint8_t *frame, size_t len);
uint64_t virtio_net_tx_count(const VirtioDevice *d);

#endif
