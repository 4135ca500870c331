/* The monitor: QEMU-HMP-like commands (help, info registers, x/FMT, stop,
 * cont, quit ...) served on a console (-monitor stdio with readline,
 * -monitor unix:PATH as a plain line protocol) and through GDB's
 * `monitor` (qRcmd). Every command writes through a writer callback, so
 * one handler serves both. Commands live in one table in monitor.c. */
#ifndef REWIND_MONITOR_H
#define REWIND_MONITOR_H

#include "emulator.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct Monitor Monitor;
typedef struct GdbStub GdbStub;

/* Receives a command's output: text of len bytes (not NUL-terminated). */
typedef void (*MonitorWriter)(void *opaque, const char *text, size_t len);

/* A monitor for machine m, with no console yet (enough for qRcmd). The
 * machine starts paused when start_paused (-S). */
Monitor *monitor_new(Machine *m, bool start_paused);
void monitor_free(Monitor *mon);

/* Opens the console. spec is QEMU's -monitor syntax: "stdio", "none",
 * "unix:PATH[,server][,nowait]" (also server=on,wait=off). mux: the guest's
 * serial is on stdio too (-serial mon:stdio, or -monitor stdio with the
 * default -serial stdio): Ctrl-A c switches between them; the guest has
 * the terminal first unless monitor_first. Returns false with a message. */
bool monitor_open(Monitor *mon, const char *spec, bool mux, bool monitor_first, char *err,
                  size_t errlen);

/* The GDB stub of the session, if any: commands consult it (cont is
 * refused while a debugger is attached; gdb_phys sets its memory mode). */
void monitor_set_stub(Monitor *mon, GdbStub *stub);

/* Executes one command line, writing its output through w. hart is the
 * selected hart (-1: the monitor's own selection, set by `cpu N`);
 * from_gdb says the line came through qRcmd. */
void monitor_execute(Monitor *mon, const char *line, MonitorWriter w, void *opaque, int hart,
                     bool from_gdb);

/* Services the console: accepts connections, reads input and runs the
 * complete lines, waiting up to timeout_ms (0: do not wait) for input. */
void monitor_poll(Monitor *mon, int timeout_ms);

/* The run state the commands act on. The run loops (rewind.c, the GDB
 * stub) run the machine only while it is not paused, and set the state
 * when they stop or resume it themselves. */
bool monitor_paused(const Monitor *mon);
void monitor_set_paused(Monitor *mon, bool paused);
/* `quit` was given: the session ends. */
bool monitor_quit_requested(const Monitor *mon);

/* Record/replay: fn runs before system_reset resets the machine (recording
 * logs the request); when it returns false the reset is refused with its
 * one-line message (replaying: the machine follows the recording). */
typedef bool (*MonitorResetHook)(void *opaque, char *err, size_t errlen);
void monitor_set_reset_hook(Monitor *mon, MonitorResetHook fn, void *opaque);

/* Record/replay: the session, its log file and the recording's end icount
 * (0 when not known), for `info replay`. */
typedef struct ReplaySession ReplaySession;
void monitor_set_replay(Monitor *mon, ReplaySession *rs, const char *log_path,
                        uint64_t end_icount);
/* Replaying: the Reverse engine (reverse/reverse.h) that replay_seek,
 * replay_break, savevm/loadvm/delvm, bookmark/goto and info snapshots
 * use. Without one they answer "CMD: not replaying". */
typedef struct Reverse Reverse;
void monitor_set_reverse(Monitor *mon, Reverse *rev);

#endif
