/* rewind: the command line. Subcommands dispatch to the folders; machine
 * options keep QEMU's names and meanings. */
#include "emulator.h"
#include "gdbstub.h"
#include "monitor.h"

#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "rewind: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(EXIT_USAGE);
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: rewind run [options]\n"
            "\n"
            "Runs a RISC-V virt machine (QEMU's option names and meanings):\n"
            "  -machine virt        the board (the only one)\n"
            "  -m SIZE              RAM size, MiB unless suffixed K/M/G (default 128M)\n"
            "  -smp N               number of harts, 1..%d (default 1)\n"
            "  -bios FILE|none|default   firmware (default: Debian's OpenSBI fw_dynamic)\n"
            "  -kernel FILE         kernel: ELF or raw image; with -bios none an ELF runs in M-mode\n"
            "  -initrd FILE         initial ram disk\n"
            "  -append CMDLINE      kernel command line\n"
            "  -serial stdio|mon:stdio|null|file:PATH   where the UART goes (default stdio;\n"
            "                       mon:stdio shares the terminal with the monitor, Ctrl-A c)\n"
            "  -monitor stdio|unix:PATH|none   the monitor console (QEMU's HMP commands;\n"
            "                       connect to unix:PATH with socat - UNIX-CONNECT:PATH)\n"
            "  -icount shift=N      one instruction is 2^N ns of virtual time (default 0)\n"
            "  -dumpdtb FILE        write the generated device tree and exit\n"
            "  -nographic           accepted (there is no other mode)\n"
            "  -report-icount       at exit, print the number of instructions run (stderr)\n"
            "  -gdb DEV             wait for GDB on DEV: tcp::PORT (127.0.0.1), tcp:HOST:PORT,\n"
            "                       unix:PATH\n"
            "  -s                   shorthand for -gdb tcp::1234\n"
            "  -S                   do not start the CPUs (until GDB or the monitor continues)\n"
            "\n"
            "Console: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A c switches to the\n"
            "monitor and back when they share the terminal.\n",
            REWIND_MAX_HARTS);
}

/* QEMU's size syntax: a number with an optional K/M/G/T suffix, MiB when
 * there is none. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0)
        return false;
    uint64_t unit = 1ull << 20;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': unit = 1ull << 10; break;
        case 'm': case 'M': unit = 1ull << 20; break;
        case 'g': case 'G': unit = 1ull << 30; break;
        case 't': case 'T': unit = 1ull << 40; break;
        case 'b': case 'B': unit = 1; break;
        default: return false;
        }
        if (end[1] && !((end[1] == 'i' || end[1] == 'B') && (!end[2] || end[2] == 'B')))
            return false;
    }
    *out = (uint64_t)(v * (double)unit);
    return *out > 0;
}

static bool parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void parse_icount(const char *arg, MachineConfig *cfg)
{
    gchar **parts = g_strsplit(arg, ",", -1);
    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        long v;
        if (g_str_has_prefix(p, "shift="))
            p += 6;
        else if (strchr(p, '='))
            usage_error("-icount: unknown option '%s'", parts[i]);
        if (!strcmp(p, "auto"))
            continue;   /* Rewind's time is always derived from icount */
        if (!parse_int(p, 0, 10, &v))
            usage_error("-icount: shift must be 0..10 or auto, not '%s'", p);
        cfg->icount_shift = (int)v;
    }
    g_strfreev(parts);
}

static void parse_machine(const char *arg, MachineConfig *cfg)
{
    gchar **parts = g_strsplit(arg, ",", -1);
    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        if (i == 0 && !strchr(p, '=')) {
            if (strcmp(p, "virt") != 0)
                usage_error("-machine: unsupported machine '%s' (only 'virt')", p);
        } else if (g_str_has_prefix(p, "type=")) {
            if (strcmp(p + 5, "virt") != 0)
                usage_error("-machine: unsupported machine '%s' (only 'virt')", p + 5);
        } else if (g_str_has_prefix(p, "dumpdtb=")) {
            cfg->dumpdtb = g_strdup(p + 8);
        } else {
            usage_error("-machine: unknown property '%s'", p);
        }
    }
    g_strfreev(parts);
}

