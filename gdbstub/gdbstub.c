/* The debugging session: owns the machine while -gdb is given. It is one
 * thread: while the machine runs, it runs in chunks of RUN_CHUNK steps and
 * polls the debugger's socket (for Ctrl-C and new connections) and the
 * console between chunks; while stopped, it blocks on the socket and
 * answers packets.
 *
 * Stepping is exact: a step executes one instruction (or trap entry) on
 * the selected hart, the others stay still. Continue runs every hart until
 * a breakpoint (machine_run stops in front of it), Ctrl-C, or the guest's
 * exit, which is reported as W<code>. */
#include "stub_internal.h"
#include "replay.h"
#include "reverse.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RUN_CHUNK 200000    /* steps between two polls of the socket */

GdbStub *gdbstub_new(Machine *m, const char *spec, char *err, size_t errlen)
{
    GdbStub *s = g_new0(GdbStub, 1);
    s->m = m;
    s->reply = g_string_new(NULL);
    if (!rsp_listen(&s->rsp, spec, err, errlen)) {
        g_string_free(s->reply, TRUE);
        g_free(s);
        return NULL;
    }
    return s;
}

void gdbstub_free(GdbStub *s)
{
    if (!s)
        return;
    machine_clear_all_breakpoints(s->m);
    machine_clear_all_watchpoints(s->m);
    rsp_close(&s->rsp);
    if (s->mon_owned)
        monitor_free(s->mon);
    g_free(s->target_xml);
    g_string_free(s->reply, TRUE);
    g_free(s);
}

const char *gdbstub_address(const GdbStub *s)
{
    return s->rsp.address;
}

void gdbstub_set_monitor(GdbStub *s, Monitor *mon)
{
    if (s->mon_owned)
        monitor_free(s->mon);
    s->mon = mon;
    s->mon_owned = false;
    if (mon)
        monitor_set_stub(mon, s);
}

/* Serves the monitor's console between chunks and while stopped. */
void gdbstub_set_replay(GdbStub *s, ReplaySession *rs)
{
    s->replay = rs;
}

void gdbstub_set_reverse(GdbStub *s, Reverse *rev)
{
    s->rev = rev;
}

static void poll_monitor(GdbStub *s)
{
    if (s->mon)
        monitor_poll(s->mon, 0);
}

static void on_connect(GdbStub *s)
{
    s->g_hart = s->c_hart = 0;
    s->gdb_swbreak = s->gdb_hwbreak = false;
}

/* Polls the socket without blocking while the machine runs. Returns true
 * when the machine must stop (Ctrl-C, or a debugger just connected). */
static bool poll_while_running(GdbStub *s, int timeout_ms)
{
    bool had = s->rsp.fd >= 0;
    bool input = rsp_wait(&s->rsp, timeout_ms);
    if (!had && s->rsp.fd >= 0) {
        on_connect(s);
        return true;    /* as QEMU: the machine stops when GDB attaches */
    }
    if (!input)
        return false;
    if (!rsp_receive(&s->rsp)) {
        /* the debugger went away without detaching: as QEMU, the machine
         * stops and waits for the next one */
        fprintf(stderr, "rewind: debugger disconnected; machine stopped, waiting for another on %s\n",
                s->rsp.address);
        rsp_disconnect(&s->rsp);
        machine_clear_all_breakpoints(s->m);
        machine_clear_all_watchpoints(s->m);
        return true;
    }
    /* only 0x03 is expected while running; packets wait until the stop */
    for (guint i = 0; i < s->rsp.in->len; i++) {
        if (s->rsp.in->data[i] == 0x03) {
            g_byte_array_remove_index(s->rsp.in, i);
            return true;
        }
    }
    return false;
}

typedef enum StopWhy {
    STOP_NONE,
    STOP_DEBUGGER,      /* Ctrl-C */
    STOP_ATTACH,        /* a debugger connected or went away: no stop reply */
    STOP_BREAKPOINT,
    STOP_WATCHPOINT,
    STOP_EXIT,
    STOP_QUIT,          /* console Ctrl-A x */
    STOP_REPLAY_END,    /* replay: the end of the log (or a divergence) */
    STOP_REPLAY_BREAK,  /* replay: the monitor's replay_break icount */
} StopWhy;

