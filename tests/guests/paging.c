/* paging: Sv39 and Sv48 page tables built here; S-mode kernel identity
 * mapped, U-mode code run from a user virtual address. Checks page faults
 * and stval, hardware-set A/D bits, SUM and MXR, superpages, sfence.vma and
 * (Sv48) a 4-level-only address.
 *
 * Physical layout: this image at 0x80000000, I/O below 0x40000000.
 * Virtual layout (both modes):
 *   0x0000_0000 1 GiB  -> PA 0           RW     (I/O: uart, clint, finisher)
 *   0x8000_0000 1 GiB  -> PA 0x80000000  RWX    (kernel: this image)
 *   UV = 0x4000_0000 user area, 4 KiB pages through l1_user/l0_user:
 *   UV+0x0000 user code (.utext)  R X U
 *   UV+0x1000 user data               R W U
 *   UV+0x2000 not mapped
 *   UV+0x3000 read-only data          R U
 *   UV+0x4000 user data again         X U (execute-only, for MXR)
 *   UV+0x5000 user stack              R W U
 *   UV+0x6000 user data again         R W (supervisor only)
 *   UV+0x200000 2 MiB megapage -> PA 0x80000000, R U
 *   UV+0x400000 2 MiB megapage with a misaligned PPN (must fault)
 * Sv48 only: 0x80_0000_0000 + x maps like UV + x. */
#include <stdio.h>
#include <string.h>
#include "rt.h"

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PTE(pa, flags) ((((unsigned long)(pa) >> 12) << 10) | (flags) | PTE_V)
#define PTE_PA(pte) (((pte) >> 10) << 12)

#define SATP_SV39 (8UL << 60)
#define SATP_SV48 (9UL << 60)

#define UV          0x40000000UL
#define UV_CODE     (UV + 0x0000)
#define UV_DATA     (UV + 0x1000)
#define UV_HOLE     (UV + 0x2000)
#define UV_RO       (UV + 0x3000)
#define UV_XONLY    (UV + 0x4000)
#define UV_STACK    (UV + 0x5000)
#define UV_SUPER    (UV + 0x6000)
#define UV_MEGA     (UV + 0x200000)
#define UV_BADMEGA  (UV + 0x400000)
#define HI48        0x8000000000UL    /* Sv48: VPN[3] = 1 */

typedef unsigned long pte_t;
static pte_t root39[512] __attribute__((aligned(4096)));
static pte_t l1_user[512] __attribute__((aligned(4096)));
static pte_t l0_user[512] __attribute__((aligned(4096)));
static pte_t root48[512] __attribute__((aligned(4096)));
static pte_t l2_hi[512] __attribute__((aligned(4096)));

static volatile uint64_t user_data[512] __attribute__((aligned(4096)));
static volatile uint64_t user_ro[512] __attribute__((aligned(4096)));
static uint8_t user_stack[4096] __attribute__((aligned(4096)));
static uint8_t s_stack[8192] __attribute__((aligned(16)));

extern char __user_text_start[], __user_text_end[];
extern char u_load[], u_load_insn[], u_store[], u_store_insn[], u_exec[],
    u_ret42[];
extern long k_load(unsigned long va);
extern char k_load_insn[];

/* user virtual address of a .utext symbol */
#define UVA(sym) (UV_CODE + ((unsigned long)(sym) - (unsigned long)__user_text_start))

#define L0(va) (&l0_user[((va) >> 12) & 511])

static void build_tables(void)
{
    root39[0] = PTE(0, PTE_R | PTE_W | PTE_A | PTE_D | PTE_G);
    root39[2] = PTE(0x80000000UL, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G);
    root39[1] = PTE(l1_user, 0);
    l1_user[0] = PTE(l0_user, 0);
    *L0(UV_CODE) = PTE(__user_text_start, PTE_R | PTE_X | PTE_U);
    *L0(UV_DATA) = PTE(user_data, PTE_R | PTE_W | PTE_U);
    *L0(UV_RO) = PTE(user_ro, PTE_R | PTE_U | PTE_A);
    *L0(UV_XONLY) = PTE(user_data, PTE_X | PTE_U | PTE_A);
    *L0(UV_STACK) = PTE(user_stack, PTE_R | PTE_W | PTE_U | PTE_A | PTE_D);
    *L0(UV_SUPER) = PTE(user_data, PTE_R | PTE_W | PTE_A | PTE_D);
    l1_user[(UV_MEGA >> 21) & 511] = PTE(0x80000000UL, PTE_R | PTE_U | PTE_A);
    l1_user[(UV_BADMEGA >> 21) & 511] =
        PTE(0x80001000UL, PTE_R | PTE_U | PTE_A);
    /* Sv48: the Sv39 root serves as the level-2 table for the low 512 GiB */
    root48[0] = PTE(root39, 0);
    root48[1] = PTE(l2_hi, 0);
    l2_hi[0] = PTE(l1_user, 0);
}

