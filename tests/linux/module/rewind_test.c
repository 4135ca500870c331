// SPDX-License-Identifier: GPL-2.0
/*
 * rewind_test: a tiny module for the Rewind Linux guest (issue 5), loaded
 * by the /init command `insmod /lib/modules/rewind_test.ko [word=W] [seed=N]`.
 *
 * - On load it prints  "rewind_test: loaded word=W seed=N fnv=0xHHHHHHHH".
 * - /proc/rewind_test: every open-and-read returns one line
 *       "rewind_test: reads=R word=W seed=N fnv=0xHHHHHHHH value=0xHHHHHHHH"
 *   R counts the reads since load (1, 2, ...); fnv is the 32-bit FNV-1a
 *   hash of the bytes of W; value is seed ^ fnv put through R steps of the
 *   32-bit xorshift x ^= x << 13; x ^= x >> 17; x ^= x << 5, so a test can
 *   compute every expected line on the host. With the defaults
 *   (word=rewind, seed=1): fnv=0xda112eae, value=0x075298ed on the first
 *   read, 0xddad4b8a on the second, 0xef5a0d64 on the third.
 * - Parameters are visible in /sys/module/rewind_test/parameters/.
 * - On unload it prints "rewind_test: unloaded after R reads".
 *
 * The work is done in ordinary, non-inlined functions (rewind_test_show,
 * rewind_test_step) so that a debugger, with lx-symbols, has somewhere to
 * break.
 */
#include <linux/atomic.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static char *word = "rewind";
module_param(word, charp, 0444);
MODULE_PARM_DESC(word, "text whose FNV-1a hash the module reports");

static uint seed = 1;
module_param(seed, uint, 0444);
MODULE_PARM_DESC(seed, "start value of the sequence in /proc/rewind_test");

static atomic_t reads = ATOMIC_INIT(0);

static noinline u32 rewind_test_fnv1a(const char *s)
{
	u32 h = 2166136261u;

	while (*s) {
		h ^= (u8)*s++;
		h *= 16777619u;
	}
	return h;
}

/* One step of a 32-bit xorshift (13, 17, 5). */
static noinline u32 rewind_test_step(u32 x)
{
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static noinline int rewind_test_show(struct seq_file *m, void *v)
{
	int r = atomic_inc_return(&reads);
	u32 fnv = rewind_test_fnv1a(word);
	u32 x = seed ^ fnv;
	int i;

	for (i = 0; i < r; i++)
		x = rewind_test_step(x);
	seq_printf(m, "rewind_test: reads=%d word=%s seed=%u fnv=0x%08x value=0x%08x\n",
		   r, word, seed, fnv, x);
	return 0;
}

/* No __init or __exit: the kernel's lx-symbols tells gdb where .text,
 * .data, .rodata and .bss are, not .init.text or .exit.text, so functions
 * there would be misplaced over the start of .text and gdb would name
 * frames in rewind_test_step after rewind_test_exit. */
static int rewind_test_init(void)
{
	if (!proc_create_single("rewind_test", 0444, NULL, rewind_test_show))
		return -ENOMEM;
	pr_info("rewind_test: loaded word=%s seed=%u fnv=0x%08x\n",
		word, seed, rewind_test_fnv1a(word));
	return 0;
}

static void rewind_test_exit(void)
{
	remove_proc_entry("rewind_test", NULL);
	pr_info("rewind_test: unloaded after %d reads\n", atomic_read(&reads));
}

module_init(rewind_test_init);
module_exit(rewind_test_exit);
MODULE_DESCRIPTION("Rewind Linux guest test module");
MODULE_LICENSE("GPL");
