/* Public interface of the GDB stub: the GDB remote serial protocol over a
 * TCP or Unix socket, driving a Machine through emulator.h. */
#ifndef REWIND_GDBSTUB_H
#define REWIND_GDBSTUB_H

#include "emulator.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct GdbStub GdbStub;

/* Opens the listening socket. spec is QEMU's -gdb syntax: "tcp::PORT"
 * (127.0.0.1), "tcp:HOST:PORT", "unix:PATH" (a bare number or ":PORT"
 * means tcp::PORT). On failure returns NULL with a one-line message in
 * err. */
GdbStub *gdbstub_new(Machine *m, const char *spec, char *err, size_t errlen);

/* Runs the machine under the stub until the guest exits, the debugger
 * kills it, or the user quits from the console (Ctrl-A x). With
 * start_stopped (-S) no instruction runs before a debugger resumes the
 * machine; otherwise the machine runs and stops when a debugger connects.
 * Returns the process exit status (the guest's exit code). */
int gdbstub_run(GdbStub *s, bool start_stopped);

/* Closes the sockets (removes a Unix socket file) and frees the stub. */
void gdbstub_free(GdbStub *s);

/* The address the stub listens on, for messages ("tcp 127.0.0.1:1234"). */
const char *gdbstub_address(const GdbStub *s);

/* The session's monitor (monitor.h): serves qRcmd, and its stop/cont/quit
 * act on the run loop. Without one, qRcmd gets a private monitor. */
typedef struct Monitor Monitor;
void gdbstub_set_monitor(GdbStub *s, Monitor *mon);

/* Record/replay (replay/replay.h): the machine runs through replay_run, so
 * that the recording's events are applied at their icounts; the end of the
 * log stops the machine with the replaylog:end stop reason. NULL: none. */
typedef struct ReplaySession ReplaySession;
void gdbstub_set_replay(GdbStub *s, ReplaySession *rs);
/* Reverse execution (reverse/reverse.h) over that replay: the stub then
 * advertises ReverseStep+/ReverseContinue+ and serves bs/bc; forward steps
 * follow the recorded schedule. NULL: none. */
typedef struct Reverse Reverse;
void gdbstub_set_reverse(GdbStub *s, Reverse *rev);

#endif