static void parse_smp(const char *arg, MachineConfig *cfg)
{
    const char *p = g_str_has_prefix(arg, "cpus=") ? arg + 5 : arg;
    char *num = g_strndup(p, strcspn(p, ","));
    long v;
    if (!parse_int(num, 1, REWIND_MAX_HARTS, &v))
        usage_error("-smp: number of harts must be 1..%d, not '%s'", REWIND_MAX_HARTS, num);
    cfg->smp = (int)v;
    g_free(num);
}

static void parse_serial(const char *arg, MachineConfig *cfg)
{
    if (!strcmp(arg, "stdio") || !strcmp(arg, "mon:stdio")) {
        cfg->serial = SERIAL_STDIO;
    } else if (!strcmp(arg, "null") || !strcmp(arg, "none")) {
        cfg->serial = SERIAL_NULL;
    } else if (g_str_has_prefix(arg, "file:") && arg[5]) {
        cfg->serial = SERIAL_FILE;
        cfg->serial_path = arg + 5;
    } else {
        usage_error("-serial: unsupported backend '%s' (stdio, null or file:PATH)", arg);
    }
}

/* Options of the session around the machine (debugger). */
typedef struct RunOptions {
    const char *gdb;        /* -gdb DEV, NULL without */
    bool start_stopped;     /* -S */
    const char *monitor;    /* -monitor DEV, NULL without */
    bool serial_mux;        /* -serial mon:stdio */
    bool report_icount;     /* -report-icount */
} RunOptions;

/* Parses machine options into cfg; exits with a message on bad input. */
static void parse_machine_options(int argc, char **argv, MachineConfig *cfg, RunOptions *ro)
{
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (opt[0] == '-' && opt[1] == '-')
            opt++;      /* --kernel works like -kernel, as in QEMU */
#define ARG()                                                                   \
    ({                                                                          \
        if (i + 1 >= argc)                                                      \
            usage_error("option %s needs an argument", argv[i]);              \
        argv[++i];                                                              \
    })
        if (!strcmp(opt, "-machine") || !strcmp(opt, "-M")) {
            parse_machine(ARG(), cfg);
        } else if (!strcmp(opt, "-m")) {
            const char *a = ARG();
            const char *v = g_str_has_prefix(a, "size=") ? a + 5 : a;
            if (!parse_size(v, &cfg->ram_size))
                usage_error("-m: invalid RAM size '%s'", a);
        } else if (!strcmp(opt, "-smp")) {
            parse_smp(ARG(), cfg);
        } else if (!strcmp(opt, "-bios")) {
            cfg->bios = ARG();
        } else if (!strcmp(opt, "-kernel")) {
            cfg->kernel = ARG();
        } else if (!strcmp(opt, "-initrd")) {
            cfg->initrd = ARG();
        } else if (!strcmp(opt, "-append")) {
            cfg->append = ARG();
        } else if (!strcmp(opt, "-serial")) {
            const char *a = ARG();
            ro->serial_mux = !strcmp(a, "mon:stdio");
            parse_serial(a, cfg);
        } else if (!strcmp(opt, "-icount")) {
            parse_icount(ARG(), cfg);
        } else if (!strcmp(opt, "-dumpdtb")) {
            cfg->dumpdtb = ARG();
        } else if (!strcmp(opt, "-gdb")) {
            ro->gdb = ARG();
            if (!strcmp(ro->gdb, "none"))
                ro->gdb = NULL;
        } else if (!strcmp(opt, "-s")) {
            ro->gdb = "tcp::1234";
        } else if (!strcmp(opt, "-S")) {
            ro->start_stopped = true;
        } else if (!strcmp(opt, "-report-icount")) {
            ro->report_icount = true;
        } else if (!strcmp(opt, "-nographic")) {
            /* the only mode there is */
        } else if (!strcmp(opt, "-monitor")) {
            ro->monitor = ARG();
            if (!strcmp(ro->monitor, "none"))
                ro->monitor = NULL;
        } else if (!strcmp(opt, "-display")) {
            const char *a = ARG();
            if (strcmp(a, "none") != 0)
                usage_error("%s: only 'none' is supported, not '%s'", argv[i - 1], a);
        } else {
            usage_error("unknown option '%s' (see 'rewind run -help')", argv[i]);
        }
#undef ARG
    }
}