/* ---- S-mode trap handler ---- */
struct rec {
    unsigned long cause, epc, tval, status;
    int count;
};
static volatile struct rec srec;

void s_trap(struct trap_frame *f)
{
    srec.cause = f->cause;
    srec.epc = f->epc;
    srec.tval = f->tval;
    srec.status = f->status;
    srec.count++;
    if (f->cause & CAUSE_INTR) {
        rt_printf("unexpected S interrupt %#lx\n", f->cause);
        rt_fail(0x71);
    }
    if (f->cause == EXC_INST_PAGE)
        f->epc = f->regs[1];            /* back to the caller */
    else
        f->epc += 4;                    /* probes are 4-byte instructions */
}

static int sfail;
#define SCHECK(cond, ...) do { int _c = !!(cond); if (!_c) sfail++; \
    rt_check(_c, __FILE__, __LINE__, __VA_ARGS__); } while (0)

static long run_user(void *fn, unsigned long a0, unsigned long a1)
{
    return rt_senter((long)a0, (void *)UVA(fn), (void *)(UV_STACK + 4096),
                     (long)a1);
}

static int faulted(int before, unsigned long cause, unsigned long epc,
                   unsigned long tval, int from_user)
{
    int ok = srec.count == before + 1 && srec.cause == cause &&
             srec.epc == epc && srec.tval == tval &&
             !!(srec.status & MSTATUS_SPP) == !from_user;
    if (!ok)
        rt_printf("  got %d trap(s), scause=%#lx sepc=%#lx stval=%#lx "
                  "SPP=%d; want scause=%#lx sepc=%#lx stval=%#lx\n",
                  srec.count - before, srec.cause, srec.epc, srec.tval,
                  !!(srec.status & MSTATUS_SPP), cause, epc, tval);
    return ok;
}

static inline void sfence(void) { __asm__ volatile ("sfence.vma" ::: "memory"); }

