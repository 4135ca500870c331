/* Internal to emulator/: disk images behind virtio-blk (block.c,
 * block_qcow2.c).
 *
 * A BlockDev is a read-only base image (raw, or a qcow2 chain with backing
 * files) plus, unless writes go straight to a raw file, an in-memory
 * overlay of 4 KiB pages: a page written by the guest lives in the overlay
 * and hides the base. During record and replay the image is never written
 * (DESIGN.md, "Record and replay"); the overlay is dirty-tracked like RAM
 * so that snapshots cover the disk (emulator.h, "disks"). */
#ifndef REWIND_BLOCK_H
#define REWIND_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCK_PAGE_SIZE 4096u
/* Larger disks are refused: the overlay's dirty bitmap is one flat array
 * (2 TiB: 64 MiB of bitmap). */
#define BLOCK_MAX_SIZE (2ull << 40)

typedef struct BlockDev BlockDev;

typedef enum BlockFormat {
    BLOCK_FORMAT_RAW = 0,
    BLOCK_FORMAT_QCOW2 = 1,
} BlockFormat;

typedef enum BlockWriteMode {
    BLOCK_WRITE_OVERLAY = 0,    /* writes kept in the in-memory overlay */
    BLOCK_WRITE_THROUGH = 1,    /* writes go to the image file (raw only) */
} BlockWriteMode;

/* Opens path as fmt. readonly: the guest may not write (virtio-blk offers
 * VIRTIO_BLK_F_RO). Errors name the file and the problem: "disk.qcow2: not
 * a qcow2 image", "disk.qcow2: backing file base.img: No such file or
 * directory", "disk.qcow2: L1 table at 0x... lies outside the file" ...
 * BLOCK_WRITE_THROUGH is refused for qcow2 (Rewind does not write qcow2).
 * A raw image's size is rounded up to whole 512-byte sectors, as QEMU
 * does: the missing tail reads as zeros (docs/disks.md). */
BlockDev *block_open(const char *path, BlockFormat fmt, bool readonly, BlockWriteMode mode,
                     char *err, size_t errlen);
void block_close(BlockDev *b);

uint64_t block_size(const BlockDev *b);   /* virtual size, bytes */
bool block_readonly(const BlockDev *b);
const char *block_path(const BlockDev *b);
BlockWriteMode block_write_mode(const BlockDev *b);

/* What QEMU's probing would say for a -drive without format=: qcow2 when
 * the file starts with the qcow2 magic, raw otherwise. */
bool block_probe_format(const char *path, BlockFormat *fmt, char *err, size_t errlen);

/* Byte-granular I/O within [0, block_size). A failure (an I/O error, a
 * corrupt qcow2 table met on the way) returns false with a message; the
 * device reports VIRTIO_BLK_S_IOERR to the guest. */
bool block_read(BlockDev *b, uint64_t offset, void *buf, uint64_t len, char *err,
                size_t errlen);
bool block_write(BlockDev *b, uint64_t offset, const void *buf, uint64_t len, char *err,
                 size_t errlen);
bool block_flush(BlockDev *b, char *err, size_t errlen);

/* Every file the image reads: the image, then its backing chain. NULL-
 * terminated array, free with g_strfreev. (Record/replay hashes them.) */
char **block_image_files(const char *path, BlockFormat fmt, char *err, size_t errlen);

/* ---- the overlay, for snapshots ----
 * Page n covers bytes [n * 4096, (n + 1) * 4096) of the disk. */
uint64_t block_pages(const BlockDev *b);
/* The overlay's copy of page n, or NULL when the page is not in the
 * overlay (it reads from the base image). */
const uint8_t *block_overlay_page(const BlockDev *b, uint64_t page);
/* One bit per page, set when the guest wrote the page since the last
 * block_clear_dirty. Never NULL. */
const uint64_t *block_dirty_bitmap(const BlockDev *b);
void block_clear_dirty(BlockDev *b);
void block_mark_dirty(BlockDev *b, uint64_t page);
/* Pages in the overlay now. */
uint64_t block_overlay_count(const BlockDev *b);
/* The first page >= from that is in the overlay, or UINT64_MAX. Skips
 * empty stretches of the overlay 512 pages at a time. */
uint64_t block_overlay_next(const BlockDev *b, uint64_t from);
/* Puts page n back as a snapshot had it: data NULL removes it from the
 * overlay. Does not mark it dirty. Ignored for BLOCK_WRITE_THROUGH disks,
 * which have no overlay (their writes are in the file). */
void block_set_overlay_page(BlockDev *b, uint64_t page, const void *data);
/* Writes the overlay (the pages the guest changed) to path, in Rewind's
 * overlay format (docs/snapshots.md), through a temporary file renamed
 * into place. */
bool block_save_overlay(const BlockDev *b, const char *path, char *err, size_t errlen);
/* Replaces the overlay with the one saved in path, after checking all of
 * it (magic, version, disk size, truncation, page indices, CRC): on any
 * error the disk is unchanged. Every page whose overlay copy may have
 * changed is marked dirty. BLOCK_WRITE_OVERLAY disks only. */
bool block_load_overlay(BlockDev *b, const char *path, char *err, size_t errlen);

#endif