/* Runs the machine until something stops it. */
static StopWhy run_machine(GdbStub *s)
{
    for (;;) {
        RunResult r = s->rev      ? reverse_run(s->rev, RUN_CHUNK)
                    : s->replay ? replay_run(s->replay, s->m, RUN_CHUNK)
                                : machine_run(s->m, RUN_CHUNK);
        if (r == RUN_EXIT)
            return STOP_EXIT;
        if (r == RUN_REPLAY_END || r == RUN_REPLAY_DIVERGED)
            return STOP_REPLAY_END;
        if (r == RUN_BREAKPOINT)
            return STOP_BREAKPOINT;
        if (r == RUN_WATCHPOINT)
            return STOP_WATCHPOINT;
        if (s->rev && reverse_break_reached(s->rev))
            return STOP_REPLAY_BREAK;
        if (console_poll(s->m))
            return STOP_QUIT;
        poll_monitor(s);
        if (s->mon && monitor_quit_requested(s->mon))
            return STOP_QUIT;
        if (s->mon && monitor_paused(s->mon))
            return STOP_DEBUGGER;   /* the monitor's stop: reported as Ctrl-C */
        bool idle = r == RUN_IDLE && !machine_can_progress(s->m);
        bool had = s->rsp.fd >= 0;
        /* every hart waits: for host input, or for the next timer */
        if (idle)
            replay_idle_wait(s->replay, s->m, 10);
        if (poll_while_running(s, 0))
            return had && s->rsp.fd >= 0 ? STOP_DEBUGGER : STOP_ATTACH;
    }
}

static void report_stop(GdbStub *s, StopWhy why)
{
    if (s->rsp.fd < 0)
        return;
    if (why == STOP_BREAKPOINT) {
        int hart = 0, type = BP_SOFTWARE;
        machine_breakpoint_hit(s->m, &hart, NULL, &type);
        gdb_send_stop(s, hart, SIG_TRAP, type);
    } else if (why == STOP_WATCHPOINT) {
        int hart = 0, type = WP_WRITE;
        uint64_t addr = 0;
        machine_watchpoint_hit(s->m, &hart, &addr, &type);
        gdb_send_watch_stop(s, hart, type, addr);
    } else if (why == STOP_DEBUGGER) {
        gdb_send_stop(s, s->g_hart > 0 ? s->g_hart : 0, SIG_INT, -1);
    } else if (why == STOP_REPLAY_BREAK) {
        gdb_send_stop(s, s->g_hart > 0 ? s->g_hart : 0, SIG_TRAP, -1);
    } else if (why == STOP_REPLAY_END) {
        char buf[64];
        snprintf(buf, sizeof buf, "T%02xthread:%x;replaylog:end;", SIG_TRAP,
                 (s->g_hart > 0 ? s->g_hart : 0) + 1);
        rsp_send_str(&s->rsp, buf);
    }
}

static void report_exit(GdbStub *s)
{
    if (s->rsp.fd >= 0) {
        char buf[16];
        snprintf(buf, sizeof(buf), "W%02x", machine_exit_code(s->m) & 0xff);
        rsp_send_str(&s->rsp, buf);
    }
}

/* Answers packets until the debugger resumes the machine. */
static ResumeKind serve_stopped(GdbStub *s, GByteArray *pkt)
{
    for (;;) {
        if (s->rsp.fd < 0) {
            /* no debugger: wait for one (the machine stays stopped) */
            if (console_poll(s->m))
                return RESUME_KILL;
            poll_monitor(s);
            if (s->mon && monitor_quit_requested(s->mon))
                return RESUME_KILL;
            if (s->mon && !monitor_paused(s->mon))
                return RESUME_CONTINUE;     /* the monitor's cont */
            rsp_wait(&s->rsp, s->mon ? 20 : 100);
            if (s->rsp.fd >= 0)
                on_connect(s);
            continue;
        }
        RspEvent ev = rsp_next_packet(&s->rsp, pkt);
        if (ev == RSP_PACKET) {
            ResumeKind k = gdb_handle_packet(s, (char *)pkt->data, pkt->len);
            if (k != RESUME_NONE)
                return k;
            continue;
        }
        if (ev == RSP_EOF) {
            rsp_disconnect(&s->rsp);
            continue;
        }
        s->rsp.interrupt = false;   /* Ctrl-C while stopped: nothing to do */
        if (rsp_wait(&s->rsp, 100) && !rsp_receive(&s->rsp)) {
            /* the debugger went away while the machine was stopped: keep it
             * stopped for the next one (it may have died mid-session) */
            fprintf(stderr, "rewind: debugger disconnected; waiting for another on %s\n",
                    s->rsp.address);
            rsp_disconnect(&s->rsp);
            machine_clear_all_breakpoints(s->m);
            machine_clear_all_watchpoints(s->m);
        }
        if (console_poll(s->m))
            return RESUME_KILL;
        poll_monitor(s);
        if (s->mon && monitor_quit_requested(s->mon))
            return RESUME_KILL;
    }
}

/* Ctrl-C during a long reverse operation: only the 0x03 byte counts (other
 * packets wait until the stop is reported). */
