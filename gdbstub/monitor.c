/* The monitor: a table of QEMU-HMP-like commands and the consoles that
 * serve it.
 *
 * Every handler writes through mon_printf(), which goes to the writer the
 * caller gave: the console (stdio or a socket client) or the GDB stub's
 * qRcmd reply. Names, arguments and output formats follow QEMU 7.2's HMP
 * where it has the command (checked against qemu-system-riscv64 -monitor
 * stdio).
 *
 * Consoles:
 *   -monitor unix:PATH  a listening socket; one client at a time, a plain
 *                       line protocol with a "(rewind) " prompt.
 *   -monitor stdio      readline (history, TAB completion of command
 *                       names) on a terminal; the line protocol on a pipe.
 *   mux (-serial mon:stdio): the guest's console and the monitor share the
 *                       terminal; Ctrl-A c switches (console.c calls
 *                       on_mux_switch when the guest has the terminal, the
 *                       monitor reads stdin itself when it has it). */
#include "monitor.h"
#include "replay.h"
#include "reverse.h"
#include "stub_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#define PROMPT "(rewind) "
#define BANNER "Rewind monitor - type 'help' for more information\n"
#define MAX_LINE 4096           /* longer console lines are dropped */
#define MAX_DUMP_BYTES (64u << 10)
#define CTRL_A 0x01

typedef enum ConsoleKind {
    CON_NONE,
    CON_SOCKET,     /* unix:PATH */
    CON_LINES,      /* stdio, not a terminal */
    CON_READLINE,   /* stdio on a terminal */
} ConsoleKind;

struct Monitor {
    Machine *m;
    GdbStub *stub;
    bool paused;
    bool quit;
    int cpu;                /* selected hart of the console (`cpu N`) */
    /* x/xp remember the last format and size, as QEMU */
    char last_format;
    int last_size;

    ConsoleKind kind;
    int listen_fd, client_fd;   /* CON_SOCKET */
    char *unix_path;
    int in_fd, out_fd;          /* CON_LINES / CON_READLINE */
    bool in_eof;
    GString *line;              /* partial input line (socket, lines) */
    bool mux;                   /* shares stdio with the guest's console */
    bool focus;                 /* mux: the monitor has the terminal */
    bool rl_installed;
    bool escape;                /* mux: Ctrl-A seen */
    MonitorResetHook reset_hook;    /* record/replay */
    void *reset_hook_opaque;
    ReplaySession *rs;      /* record/replay session (monitor_set_replay) */
    char *log_path;
    uint64_t recorded_end;  /* the manifest's end icount, 0 unknown */
    Reverse *rev;           /* replaying: seek, savevm ... */
    GPtrArray *bookmarks;   /* Bookmark */
};

typedef struct Bookmark {
    char *name;
    uint64_t icount;
} Bookmark;

static void bookmark_free(gpointer p)
{
    Bookmark *b = p;
    g_free(b->name);
    g_free(b);
}

void monitor_set_replay(Monitor *mon, ReplaySession *rs, const char *log_path,
                        uint64_t end_icount)
{
    mon->rs = rs;
    g_free(mon->log_path);
    mon->log_path = g_strdup(log_path);
    mon->recorded_end = end_icount;
}

void monitor_set_reverse(Monitor *mon, Reverse *rev)
{
    mon->rev = rev;
}

void monitor_set_reset_hook(Monitor *mon, MonitorResetHook fn, void *opaque)
{
    mon->reset_hook = fn;
    mon->reset_hook_opaque = opaque;
}

/* ---- output ---- */

typedef struct Ctx {
    Monitor *mon;
    Machine *m;
    int hart;
    bool from_gdb;
    MonitorWriter w;
    void *opaque;
} Ctx;

static void G_GNUC_PRINTF(2, 3) mon_printf(Ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    c->w(c->opaque, s, strlen(s));
    g_free(s);
}

/* ---- the command table ---- */

typedef void (*CmdFn)(Ctx *c, const char *args);

typedef struct Cmd {
    const char *name;       /* "cont|c": the name then its aliases */
    const char *args;       /* argument synopsis for help, "" when none */
    const char *help;
    CmdFn fn;
    const struct Cmd *sub;  /* subcommands (info), NULL-terminated */
} Cmd;

static void cmd_help(Ctx *c, const char *args);
static void cmd_info(Ctx *c, const char *args);
static void cmd_x(Ctx *c, const char *args);
static void cmd_xp(Ctx *c, const char *args);
static void cmd_stop(Ctx *c, const char *args);
static void cmd_cont(Ctx *c, const char *args);
static void cmd_system_reset(Ctx *c, const char *args);
static void cmd_quit(Ctx *c, const char *args);
static void cmd_cpu(Ctx *c, const char *args);
static void cmd_gdb_phys(Ctx *c, const char *args);
static void info_registers(Ctx *c, const char *args);
static void info_cpus(Ctx *c, const char *args);
static void info_mtree(Ctx *c, const char *args);
static void info_status(Ctx *c, const char *args);
static void info_replay(Ctx *c, const char *args);
static void info_snapshots(Ctx *c, const char *args);
static void cmd_replay_seek(Ctx *c, const char *args);
static void cmd_replay_break(Ctx *c, const char *args);
static void cmd_replay_delete_break(Ctx *c, const char *args);
static void cmd_savevm(Ctx *c, const char *args);
static void cmd_loadvm(Ctx *c, const char *args);
static void cmd_delvm(Ctx *c, const char *args);
static void cmd_bookmark(Ctx *c, const char *args);
static void cmd_goto(Ctx *c, const char *args);