static void s_paging(long sv)
{
    const char *m = sv == 48 ? "sv48" : "sv39";
    unsigned long satp = csr_read(satp);
    SCHECK((satp >> 60) == (sv == 48 ? 9UL : 8UL), "%s: satp mode reads back", m);

    /* fresh A/D state */
    *L0(UV_CODE) &= ~(PTE_A | PTE_D);
    *L0(UV_DATA) &= ~(PTE_A | PTE_D);
    sfence();
    user_data[0] = 0x1111222233334444UL;
    user_ro[0] = 0x5555666677778888UL;

    int n = srec.count;
    long v = run_user(u_load, UV_DATA, 0);
    SCHECK(srec.count == n && v == 0x1111222233334444L,
           "%s: U-mode code at a user VA reads user data", m);
    SCHECK(*L0(UV_CODE) & PTE_A, "%s: A set on the code page by the fetch", m);
    SCHECK((*L0(UV_DATA) & (PTE_A | PTE_D)) == PTE_A,
           "%s: load sets A, leaves D clear", m);
    v = run_user(u_store, UV_DATA + 8, 0xabcdef);
    SCHECK(srec.count == n && v == 0 && user_data[1] == 0xabcdef,
           "%s: U-mode store reaches the physical page", m);
    SCHECK((*L0(UV_DATA) & (PTE_A | PTE_D)) == (PTE_A | PTE_D),
           "%s: store sets D", m);
    SCHECK(!(*L0(UV_CODE) & PTE_D), "%s: code page D still clear", m);

    /* page faults from U, with stval */
    n = srec.count;
    run_user(u_load, UV_HOLE + 0x10, 0);
    SCHECK(faulted(n, EXC_LOAD_PAGE, UVA(u_load_insn), UV_HOLE + 0x10, 1),
           "%s: load from unmapped page: scause 13, stval = address", m);
    n = srec.count;
    run_user(u_store, UV_RO + 0x18, 1);
    SCHECK(faulted(n, EXC_STORE_PAGE, UVA(u_store_insn), UV_RO + 0x18, 1),
           "%s: store to read-only page: scause 15, stval = address", m);
    SCHECK(user_ro[3] == 0, "%s: faulting store wrote nothing", m);
    n = srec.count;
    v = run_user(u_load, UV_RO, 0);
    SCHECK(srec.count == n && v == 0x5555666677778888L,
           "%s: read-only page is readable", m);
    n = srec.count;
    v = run_user(u_exec, UV_DATA + 0x20, 0);
    SCHECK(faulted(n, EXC_INST_PAGE, UV_DATA + 0x20, UV_DATA + 0x20, 1) &&
               v == -1,
           "%s: fetch from non-executable page: scause 12, stval = address", m);
    n = srec.count;
    v = run_user(u_exec, UVA(u_ret42), 0);
    SCHECK(srec.count == n && v == 42, "%s: jump within user code", m);
    n = srec.count;
    run_user(u_load, UV_SUPER, 0);
    SCHECK(faulted(n, EXC_LOAD_PAGE, UVA(u_load_insn), UV_SUPER, 1),
           "%s: U load from a supervisor page faults", m);
    n = srec.count;
    run_user(u_load, (unsigned long)user_data, 0);
    SCHECK(faulted(n, EXC_LOAD_PAGE, UVA(u_load_insn), (unsigned long)user_data, 1),
           "%s: U load from the kernel mapping faults", m);

    /* superpages */
    n = srec.count;
    v = run_user(u_load, UV_MEGA + ((unsigned long)user_data - 0x80000000UL), 0);
    SCHECK(srec.count == n && v == 0x1111222233334444L,
           "%s: 2 MiB megapage translates", m);
    n = srec.count;
    run_user(u_load, UV_BADMEGA + 0x100, 0);
    SCHECK(faulted(n, EXC_LOAD_PAGE, UVA(u_load_insn), UV_BADMEGA + 0x100, 1),
           "%s: misaligned megapage faults", m);

    /* SUM: S access to user pages */
    csr_clear(sstatus, MSTATUS_SUM | MSTATUS_MXR);
    n = srec.count;
    k_load(UV_DATA);
    SCHECK(faulted(n, EXC_LOAD_PAGE, (unsigned long)k_load_insn, UV_DATA, 0),
           "%s: SUM=0: S load from a user page faults", m);
    csr_set(sstatus, MSTATUS_SUM);
    n = srec.count;
    v = k_load(UV_DATA);
    SCHECK(srec.count == n && v == 0x1111222233334444L,
           "%s: SUM=1: S load from a user page works", m);

    /* MXR: loads from execute-only pages */
    n = srec.count;
    k_load(UV_XONLY);
    SCHECK(faulted(n, EXC_LOAD_PAGE, (unsigned long)k_load_insn, UV_XONLY, 0),
           "%s: MXR=0: load from an execute-only page faults", m);
    n = srec.count;
    run_user(u_load, UV_XONLY, 0);
    SCHECK(faulted(n, EXC_LOAD_PAGE, UVA(u_load_insn), UV_XONLY, 1),
           "%s: MXR=0: U load from an execute-only page faults", m);
    csr_set(sstatus, MSTATUS_MXR);
    n = srec.count;
    v = k_load(UV_XONLY);
    SCHECK(srec.count == n && v == 0x1111222233334444L,
           "%s: MXR=1: S load from an execute-only page works", m);
    n = srec.count;
    v = run_user(u_load, UV_XONLY, 0);
    SCHECK(srec.count == n && v == 0x1111222233334444L,
           "%s: MXR=1: U load from an execute-only page works", m);
    csr_clear(sstatus, MSTATUS_SUM | MSTATUS_MXR);

    /* sfence.vma makes a changed mapping visible */
    pte_t saved = *L0(UV_DATA);
    *L0(UV_DATA) = PTE(user_ro, PTE_R | PTE_U | PTE_A);
    sfence();
    n = srec.count;
    v = run_user(u_load, UV_DATA, 0);
    SCHECK(srec.count == n && v == 0x5555666677778888L,
           "%s: remapped page seen after sfence.vma", m);
    *L0(UV_DATA) = saved;
    sfence();

    /* an address only Sv48 can map */
    n = srec.count;
    v = run_user(u_load, HI48 + 0x1000, 0);
    if (sv == 48)
        SCHECK(srec.count == n && v == 0x1111222233334444L,
               "%s: VA 0x8000001000 maps through the 4th level", m);
    else
        SCHECK(faulted(n, EXC_LOAD_PAGE, UVA(u_load_insn), HI48 + 0x1000, 1),
               "%s: VA 0x8000001000 is not canonical: page fault", m);

    rt_exit_mode(sfail ? 1 : 0x600d);
}

int main(void)
{
    printf("paging: start\n");
    CHECK(__user_text_end - __user_text_start == 4096, "user code fits one page");
    build_tables();
    csr_write(mtvec, rt_mtrap_entry);
    csr_write(stvec, rt_strap_entry);
    csr_write(medeleg, (1UL << EXC_ECALL_U) | (1UL << EXC_INST_PAGE) |
                       (1UL << EXC_LOAD_PAGE) | (1UL << EXC_STORE_PAGE));
    csr_write(mideleg, 0);

    csr_write(satp, SATP_SV39 | ((unsigned long)root39 >> 12));
    __asm__ volatile ("sfence.vma" ::: "memory");
    long r = rt_menter(39, (void *)s_paging, PRV_S, s_stack + sizeof s_stack);
    CHECK(r == 0x600d, "sv39 tests completed in S-mode");

    csr_write(satp, SATP_SV48 | ((unsigned long)root48 >> 12));
    __asm__ volatile ("sfence.vma" ::: "memory");
    if ((csr_read(satp) >> 60) != 9) {
        CHECK(0, "Sv48 supported");
    } else {
        r = rt_menter(48, (void *)s_paging, PRV_S, s_stack + sizeof s_stack);
        CHECK(r == 0x600d, "sv48 tests completed in S-mode");
    }
    csr_write(satp, 0);
    __asm__ volatile ("sfence.vma" ::: "memory");
    rt_finish();
}
