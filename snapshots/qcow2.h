/* Internal to snapshots/: the qcow2 (version 3) container of persistent
 * machine snapshots, BUNDLE/snapshots.qcow2.
 *
 * The image has a virtual disk of 0 bytes; each internal snapshot carries a
 * VM state, seen here as an array of 4 KiB pages, each absent (unallocated
 * L2 entry), zero (the v3 zero flag) or data (one cluster). Snapshots share
 * unchanged pages and L2 tables through qcow2 refcounts, so `qemu-img
 * snapshot -l` lists them (with their icount) and `qemu-img check` finds
 * neither errors nor leaks after every commit or delete.
 *
 * Errors return false / NULL / -1 / QCOW2_BAD and write one line, without a
 * trailing newline, into err (errlen bytes; err may be NULL) naming the file,
 * what is wrong and where: "snap.qcow2: snapshot 'a': L2 table at 0x5000 for
 * page 512 lies outside the file (12288 bytes)".
 *
 * The names differ from emulator/block_qcow2.h (Qcow2Image,
 * qcow2_image_open ...) because both libraries are linked into one binary. */
#ifndef REWIND_SNAPSHOTS_QCOW2_H
#define REWIND_SNAPSHOTS_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_PAGE_SIZE 4096u

typedef struct Qcow2Image Qcow2Image;

typedef struct Qcow2SnapInfo {
    const char *id, *name;      /* valid until the next change of the file */
    uint64_t vm_state_size;     /* bytes */
    uint64_t icount;            /* UINT64_MAX when the entry has none */
    uint64_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_ns;
} Qcow2SnapInfo;

/* A new empty image at path; refuses an existing file. Open for writing. */
Qcow2Image *qcow2_image_create(const char *path, char *err, size_t errlen);
/* Validates the header and the snapshot table and reads every snapshot's
 * L1 table. A writable open also recounts every reference and refuses an
 * image whose stored refcounts are below it ("refcounts are inconsistent;
 * run qemu-img check -r all"); leaked clusters are freed at the next
 * commit. */
Qcow2Image *qcow2_image_open(const char *path, bool writable, char *err, size_t errlen);
/* Aborts an open build; frees q in any case. */
bool qcow2_image_close(Qcow2Image *q, char *err, size_t errlen);

int qcow2_snapshot_count(const Qcow2Image *q);
/* In table order; false when index is out of range. */
bool qcow2_snapshot_info(const Qcow2Image *q, int index, Qcow2SnapInfo *info);
/* -1 if none; names first, then ids. */
int qcow2_snapshot_find(const Qcow2Image *q, const char *name_or_id);
/* Committed to the file on return; later indexes shift down by one. Not
 * while a build is open. */
bool qcow2_snapshot_delete(Qcow2Image *q, int index, char *err, size_t errlen);

typedef enum Qcow2PageKind { QCOW2_ABSENT, QCOW2_ZERO, QCOW2_DATA, QCOW2_BAD } Qcow2PageKind;

/* QCOW2_BAD (with a message) for damaged metadata or a page past the end. */
Qcow2PageKind qcow2_page_kind(Qcow2Image *q, int index, uint64_t page, char *err,
                              size_t errlen);
/* The next page >= from that is ZERO or DATA, or whose metadata is damaged
 * (page_kind and read_page then report it); UINT64_MAX if none. A missing
 * L2 table is skipped in one step. */
uint64_t qcow2_next_present(Qcow2Image *q, int index, uint64_t from);
/* 4096 bytes; zeros for ABSENT and ZERO. */
bool qcow2_read_page(Qcow2Image *q, int index, uint64_t page, void *buf, char *err,
                     size_t errlen);
/* Any byte range inside the snapshot's vm_state_size. */
bool qcow2_read_vmstate(Qcow2Image *q, int index, uint64_t offset, void *buf, size_t len,
                        char *err, size_t errlen);

typedef struct Qcow2Build Qcow2Build;

/* A new snapshot of vm_state_size bytes (a multiple of 4096). Every page
 * starts as page `page` of snapshot `base` (-1: all absent; pages past the
 * base's size are absent). One build at a time, on a writable image. */
Qcow2Build *qcow2_build_begin(Qcow2Image *q, int base, uint64_t vm_state_size, char *err,
                              size_t errlen);
/* New contents for a page; an all-zero page becomes ZERO. The data is
 * written to the file (batched) before put returns or at the latest at
 * commit. */
bool qcow2_build_put(Qcow2Build *b, uint64_t page, const void *data, char *err,
                     size_t errlen);
/* Pages past the end are ignored. */
void qcow2_build_zero(Qcow2Build *b, uint64_t page);
void qcow2_build_absent(Qcow2Build *b, uint64_t page);
/* Appends the snapshot to the table and commits; returns its index. The
 * name must not exist yet. Frees b in any case: on error (-1) the file and
 * q keep their previous committed state, as after qcow2_build_abort. */
int qcow2_build_commit(Qcow2Build *b, const char *name, uint64_t icount, uint64_t vm_clock_ns,
                       char *err, size_t errlen);
/* Frees b; the clusters it wrote become free again. */
void qcow2_build_abort(Qcow2Build *b);

#endif