/* `info` subcommands. Adding one is one line here (and its function). */
static const Cmd info_cmds[] = {
    { "cpus", "", "show infos for each CPU", info_cpus, NULL },
    { "mtree", "", "show memory tree (the board's address map)", info_mtree, NULL },
    { "registers", "[-a|vcpu]",
      "show the cpu registers (-a: all cpus; vcpu: that one; default: the current cpu)",
      info_registers, NULL },
    { "replay", "", "show record/replay information (mode, icount, end, log)", info_replay,
      NULL },
    { "snapshots", "", "show the in-memory snapshots of the replay (id, tag, icount, size)",
      info_snapshots, NULL },
    { "status", "", "show the current VM status (running|paused)", info_status, NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

/* The monitor's commands. Adding a command is one line here, e.g.
 *     { "savevm", "[tag]", "save a snapshot", cmd_savevm, NULL },
 * plus its handler: void cmd_savevm(Ctx *c, const char *args), which gets
 * the rest of the line after the name (leading blanks removed) and writes
 * with mon_printf(c, ...). Keep the table sorted by name (help lists it in
 * this order). */
static const Cmd commands[] = {
    { "bookmark", "[name|-d name]",
      "remember the current icount as 'name' (no argument: list the bookmarks; -d: forget one)",
      cmd_bookmark, NULL },
    { "cont|c", "", "resume emulation", cmd_cont, NULL },
    { "cpu", "index", "set the default CPU", cmd_cpu, NULL },
    { "delvm", "tag", "delete the in-memory snapshot 'tag'", cmd_delvm, NULL },
    { "gdb_phys", "[on|off]",
      "GDB's memory accesses (m/M/X packets) use physical addresses (on) or the selected "
      "hart's translation (off, the default)", cmd_gdb_phys, NULL },
    { "goto", "name", "go to the icount of bookmark 'name' (as replay_seek)", cmd_goto, NULL },
    { "help|?", "[cmd]", "show the help", cmd_help, NULL },
    { "info", "[subcommand]", "show various information about the system state", cmd_info,
      info_cmds },
    { "loadvm", "tag", "go back (or forward) to the in-memory snapshot 'tag'", cmd_loadvm, NULL },
    { "quit|q", "", "quit the emulator", cmd_quit, NULL },
    { "replay_break", "icount",
      "stop once at that instruction count (forward, or reverse-continue from GDB)",
      cmd_replay_break, NULL },
    { "replay_delete_break", "", "remove the replay_break stop", cmd_replay_delete_break,
      NULL },
    { "replay_seek", "icount", "go to that instruction count of the replay (either direction)",
      cmd_replay_seek, NULL },
    { "savevm", "tag", "snapshot the current position in memory as 'tag'", cmd_savevm, NULL },
    { "stop|s", "", "stop emulation", cmd_stop, NULL },
    { "system_reset", "", "reset the system", cmd_system_reset, NULL },
    { "x", "/fmt addr", "virtual memory dump starting at 'addr'", cmd_x, NULL },
    { "xp", "/fmt addr", "physical memory dump starting at 'addr'", cmd_xp, NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

/* True when word (len bytes) is one of the |-separated names. */
static bool name_matches(const char *names, const char *word, size_t len)
{
    const char *p = names;
    for (;;) {
        size_t n = strcspn(p, "|");
        if (n == len && !strncmp(p, word, len))
            return true;
        if (!p[n])
            return false;
        p += n + 1;
    }
}

static const Cmd *find_cmd(const Cmd *table, const char *word, size_t len)
{
    for (const Cmd *c = table; c->name; c++)
        if (name_matches(c->name, word, len))
            return c;
    return NULL;
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Length of the command word at p: up to a blank or, for x/xp, a '/'. */
static size_t word_len(const char *p)
{
    return strcspn(p, " \t/");
}

static void print_cmd_help(Ctx *c, const char *prefix, const Cmd *cmd)
{
    mon_printf(c, "%s%s %s -- %s\n", prefix, cmd->name, cmd->args, cmd->help);
}

static void cmd_help(Ctx *c, const char *args)
{
    args = skip_blanks(args);
    if (!*args) {
        for (const Cmd *cmd = commands; cmd->name; cmd++)
            print_cmd_help(c, "", cmd);
        return;
    }
    size_t n = word_len(args);
    const Cmd *cmd = find_cmd(commands, args, n);
    if (!cmd) {
        mon_printf(c, "unknown command: '%.*s'\n", (int)n, args);
        return;
    }
    const char *rest = skip_blanks(args + n);
    if (cmd->sub) {
        if (*rest) {
            size_t k = word_len(rest);
            const Cmd *sub = find_cmd(cmd->sub, rest, k);
            if (!sub) {
                mon_printf(c, "unknown command: '%.*s %.*s'\n", (int)n, args, (int)k, rest);
                return;
            }
            print_cmd_help(c, "info ", sub);
            return;
        }
        for (const Cmd *sub = cmd->sub; sub->name; sub++)
            print_cmd_help(c, "info ", sub);
        return;
    }
    print_cmd_help(c, "", cmd);
}

static void cmd_info(Ctx *c, const char *args)
{
    args = skip_blanks(args);
    if (!*args) {
        for (const Cmd *sub = info_cmds; sub->name; sub++)
            print_cmd_help(c, "info ", sub);
        return;
    }
    size_t n = word_len(args);
    const Cmd *sub = find_cmd(info_cmds, args, n);
    if (!sub) {
        mon_printf(c, "unknown command: 'info %.*s'\n", (int)n, args);
        return;
    }
    sub->fn(c, skip_blanks(args + n));
}

/* ---- registers ---- */

static const char *const abi_names[32] = {
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2",
    "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
    "s10", "s11", "t3", "t4", "t5", "t6",
};

static const char *const fpr_names[32] = {
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0",
    "fa1", "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5",
    "fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
};

/* The CSRs QEMU 7.2 prints in `info registers`, without the hypervisor
 * ones (this CPU has no H extension). */
static const struct {
    const char *name;
    int csr;
} dump_csrs[] = {
    { "mhartid", 0xf14 }, { "mstatus", 0x300 }, { "mip", 0x344 }, { "mie", 0x304 },
    { "mideleg", 0x303 }, { "medeleg", 0x302 }, { "mtvec", 0x305 }, { "stvec", 0x105 },
    { "mepc", 0x341 }, { "sepc", 0x141 }, { "mcause", 0x342 }, { "scause", 0x142 },
    { "mtval", 0x343 }, { "stval", 0x143 }, { "mscratch", 0x340 }, { "sscratch", 0x140 },
    { "satp", 0x180 },
};

static uint64_t reg(Ctx *c, int hart, int regno)
{
    uint64_t v = 0;
    machine_read_reg(c->m, hart, regno, &v);
    return v;
}

static void dump_hart(Ctx *c, int hart)
{
    mon_printf(c, "\nCPU#%d\n", hart);
    mon_printf(c, " %-8s %016" PRIx64 "\n", "pc", reg(c, hart, REG_PC));
    for (size_t i = 0; i < G_N_ELEMENTS(dump_csrs); i++)
        mon_printf(c, " %-8s %016" PRIx64 "\n", dump_csrs[i].name,
                   reg(c, hart, REG_CSR0 + dump_csrs[i].csr));
    for (int i = 0; i < 32; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d/%s", i, abi_names[i]);
        mon_printf(c, " %-8s %016" PRIx64 "%s", name, reg(c, hart, i),
                   (i & 3) == 3 ? "\n" : "");
    }
    /* QEMU prints the FP registers whatever mstatus.FS says */
    for (int i = 0; i < 32; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d/%s", i, fpr_names[i]);
        mon_printf(c, " %-8s %016" PRIx64 "%s", name, reg(c, hart, REG_F0 + i),
                   (i & 3) == 3 ? "\n" : "");
    }
}

/* Parses a hart number (decimal or 0x hex); false when invalid. */
static bool parse_hart(Ctx *c, const char *s, int *hart)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    end = (char *)skip_blanks(end);
    if (errno || end == s || *end || v < 0 || v >= machine_nharts(c->m))
        return false;
    *hart = (int)v;
    return true;
}

static void info_registers(Ctx *c, const char *args)
{
    if (!strncmp(args, "-a", 2) && !*skip_blanks(args + 2)) {
        for (int h = 0; h < machine_nharts(c->m); h++)
            dump_hart(c, h);
        return;
    }
    int hart = c->hart;
    if (*args && !parse_hart(c, args, &hart)) {
        mon_printf(c, "info registers: invalid vcpu '%s' (0..%d or -a)\n", args,
                   machine_nharts(c->m) - 1);
        return;
    }
    dump_hart(c, hart);
}

static const char *priv_name(uint64_t priv)
{
    switch (priv) {
    case 0: return "U";
    case 1: return "S";
    case 3: return "M";
    default: return "?";
    }
}

static void info_cpus(Ctx *c, const char *args)
{
    (void)args;
    for (int h = 0; h < machine_nharts(c->m); h++)
        mon_printf(c, "%c CPU #%d: pc=0x%016" PRIx64 " mode=%s thread_id=%d\n",
                   h == c->hart ? '*' : ' ', h, reg(c, h, REG_PC),
                   priv_name(reg(c, h, REG_PRIV)), h + 1);
}

static void mtree_entry(void *opaque, const char *name, uint64_t base, uint64_t size,
                        MemRegionKind kind)
{
    static const char *const kinds[] = { "rom", "ram", "i/o" };
    mon_printf(opaque, "    %016" PRIx64 "-%016" PRIx64 " (prio 0, %s): %s\n", base,
               base + size - 1, kinds[kind], name);
}

static void info_mtree(Ctx *c, const char *args)
{
    (void)args;
    mon_printf(c, "address-space: memory\n");
    mon_printf(c, "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n");
    machine_memory_map(c->m, mtree_entry, c);
    mon_printf(c, "\n");
}

static void info_status(Ctx *c, const char *args)
{
    (void)args;
    mon_printf(c, "VM status: %s\n", c->mon->paused ? "paused" : "running");
}

static void cmd_cpu(Ctx *c, const char *args)
{
    int hart;
    if (c->from_gdb) {
        mon_printf(c, "cpu: from GDB, select a hart with 'thread N' (hart N-1)\n");
        return;
    }
    if (!*args || !parse_hart(c, args, &hart)) {
        mon_printf(c, "invalid CPU index '%s' (0..%d)\n", args, machine_nharts(c->m) - 1);
        return;
    }
    c->mon->cpu = hart;
}

/* ---- memory dumps ---- */

static bool reg_by_name(Ctx *c, const char *name, size_t len, uint64_t *val)
{
    char buf[16];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, name, len);
    buf[len] = 0;
    if (!strcmp(buf, "pc")) {
        *val = reg(c, c->hart, REG_PC);
        return true;
    }
    for (int i = 0; i < 32; i++) {
        char xn[8];
        snprintf(xn, sizeof xn, "x%d", i);
        if (!strcmp(buf, abi_names[i]) || !strcmp(buf, xn) || (i == 8 && !strcmp(buf, "fp"))) {
            *val = reg(c, c->hart, i);
            return true;
        }
    }
    return false;
}

/* Address expression: terms (numbers, C syntax, or $reg) joined by + and
 * -. Writes a message and returns false when malformed. */
static bool parse_expr(Ctx *c, const char *p, uint64_t *out)
{
    uint64_t acc = 0;
    int sign = 1;
    p = skip_blanks(p);
    if (!*p) {
        mon_printf(c, "unexpected end of expression\n");
        return false;
    }
    for (;;) {
        uint64_t v;
        p = skip_blanks(p);
        if (*p == '$') {
            size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz0123456789");
            if (!reg_by_name(c, p + 1, n, &v)) {
                mon_printf(c, "unknown register '%.*s'\n", (int)n + 1, p);
                return false;
            }
            p += n + 1;
        } else if (isdigit((unsigned char)*p)) {
            char *end;
            errno = 0;
            v = strtoull(p, &end, 0);
            if (errno) {
                mon_printf(c, "number too large: '%.*s'\n", (int)(end - p), p);
                return false;
            }
            p = end;
        } else {
            mon_printf(c, *p ? "invalid char '%c' in expression\n"
                             : "unexpected end of expression\n", *p);
            return false;
        }
        acc += sign > 0 ? v : -v;
        p = skip_blanks(p);
        if (!*p)
            break;
        if (*p != '+' && *p != '-') {
            mon_printf(c, "invalid char '%c' in expression\n", *p);
            return false;
        }
        sign = *p == '+' ? 1 : -1;
        p++;
    }
    *out = acc;
    return true;
}

static void print_char(Ctx *c, uint8_t ch)
{
    switch (ch) {
    case '\\': mon_printf(c, "'\\\\'"); break;
    case '\'': mon_printf(c, "'\\''"); break;
    case '\n': mon_printf(c, "'\\n'"); break;
    case '\r': mon_printf(c, "'\\r'"); break;
    default:
        if (ch >= 32 && ch < 127)
            mon_printf(c, "'%c'", ch);
        else
            mon_printf(c, "'\\x%02x'", ch);
    }
}

/* x/FMT ADDR and xp/FMT ADDR. FMT is [count][format][size] in any order
 * of the letters: format x d u o c (i is not supported: disassemble with
 * GDB's x/i), size b h w g. */
static void memory_dump(Ctx *c, const char *args, bool phys)
{
    const char *cmd = phys ? "xp" : "x";
    uint64_t count = 1;
    char format = c->mon->last_format;
    int size = c->mon->last_size;
    bool size_given = false;

    if (*args == '/') {
        args++;
        if (isdigit((unsigned char)*args)) {
            char *end;
            errno = 0;
            count = strtoull(args, &end, 10);
            if (errno)
                count = UINT64_MAX;
            args = end;
        }
        while (*args && *args != ' ' && *args != '\t') {
            char f = *args++;
            switch (f) {
            case 'x': case 'd': case 'u': case 'o': case 'c':
                format = f;
                break;
            case 'b': size = 1; size_given = true; break;
            case 'h': size = 2; size_given = true; break;
            case 'w': size = 4; size_given = true; break;
            case 'g': size = 8; size_given = true; break;
            case 'i':
                mon_printf(c, "%s: the 'i' format (disassembly) is not supported; use GDB's x/i\n",
                           cmd);
                return;
            default:
                mon_printf(c, "invalid char in format: '%c'\nTry \"help %s\" for more information\n",
                           f, cmd);
                return;
            }
        }
    }
    if (format == 'c') {
        size = 1;
    } else if (!size_given && c->mon->last_format == 'c') {
        size = 4;
    }
    uint64_t addr;
    if (!parse_expr(c, args, &addr)) {
        mon_printf(c, "Try \"help %s\" for more information\n", cmd);
        return;
    }
    if (count == 0)
        return;
    if (count > MAX_DUMP_BYTES / (uint64_t)size) {
        mon_printf(c, "%s: at most %u bytes at a time\n", cmd, MAX_DUMP_BYTES);
        return;
    }
    c->mon->last_format = format;
    c->mon->last_size = size;

    int digits;
    switch (format) {
    case 'o': digits = (size * 8 + 2) / 3; break;
    case 'd': case 'u': digits = (size * 8 * 10 + 32) / 33; break;
    default: digits = size * 2; break;
    }
    uint64_t total = count * (uint64_t)size;
    unsigned line_bytes = size == 1 ? 8 : 16;
    for (uint64_t off = 0; off < total; off += line_bytes) {
        uint64_t at = addr + off;
        uint64_t n = total - off < line_bytes ? total - off : line_bytes;
        uint8_t buf[16];
        mon_printf(c, "%016" PRIx64 ":", at);
        if (machine_read_mem(c->m, c->hart, at, buf, n, phys) != n) {
            mon_printf(c, " Cannot access memory\n");
            return;
        }
        for (uint64_t i = 0; i < n; i += (uint64_t)size) {
            uint64_t v = 0;
            for (int b = size - 1; b >= 0; b--)
                v = v << 8 | buf[i + (uint64_t)b];
            mon_printf(c, " ");
            switch (format) {
            case 'o':
                mon_printf(c, "%#*" PRIo64, digits, v);
                break;
            case 'u':
                mon_printf(c, "%*" PRIu64, digits, v);
                break;
            case 'd': {
                int shift = 64 - 8 * size;
                int64_t sv = (int64_t)(v << shift) >> shift;
                mon_printf(c, "%*" PRId64, digits, sv);
                break;
            }
            case 'c':
                print_char(c, (uint8_t)v);
                break;
            default:
                mon_printf(c, "0x%0*" PRIx64, digits, v);
                break;
            }
        }
        mon_printf(c, "\n");
    }
}

static void cmd_x(Ctx *c, const char *args)
{
    memory_dump(c, args, false);
}

static void cmd_xp(Ctx *c, const char *args)
{
    memory_dump(c, args, true);
}

/* ---- run control ---- */

static bool debugger_attached(const Monitor *mon)
{
    return mon->stub && mon->stub->rsp.fd >= 0;
}

static void cmd_stop(Ctx *c, const char *args)
{
    (void)args;
    c->mon->paused = true;  /* from GDB the machine is already stopped */
}

static void cmd_cont(Ctx *c, const char *args)
{
    (void)args;
    if (c->from_gdb) {
        mon_printf(c, "cont: use GDB's 'continue' to resume the machine\n");
        return;
    }
    if (debugger_attached(c->mon)) {
        mon_printf(c, "cont: a debugger is attached; resume the machine from GDB\n");
        return;
    }
    c->mon->paused = false;
}

static void cmd_system_reset(Ctx *c, const char *args)
{
    (void)args;
    char err[256];
    /* as in QEMU: the machine stays running or paused as it was */
    if (c->mon->reset_hook && !c->mon->reset_hook(c->mon->reset_hook_opaque, err, sizeof(err)))
        mon_printf(c, "system_reset: %s\n", err);
    else if (!machine_reset(c->m, err, sizeof(err)))
        mon_printf(c, "system_reset: %s\n", err);
}

static void cmd_quit(Ctx *c, const char *args)
{
    (void)args;
    c->mon->quit = true;
}

static void cmd_gdb_phys(Ctx *c, const char *args)
{
    GdbStub *s = c->mon->stub;
    if (!s) {
        mon_printf(c, "gdb_phys: there is no GDB stub in this session (-gdb DEV or -s)\n");
        return;
    }
    if (!strcmp(args, "on") || !strcmp(args, "1")) {
        s->phys_mem = true;
    } else if (!strcmp(args, "off") || !strcmp(args, "0")) {
        s->phys_mem = false;
    } else if (*args) {
        mon_printf(c, "gdb_phys: expected 'on' or 'off', not '%s'\n", args);
        return;
    }
    mon_printf(c, "GDB memory accesses are %s\n",
               s->phys_mem ? "physical" : "virtual (the selected hart's translation)");
}

/* ---- record/replay: info replay, replay_seek, savevm, bookmarks ... ---- */

/* The Reverse engine, or NULL after "CMD: not replaying". */
static Reverse *need_reverse(Ctx *c, const char *cmd)
{
    Monitor *mon = c->mon;
    if (mon->rev)
        return mon->rev;
    if (mon->rs && replay_session_mode(mon->rs) == REPLAY_MODE_RECORD)
        mon_printf(c, "%s: not replaying (this session records)\n", cmd);
    else if (mon->rs)
        mon_printf(c, "%s: not replaying under GDB or a monitor\n", cmd);
    else
        mon_printf(c, "%s: not replaying\n", cmd);
    return NULL;
}

/* The icount where the recording ends, 0 when not known yet. */
static uint64_t known_end(const Monitor *mon)
{
    uint64_t end = mon->rev ? reverse_end_icount(mon->rev) : 0;
    return end ? end : mon->recorded_end;
}

/* An instruction count: decimal or 0x hex, with an optional k/M/G suffix
 * (powers of 1000). */
static bool parse_icount(Ctx *c, const char *cmd, const char *s, uint64_t *out)
{
    if (!*s) {
        mon_printf(c, "%s: an instruction count is needed (%s ICOUNT)\n", cmd, cmd);
        return false;
    }
    char *end;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)*s) ? strtoull(s, &end, 0) : 0;
    uint64_t unit = 1;
    bool ok = isdigit((unsigned char)*s) && !errno;
    if (ok && *end) {
        switch (*end) {
        case 'k': case 'K': unit = 1000ull; break;
        case 'm': case 'M': unit = 1000000ull; break;
        case 'g': case 'G': unit = 1000000000ull; break;
        default: ok = false; break;
        }
        ok = ok && !end[1];
    }
    if (ok && v > UINT64_MAX / unit)
        ok = false;
    if (!ok) {
        mon_printf(c, "%s: invalid instruction count '%s'\n", cmd, s);
        return false;
    }
    *out = (uint64_t)v * unit;
    return true;
}

/* A snapshot or bookmark name: one word. */
static bool valid_name(Ctx *c, const char *cmd, const char *name)
{
    if (!*name) {
        mon_printf(c, "%s: a name is needed (%s NAME)\n", cmd, cmd);
        return false;
    }
    if (strpbrk(name, " \t")) {
        mon_printf(c, "%s: invalid name '%s' (one word)\n", cmd, name);
        return false;
    }
    return true;
}

/* The machine moved (seek, loadvm, goto): it stays stopped there, as in
 * QEMU. A GDB waiting for the machine gets a stop reply (the stub stops
 * when the monitor pauses); one already stopped caches the old registers
 * and is told how to refresh them. */
static void after_move(Ctx *c)
{
    Monitor *mon = c->mon;
    bool was_running = !mon->paused;
    reverse_note_stop(mon->rev);
    mon->paused = true;
    if (!was_running && debugger_attached(mon))
        mon_printf(c, "now at icount %" PRIu64 "; GDB shows the new position after "
                   "'maintenance flush register-cache'\n", machine_icount(c->m));
}

/* Goes to icount target; on failure the position is unchanged and the
 * message says why. */
static bool seek_to(Ctx *c, const char *cmd, uint64_t target)
{
    Reverse *rev = c->mon->rev;
    uint64_t from = reverse_icount(rev);
    uint64_t end = known_end(c->mon);
    if (end && target > end) {
        mon_printf(c, "%s: icount %" PRIu64 " is past the end of the recording (icount %" PRIu64
                   "); position unchanged (icount %" PRIu64 ")\n", cmd, target, end, from);
        return false;
    }
    ReverseStop st = reverse_seek(rev, target);
    uint64_t at = reverse_icount(rev);
    if (at == target && (st == REV_STOPPED || st == REV_END || st == REV_EXIT)) {
        after_move(c);
        return true;
    }
    if (st == REV_END || st == REV_EXIT)
        mon_printf(c, "%s: the recording ends at icount %" PRIu64 ", before %" PRIu64, cmd, at,
                   target);
    else
        mon_printf(c, "%s: %s", cmd, reverse_message(rev) ? reverse_message(rev) : "failed");
    if (reverse_seek(rev, from) == REV_STOPPED && reverse_icount(rev) == from) {
        mon_printf(c, "; position unchanged (icount %" PRIu64 ")\n", from);
    } else {
        mon_printf(c, "; now at icount %" PRIu64 "\n", reverse_icount(rev));
        after_move(c);
    }
    return false;
}

static void info_replay(Ctx *c, const char *args)
{
    (void)args;
    Monitor *mon = c->mon;
    if (!mon->rs) {
        mon_printf(c, "Record/replay is not active\n");
        return;
    }
    bool rec = replay_session_mode(mon->rs) == REPLAY_MODE_RECORD;
    const char *path = mon->log_path ? mon->log_path : "?";
    uint64_t ic = machine_icount(c->m);
    mon_printf(c, "%s execution '%s': instruction count = %" PRIu64 "\n",
               rec ? "Recording" : "Replaying", path, ic);
    mon_printf(c, "  mode:         %s\n", rec ? "record" : "replay");
    mon_printf(c, "  icount:       %" PRIu64 "\n", ic);
    if (!rec) {
        uint64_t end = known_end(mon);
        if (end)
            mon_printf(c, "  end icount:   %" PRIu64 "\n", end);
        else
            mon_printf(c, "  end icount:   unknown (the recording did not finish)\n");
    }
    struct stat st;
    if (mon->log_path && stat(mon->log_path, &st) == 0)
        mon_printf(c, "  log:          %s (%" PRIu64 " bytes)\n", path, (uint64_t)st.st_size);
    else
        mon_printf(c, "  log:          %s\n", path);
    if (!mon->rev)
        return;
    uint64_t brk;
    if (reverse_get_break(mon->rev, &brk))
        mon_printf(c, "  replay_break: %" PRIu64 "\n", brk);
    else
        mon_printf(c, "  replay_break: none\n");
    mon_printf(c, "  bookmarks:    %u\n", mon->bookmarks ? mon->bookmarks->len : 0u);
}

static void describe_line(void *opaque, const char *text)
{
    mon_printf(opaque, "%s\n", text);
}

static void info_snapshots(Ctx *c, const char *args)
{
    (void)args;
    Reverse *rev = need_reverse(c, "info snapshots");
    if (rev)
        reverse_describe(rev, describe_line, c);
}

static void cmd_replay_seek(Ctx *c, const char *args)
{
    uint64_t target;
    if (need_reverse(c, "replay_seek") && parse_icount(c, "replay_seek", args, &target))
        seek_to(c, "replay_seek", target);
}

static void cmd_replay_break(Ctx *c, const char *args)
{
    uint64_t target;
    Reverse *rev = need_reverse(c, "replay_break");
    if (!rev || !parse_icount(c, "replay_break", args, &target))
        return;
    uint64_t end = known_end(c->mon);
    if (end && target > end) {
        mon_printf(c, "replay_break: icount %" PRIu64 " is past the end of the recording "
                   "(icount %" PRIu64 ")\n", target, end);
        return;
    }
    reverse_set_break(rev, target);
}

static void cmd_replay_delete_break(Ctx *c, const char *args)
{
    (void)args;
    Reverse *rev = need_reverse(c, "replay_delete_break");
    if (rev)
        reverse_delete_break(rev);
}

static void cmd_savevm(Ctx *c, const char *args)
{
    Reverse *rev = need_reverse(c, "savevm");
    if (!rev || !valid_name(c, "savevm", args))
        return;
    if (reverse_savevm(rev, args) < 0)
        mon_printf(c, "savevm: %s\n", reverse_message(rev));
}

static void cmd_loadvm(Ctx *c, const char *args)
{
    Reverse *rev = need_reverse(c, "loadvm");
    if (!rev || !valid_name(c, "loadvm", args))
        return;
    if (!reverse_named_icount(rev, args, NULL)) {
        mon_printf(c, "loadvm: no snapshot named '%s' (see info snapshots)\n", args);
        return;
    }
    if (!reverse_loadvm(rev, args)) {
        mon_printf(c, "loadvm: %s\n", reverse_message(rev));
        return;
    }
    after_move(c);
}

static void cmd_delvm(Ctx *c, const char *args)
{
    Reverse *rev = need_reverse(c, "delvm");
    if (!rev || !valid_name(c, "delvm", args))
        return;
    if (!reverse_delvm(rev, args))
        mon_printf(c, "delvm: no snapshot named '%s' (see info snapshots)\n", args);
}

static Bookmark *find_bookmark(Monitor *mon, const char *name, guint *index)
{
    for (guint i = 0; mon->bookmarks && i < mon->bookmarks->len; i++) {
        Bookmark *b = g_ptr_array_index(mon->bookmarks, i);
        if (!strcmp(b->name, name)) {
            if (index)
                *index = i;
            return b;
        }
    }
    return NULL;
}

static void cmd_bookmark(Ctx *c, const char *args)
{
    Monitor *mon = c->mon;
    if (!need_reverse(c, "bookmark"))
        return;
    if (!mon->bookmarks)
        mon->bookmarks = g_ptr_array_new_with_free_func(bookmark_free);
    if (!*args) {
        if (!mon->bookmarks->len)
            mon_printf(c, "no bookmarks\n");
        for (guint i = 0; i < mon->bookmarks->len; i++) {
            Bookmark *b = g_ptr_array_index(mon->bookmarks, i);
            mon_printf(c, "%-20s icount %" PRIu64 "\n", b->name, b->icount);
        }
        return;
    }
    if (!strncmp(args, "-d", 2) && (args[2] == ' ' || args[2] == '\t' || !args[2])) {
        const char *name = skip_blanks(args + 2);
        guint index;
        if (!valid_name(c, "bookmark -d", name))
            return;
        if (!find_bookmark(mon, name, &index))
            mon_printf(c, "bookmark: no bookmark named '%s'\n", name);
        else
            g_ptr_array_remove_index(mon->bookmarks, index);
        return;
    }
    if (!valid_name(c, "bookmark", args))
        return;
    Bookmark *b = find_bookmark(mon, args, NULL);
    if (!b) {
        b = g_new0(Bookmark, 1);
        b->name = g_strdup(args);
        g_ptr_array_add(mon->bookmarks, b);
    }
    b->icount = machine_icount(c->m);
    mon_printf(c, "bookmark '%s' at icount %" PRIu64 "\n", b->name, b->icount);
}

static void cmd_goto(Ctx *c, const char *args)
{
    if (!need_reverse(c, "goto") || !valid_name(c, "goto", args))
        return;
    Bookmark *b = find_bookmark(c->mon, args, NULL);
    if (!b) {
        mon_printf(c, "goto: no bookmark named '%s' (bookmark lists them)\n", args);
        return;
    }
    seek_to(c, "goto", b->icount);
}

/* ---- execution ---- */

void monitor_execute(Monitor *mon, const char *line, MonitorWriter w, void *opaque, int hart,
                     bool from_gdb)
{
    Ctx c = {
        .mon = mon, .m = mon->m, .from_gdb = from_gdb, .w = w, .opaque = opaque,
        .hart = hart >= 0 && hart < machine_nharts(mon->m) ? hart : mon->cpu,
    };
    /* trailing blanks and line ends are not part of the arguments */
    char *copy = g_strdup(line);
    size_t n = strlen(copy);
    while (n && (copy[n - 1] == ' ' || copy[n - 1] == '\t' || copy[n - 1] == '\r' ||
                 copy[n - 1] == '\n'))
        copy[--n] = 0;
    const char *p = skip_blanks(copy);
    if (*p) {
        size_t len = word_len(p);
        const Cmd *cmd = find_cmd(commands, p, len);
        if (!cmd)
            mon_printf(&c, "unknown command: '%.*s'\n", (int)len, p);
        else if (len == 0)
            mon_printf(&c, "unknown command: '%s'\n", p);
        else
            cmd->fn(&c, p[len] == '/' ? p + len : skip_blanks(p + len));
    }
    g_free(copy);
}

/* ---- state ---- */

Monitor *monitor_new(Machine *m, bool start_paused)
{
    Monitor *mon = g_new0(Monitor, 1);
    mon->m = m;
    mon->paused = start_paused;
    mon->last_format = 'x';
    mon->last_size = 4;
    mon->listen_fd = mon->client_fd = mon->in_fd = mon->out_fd = -1;
    mon->line = g_string_new(NULL);
    return mon;
}

void monitor_set_stub(Monitor *mon, GdbStub *stub)
{
    mon->stub = stub;
}

bool monitor_paused(const Monitor *mon)
{
    return mon->paused;
}

void monitor_set_paused(Monitor *mon, bool paused)
{
    mon->paused = paused;
}

bool monitor_quit_requested(const Monitor *mon)
{
    return mon->quit;
}

/* ---- consoles ---- */

static void write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void fd_writer(void *opaque, const char *text, size_t len)
{
    write_all(*(int *)opaque, text, len);
}

static void stdout_writer(void *opaque, const char *text, size_t len)
{
    (void)opaque;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static Monitor *rl_mon;     /* readline's callbacks have no opaque */
static GByteArray *rl_pending;  /* stdin bytes for readline to take */

static int mon_getc_pending(FILE *f)
{
    (void)f;
    if (!rl_pending || rl_pending->len == 0)
        return EOF;
    int ch = rl_pending->data[0];
    g_byte_array_remove_index(rl_pending, 0);
    return ch;
}

static int mon_input_pending(void)
{
    return rl_pending && rl_pending->len > 0;
}

static void mon_on_line(char *line)
{
    Monitor *mon = rl_mon;
    if (!line) {
        /* Ctrl-D: as a terminal monitor, just a new prompt */
        fputs("\n", stdout);
        return;
    }
    if (*line)
        add_history(line);
    monitor_execute(mon, line, stdout_writer, NULL, -1, false);
    free(line);
}

/* Completion of command names: the first word from the table, the word
 * after "info" or "help" from the info table or the table. */
static const Cmd *complete_table;
static int complete_index;
static const char *complete_alias;

static char *complete_gen(const char *text, int state)
{
    if (!state) {
        complete_index = 0;
        complete_alias = NULL;
    }
    size_t len = strlen(text);
    while (complete_table[complete_index].name) {
        const char *names = complete_table[complete_index].name;
        const char *p = complete_alias ? complete_alias : names;
        size_t n = strcspn(p, "|");
        if (p[n]) {
            complete_alias = p + n + 1;
        } else {
            complete_alias = NULL;
            complete_index++;
        }
        if (n >= len && !strncmp(p, text, len) && n > 1)
            return g_strndup(p, n);   /* readline frees it (malloc-compatible) */
    }
    return NULL;
}

static char **mon_complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;   /* never complete file names */
    const char *buf = skip_blanks(rl_line_buffer);
    int first = (int)(buf - rl_line_buffer);
    complete_table = NULL;
    if (start == first) {
        complete_table = commands;
    } else {
        size_t n = word_len(buf);
        const char *rest = skip_blanks(buf + n);
        if ((int)(rest - rl_line_buffer) == start) {
            if (n == 4 && !strncmp(buf, "info", 4))
                complete_table = info_cmds;
            else if (name_matches("help|?", buf, n))
                complete_table = commands;
        }
    }
    if (!complete_table)
        return NULL;
    return rl_completion_matches(text, complete_gen);
}

static void mon_rl_start(Monitor *mon)
{
    if (mon->rl_installed)
        return;
    rl_mon = mon;
    rl_instream = stdin;
    rl_outstream = stdout;
    rl_getc_function = mon_getc_pending;
    rl_input_available_hook = mon_input_pending;
    rl_attempted_completion_function = mon_complete;
    rl_readline_name = "rewind";
    /* console.c restores the terminal on fatal signals when it shares it */
    rl_catch_signals = mon->mux ? 0 : 1;
    rl_catch_sigwinch = 0;
    rl_callback_handler_install(PROMPT, mon_on_line);
    mon->rl_installed = true;
}

static void mon_rl_stop(Monitor *mon)
{
    if (!mon->rl_installed)
        return;
    rl_callback_handler_remove();
    mon->rl_installed = false;
    fputs("\n", stdout);
    fflush(stdout);
}

static Monitor *atexit_mon;

static void monitor_atexit(void)
{
    if (atexit_mon && atexit_mon->rl_installed) {
        rl_callback_handler_remove();
        atexit_mon->rl_installed = false;
    }
}

/* mux: Ctrl-A c pressed in the guest's console; rest holds the bytes typed
 * after it. */
static void on_mux_switch(void *opaque, const uint8_t *rest, size_t n)
{
    Monitor *mon = opaque;
    mon->focus = true;
    mon->escape = false;
    fputs("\r\n", stdout);
    fflush(stdout);
    if (mon->kind == CON_READLINE) {
        mon_rl_start(mon);
        g_byte_array_append(rl_pending, rest, (guint)n);
    } else {
        write_all(mon->out_fd, PROMPT, strlen(PROMPT));
        g_string_append_len(mon->line, (const char *)rest, (gssize)n);
    }
}

static void mux_to_guest(Monitor *mon)
{
    if (mon->kind == CON_READLINE)
        mon_rl_stop(mon);
    mon->focus = false;
    console_mux_focus_guest();
}

static bool open_socket(Monitor *mon, const char *spec, char *err, size_t errlen)
{
    /* unix:PATH[,server][,nowait][,server=on][,wait=off] */
    gchar **parts = g_strsplit(spec + 5, ",", -1);
    bool ok = true;
    for (int i = 1; parts[i]; i++) {
        const char *o = parts[i];
        if (strcmp(o, "server") && strcmp(o, "nowait") && strcmp(o, "server=on") &&
            strcmp(o, "wait=off")) {
            snprintf(err, errlen, "-monitor %s: unsupported option '%s'", spec, o);
            ok = false;
        }
    }
    const char *path = parts[0];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (ok && (!*path || strlen(path) >= sizeof sa.sun_path)) {
        snprintf(err, errlen, "-monitor %s: invalid socket path", spec);
        ok = false;
    }
    int fd = -1;
    if (ok) {
        strcpy(sa.sun_path, path);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);   /* a stale socket of an earlier run */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 2) < 0) {
            snprintf(err, errlen, "-monitor %s: %s", spec, strerror(errno));
            if (fd >= 0)
                close(fd);
            ok = false;
        }
    }
    if (ok) {
        mon->listen_fd = fd;
        mon->unix_path = g_strdup(path);
        mon->kind = CON_SOCKET;
    }
    g_strfreev(parts);
    return ok;
}

