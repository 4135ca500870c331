/* Public interface of the emulator: the virt machine as other folders see it. */
#ifndef REWIND_EMULATOR_H
#define REWIND_EMULATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- byte order, for file formats (event log, bundle files, qcow2) ---- */
static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* [offset, offset + len) lies inside a file of size bytes (no overflow) */
static inline bool range_inside(uint64_t offset, uint64_t len, uint64_t size)
{
    return offset <= size && len <= size - offset;
}

#define REWIND_MAX_HARTS 8

typedef struct Machine Machine;

typedef enum SerialKind {
    SERIAL_STDIO,
    SERIAL_NULL,
    SERIAL_FILE,
} SerialKind;

#define REWIND_MAX_DRIVES 6
#define REWIND_MAX_HOSTFWD 8

typedef enum DriveFormat {
    DRIVE_FORMAT_RAW = 0,
    DRIVE_FORMAT_QCOW2 = 1,
} DriveFormat;

/* How guest code runs. Never guest-visible: a recording made with one
 * replays with the other (the manifest does not hold it). */
typedef enum MachineAccel {
    ACCEL_JIT = 0,      /* -accel tcg|jit (default): hot blocks compiled to
                           x86-64, the interpreter for the rest */
    ACCEL_INTERP = 1,   /* -accel interp: the interpreter only */
} MachineAccel;

typedef struct DriveConfig {
    const char *path;
    DriveFormat format;
    bool readonly;
} DriveConfig;

typedef struct MachineConfig {
    uint64_t ram_size;          /* bytes */
    int smp;                    /* number of harts, 1..8 */
    const char *bios;           /* path, "none" or NULL/"default" */
    const char *kernel;
    const char *initrd;
    const char *append;
    const char *dumpdtb;        /* write the device tree here and exit */
    int icount_shift;           /* one instruction = 2^shift ns */
    SerialKind serial;
    const char *serial_path;    /* for SERIAL_FILE */
    uint64_t rtc_start_ns;      /* RTC time at power-on, ns since the Unix
                                   epoch; 0 = read the host clock (record/
                                   replay set it from the recording) */

    /* virtio devices, given virtio-mmio slots in this order: drives, the
     * NIC, the RNG (the first from the highest address down, as QEMU's
     * virt fills its transports) */
    DriveConfig drives[REWIND_MAX_DRIVES];  /* -drive ...,if=virtio */
    int ndrives;
    bool disk_overlay;          /* writes never reach the images (record,
                                   replay, qcow2): see emulator/block.h */
    bool nic_user;              /* -nic user: virtio-net + slirp */
    const char *hostfwd[REWIND_MAX_HOSTFWD];  /* "tcp:127.0.0.1:HP-:GP" */
    int nhostfwd;
    bool rng;                   /* -device virtio-rng */
    bool idle_sleep;            /* -icount sleep=on: while every hart waits,
                                   virtual time follows host time (the run
                                   loop waits; see machine_idle_gap_ns) */
    bool inputs_from_log;       /* replaying: no slirp, no host randomness;
                                   the log feeds machine_host_input_push */
    MachineAccel accel;         /* -accel; REWIND_JIT=0|1 in the environment
                                   overrides it (tests) */
} MachineConfig;

void machine_config_defaults(MachineConfig *cfg);
/* QEMU's device options (device_options.c): -drive, -nic, -netdev and
 * -device, added to cfg; false with a one-line message for what the
 * board does not have or a malformed option. */
bool machine_config_add_drive(MachineConfig *cfg, const char *arg, char *err, size_t errlen);
bool machine_config_add_nic(MachineConfig *cfg, const char *arg, char *err, size_t errlen);
bool machine_config_add_netdev(MachineConfig *cfg, const char *arg, char *err, size_t errlen);
bool machine_config_add_device(MachineConfig *cfg, const char *arg, char *err, size_t errlen);
/* Writes each disk's overlay (the pages the guest wrote) to
 * DIR/diskN.overlay, N the -drive's index (disks with no written page are
 * skipped). */
bool machine_save_disk_overlays(Machine *m, const char *dir, char *err, size_t errlen);
/* Every file a -drive reads: the image, then its backing files. NULL-
 * terminated (g_strfreev), or NULL with a message. */
char **machine_drive_files(const DriveConfig *d, char *err, size_t errlen);

/* Builds the board, loads the images. On failure returns NULL and writes a
 * one-line message (without trailing newline) to err. */
Machine *machine_new(const MachineConfig *cfg, char *err, size_t errlen);
void machine_free(Machine *m);

