/* MMU: Sv39 and Sv48 walks, permission rules (U/SUM/MXR/X), superpages,
 * hardware A/D updates, canonical addresses and MPRV. */
#include "mini_machine.h"

#define V (1u << 0)
#define R (1u << 1)
#define W (1u << 2)
#define X (1u << 3)
#define U (1u << 4)
#define A (1u << 6)
#define D (1u << 7)

#define ROOT 0x80010000ull
#define L1 0x80011000ull
#define L0 0x80012000ull
#define L2_48 0x80013000ull
#define DATA 0x80020000ull

static uint64_t pte(uint64_t pa, unsigned flags)
{
    return (pa >> 12) << 10 | flags;
}

/* Sv39: VA 0x40000000 + n*4K -> DATA + n*4K through three levels. */
static Machine *sv39(unsigned leaf_flags)
{
    Machine *m = mini_machine(1 << 20, 1);
    poke64(m, ROOT + 1 * 8, pte(L1, V));
    poke64(m, L1 + 0 * 8, pte(L0, V));
    poke64(m, L0 + 0 * 8, pte(DATA, V | leaf_flags));
    m->harts[0]->satp = (8ull << 60) | (ROOT >> 12);
    m->harts[0]->priv = PRV_S;
    return m;
}

static void test_sv39_basic(void)
{
    Machine *m = sv39(R | W | X);
    Hart *h = m->harts[0];
    uint64_t pa;

    g_assert_true(mmu_translate(h, 0x40000123, ACC_LOAD, &pa, false));
    g_assert_cmphex(pa, ==, DATA + 0x123);
    g_assert_cmphex(peek64(m, L0) & (A | D), ==, A);           /* load sets A only */
    g_assert_true(mmu_translate(h, 0x40000008, ACC_STORE, &pa, false));
    g_assert_cmphex(peek64(m, L0) & (A | D), ==, A | D);
    g_assert_false(mmu_translate(h, 0x40001000, ACC_LOAD, &pa, false)); /* invalid PTE */
    g_assert_cmpuint(h->exc_cause, ==, EXC_LOAD_PAGE);
    g_assert_cmphex(h->exc_tval, ==, 0x40001000);
    mini_machine_free(m);
}

static void test_debug_walk_leaves_ad(void)
{
    Machine *m = sv39(R | W);
    uint64_t pa;
    g_assert_true(mmu_translate(m->harts[0], 0x40000000, ACC_STORE, &pa, true));
    g_assert_cmphex(peek64(m, L0) & (A | D), ==, 0);
    mini_machine_free(m);
}

static void test_user_pages(void)
{
    Machine *m = sv39(R | W | X | U);
    Hart *h = m->harts[0];
    uint64_t pa;

    g_assert_false(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));   /* S, no SUM */
    g_assert_cmpuint(h->exc_cause, ==, EXC_LOAD_PAGE);
    h->mstatus |= MSTATUS_SUM;
    g_assert_true(mmu_translate(h, 0x40000000, ACC_STORE, &pa, false));
    g_assert_false(mmu_translate(h, 0x40000000, ACC_FETCH, &pa, false));  /* never from S */
    g_assert_cmpuint(h->exc_cause, ==, EXC_INSN_PAGE);
    h->priv = PRV_U;
    g_assert_true(mmu_translate(h, 0x40000000, ACC_FETCH, &pa, false));
    /* the debugger reads user pages from S-mode whatever SUM says */
    h->priv = PRV_S;
    h->mstatus &= ~MSTATUS_SUM;
    g_assert_false(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));
    g_assert_true(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, true));
    g_assert_cmphex(pa, ==, DATA);
    mini_machine_free(m);

    m = sv39(R | W | X);                    /* supervisor page */
    h = m->harts[0];
    h->priv = PRV_U;
    g_assert_false(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));
    mini_machine_free(m);
}

static void test_mxr_and_write_only(void)
{
    Machine *m = sv39(X);
    Hart *h = m->harts[0];
    uint64_t pa;

    g_assert_false(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));
    h->mstatus |= MSTATUS_MXR;
    g_assert_true(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));
    g_assert_false(mmu_translate(h, 0x40000000, ACC_STORE, &pa, false));
    g_assert_cmpuint(h->exc_cause, ==, EXC_STORE_PAGE);
    mini_machine_free(m);

    m = sv39(W);                            /* W without R is reserved */
    g_assert_false(mmu_translate(m->harts[0], 0x40000000, ACC_STORE, &pa, false));
    mini_machine_free(m);
}