bool monitor_open(Monitor *mon, const char *spec, bool mux, bool monitor_first, char *err,
                  size_t errlen)
{
    if (!strcmp(spec, "none"))
        return true;
    if (g_str_has_prefix(spec, "unix:"))
        return open_socket(mon, spec, err, errlen);
    if (strcmp(spec, "stdio") != 0) {
        snprintf(err, errlen, "-monitor %s: unsupported (stdio, unix:PATH or none)", spec);
        return false;
    }
    mon->in_fd = STDIN_FILENO;
    mon->out_fd = STDOUT_FILENO;
    mon->mux = mux;
    mon->kind = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) ? CON_READLINE : CON_LINES;
    if (!rl_pending)
        rl_pending = g_byte_array_new();
    atexit_mon = mon;
    atexit(monitor_atexit);
    if (mux && mon->kind == CON_LINES) {
        /* console.c passes a pipe through to the guest with no escape key:
         * the guest keeps stdin; only GDB's `monitor` reaches the monitor */
        mon->kind = CON_NONE;
        return true;
    }
    if (mux)
        console_set_mux_hook(on_mux_switch, mon);
    if (!mux || monitor_first) {
        fputs(BANNER, stdout);
        fflush(stdout);
        if (mux) {
            console_mux_focus_monitor();
            on_mux_switch(mon, NULL, 0);
        } else {
            mon->focus = true;
            if (mon->kind == CON_READLINE)
                mon_rl_start(mon);
            else
                write_all(mon->out_fd, PROMPT, strlen(PROMPT));
        }
    }
    return true;
}