static int cmd_run(int argc, char **argv)
{
    MachineConfig cfg;
    char err[512];

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-help") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_usage(stdout);
            return 0;
        }
    }
    RunOptions ro = { 0 };
    machine_config_defaults(&cfg);
    parse_machine_options(argc, argv, &cfg, &ro);
    if (ro.serial_mux && !ro.monitor)
        ro.monitor = "stdio";
    if (ro.start_stopped && !ro.gdb && !ro.monitor)
        usage_error("-S needs -gdb DEV, -s or -monitor DEV (something to start the CPUs)");

    Machine *m = machine_new(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "rewind: %s\n", err);
        return EXIT_USAGE;
    }
    if (cfg.dumpdtb) {
        machine_free(m);
        return 0;
    }
    /* The monitor: its console when -monitor is given, and the commands
     * GDB's `monitor` runs in any case. With -monitor stdio and the guest's
     * serial on stdio too, they share the terminal (Ctrl-A c), the monitor
     * first unless -serial mon:stdio asked for the guest first. */
    Monitor *mon = monitor_new(m, ro.start_stopped);
    GdbStub *stub = NULL;
    if (ro.gdb) {
        stub = gdbstub_new(m, ro.gdb, err, sizeof(err));
        if (!stub) {
            fprintf(stderr, "rewind: %s\n", err);
            monitor_free(mon);
            machine_free(m);
            return EXIT_USAGE;
        }
        gdbstub_set_monitor(stub, mon);
    }
    console_attach(m);
    if (ro.monitor) {
        bool mux = !strcmp(ro.monitor, "stdio") && cfg.serial == SERIAL_STDIO;
        if (!monitor_open(mon, ro.monitor, mux, !ro.serial_mux, err, sizeof(err))) {
            fprintf(stderr, "rewind: %s\n", err);
            gdbstub_free(stub);
            monitor_free(mon);
            machine_free(m);
            return EXIT_USAGE;
        }
    }
    if (stub) {
        int code = gdbstub_run(stub, ro.start_stopped);
        gdbstub_free(stub);
        monitor_free(mon);
        machine_free(m);
        return code;
    }
    for (;;) {
        if (monitor_quit_requested(mon))
            break;
        if (monitor_paused(mon)) {
            /* stopped by -S or the monitor's stop: only the consoles run */
            if (console_poll(m))
                break;
            monitor_poll(mon, 20);
            continue;
        }
        RunResult r = machine_run(m, 1u << 20);
        if (r == RUN_EXIT)
            break;
        if (console_poll(m))
            break;
        monitor_poll(mon, 0);
        /* sleep only if the input just delivered woke nobody */
        if (r == RUN_IDLE && !machine_can_progress(m))
            console_wait(m, ro.monitor ? 20 : 100);
    }
    monitor_free(mon);
    int code = machine_exit_code(m);
    if (ro.report_icount)
        fprintf(stderr, "rewind: exit status %d after %" PRIu64 " instructions\n", code,
                machine_icount(m));
    machine_free(m);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("rewind %s\n", REWIND_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        print_usage(stdout);
        return 0;
    }
    usage_error("unknown command '%s' (try 'rewind help')", cmd);
}