static bool reverse_interrupted(void *opaque)
{
    GdbStub *s = opaque;
    if (s->rsp.fd < 0 || !rsp_wait(&s->rsp, 0))
        return false;
    if (!rsp_receive(&s->rsp))
        return true;    /* the debugger went away: stop where we are */
    for (guint i = 0; i < s->rsp.in->len; i++) {
        if (s->rsp.in->data[i] == 0x03) {
            g_byte_array_remove_index(s->rsp.in, i);
            return true;
        }
    }
    return false;
}

/* Reports where a reverse (or replayed forward) operation stopped. */
static void report_reverse(GdbStub *s, int hart, ReverseStop st, const ReverseHit *hit)
{
    char buf[96];
    reverse_note_stop(s->rev);
    switch (st) {
    case REV_BREAKPOINT:
        gdb_send_stop(s, hit->hart, SIG_TRAP, hit->type);
        return;
    case REV_WATCHPOINT:
        gdb_send_watch_stop(s, hit->hart, hit->type, hit->addr);
        return;
    case REV_BEGIN:
    case REV_END:
        snprintf(buf, sizeof buf, "T%02xthread:%x;replaylog:%s;", SIG_TRAP, hart + 1,
                 st == REV_BEGIN ? "begin" : "end");
        s->g_hart = hart;
        rsp_send_str(&s->rsp, buf);
        return;
    case REV_INTERRUPTED:
        gdb_send_stop(s, hart, SIG_INT, -1);
        return;
    case REV_ERROR:
        fprintf(stderr, "rewind: %s\n", reverse_message(s->rev) ? reverse_message(s->rev)
                                                              : "reverse execution failed");
        gdb_send_stop(s, hart, SIG_TRAP, -1);
        return;
    default:
        gdb_send_stop(s, hart, SIG_TRAP, -1);
        return;
    }
}

int gdbstub_run(GdbStub *s, bool start_stopped)
{
    GByteArray *pkt = g_byte_array_new();
    bool stopped = start_stopped;
    int code;

    for (;;) {
        if (!stopped) {
            if (s->mon)
                monitor_set_paused(s->mon, false);
            StopWhy why = run_machine(s);
            if (s->mon)
                monitor_set_paused(s->mon, true);
            if (why == STOP_EXIT && s->rev) {
                /* replaying: the guest's exit is the end of the recorded
                 * history, not of the session: GDB can walk back from it */
                report_reverse(s, s->g_hart > 0 ? s->g_hart : 0, REV_END, NULL);
                stopped = true;
                continue;
            }
            if (why == STOP_EXIT) {
                report_exit(s);
                break;
            }
            if (why == STOP_QUIT)
                break;
            if (s->rev)
                reverse_note_stop(s->rev);
            report_stop(s, why);
            stopped = true;
        }
        ResumeKind k = serve_stopped(s, pkt);
        if (k == RESUME_KILL)
            break;
        if (s->rev && (k == RESUME_STEP || k == RESUME_REVERSE_STEP ||
                       k == RESUME_REVERSE_CONTINUE)) {
            ReverseHit hit = { 0 };
            ReverseStop st;
            reverse_set_poll(s->rev, reverse_interrupted, s);
            if (k == RESUME_STEP)
                st = reverse_step(s->rev, s->step_hart, &hit);
            else if (k == RESUME_REVERSE_STEP)
                st = reverse_stepi(s->rev, s->step_hart);
            else
                st = reverse_continue(s->rev, &hit);
            if (st == REV_EXIT)
                st = REV_END;   /* the guest's exit ends the history only */
            report_reverse(s, s->step_hart, st, &hit);
            continue;
        }
        if (k == RESUME_STEP) {
            /* replay: apply the events due here first; none past the end */
            if (s->replay && replay_apply_due(s->replay, s->m) != RUN_BUDGET) {
                report_stop(s, STOP_REPLAY_END);
                continue;
            }
            RunResult r = machine_step_hart(s->m, s->step_hart);
            if (r == RUN_EXIT) {
                report_exit(s);
                break;
            }
            if (r == RUN_WATCHPOINT) {
                report_stop(s, STOP_WATCHPOINT);
                continue;
            }
            gdb_send_stop(s, s->step_hart, SIG_TRAP, -1);
            continue;
        }
        if (k == RESUME_DETACH) {
            machine_clear_all_breakpoints(s->m);
            machine_clear_all_watchpoints(s->m);
            rsp_disconnect(&s->rsp);
        }
        stopped = false;    /* continue or detach */
    }
    code = machine_exit_code(s->m);
    g_byte_array_free(pkt, TRUE);
    return code;
}