typedef enum RunResult {
    RUN_BUDGET,     /* executed the requested number of steps */
    RUN_EXIT,       /* the guest powered off or failed; see machine_exit_code */
    RUN_IDLE,       /* every hart waits and nothing can wake them */
    RUN_BREAKPOINT, /* stopped in front of a breakpoint */
    RUN_WATCHPOINT, /* stopped in front of an access to a watched address */
    RUN_HART_GOAL,  /* the hart given to machine_set_hart_goal retired its goal */
    /* only from replay_run (replay/replay.h), never from machine_run: */
    RUN_REPLAY_END,      /* the recording ends here (clean or damaged log) */
    RUN_REPLAY_DIVERGED, /* a check event did not match: replay is wrong */
} RunResult;

/* Runs the whole machine for at most max_steps instructions (all harts). */
RunResult machine_run(Machine *m, uint64_t max_steps);
int machine_exit_code(const Machine *m);
/* Steps a hart has retired (its minstret before any guest write). */
uint64_t machine_hart_steps(const Machine *m, int hart);
/* Makes machine_run return RUN_HART_GOAL as soon as the hart has retired
 * `steps` steps (checked before it runs further; scheduling is unchanged).
 * hart < 0 clears the goal. Reverse execution uses it to move one hart by
 * whole instructions while the others follow the recorded schedule. */
void machine_set_hart_goal(Machine *m, int hart, uint64_t steps);
/* While suspended, breakpoints and watchpoints are ignored (the debugger's
 * own seeks run through them); they keep their settings. */
void machine_suspend_debug(Machine *m, bool suspend);
/* Forgets the last breakpoint and watchpoint hits, which a resume would
 * otherwise go through once: after travelling in time, the same hart at the
 * same pc and step count is a new arrival there. */
void machine_debug_forget_hits(Machine *m);
/* QEMU's system_reset: devices to power-on state, images loaded again,
 * every hart at the boot ROM; other RAM keeps its contents and virtual time
 * goes on. False, with a one-line message, if an image cannot be loaded
 * again. */
bool machine_reset(Machine *m, char *err, size_t errlen);
/* False when every hart waits with no interrupt pending (nothing happens
 * until a timer deadline or host input). */
bool machine_can_progress(const Machine *m);
uint64_t machine_icount(const Machine *m);
/* A 64-bit hash (FNV-1a) of the CPU state: every hart's x, f, pc, privilege
 * level and mstatus, and the icount (state_hash.c). Record/replay's check
 * events compare it. */
uint64_t machine_state_hash(const Machine *m);

/* Host console (console.c): raw TTY mode, Ctrl-A x, non-blocking input. */
void console_attach(Machine *m);
/* Moves available host input into the devices: console bytes into the
 * UART, and network frames and random bytes (see "host inputs" below).
 * Returns true if the user asked to quit (Ctrl-A x). */
bool console_poll(Machine *m);
/* Blocks up to timeout_ms for host input, the console's or the network's
 * (used when every hart waits). */
void console_wait(Machine *m, int timeout_ms);
/* While muted, the guest's console output is dropped (reverse execution
 * replaying what was already shown). */
void console_mute_output(bool mute);
/* -serial mon:stdio (the monitor shares the terminal): on Ctrl-A c the
 * console stops reading stdin and calls to_monitor with the bytes read
 * after the key; the monitor reads stdin until it calls
 * console_mux_focus_guest(). */
void console_set_mux_hook(void (*to_monitor)(void *opaque, const uint8_t *rest, size_t n),
                          void *opaque);
void console_mux_focus_guest(void);
void console_mux_focus_monitor(void);
/* Record/replay. console_set_input_hook: fn is called for every byte
 * console_poll moves into the UART (recording logs it with the icount).
 * console_set_input_from_log(true): guest input comes from a log, not the
 * host; console_poll then never gives stdin bytes to the guest (on a
 * terminal it still reads the Ctrl-A keys: x quits, c switches to the
 * monitor; other keys are dropped; a pipe is not read at all).
 * machine_console_push puts one input byte into the UART as console_poll
 * would; false if the UART cannot take it now. */
void console_set_input_hook(void (*fn)(void *opaque, Machine *m, uint8_t byte), void *opaque);
void console_set_input_from_log(bool from_log);
bool machine_console_push(Machine *m, uint8_t byte);

/* ---- host inputs besides the console (host_input.c) ----
 * Network frames from slirp and random bytes for virtio-rng reach the
 * guest between two machine_run calls (console_poll moves them in, with
 * the console's bytes). Recording logs them through the hook; replay
 * (MachineConfig.inputs_from_log) starts no slirp and pushes the logged
 * ones with machine_host_input_push, which is false when the device
 * cannot take them (no buffer posted: the replay diverged). */
typedef enum HostInputKind {
    HOST_INPUT_NET = 1,
    HOST_INPUT_RNG = 2,
} HostInputKind;
typedef void (*HostInputHook)(void *opaque, Machine *m, HostInputKind kind,
                              const uint8_t *data, size_t len);