static void test_superpages(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = m->harts[0];
    uint64_t pa;

    h->satp = (8ull << 60) | (ROOT >> 12);
    h->priv = PRV_S;
    poke64(m, ROOT + 2 * 8, pte(0x80000000, V | R | W));   /* 1 GiB at VA 2G */
    g_assert_true(mmu_translate(h, 0x80012345, ACC_LOAD, &pa, false));
    g_assert_cmphex(pa, ==, 0x80012345);
    poke64(m, ROOT + 3 * 8, pte(0x80001000, V | R));        /* misaligned gigapage */
    g_assert_false(mmu_translate(h, 0xc0000000, ACC_LOAD, &pa, false));
    g_assert_cmpuint(h->exc_cause, ==, EXC_LOAD_PAGE);
    /* 2 MiB megapage */
    poke64(m, ROOT + 1 * 8, pte(L1, V));
    poke64(m, L1 + 1 * 8, pte(0x80200000, V | R));
    g_assert_true(mmu_translate(h, 0x40212345, ACC_LOAD, &pa, false));
    g_assert_cmphex(pa, ==, 0x80212345);
    mini_machine_free(m);
}

static void test_canonical(void)
{
    Machine *m = sv39(R | W);
    Hart *h = m->harts[0];
    uint64_t pa;
    g_assert_false(mmu_translate(h, 0x0000004000000000ull, ACC_LOAD, &pa, false));
    g_assert_cmpuint(h->exc_cause, ==, EXC_LOAD_PAGE);
    g_assert_cmphex(h->exc_tval, ==, 0x0000004000000000ull);
    mini_machine_free(m);
}

static void test_sv48(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = m->harts[0];
    uint64_t pa;
    /* VA 0x0000_8000_4000_0000: vpn3 = 1, vpn2 = 1, vpn1 = 0, vpn0 = 0 */
    poke64(m, ROOT + 1 * 8, pte(L2_48, V));
    poke64(m, L2_48 + 1 * 8, pte(L1, V));
    poke64(m, L1 + 0 * 8, pte(L0, V));
    poke64(m, L0 + 0 * 8, pte(DATA, V | R | W));
    h->satp = (9ull << 60) | (ROOT >> 12);
    h->priv = PRV_S;
    g_assert_true(mmu_translate(h, 0x0000008040000010ull, ACC_LOAD, &pa, false));
    g_assert_cmphex(pa, ==, DATA + 0x10);
    /* 47-bit sign extension: bit 47 set needs ones above */
    g_assert_false(mmu_translate(h, 0x0000800000000000ull, ACC_LOAD, &pa, false));
    mini_machine_free(m);
}

static void test_mprv(void)
{
    Machine *m = sv39(R | W);
    Hart *h = m->harts[0];
    uint64_t pa;
    h->priv = PRV_M;
    g_assert_true(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));
    g_assert_cmphex(pa, ==, 0x40000000);                     /* M: bare */
    h->mstatus |= MSTATUS_MPRV | (1ull << 11);               /* MPP = S */
    g_assert_true(mmu_translate(h, 0x40000000, ACC_LOAD, &pa, false));
    g_assert_cmphex(pa, ==, DATA);
    g_assert_true(mmu_translate(h, 0x80000000, ACC_FETCH, &pa, false));
    g_assert_cmphex(pa, ==, 0x80000000);                     /* fetch ignores MPRV */
    mini_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mmu/sv39", test_sv39_basic);
    g_test_add_func("/mmu/debug-walk", test_debug_walk_leaves_ad);
    g_test_add_func("/mmu/user-pages", test_user_pages);
    g_test_add_func("/mmu/mxr", test_mxr_and_write_only);
    g_test_add_func("/mmu/superpages", test_superpages);
    g_test_add_func("/mmu/canonical", test_canonical);
    g_test_add_func("/mmu/sv48", test_sv48);
    g_test_add_func("/mmu/mprv", test_mprv);
    return g_test_run();
}
