/* Internal to emulator/: what the run loop (machine.c) needs from
 * breakpoints.c. The public side is in emulator.h. */
#ifndef REWIND_BREAKPOINTS_H
#define REWIND_BREAKPOINTS_H

#include "machine.h"

#define BP_MAX 1024

/* The machine's breakpoints, or NULL when it has none (the fast path). */
BreakpointSet *breakpoints_of(const Machine *m);
/* True when hart must stop before executing the instruction at pc (and
 * records the stop), false when there is no breakpoint at pc or this is
 * the stop already reported at this point of the hart (same retired
 * count: the debugger resumes from it). */
bool breakpoint_should_stop(BreakpointSet *s, int hart, uint64_t pc, uint64_t retired);
void breakpoints_free_machine(Machine *m);
/* True when a breakpoint is set exactly at pc. */
bool breakpoint_at(const BreakpointSet *s, uint64_t pc);
/* True when a breakpoint sits at this offset of its page (the block
 * compiler ends blocks there whatever the mapping). */
bool breakpoint_at_page_offset(const BreakpointSet *s, uint32_t off);
/* Gives the decoded entries of page (mapped at virtual page vpage) that
 * hold a breakpoint the handler `bp_handler`; entries not decoded yet get
 * it when they are decoded (the interpreter asks breakpoint_at then). */
struct DecodedPage;
void breakpoints_patch_page(const BreakpointSet *s, struct DecodedPage *page, uint64_t vpage,
                            const void *bp_handler);

#endif
