/* Internal to emulator/: the basic-block compiler to x86-64 (-accel
 * tcg|jit, the default). The interpreter stays the driver: when a jump
 * lands on an entry, it runs the compiled block there if the block's
 * instruction count fits in the slice's remaining budget, and interprets
 * otherwise.
 * See docs/emulator.md. */
#ifndef REWIND_JIT_H
#define REWIND_JIT_H

#include "cpu.h"

/* Compiled blocks of one DecodedPage, by the slot they start at. */
#define JIT_NEVER 255   /* hot[] value: the slot starts no compilable block */
struct JitPage {
    uint32_t nblocks;           /* blocks compiled or refused since cleared */
    uint8_t hot[PAGE_INSNS];    /* times entered while not compiled */
    void *code[PAGE_INSNS];     /* block entry, NULL when none */
};

typedef struct JitExit {
    int64_t left;       /* slice budget after the block(s) */
    uint64_t status;    /* JIT_EXIT_* */
} JitExit;

enum {
    JIT_EXIT_JUMP = 0,  /* continue at the returned pc */
    JIT_EXIT_EXC = 1,   /* a slow path failed: h->pc, h->exc_* are set */
    JIT_EXIT_STOP = 2,  /* stop_slice after a slow path: stop at the pc */
};

/* True when the machine should compile: -accel (cfg->accel), unless
 * REWIND_JIT=0|1 in the environment says otherwise (read once). */
bool jit_wanted(MachineAccel accel);
/* Entries of a slot before its block is compiled (REWIND_JIT_HOT, 2). */
extern unsigned jit_hot;
/* Sets up the machine's code buffer (idempotent). False, with one line on
 * stderr the first time, when the host refuses RWX memory: the machine
 * then only interprets. */
bool jit_init(Machine *m);
void jit_free(Machine *m);
/* Compiles the block starting at slot idx of page; NULL when the
 * instruction there is not compiled (hot[idx] then says never). */
void *jit_compile(Machine *m, DecodedPage *page, unsigned idx);
/* Instruction count of a compiled block. */
static inline uint32_t jit_block_len(const void *code)
{
    return *(const uint32_t *)((const uint8_t *)code - 4);
}
/* Runs compiled code; returns the next pc. */
uint64_t jit_run(Machine *m, Hart *h, void *code, int64_t left, uint64_t vpage, JitExit *ex);
/* How many times the interpreter entered compiled code (tests). */
uint64_t jit_entries(const Machine *m);
/* Drops the blocks of a page whose bytes changed. */
void jit_page_invalidate(DecodedPage *page);
/* Drops every compiled block (debugger breakpoints changed: blocks end in
 * front of breakpoint addresses, see jit_compile). Between runs only. */
void jit_flush(Machine *m);

#endif