void machine_set_host_input_hook(Machine *m, HostInputHook fn, void *opaque);
bool machine_host_input_push(Machine *m, HostInputKind kind, const uint8_t *data, size_t len);
/* Frames the guest sent on its NIC (to slirp, or dropped in replay). */
uint64_t machine_net_tx_frames(const Machine *m);
/* After RUN_IDLE: virtual ns until a timer would wake a hart, UINT64_MAX
 * when none will. With a NIC, or an RNG request posted, machine_run does
 * not jump there by itself (the host may answer first): the run loop
 * waits for host input a while, then calls machine_idle_skip, which jumps
 * virtual time to that deadline (recording logs the jump). */
uint64_t machine_idle_gap_ns(const Machine *m);
bool machine_idle_skip(Machine *m);
/* The same, by ns (at most the gap when a timer is armed): with
 * -icount sleep=on, idle virtual time follows the host's. False when a
 * hart can run. */
bool machine_idle_skip_ns(Machine *m, uint64_t ns);
bool machine_config_idle_sleep(const Machine *m);

/* ---- debugger access (gdbstub/, scripts/difftest) ----
 * Register numbers follow GDB's RISC-V numbering: 0-31 x0-x31, 32 pc,
 * 33-64 f0-f31, 65 + n the CSR numbered n (65+0x001 fflags ...),
 * REG_PRIV the privilege level as QEMU exposes it. */
#define REG_PC 32
#define REG_F0 33
#define REG_CSR0 65
#define REG_PRIV (REG_CSR0 + 4096)

int machine_nharts(const Machine *m);
bool machine_read_reg(Machine *m, int hart, int regno, uint64_t *val);
bool machine_write_reg(Machine *m, int hart, int regno, uint64_t val);
/* Memory through the hart's current translation (as a load would see it,
 * without side effects on A/D bits); physical when phys is true. Returns
 * the number of bytes done, stopping at the first inaccessible byte. */
size_t machine_read_mem(Machine *m, int hart, uint64_t addr, void *buf, size_t len, bool phys);
size_t machine_write_mem(Machine *m, int hart, uint64_t addr, const void *buf, size_t len, bool phys);
/* Executes exactly one instruction (or trap entry) on one hart; the other
 * harts stay still. */
RunResult machine_step_hart(Machine *m, int hart);

/* ---- breakpoints (breakpoints.c) ----
 * Virtual addresses, checked for every hart, that machine_run stops in
 * front of: the instruction at the address has not executed yet (an
 * interrupt taken just before is, so a breakpoint on a trap vector stops
 * after the trap entry). Breakpoints cost nothing until reached: the
 * decoded instructions at their addresses get a checking handler (see
 * cpu_exec.c), everything else runs at full speed. Nothing is written to
 * guest memory. machine_step_hart ignores breakpoints. */
enum { BP_SOFTWARE = 0, BP_HARDWARE = 1 };
/* Inserting an existing (addr, type) counts a reference; false when the
 * table is full. */
bool machine_set_breakpoint(Machine *m, uint64_t addr, int type);
bool machine_clear_breakpoint(Machine *m, uint64_t addr, int type);
void machine_clear_all_breakpoints(Machine *m);
int machine_breakpoint_count(const Machine *m);
/* After RUN_BREAKPOINT: the hart that stopped, its pc and the type of the
 * breakpoint. Resuming runs that hart past it (the stop is not reported
 * twice at the same icount). */
bool machine_breakpoint_hit(const Machine *m, int *hart, uint64_t *pc, int *type);


/* ---- watchpoints (watchpoints.c) ----
 * Virtual address ranges of any length; types use GDB's Z numbers. A hit
 * stops the hart in front of the accessing instruction (it has not
 * executed; memory still holds the old value), with RUN_WATCHPOINT from
 * machine_run or machine_step_hart. Resuming goes through the access that
 * was reported. Debugger memory accesses never trigger them. Pages that
 * hold no watchpoint run at full speed. */
enum { WP_WRITE = 2, WP_READ = 3, WP_ACCESS = 4 };
bool machine_set_watchpoint(Machine *m, uint64_t addr, uint64_t len, int type);
bool machine_clear_watchpoint(Machine *m, uint64_t addr, uint64_t len, int type);
void machine_clear_all_watchpoints(Machine *m);
int machine_watchpoint_count(const Machine *m);
/* The last hit: hart, the watched address the access touched, type. */
bool machine_watchpoint_hit(const Machine *m, int *hart, uint64_t *addr, int *type);

/* ---- the board's address map (memory_map.c), for the monitor ----
 * Calls fn once per region (boot ROM, RAM and every MMIO device), in
 * ascending address order. */
typedef enum MemRegionKind {
    MEMREGION_ROM,
    MEMREGION_RAM,
    MEMREGION_IO,
} MemRegionKind;
typedef void (*MemoryMapFn)(void *opaque, const char *name, uint64_t base, uint64_t size,
                            MemRegionKind kind);
