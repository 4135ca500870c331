/* CSRs: privilege checks, read-only ranges, WARL fields, views of mstatus
 * and mie/mip through the S-mode registers, counters. */
#include "mini_machine.h"

static Hart *hart(Machine *m)
{
    return m->harts[0];
}

static void test_privilege(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = hart(m);
    uint64_t v;

    g_assert_true(csr_read(h, CSR_MSTATUS, &v));
    h->priv = PRV_S;
    g_assert_false(csr_read(h, CSR_MSTATUS, &v));     /* M CSR from S */
    g_assert_true(csr_read(h, CSR_SSTATUS, &v));
    h->priv = PRV_U;
    g_assert_false(csr_read(h, CSR_SSTATUS, &v));     /* S CSR from U */
    h->priv = PRV_M;
    g_assert_false(csr_read(h, 0x7ff, &v));           /* unimplemented */
    g_assert_false(csr_write(h, CSR_MHARTID, 1));     /* read-only range */
    g_assert_false(csr_write(h, CSR_CYCLE, 1));
    g_assert_false(csr_read(h, CSR_PMPCFG0 + 1, &v)); /* odd pmpcfg on RV64 */
    mini_machine_free(m);
}

static void test_mstatus_warl(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = hart(m);
    uint64_t v;

    g_assert_true(csr_read(h, CSR_MSTATUS, &v));
    g_assert_cmphex(v & MSTATUS_UXL, ==, 2ull << 32);
    g_assert_cmphex(v & MSTATUS_SXL, ==, 2ull << 34);

    g_assert_true(csr_write(h, CSR_MSTATUS, MSTATUS_MPP));  /* MPP = M */
    g_assert_true(csr_write(h, CSR_MSTATUS, 2ull << 11));   /* reserved: kept */
    g_assert_true(csr_read(h, CSR_MSTATUS, &v));
    g_assert_cmphex(v & MSTATUS_MPP, ==, MSTATUS_MPP);
    /* UXL cannot be changed */
    g_assert_true(csr_write(h, CSR_MSTATUS, 0));
    g_assert_true(csr_read(h, CSR_MSTATUS, &v));
    g_assert_cmphex(v & MSTATUS_UXL, ==, 2ull << 32);

    /* FS dirty shows in SD, in both views */
    g_assert_true(csr_write(h, CSR_MSTATUS, MSTATUS_FS));
    g_assert_true(csr_read(h, CSR_MSTATUS, &v));
    g_assert_true(v & MSTATUS_SD);
    g_assert_true(csr_read(h, CSR_SSTATUS, &v));
    g_assert_true(v & MSTATUS_SD);
    g_assert_false(v & MSTATUS_MPP);                    /* not visible in sstatus */

    /* sstatus writes cannot touch M fields */
    g_assert_true(csr_write(h, CSR_MSTATUS, MSTATUS_MIE));
    g_assert_true(csr_write(h, CSR_SSTATUS, MSTATUS_SIE | MSTATUS_MPP | MSTATUS_MIE));
    g_assert_true(csr_read(h, CSR_MSTATUS, &v));
    g_assert_cmphex(v & (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_MPP), ==, MSTATUS_SIE | MSTATUS_MIE);
    mini_machine_free(m);
}

static void test_interrupt_views(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = hart(m);
    uint64_t v;

    g_assert_true(csr_write(h, CSR_MIDELEG, ~0ull));
    g_assert_true(csr_read(h, CSR_MIDELEG, &v));
    g_assert_cmphex(v, ==, MIP_SSIP | MIP_STIP | MIP_SEIP);
    g_assert_true(csr_write(h, CSR_MIE, ~0ull));
    g_assert_true(csr_read(h, CSR_SIE, &v));
    g_assert_cmphex(v, ==, MIP_SSIP | MIP_STIP | MIP_SEIP);
    g_assert_true(csr_write(h, CSR_SIE, 0));
    g_assert_true(csr_read(h, CSR_MIE, &v));
    g_assert_cmphex(v, ==, MIP_MSIP | MIP_MTIP | MIP_MEIP);

    /* mip: software sets SSIP/STIP only; the M bits come from devices */
    g_assert_true(csr_write(h, CSR_MIP, ~0ull));
    g_assert_true(csr_read(h, CSR_MIP, &v));
    g_assert_cmphex(v, ==, MIP_SSIP | MIP_STIP);
    g_assert_true(csr_write(h, CSR_SIP, 0));
    g_assert_true(csr_read(h, CSR_MIP, &v));
    g_assert_cmphex(v, ==, MIP_STIP);
    mini_machine_free(m);
}

