/* Internal to the block layer (block.c, block_qcow2.c): a read-only qcow2
 * reader with its backing chain, and the positioned read both formats
 * share. */
#ifndef REWIND_BLOCK_QCOW2_H
#define REWIND_BLOCK_QCOW2_H

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Backing chains longer than this are refused (QEMU has no fixed limit;
 * a chain this deep is a mistake or a loop in disguise). */
#define QCOW2_MAX_CHAIN 32

typedef struct Qcow2 Qcow2;

/* Opens a qcow2 image and its whole backing chain, read-only. Every
 * header field and table offset used later is validated here or on first
 * use; errors name the file: "disk.qcow2: not a qcow2 image". */
Qcow2 *qcow2_open(const char *path, char *err, size_t errlen);
void qcow2_close(Qcow2 *q);
/* Virtual size, bytes. */
uint64_t qcow2_size(const Qcow2 *q);
/* Reads guest bytes [offset, offset + len), which must lie within the
 * virtual size. A corrupt table met on the way fails with a message. */
bool qcow2_read(Qcow2 *q, uint64_t offset, void *buf, uint64_t len, char *err, size_t errlen);
/* Appends the image's path, then each backing file's, to files (as
 * g_strdup'ed strings). */
void qcow2_chain_files(const Qcow2 *q, GPtrArray *files);
/* True when the file starts with the qcow2 magic. */
bool qcow2_probe(int fd);

/* pread of exactly len bytes; what lies past the end of the file reads as
 * zeros (as QEMU's file driver pads short reads). */
static inline bool image_pread(int fd, const char *path, uint64_t offset, void *buf,
                               uint64_t len, char *err, size_t errlen)
{
    uint8_t *p = buf;
    while (len) {
        size_t n = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s: read at %#" G_GINT64_MODIFIER "x: %s", path, offset,
                     strerror(errno));
            return false;
        }
        if (got == 0) {
            memset(p, 0, len);
            return true;
        }
        p += got;
        offset += (uint64_t)got;
        len -= (uint64_t)got;
    }
    return true;
}

#endif
