/* Internal to gdbstub/: the transport, the session state and the packet
 * handlers share these. Other folders use gdbstub.h only. */
#ifndef REWIND_GDBSTUB_INTERNAL_H
#define REWIND_GDBSTUB_INTERNAL_H

#include "gdbstub.h"
#include "monitor.h"

#include <glib.h>
#include <stdint.h>

/* Largest packet we accept and advertise (qSupported PacketSize): a memory
 * read of up to (RSP_PACKET_SIZE - 8) / 2 bytes fits in one reply. */
#define RSP_PACKET_SIZE 0x10000
/* Input beyond this without a complete packet is garbage: dropped. */
#define RSP_MAX_INPUT (4 * RSP_PACKET_SIZE)

/* ---- transport (rsp_transport.c) ---- */

typedef struct Rsp {
    int listen_fd;          /* -1 when closed */
    int fd;                 /* the debugger's connection, -1 when none */
    char *unix_path;        /* to unlink at close */
    char *address;          /* human-readable listening address */
    bool no_ack;            /* QStartNoAckMode accepted */
    GByteArray *in;         /* raw bytes received, not yet parsed */
    GByteArray *last_sent;  /* framed packet, resent on '-' */
    bool interrupt;         /* 0x03 received */
} Rsp;

typedef enum RspEvent {
    RSP_NONE,       /* nothing complete yet */
    RSP_PACKET,     /* a packet is in *out (decoded, NUL-terminated) */
    RSP_EOF,        /* the debugger closed the connection */
} RspEvent;

bool rsp_listen(Rsp *r, const char *spec, char *err, size_t errlen);
void rsp_close(Rsp *r);
/* Accepts a pending connection: returns true when it became the debugger's
 * connection; a second one is refused with a message and closed. */
bool rsp_accept(Rsp *r);
void rsp_disconnect(Rsp *r);
/* Reads what is available on the connection (non-blocking). False on EOF
 * or error. */
bool rsp_receive(Rsp *r);
/* Takes the next complete packet out of the input, acknowledging it (or
 * asking for a resend on a bad checksum). Sets r->interrupt on 0x03. */
RspEvent rsp_next_packet(Rsp *r, GByteArray *out);
/* Sends one packet (escaping what must be). */
void rsp_send(Rsp *r, const void *data, size_t len);
void rsp_send_str(Rsp *r, const char *s);
/* Waits up to timeout_ms (-1: forever) for input on the connection or a
 * new connection on the listening socket; handles the latter. Returns
 * true when the connection has input (or closed). */
bool rsp_wait(Rsp *r, int timeout_ms);

/* ---- the session (gdbstub.c) ---- */

typedef enum ResumeKind {
    RESUME_NONE,        /* stay stopped (a reply was sent) */
    RESUME_CONTINUE,    /* run the machine */
    RESUME_STEP,        /* one instruction on step_hart */
    RESUME_DETACH,      /* run on without the debugger */
    RESUME_KILL,        /* exit */
    RESUME_REVERSE_STEP,     /* bs: step_hart back one instruction */
    RESUME_REVERSE_CONTINUE, /* bc: back to the last breakpoint or watchpoint */
} ResumeKind;

struct GdbStub {
    Machine *m;
    Rsp rsp;
    int g_hart;             /* Hg: registers and memory */
    int c_hart;             /* Hc: resume */
    int step_hart;          /* for RESUME_STEP */
    bool gdb_swbreak;       /* the debugger understands swbreak/hwbreak */
    bool gdb_hwbreak;
    char *target_xml;       /* built on first use */
    size_t target_xml_len;
    GString *reply;         /* scratch for replies */
    Monitor *mon;           /* monitor commands (qRcmd), created on first use */
    bool mon_owned;         /* created here, not by gdbstub_set_monitor */
    bool phys_mem;          /* m/M/X use physical addresses (gdb_phys) */
    ReplaySession *replay;  /* replaying a recording (gdbstub_set_replay) */
    Reverse *rev;           /* reverse execution over it (gdbstub_set_reverse) */
};

/* ---- packet handlers (gdb_packets.c) ---- */

/* Handles one packet: sends the reply, or returns how to resume (the stop
 * reply is then sent by the session when the machine stops). */
ResumeKind gdb_handle_packet(GdbStub *s, char *pkt, size_t len);
/* Stop reply for a stop of hart with signal sig (5 trap, 2 interrupt);
 * with bp_type >= 0 the stop is a breakpoint of that type. */
/* Value of a hex digit, -1 if c is none (rsp_transport.c). */
int hexval(int c);

/* GDB signal numbers of stop replies */
#define SIG_TRAP 5
#define SIG_INT 2

void gdb_send_stop(GdbStub *s, int hart, int sig, int bp_type);
/* Stop reply for a watchpoint hit: watch:/rwatch:/awatch: and the address. */
void gdb_send_watch_stop(GdbStub *s, int hart, int wp_type, uint64_t addr);

/* ---- target description (target_xml.c) ---- */

/* The XML describing hart 0's registers; numbers as GDB's RISC-V
 * numbering (emulator.h REG_*). */
const char *gdb_target_xml(GdbStub *s, size_t *len);
/* Size in bytes of register regno in the description, 0 when it has none. */
int gdb_reg_size(GdbStub *s, int regno);

#endif
