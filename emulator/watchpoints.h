/* Internal to emulator/: what the memory slow paths and the run loop need
 * from watchpoints.c. The public side is in emulator.h. */
#ifndef REWIND_WATCHPOINTS_H
#define REWIND_WATCHPOINTS_H

#include "machine.h"

/* Pseudo exception cause: a slow path met a watchpoint. The instruction is
 * not executed and the step is not counted. */
#define EXC_WATCHPOINT (~0ull)

/* True when the virtual page of va overlaps a watchpoint: the TLBs must not
 * map it, so every access there reaches the slow paths. */
bool watchpoint_page(const Machine *m, uint64_t va);
/* Checks an access of [va, va+len) by hart h (is_write: a store, or the
 * write half of an AMO; is_read: a load, or the read half). On a hit,
 * records it and sets h->exc_cause to EXC_WATCHPOINT; returns true. */
bool watchpoint_check(Hart *h, uint64_t va, unsigned len, bool is_read, bool is_write);
/* True (once) when the last run stopped at a watchpoint. */
bool machine_take_watchpoint_stop(Machine *m);
void watchpoints_free_machine(Machine *m);
/* The last hit is forgotten (machine_debug_forget_hits). */
void watchpoints_forget_hit(Machine *m);

#endif