void monitor_free(Monitor *mon)
{
    if (!mon)
        return;
    if (mon->rl_installed)
        mon_rl_stop(mon);
    if (atexit_mon == mon)
        atexit_mon = NULL;
    if (mon->client_fd >= 0)
        close(mon->client_fd);
    if (mon->listen_fd >= 0)
        close(mon->listen_fd);
    if (mon->unix_path)
        unlink(mon->unix_path);
    g_free(mon->unix_path);
    g_free(mon->log_path);
    if (mon->bookmarks)
        g_ptr_array_free(mon->bookmarks, TRUE);
    g_string_free(mon->line, TRUE);
    g_free(mon);
}

/* Runs the complete lines of mon->line (line protocol), answering on
 * out_fd with a prompt after each. */
static void run_lines(Monitor *mon, int out_fd)
{
    for (;;) {
        char *nl = memchr(mon->line->str, '\n', mon->line->len);
        if (!nl) {
            if (mon->line->len > MAX_LINE) {
                g_string_truncate(mon->line, 0);
                const char *msg = "line too long\n" PROMPT;
                write_all(out_fd, msg, strlen(msg));
            }
            return;
        }
        *nl = 0;
        char *line = g_strdup(mon->line->str);
        g_string_erase(mon->line, 0, (gssize)(nl - mon->line->str) + 1);
        /* a NUL byte ends the line early: what follows it is dropped */
        int fd = out_fd;
        monitor_execute(mon, line, fd_writer, &fd, -1, false);
        g_free(line);
        if (mon->quit)
            return;
        write_all(out_fd, PROMPT, strlen(PROMPT));
    }
}