void machine_memory_map(Machine *m, MemoryMapFn fn, void *opaque);

/* ---- machine state and RAM tracking, for snapshots (machine_state.c) ----
 * A MachineState is every hart (registers, CSRs, counters, WFI, the LR/SC
 * reservation), the scheduler (icount, idle time, round-robin position,
 * pending exit/reset requests) and every device's guest-visible state. RAM
 * is not in it: snapshots/ keeps RAM pages with the dirty bitmap below.
 * Save and restore between machine_run calls only. Restore flushes every
 * TLB; decoded instructions stay (RAM did not change). */
typedef struct MachineState MachineState;
MachineState *machine_state_save(Machine *m);
void machine_state_restore(Machine *m, const MachineState *s);
void machine_state_free(MachineState *s);
/* Bytes held by one state (the same for every state of a machine). */
size_t machine_state_size(const MachineState *s);
/* icount at which the state was saved. */
uint64_t machine_state_icount(const MachineState *s);
/* A state as bytes, for snapshots kept in a file, and back. The bytes are
 * the host's layout of the state: only the same Rewind build reads them
 * (the file says which build wrote it). from_bytes refuses bytes whose
 * size or shape do not fit machine m (NULL with a message). */
const void *machine_state_bytes(const MachineState *s, size_t *len);
MachineState *machine_state_from_bytes(const Machine *m, const void *data, size_t len,
                                       char *err, size_t errlen);
/* Virtual time in ns (what the guest's timer counts: 10 MHz ticks * 100). */
uint64_t machine_vclock_ns(const Machine *m);

/* RAM as 4 KiB pages: page n is guest physical RAM base + n * 4096. */
uint64_t machine_ram_pages(const Machine *m);
const uint8_t *machine_ram_page(const Machine *m, uint64_t page);
/* One bit per page (bit n%64 of word n/64), set when the page was written
 * since the last machine_ram_clear_dirty. NULL before the first clear: no
 * tracking yet, every page counts as dirty. */
const uint64_t *machine_ram_dirty_bitmap(const Machine *m);
/* Clears every bit (starting the tracking on first use) and drops the
 * store-TLB entries of every hart, so the next store to each page takes
 * the slow path, which marks the page again. */
void machine_ram_clear_dirty(Machine *m);
/* Writes a whole page (for restoring it) and invalidates the decoded
 * instructions it holds. Does not mark it dirty. */
void machine_ram_write_page(Machine *m, uint64_t page, const void *data);
/* Pages of RAM the host never backed (never touched since the machine
 * started, so all zero): bit n%64 of word n/64 set, in a bitmap of
 * machine_ram_pages bits the caller provides. False when the host cannot
 * tell (no /proc/self/pagemap): then no page is known. Lets a first
 * snapshot skip reading (and faulting in) untouched RAM. */
bool machine_ram_untouched(const Machine *m, uint64_t *bitmap);
/* Marks a page written (a state brought in from outside a snapshot store,
 * for the store to look at on its next take). No-op before tracking. */
void machine_ram_mark_dirty(Machine *m, uint64_t page);

/* ---- disks, for snapshots (disk_state.c) ----
 * Each disk (one per -drive, in order; fixed for the machine's lifetime)
 * is a read-only base image plus an in-memory overlay of 4 KiB pages, the
 * pages the guest wrote (emulator/block.h). Page n covers disk bytes
 * [n * 4096, (n + 1) * 4096). A disk whose writes go straight to a raw
 * image (`rewind run`) has no overlay: snapshots cannot bring its contents
 * back (as QEMU cannot loadvm with a raw disk). */
int machine_ndisks(const Machine *m);
uint64_t machine_disk_pages(const Machine *m, int disk);
/* The overlay's copy of a page, NULL when the page is not in the overlay
 * (it reads from the base image). */
const uint8_t *machine_disk_page(const Machine *m, int disk, uint64_t page);
/* The first page >= from that is in the overlay, UINT64_MAX when none (a
 * fast walk over the overlay, for a first snapshot). */
uint64_t machine_disk_next_page(const Machine *m, int disk, uint64_t from);
/* One bit per page (bit n%64 of word n/64), set when the guest wrote the
 * page since the last machine_disk_clear_dirty (since the disk was opened
 * before the first). Never NULL. */
const uint64_t *machine_disk_dirty_bitmap(const Machine *m, int disk);
void machine_disk_clear_dirty(Machine *m, int disk);
/* Puts a page back as a snapshot had it: data (4096 bytes) becomes the
 * overlay's copy, NULL removes the page from the overlay. Does not mark it
 * dirty. */
void machine_disk_restore_page(Machine *m, int disk, uint64_t page, const void *data);
void machine_disk_mark_dirty(Machine *m, int disk, uint64_t page);

#endif
