/* Private to replay/: byte layout of the event log file (see
 * docs/log-format.md) and little-endian helpers shared by the writer,
 * the reader and the check events. */
#ifndef REWIND_REPLAY_LOG_FORMAT_H
#define REWIND_REPLAY_LOG_FORMAT_H

#include "replay.h"

#include <stdint.h>
#include <string.h>

/* File header, RLOG_FILE_HEADER_SIZE bytes. */
#define FH_MAGIC         0    /* 8  "RWNDLOG\0" */
#define FH_VERSION       8    /* u32 RLOG_FORMAT_VERSION */
#define FH_HEADER_SIZE   12   /* u32 RLOG_FILE_HEADER_SIZE */
#define FH_FLAGS         16   /* u32, bits 16-31 must be understood */
#define FH_CHUNK_SIZE    20   /* u32 writer's chunk target (informative) */
#define FH_CHECK_PERIOD  24   /* u64 check period (informative) */
#define FH_RESERVED      32   /* u32 0 */
#define FH_CRC           36   /* u32 CRC-32 of bytes 0..35 */

/* Flags a reader may ignore if it does not know them. */
#define RLOG_FLAGS_COMPAT_MASK    0x0000ffffu
/* Flags a reader must refuse if it does not know them. None in version 1. */
#define RLOG_FLAGS_INCOMPAT_MASK  0xffff0000u
#define RLOG_FLAGS_KNOWN          0u

/* Chunk header, RLOG_CHUNK_HEADER_SIZE bytes. */
#define CH_TAG           0    /* 4  "RWCK" */
#define CH_INDEX         4    /* u32 chunk number, from 0 */
#define CH_FIRST         8    /* u64 icount of the first event */
#define CH_LAST          16   /* u64 icount of the last event */
#define CH_NEVENTS       24   /* u32 number of events, >= 1 */
#define CH_CLEN          28   /* u32 compressed length */
#define CH_ULEN          32   /* u32 uncompressed length */
#define CH_DATA_CRC      36   /* u32 CRC-32 of the compressed bytes */
#define CH_CRC           40   /* u32 CRC-32 of bytes 0..39 */

#define RLOG_CHUNK_TAG   "RWCK"

/* Smallest encoded event: type, delta, length, each one byte. */
#define RLOG_MIN_EVENT_BYTES 3u

#endif