static void accept_client(Monitor *mon)
{
    int fd = accept4(mon->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (mon->client_fd >= 0) {
        const char *msg = "rewind: a monitor client is already connected\n";
        write_all(fd, msg, strlen(msg));
        close(fd);
        return;
    }
    mon->client_fd = fd;
    g_string_truncate(mon->line, 0);
    write_all(fd, BANNER PROMPT, strlen(BANNER PROMPT));
}

/* Reads stdin while the monitor has it. In mux mode Ctrl-A c gives the
 * terminal back to the guest, Ctrl-A x quits, Ctrl-A Ctrl-A is a Ctrl-A. */
static void read_stdin(Monitor *mon)
{
    uint8_t buf[512];
    ssize_t n = read(mon->in_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        mon->in_eof = true;
        return;
    }
    GByteArray *keep = g_byte_array_new();
    for (ssize_t i = 0; i < n; i++) {
        uint8_t ch = buf[i];
        if (mon->mux && mon->escape) {
            mon->escape = false;
            if (ch == 'c' || ch == 'C') {
                /* what was typed before the switch still runs */
                if (mon->kind == CON_READLINE)
                    g_byte_array_append(rl_pending, keep->data, keep->len);
                else
                    g_string_append_len(mon->line, (const char *)keep->data, keep->len);
                g_byte_array_set_size(keep, 0);
                if (mon->kind == CON_READLINE)
                    while (rl_pending->len && mon->rl_installed && !mon->quit)
                        rl_callback_read_char();
                mux_to_guest(mon);
                /* the rest of the chunk belongs to the guest: drop it,
                 * as typing ahead across a switch is rare */
                break;
            }
            if (ch == 'x' || ch == 'X') {
                fputs("\r\nrewind: terminated\r\n", stderr);
                mon->quit = true;
                break;
            }
            if (ch != CTRL_A)
                continue;
        } else if (mon->mux && ch == CTRL_A) {
            mon->escape = true;
            continue;
        }
        g_byte_array_append(keep, &ch, 1);
    }
    if (mon->focus) {
        if (mon->kind == CON_READLINE) {
            g_byte_array_append(rl_pending, keep->data, keep->len);
            while (rl_pending->len && mon->rl_installed && !mon->quit)
                rl_callback_read_char();
        } else {
            g_string_append_len(mon->line, (const char *)keep->data, keep->len);
            run_lines(mon, mon->out_fd);
        }
    }
    g_byte_array_free(keep, TRUE);
}

void monitor_poll(Monitor *mon, int timeout_ms)
{
    struct pollfd pfd[2];
    int n = 0;
    if (mon->kind == CON_SOCKET) {
        pfd[n++] = (struct pollfd){ .fd = mon->listen_fd, .events = POLLIN };
        if (mon->client_fd >= 0)
            pfd[n++] = (struct pollfd){ .fd = mon->client_fd, .events = POLLIN };
    } else if ((mon->kind == CON_LINES || mon->kind == CON_READLINE) && mon->focus &&
               !mon->in_eof) {
        pfd[n++] = (struct pollfd){ .fd = mon->in_fd, .events = POLLIN };
    }
    if (n == 0) {
        if (timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        return;
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
        return;
    if (mon->kind != CON_SOCKET) {
        if (pfd[0].revents)
            read_stdin(mon);
        return;
    }
    if (n == 2 && pfd[1].revents) {
        char buf[512];
        ssize_t k = read(mon->client_fd, buf, sizeof buf);
        if (k <= 0 && !(k < 0 && (errno == EINTR || errno == EAGAIN))) {
            close(mon->client_fd);
            mon->client_fd = -1;
            g_string_truncate(mon->line, 0);
        } else if (k > 0) {
            g_string_append_len(mon->line, buf, k);
            run_lines(mon, mon->client_fd);
        }
    }
    if (pfd[0].revents & POLLIN)
        accept_client(mon);
}