static void test_tvec_satp_epc(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = hart(m);
    uint64_t v;

    g_assert_true(csr_write(h, CSR_MTVEC, 0x80000101));   /* vectored */
    g_assert_true(csr_write(h, CSR_MTVEC, 0x80000202));   /* reserved mode: ignored */
    g_assert_true(csr_read(h, CSR_MTVEC, &v));
    g_assert_cmphex(v, ==, 0x80000101);

    g_assert_true(csr_write(h, CSR_SATP, (8ull << 60) | 0x80001));
    g_assert_true(csr_write(h, CSR_SATP, (10ull << 60) | 0x80002));  /* Sv57: unsupported */
    g_assert_true(csr_read(h, CSR_SATP, &v));
    g_assert_cmphex(v, ==, (8ull << 60) | 0x80001);
    h->priv = PRV_S;
    h->mstatus |= MSTATUS_TVM;
    g_assert_false(csr_read(h, CSR_SATP, &v));
    h->priv = PRV_M;

    g_assert_true(csr_write(h, CSR_MEPC, 0x80000003));
    g_assert_true(csr_read(h, CSR_MEPC, &v));
    g_assert_cmphex(v, ==, 0x80000002);
    mini_machine_free(m);
}

static void test_fp_csrs(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = hart(m);
    uint64_t v;

    g_assert_false(csr_read(h, CSR_FCSR, &v));         /* FS = Off */
    h->mstatus |= 1ull << 13;                           /* FS = Initial */
    g_assert_true(csr_write(h, CSR_FCSR, 0xff));
    g_assert_true(csr_read(h, CSR_FRM, &v));
    g_assert_cmpuint(v, ==, 7);
    g_assert_true(csr_read(h, CSR_FFLAGS, &v));
    g_assert_cmpuint(v, ==, 0x1f);
    g_assert_cmphex(h->mstatus & MSTATUS_FS, ==, MSTATUS_FS);   /* now Dirty */
    mini_machine_free(m);
}

static void test_counters(void)
{
    Machine *m = mini_machine(1 << 20, 1);
    Hart *h = hart(m);
    uint64_t v;

    h->instret = 100;
    g_assert_true(csr_read(h, CSR_MINSTRET, &v));
    g_assert_cmpuint(v, ==, 100);
    h->priv = PRV_S;
    g_assert_false(csr_read(h, CSR_INSTRET, &v));       /* mcounteren = 0 */
    h->priv = PRV_M;
    g_assert_true(csr_write(h, CSR_MCOUNTEREN, 7));
    h->priv = PRV_U;
    g_assert_false(csr_read(h, CSR_INSTRET, &v));       /* scounteren = 0 */
    h->priv = PRV_S;
    g_assert_true(csr_read(h, CSR_INSTRET, &v));
    g_assert_cmpuint(v, ==, 100);
    mini_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/csr/privilege", test_privilege);
    g_test_add_func("/csr/mstatus-warl", test_mstatus_warl);
    g_test_add_func("/csr/interrupt-views", test_interrupt_views);
    g_test_add_func("/csr/tvec-satp-epc", test_tvec_satp_epc);
    g_test_add_func("/csr/fp", test_fp_csrs);
    g_test_add_func("/csr/counters", test_counters);
    return g_test_run();
}
