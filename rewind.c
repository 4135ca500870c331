/* rewind: the command line. Subcommands dispatch to the folders; machine
 * options keep QEMU's names and meanings. */
#include "emulator.h"
#include "gdbstub.h"
#include "monitor.h"
#include "replay.h"
#include "reverse.h"
#include "snapshots.h"

#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_DIVERGED 1     /* replay: a check event did not match */
#define EXIT_LOG_DAMAGED 3  /* replay: the log ends early (truncated/corrupt) */

/* Record/replay for this run: `rewind record`, `rewind replay` or
 * -icount ...,rr=record|replay,rrfile=F (see docs/record-replay.md). */
static struct {
    int mode;               /* 0, REPLAY_MODE_RECORD or REPLAY_MODE_REPLAY */
    char *bundle;           /* the bundle directory */
    BundleOptions opts;
    ReplaySession *rs;
    Bundle *b;              /* replaying: the manifest */
    bool quit;              /* the run ended by a request from outside */
    RecordSnaps *snaps;     /* recording: the snapshots on disk */
    GThread *manifest;      /* recording: writes the manifest meanwhile */
    struct ManifestJob *manifest_job;
    const char *loadvm;     /* replaying: start from this snapshot */
    bool add;               /* rewind snapshot add: replay to add_icount */
    uint64_t add_icount;
    const char *add_name;
} rr = { .opts.snapshot_count = -1 };

/* rrsnapmode=periodic without rrsnaptime: one every this many seconds */
#define DEFAULT_SNAPSHOT_SECONDS 10

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
            "       rewind record -o BUNDLE [record options] [options]\n"
            "       rewind replay BUNDLE [-gdb DEV] [-s] [-S] [-serial ...] [-monitor ...]\n"
            "                     [-accel ...] [-loadvm SNAPSHOT]\n"
            "       rewind info BUNDLE\n"
            "       rewind snapshot list|delete|add BUNDLE [NAME | ICOUNT [NAME]]\n"
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
            "  -accel tcg|jit       run hot guest code as compiled x86-64 blocks (default;\n"
            "                       tcg,thread=single is accepted as in QEMU)\n"
            "  -accel interp        interpret every instruction (slower; the results are\n"
            "                       the same, instruction for instruction)\n"
            "  -icount shift=N      one instruction is 2^N ns of virtual time (default 0)\n"
            "  -icount sleep=on|off while every hart waits, virtual time follows the host's\n"
            "                       (on) or jumps to the next timer at once (off); default:\n"
            "                       on when the console is a terminal\n"
            "  -icount shift=N,rr=record|replay,rrfile=FILE[,rrsnapshot=NAME][,rrsnapmode=\n"
            "          initial|periodic][,rrsnaptime=SECS][,rrsnapcount=N]\n"
            "                       QEMU's record/replay: the bundle is FILE.bundle\n"
            "  -drive file=PATH[,format=raw|qcow2][,if=virtio][,readonly=on]\n"
            "                       a virtio disk (record/replay never write the image)\n"
            "  -nic user[,hostfwd=tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT]\n"
            "                       virtio-net on slirp user networking (guest 10.0.2.15,\n"
            "                       host 10.0.2.2); also -netdev user,id=N + -device\n"
            "                       virtio-net-device,netdev=N\n"
            "  -device virtio-rng   random numbers from the host (logged when recording)\n"
            "  -dumpdtb FILE        write the generated device tree and exit\n"
            "  -nographic           accepted (there is no other mode)\n"
            "  -report-icount       at exit, print the number of instructions run (stderr)\n"
            "  -gdb DEV             wait for GDB on DEV: tcp::PORT (127.0.0.1), tcp:HOST:PORT,\n"
            "                       unix:PATH\n"
            "  -s                   shorthand for -gdb tcp::1234\n"
            "  -S                   do not start the CPUs (until GDB or the monitor continues)\n"
            "\n"
            "Console: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A c switches to the\n"
            "monitor and back when they share the terminal.\n"
            "\n"
            "Record options (rewind record; see docs/record-replay.md):\n"
            "  -o BUNDLE            the bundle directory to write (created)\n"
            "  --check-every N      instructions between state checks (default 2^28)\n"
            "  --snapshot-name NAME a snapshot named NAME at the start (QEMU's rrsnapshot)\n"
            "  --snapshot-every N   a snapshot every N instructions (100M = 10^8)\n"
            "  --snapshot-time SECS a snapshot every SECS host seconds\n"
            "  --snapshot-count N   keep the last N periodic snapshots (0: all)\n"
            "  --snapshot-mem SIZE  memory budget of the in-memory snapshots of a replay\n"
            "  (snapshots go to BUNDLE/snapshots.qcow2; replay loads them to reach\n"
            "  far positions fast, and -loadvm NAME starts a replay from one)\n",
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

/* rrfile=FILE: the bundle is the directory FILE.bundle (FILE itself when
 * it already ends in .bundle or is a directory). */
static char *bundle_for_rrfile(const char *file)
{
    if (g_str_has_suffix(file, ".bundle") || g_file_test(file, G_FILE_TEST_IS_DIR))
        return g_strdup(file);
    return g_strdup_printf("%s.bundle", file);
}

/* QEMU's record/replay keys of -icount; false if p is not one. */
static bool parse_icount_rr(const char *p)
{
    long v;
    if (g_str_has_prefix(p, "rr=")) {
        if (!strcmp(p + 3, "record"))
            rr.mode = REPLAY_MODE_RECORD;
        else if (!strcmp(p + 3, "replay"))
            rr.mode = REPLAY_MODE_REPLAY;
        else if (!strcmp(p + 3, "off"))
            rr.mode = 0;
        else
            usage_error("-icount: rr must be record, replay or off, not '%s'", p + 3);
    } else if (g_str_has_prefix(p, "rrfile=") && p[7]) {
        g_free(rr.bundle);
        rr.bundle = bundle_for_rrfile(p + 7);
    } else if (g_str_has_prefix(p, "rrsnapshot=") && p[11]) {
        rr.opts.rrsnapshot = g_strdup(p + 11);
    } else if (g_str_has_prefix(p, "rrsnapmode=")) {
        if (strcmp(p + 11, "initial") != 0 && strcmp(p + 11, "periodic") != 0)
            usage_error("-icount: rrsnapmode must be initial or periodic, not '%s'", p + 11);
        rr.opts.rrsnapmode = g_strdup(p + 11);
    } else if (g_str_has_prefix(p, "rrsnaptime=")) {
        if (!parse_int(p + 11, 0, 1000000000, &v))
            usage_error("-icount: rrsnaptime must be a number of seconds, not '%s'", p + 11);
        if (v == 0)
            usage_error("-icount: rrsnaptime=0 is not allowed (snapshots need a period of at "
                        "least 1 second)");
        rr.opts.snapshot_time = (uint64_t)v;
    } else if (g_str_has_prefix(p, "rrsnapcount=")) {
        if (!parse_int(p + 12, 0, 1000000000, &v))
            usage_error("-icount: rrsnapcount must be 0 or more, not '%s'", p + 12);
        rr.opts.snapshot_count = v;
    } else {
        return false;
    }
    return true;
}

/* -icount sleep=on|off; -1: not given (on when the console is a terminal) */
static int icount_sleep = -1;

static void parse_icount(const char *arg, MachineConfig *cfg)
{
    gchar **parts = g_strsplit(arg, ",", -1);
    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        long v;
        if (parse_icount_rr(p))
            continue;
        if (g_str_has_prefix(p, "sleep=")) {
            if (!strcmp(p + 6, "on"))
                icount_sleep = 1;
            else if (!strcmp(p + 6, "off"))
                icount_sleep = 0;
            else
                usage_error("-icount: sleep=%s: expected on or off", p + 6);
            continue;
        }
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

/* An accelerator's name: tcg (QEMU's word) and jit compile, interp only
 * interprets. False for anything else. */
static bool accel_name(const char *name, MachineAccel *out)
{
    if (!strcmp(name, "tcg") || !strcmp(name, "jit"))
        *out = ACCEL_JIT;
    else if (!strcmp(name, "interp"))
        *out = ACCEL_INTERP;
    else
        return false;
    return true;
}

/* -accel [accel=]tcg|jit|interp[,thread=single]: how guest code runs.
 * Never guest-visible, so not in a recording's manifest; replay takes it
 * too. */
static void parse_accel(const char *arg, MachineConfig *cfg)
{
    gchar **parts = g_strsplit(arg, ",", -1);
    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        if (i == 0) {
            const char *name = g_str_has_prefix(p, "accel=") ? p + 6 : p;
            if (!accel_name(name, &cfg->accel))
                usage_error("-accel: unsupported accelerator '%s' (tcg, jit or interp)", name);
        } else if (!strcmp(p, "thread=single")) {
            /* what Rewind does anyway: every hart on one host thread */
        } else {
            usage_error("-accel: unsupported property '%s' (only tcg,thread=single)", p);
        }
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
        } else if (g_str_has_prefix(p, "accel=")) {
            /* QEMU's older spelling, a list to try in order: tcg:kvm */
            gchar **names = g_strsplit(p + 6, ":", -1);
            bool found = false;
            for (int k = 0; names[k] && !found; k++)
                found = accel_name(names[k], &cfg->accel);
            if (!found)
                usage_error("-machine: unsupported accelerator '%s' (tcg, jit or interp)", p + 6);
            g_strfreev(names);
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
        } else if (!strcmp(opt, "-accel")) {
            parse_accel(ARG(), cfg);
        } else if (!strcmp(opt, "-drive") || !strcmp(opt, "-nic") || !strcmp(opt, "-netdev") ||
                   !strcmp(opt, "-device")) {
            const char *a = ARG();
            char e[512];
            bool ok = !strcmp(opt, "-drive")    ? machine_config_add_drive(cfg, a, e, sizeof e)
                      : !strcmp(opt, "-nic")    ? machine_config_add_nic(cfg, a, e, sizeof e)
                      : !strcmp(opt, "-netdev") ? machine_config_add_netdev(cfg, a, e, sizeof e)
                                                : machine_config_add_device(cfg, a, e, sizeof e);
            if (!ok)
                usage_error("%s", e);
        } else if (!strcmp(opt, "-object")) {
            const char *a = ARG();
            /* an RNG backend for -device virtio-rng-device,rng=ID: the
             * host's random bytes are all there is */
            if (!g_str_has_prefix(a, "rng-random") && !g_str_has_prefix(a, "rng-builtin"))
                usage_error("-object %s: only rng-random and rng-builtin are accepted", a);
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
        } else if (!strcmp(opt, "-loadvm")) {
            rr.loadvm = ARG();
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

/* ---- record/replay around the run loop ---- */

static char *bundle_events_path(void)
{
    return g_build_filename(rr.bundle, BUNDLE_EVENTS, NULL);
}

/* The manifest hashes every input file (a Linux kernel and initrd: tens of
 * ms), so a thread writes it while the machine is built and runs;
 * rr_join_manifest waits for it before the recording's end is appended,
 * and on every way out before that. */
typedef struct ManifestJob {
    const MachineConfig *cfg;   /* cmd_run's, alive until the join */
    char err[1024];
} ManifestJob;

static gpointer manifest_thread(gpointer opaque)
{
    ManifestJob *j = opaque;
    bool ok = bundle_create(rr.bundle, j->cfg, &rr.opts, j->err, sizeof j->err);
    return GINT_TO_POINTER(ok);
}

static void rr_start_manifest(const MachineConfig *cfg)
{
    ManifestJob *j = g_new0(ManifestJob, 1);
    j->cfg = cfg;
    rr.manifest_job = j;
    rr.manifest = g_thread_new("manifest", manifest_thread, j);
}

/* False (with the message printed) if the manifest could not be written. */
static bool rr_join_manifest(void)
{
    if (!rr.manifest)
        return true;
    bool ok = GPOINTER_TO_INT(g_thread_join(rr.manifest));
    if (!ok)
        fprintf(stderr, "rewind: %s\n", rr.manifest_job->err);
    rr.manifest = NULL;
    g_free(rr.manifest_job);
    rr.manifest_job = NULL;
    return ok;
}

/* Before the machine exists: opens the session and settles the
 * configuration (replaying: the manifest's, keeping the session's serial).
 * Returns -1 to go on, else the exit status. */
static int rr_before_machine(MachineConfig *cfg, const RunOptions *ro)
{
    char err[1024];
    if (rr.loadvm && rr.mode != REPLAY_MODE_REPLAY)
        usage_error("-loadvm: snapshots are loaded in replay only (rewind replay BUNDLE "
                    "-loadvm NAME)");
    if (!rr.mode)
        return -1;
    if (rr.mode == REPLAY_MODE_REPLAY && rr.opts.rrsnapshot && !rr.loadvm)
        rr.loadvm = rr.opts.rrsnapshot;     /* QEMU: replay starts from it */
    if (!rr.bundle)
        usage_error("record/replay needs a bundle (rewind record -o DIR, or -icount "
                    "rr=...,rrfile=FILE)");
    if (rr.mode == REPLAY_MODE_RECORD) {
        if (ro->gdb)
            usage_error("-gdb is not supported while recording (record, then debug the "
                        "replay: rewind replay BUNDLE -gdb ...)");
        if (g_mkdir_with_parents(rr.bundle, 0777) != 0) {
            fprintf(stderr, "rewind: %s: %s\n", rr.bundle, g_strerror(errno));
            return EXIT_USAGE;
        }
        /* the disk images are inputs of the recording: never written */
        cfg->disk_overlay = true;
        char *ev = bundle_events_path();
        rr.rs = replay_session_record(ev, rr.opts.check_every, err, sizeof err);
        g_free(ev);
        if (!rr.rs || !replay_clock_rtc_start(rr.rs, &cfg->rtc_start_ns, err, sizeof err)) {
            fprintf(stderr, "rewind: %s\n", err);
            return EXIT_USAGE;
        }
        /* cfg is final: the manifest is written while the machine is
         * built and runs */
        rr_start_manifest(cfg);
        return -1;
    }
    rr.b = bundle_open(rr.bundle, err, sizeof err);
    if (!rr.b || !bundle_verify_inputs(rr.b, err, sizeof err)) {
        fprintf(stderr, "rewind: %s\n", err);
        return EXIT_USAGE;
    }
    SerialKind serial = cfg->serial;
    const char *serial_path = cfg->serial_path;
    const char *dumpdtb = cfg->dumpdtb;
    MachineAccel accel = cfg->accel;    /* the session's, never the recording's */
    *cfg = rr.b->cfg;
    cfg->accel = accel;
    cfg->serial = serial;
    cfg->serial_path = serial_path;
    cfg->dumpdtb = dumpdtb;
    cfg->disk_overlay = true;
    cfg->inputs_from_log = true;
    rr.rs = replay_session_replay(rr.b->events_path, err, sizeof err);
    if (!rr.rs) {
        fprintf(stderr, "rewind: %s\n", err);
        return EXIT_USAGE;
    }
    uint64_t ns;
    if (replay_clock_rtc_start(rr.rs, &ns, err, sizeof err))
        cfg->rtc_start_ns = ns;     /* the log's value (the manifest has it too) */
    return -1;
}


/* Record/replay's side of the monitor's system_reset. */
static bool rr_reset_hook(void *opaque, char *err, size_t errlen)
{
    return replay_request_reset(rr.rs, opaque, err, errlen);
}

/* The user ended the run (Ctrl-A x, monitor quit). */
static void rr_quit(Machine *m)
{
    rr.quit = true;
    if (rr.rs)
        replay_request_quit(rr.rs, m, machine_exit_code(m));
}

/* Recording: the snapshots the options ask for, in BUNDLE/snapshots.qcow2
 * (an older recording's file there is removed in any case). */
static bool rr_start_snapshots(Machine *m)
{
    char err[1024];
    char *path = g_build_filename(rr.bundle, BUNDLE_SNAPSHOTS, NULL);
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "rewind: %s: %s\n", path, g_strerror(errno));
        g_free(path);
        return false;
    }
    const BundleOptions *o = &rr.opts;
    bool periodic_mode = o->rrsnapmode && !strcmp(o->rrsnapmode, "periodic");
    bool initial_only = o->rrsnapmode && !strcmp(o->rrsnapmode, "initial");
    RecordSnapOptions so = {
        .initial = o->rrsnapshot,
        .every = initial_only ? 0 : o->snapshot_every,
        .seconds = initial_only ? 0 : o->snapshot_time,
        .keep = o->snapshot_count > 0 ? o->snapshot_count : 0,
    };
    if (periodic_mode && !so.every && !so.seconds)
        so.seconds = DEFAULT_SNAPSHOT_SECONDS;
    bool ok = true;
    if (o->rrsnapshot || so.every || so.seconds) {
        rr.snaps = record_snaps_start(m, rr.rs, path, &so, err, sizeof err);
        if (!rr.snaps) {
            fprintf(stderr, "rewind: %s\n", err);
            ok = false;
        }
    }
    g_free(path);
    return ok;
}

static int rr_after_machine(Machine *m, Monitor *mon)
{
    if (!rr.rs)
        return -1;
    replay_session_attach(rr.rs, m);
    if (rr.mode == REPLAY_MODE_RECORD && !rr_start_snapshots(m))
        return EXIT_USAGE;
    monitor_set_reset_hook(mon, rr_reset_hook, m);
    char *ev = bundle_events_path();
    monitor_set_replay(mon, rr.rs, rr.b ? rr.b->events_path : ev,
                       rr.b && rr.b->finished ? rr.b->end_icount : 0);
    g_free(ev);
    return -1;
}

/* After the run: closes the recording, or says how the replay ended.
 * Returns the exit status. */
static int rr_finish(Machine *m, int code, bool guest_exited)
{
    char err[1024];
    if (!rr.rs)
        return code;
    if (rr.mode == REPLAY_MODE_RECORD) {
        bool ok = true;
        if (rr.snaps) {
            uint64_t us;
            uint64_t n = record_snaps_taken(rr.snaps, &us);
            if (!record_snaps_finish(rr.snaps, err, sizeof err)) {
                fprintf(stderr, "rewind: recording %s: %s\n", rr.bundle, err);
                ok = false;
            } else if (getenv("REWIND_SNAPSHOT_STATS")) {
                fprintf(stderr, "rewind: %" PRIu64 " snapshots taken in %.3f s\n", n,
                        (double)us / 1e6);
            }
            rr.snaps = NULL;
        }
        if (!replay_session_finish(rr.rs, m, err, sizeof err)) {
            fprintf(stderr, "rewind: recording %s: %s\n", rr.bundle, err);
            ok = false;
        }
        /* what the guest wrote to its disks, for the user to look at (replay
         * does not need it: it writes the same again) */
        if (!machine_save_disk_overlays(m, rr.bundle, err, sizeof err)) {
            fprintf(stderr, "rewind: recording %s: %s\n", rr.bundle, err);
            ok = false;
        }
        char *ev = bundle_events_path();
        struct stat st;
        uint64_t bytes = stat(ev, &st) == 0 ? (uint64_t)st.st_size : 0;
        g_free(ev);
        if (!rr_join_manifest()) {
            ok = false;
        } else if (!bundle_finish(rr.bundle, machine_icount(m), code,
                                  guest_exited && !rr.quit, bytes, machine_net_tx_frames(m),
                                  err, sizeof err)) {
            fprintf(stderr, "rewind: %s\n", err);
            ok = false;
        }
        replay_session_free(rr.rs);
        rr.rs = NULL;
        return ok ? code : 1;
    }
    int status = 0;
    if (replay_session_diverged(rr.rs)) {
        fprintf(stderr, "rewind: %s\n", replay_session_message(rr.rs));
        status = EXIT_DIVERGED;
    } else if (replay_session_ended(rr.rs) || guest_exited) {
        if (replay_session_log_damaged(rr.rs)) {
            fprintf(stderr, "replay: %s\n", replay_session_message(rr.rs));
            status = EXIT_LOG_DAMAGED;
        } else if (guest_exited) {
            status = machine_exit_code(m);
        } else {
            replay_session_quit_requested(rr.rs, &status);
        }
        fprintf(stderr, "replay: end of recording at icount %" PRIu64 "\n", machine_icount(m));
        /* the guest's frames went nowhere; their number must still match */
        uint64_t tx = machine_net_tx_frames(m);
        if (rr.b && rr.b->finished && rr.b->cfg.nic_user && tx != rr.b->net_tx_frames) {
            fprintf(stderr, "rewind: replay diverged: the guest sent %" PRIu64
                    " network frames, %" PRIu64 " in the recording\n", tx, rr.b->net_tx_frames);
            if (!status)
                status = EXIT_DIVERGED;
        } else if (rr.b && rr.b->cfg.nic_user) {
            fprintf(stderr, "replay: the guest sent %" PRIu64 " network frames (dropped, as "
                    "replay has no network)\n", tx);
        }
    } else {
        fprintf(stderr, "replay: stopped at icount %" PRIu64 " before the end of the recording\n",
                machine_icount(m));
    }
    replay_session_free(rr.rs);
    rr.rs = NULL;
    bundle_free(rr.b);
    rr.b = NULL;
    return status;
}

/* Replaying: the engine that runs backwards, with the recording's
 * snapshots on disk when it has some, at the start snapshot when one was
 * asked for (-loadvm NAME, rrsnapshot=NAME). NULL if that failed. */
static Reverse *rr_reverse_new(Machine *m)
{
    char err[1024];
    Reverse *rev = reverse_new(m, rr.rs, rr.opts.snapshot_mem, 0);
    char *path = g_build_filename(rr.bundle, BUNDLE_SNAPSHOTS, NULL);
    bool have = g_file_test(path, G_FILE_TEST_EXISTS);
    if (have && !reverse_use_snapshot_file(rev, path, err, sizeof err)) {
        fprintf(stderr, "rewind: %s; replaying without it\n", err);
        have = false;
    }
    g_free(path);
    if (rr.loadvm) {
        if (!have) {
            fprintf(stderr, "rewind: -loadvm %s: the recording %s has no snapshots on disk\n",
                    rr.loadvm, rr.bundle);
            reverse_free(rev);
            return NULL;
        }
        if (!reverse_loadvm(rev, rr.loadvm)) {
            fprintf(stderr, "rewind: -loadvm %s: %s\n", rr.loadvm, reverse_message(rev));
            reverse_free(rev);
            return NULL;
        }
        fprintf(stderr, "replay: starting from snapshot '%s' at icount %" PRIu64 "\n",
                rr.loadvm, machine_icount(m));
    }
    return rev;
}

/* rewind snapshot add (record_snaps_add_at): the machine is the replay's. */
static int rr_snapshot_add(Machine *m)
{
    char err[1024];
    char *path = g_build_filename(rr.bundle, BUNDLE_SNAPSHOTS, NULL);
    char *name = rr.add_name ? g_strdup(rr.add_name)
                             : g_strdup_printf("icount-%" PRIu64, rr.add_icount);
    bool ok = record_snaps_add_at(path, m, rr.rs, rr.add_icount, name, err, sizeof err);
    if (ok)
        printf("added snapshot '%s' at icount %" PRIu64 " to %s\n", name, rr.add_icount, path);
    else
        fprintf(stderr, "rewind: %s: %s\n", rr.bundle, err);
    g_free(name);
    g_free(path);
    return ok ? 0 : 1;
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
    /* QEMU's default is sleep=on; here it is on for a person at a terminal
     * (a guest at a prompt then idles like a real machine) and off for
     * pipes and scripts, which want idle time skipped at once */
    cfg.idle_sleep = icount_sleep >= 0 ? icount_sleep == 1
                                       : isatty(STDIN_FILENO) && cfg.serial == SERIAL_STDIO;
    if (ro.serial_mux && !ro.monitor)
        ro.monitor = "stdio";
    if (ro.start_stopped && !ro.gdb && !ro.monitor)
        usage_error("-S needs -gdb DEV, -s or -monitor DEV (something to start the CPUs)");
    int rc = rr_before_machine(&cfg, &ro);
    if (rc >= 0)
        return rc;

    Machine *m = machine_new(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "rewind: %s\n", err);
        rr_join_manifest();
        replay_session_free(rr.rs);
        return EXIT_USAGE;
    }
    if (cfg.dumpdtb) {
        rr_join_manifest();
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
            rr_join_manifest();
            gdbstub_free(stub);
            monitor_free(mon);
            machine_free(m);
            return EXIT_USAGE;
        }
    }
    rc = rr_after_machine(m, mon);
    if (rc < 0 && rr.add)
        rc = rr_snapshot_add(m);
    if (rc >= 0) {
        rr_join_manifest();
        gdbstub_free(stub);
        monitor_free(mon);
        replay_session_free(rr.rs);
        machine_free(m);
        return rc;
    }
    if (stub) {
        Reverse *rev = NULL;
        gdbstub_set_replay(stub, rr.rs);
        if (rr.mode == REPLAY_MODE_REPLAY) {
            /* replaying under GDB: it can run backwards too */
            rev = rr_reverse_new(m);
            if (!rev) {
                gdbstub_free(stub);
                monitor_free(mon);
                replay_session_free(rr.rs);
                machine_free(m);
                return EXIT_USAGE;
            }
            gdbstub_set_reverse(stub, rev);
            monitor_set_reverse(mon, rev);
        }
        int code = gdbstub_run(stub, ro.start_stopped);
        gdbstub_free(stub);
        reverse_free(rev);
        monitor_free(mon);
        code = rr_finish(m, code, false);
        machine_free(m);
        return code;
    }
    bool guest_exited = false;
    /* replaying with a monitor (replay_seek, savevm ... need the engine)
     * or from a snapshot */
    Reverse *rev = NULL;
    if (rr.mode == REPLAY_MODE_REPLAY && (ro.monitor || rr.loadvm)) {
        rev = rr_reverse_new(m);
        if (!rev) {
            monitor_free(mon);
            replay_session_free(rr.rs);
            machine_free(m);
            return EXIT_USAGE;
        }
        monitor_set_reverse(mon, rev);
    }
    for (;;) {
        if (monitor_quit_requested(mon)) {
            rr_quit(m);
            break;
        }
        if (monitor_paused(mon)) {
            /* stopped by -S or the monitor's stop: only the consoles run */
            if (console_poll(m)) {
                rr_quit(m);
                break;
            }
            monitor_poll(mon, 20);
            continue;
        }
        RunResult r = rev     ? reverse_run(rev, 1u << 20)
                    : rr.rs ? replay_run(rr.rs, m, 1u << 20)
                            : machine_run(m, 1u << 20);
        if (r == RUN_EXIT || r == RUN_REPLAY_END || r == RUN_REPLAY_DIVERGED) {
            guest_exited = r == RUN_EXIT;
            break;
        }
        if (rev && reverse_break_reached(rev)) {
            fprintf(stderr, "replay: stopped at icount %" PRIu64 " (replay_break)\n",
                    machine_icount(m));
            monitor_set_paused(mon, true);
            reverse_note_stop(rev);
        }
        if (console_poll(m)) {
            rr_quit(m);
            break;
        }
        monitor_poll(mon, 0);
        if (rr.rs)
            replay_session_flush(rr.rs, m);
        /* sleep only if the input just delivered woke nobody */
        if (r == RUN_IDLE && !machine_can_progress(m))
            replay_idle_wait(rr.rs, m, ro.monitor ? 20 : 100);
    }
    monitor_free(mon);
    reverse_free(rev);
    int code = machine_exit_code(m);
    if (ro.report_icount)
        fprintf(stderr, "rewind: exit status %d after %" PRIu64 " instructions\n", code,
                machine_icount(m));
    code = rr_finish(m, code, guest_exited);
    machine_free(m);
    return code;
}

/* An instruction count: a number with an optional k/M/G/T suffix
 * (decimal: 100M = 10^8). */
static bool parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || s[0] == '-')
        return false;
    uint64_t unit = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': unit = 1000ull; break;
        case 'm': case 'M': unit = 1000000ull; break;
        case 'g': case 'G': unit = 1000000000ull; break;
        case 't': case 'T': unit = 1000000000000ull; break;
        default: return false;
        }
        if (end[1])
            return false;
    }
    if (v > UINT64_MAX / unit)
        return false;
    *out = (uint64_t)v * unit;
    return *out > 0;
}

/* cmd_run on the options record/replay left over; frees rest. */
static int cmd_run_rest(GPtrArray *rest)
{
    int n = (int)rest->len;
    g_ptr_array_add(rest, NULL);
    int code = cmd_run(n, (char **)rest->pdata);
    g_ptr_array_free(rest, TRUE);
    return code;
}

static int cmd_record(int argc, char **argv)
{
    GPtrArray *rest = g_ptr_array_new();
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        long v;
#define RARG()                                                                  \
    ({                                                                          \
        if (i + 1 >= argc)                                                      \
            usage_error("option %s needs an argument", o);                    \
        argv[++i];                                                              \
    })
        if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            g_free(rr.bundle);
            rr.bundle = g_strdup(RARG());
        } else if (!strcmp(o, "--check-every")) {
            const char *a = RARG();
            if (!parse_count(a, &rr.opts.check_every))
                usage_error("--check-every: invalid instruction count '%s'", a);
        } else if (!strcmp(o, "--snapshot-every")) {
            const char *a = RARG();
            if (!parse_count(a, &rr.opts.snapshot_every))
                usage_error("--snapshot-every: invalid instruction count '%s'", a);
        } else if (!strcmp(o, "--snapshot-name")) {
            g_free((char *)rr.opts.rrsnapshot);
            rr.opts.rrsnapshot = g_strdup(RARG());
        } else if (!strcmp(o, "--snapshot-time")) {
            const char *a = RARG();
            if (!parse_int(a, 1, 1000000000, &v))
                usage_error("--snapshot-time: must be a number of seconds, at least 1, not '%s'",
                            a);
            rr.opts.snapshot_time = (uint64_t)v;
        } else if (!strcmp(o, "--snapshot-count")) {
            const char *a = RARG();
            if (!parse_int(a, 0, 1000000000, &v))
                usage_error("--snapshot-count: must be 0 or more, not '%s'", a);
            rr.opts.snapshot_count = v;
        } else if (!strcmp(o, "--snapshot-mem")) {
            const char *a = RARG();
            if (!parse_size(a, &rr.opts.snapshot_mem))
                usage_error("--snapshot-mem: invalid size '%s'", a);
        } else if (!strcmp(o, "-help") || !strcmp(o, "--help") || !strcmp(o, "-h")) {
            print_usage(stdout);
            g_ptr_array_free(rest, TRUE);
            return 0;
        } else {
            g_ptr_array_add(rest, argv[i]);
        }
#undef RARG
    }
    if (!rr.bundle)
        usage_error("record: -o BUNDLE is required (the directory to write)");
    rr.mode = REPLAY_MODE_RECORD;
    return cmd_run_rest(rest);
}

static int cmd_replay(int argc, char **argv)
{
    GPtrArray *rest = g_ptr_array_new();
    const char *bundle = NULL;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i][0] == '-' && argv[i][1] == '-' ? argv[i] + 1 : argv[i];
        if (!strcmp(o, "-help") || !strcmp(o, "-h")) {
            print_usage(stdout);
            g_ptr_array_free(rest, TRUE);
            return 0;
        }
        if (!strcmp(o, "-gdb") || !strcmp(o, "-serial") || !strcmp(o, "-monitor") ||
            !strcmp(o, "-display") || !strcmp(o, "-accel") || !strcmp(o, "-loadvm")) {
            g_ptr_array_add(rest, argv[i]);
            if (i + 1 < argc)
                g_ptr_array_add(rest, argv[++i]);
        } else if (!strcmp(o, "-s") || !strcmp(o, "-S") || !strcmp(o, "-nographic") ||
                   !strcmp(o, "-report-icount")) {
            g_ptr_array_add(rest, argv[i]);
        } else if (o[0] == '-') {
            usage_error("replay: '%s' is not a replay option (the bundle holds the machine's "
                        "options; replay takes -gdb, -s, -S, -serial, -monitor, -accel, -loadvm)",
                        argv[i]);
        } else if (bundle) {
            usage_error("replay: one bundle only ('%s' and '%s')", bundle, argv[i]);
        } else {
            bundle = argv[i];
        }
    }
    if (!bundle)
        usage_error("replay: which bundle? (rewind replay BUNDLE)");
    rr.mode = REPLAY_MODE_REPLAY;
    rr.bundle = g_strdup(bundle);
    return cmd_run_rest(rest);
}

/* The snapshots of a bundle's file, one per line. */
static void print_snapshots(const SnapFile *f, FILE *out)
{
    fprintf(out, "%-6s %-20s %16s %12s  %s\n", "ID", "NAME", "ICOUNT", "VM SIZE", "DATE");
    for (int i = 0; i < snapfile_count(f); i++) {
        SnapFileInfo in;
        if (!snapfile_info(f, i, &in))
            continue;
        char date[32] = "";
        time_t t = (time_t)in.date_sec;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
        char ic[24];
        if (in.machine)
            snprintf(ic, sizeof ic, "%" PRIu64, in.icount);
        else
            snprintf(ic, sizeof ic, "(no machine)");
        fprintf(out, "%-6s %-20s %16s %8" PRIu64 " KiB  %s\n", in.id, in.name, ic,
                in.bytes / 1024, date);
    }
}

/* An instruction count: a number with an optional k/M/G/T suffix. */
static bool parse_count(const char *s, uint64_t *out);

/* rewind snapshot list BUNDLE | delete BUNDLE NAME | add BUNDLE ICOUNT [NAME] */
static int cmd_snapshot(int argc, char **argv)
{
    char err[1024];
    bool list = argc == 2 && !strcmp(argv[0], "list");
    bool del = argc == 3 && !strcmp(argv[0], "delete");
    if ((argc == 3 || argc == 4) && !strcmp(argv[0], "add")) {
        if (!parse_count(argv[2], &rr.add_icount) && strcmp(argv[2], "0") != 0)
            usage_error("snapshot add: invalid instruction count '%s'", argv[2]);
        rr.add = true;
        rr.add_name = argc == 4 ? argv[3] : NULL;
        rr.mode = REPLAY_MODE_REPLAY;
        rr.bundle = g_strdup(argv[1]);
        char *args[] = { "-serial", "null", NULL };
        return cmd_run(2, args);
    }
    if (!list && !del)
        usage_error("snapshot: usage: rewind snapshot list BUNDLE, rewind snapshot delete "
                    "BUNDLE NAME, or rewind snapshot add BUNDLE ICOUNT [NAME]");
    char *path = g_build_filename(argv[1], BUNDLE_SNAPSHOTS, NULL);
    int rc = 0;
    SnapFile *f = NULL;
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        struct stat st;
        if (stat(argv[1], &st) != 0) {
            fprintf(stderr, "rewind: %s: %s\n", argv[1], g_strerror(errno));
            rc = EXIT_USAGE;
        } else if (list) {
            printf("%s: no snapshots (record with --snapshot-every, --snapshot-time or "
                   "--snapshot-name)\n", argv[1]);
        } else {
            fprintf(stderr, "rewind: %s: no snapshot named '%s' (the recording has none)\n",
                    argv[1], argv[2]);
            rc = 1;
        }
        goto out;
    }
    f = snapfile_open(path, del, err, sizeof err);
    if (!f) {
        fprintf(stderr, "rewind: %s\n", err);
        rc = 1;
        goto out;
    }
    if (list) {
        print_snapshots(f, stdout);
    } else {
        int idx = snapfile_find(f, argv[2]);
        if (idx < 0) {
            fprintf(stderr, "rewind: %s: no snapshot named '%s'\n", path, argv[2]);
            rc = 1;
        } else if (!snapfile_delete(f, idx, err, sizeof err)) {
            fprintf(stderr, "rewind: %s\n", err);
            rc = 1;
        }
    }
    if (!snapfile_close(f, err, sizeof err)) {
        fprintf(stderr, "rewind: %s\n", err);
        rc = 1;
    }
out:
    g_free(path);
    return rc;
}

static int cmd_info(int argc, char **argv)
{
    char err[1024];
    if (argc != 1)
        usage_error("info: usage: rewind info BUNDLE");
    Bundle *b = bundle_open(argv[0], err, sizeof err);
    if (!b) {
        fprintf(stderr, "rewind: %s\n", err);
        return EXIT_USAGE;
    }
    bundle_print_summary(b, stdout);
    printf("inputs:       %s\n", bundle_verify_inputs(b, err, sizeof err) ? "unchanged" : err);
    RLogReader *r = rlog_reader_open(b->events_path, err, sizeof err);
    if (!r) {
        printf("log:          %s\n", err);
        bundle_free(b);
        return 0;
    }
    uint64_t counts[256] = { 0 }, total = 0, first = 0;
    RLogEvent ev;
    RLogNext n;
    while ((n = rlog_reader_next(r, &ev, err, sizeof err)) == RLOG_NEXT_EVENT) {
        if (!total)
            first = ev.icount;
        counts[ev.type]++;
        total++;
    }
    printf("log:          %s, %" PRIu64 " bytes, check every %" PRIu64 " instructions\n",
           b->events_path, rlog_reader_file_size(r), rlog_reader_check_period(r));
    printf("events:       %" PRIu64, total);
    const char *sep = " (";
    for (int t = 0; t < 256; t++) {
        if (counts[t]) {
            printf("%s%s %" PRIu64, sep, rlog_event_name((uint8_t)t), counts[t]);
            sep = ", ";
        }
    }
    printf("%s\n", total ? ")" : "");
    printf("icounts:      %" PRIu64 " .. %" PRIu64 " (%s)\n", first, rlog_reader_valid_icount(r),
           n == RLOG_NEXT_END ? "end of recording" : "log damaged");
    if (n == RLOG_NEXT_BROKEN)
        printf("damage:       %s\n", err);
    rlog_reader_close(r);
    char *path = g_build_filename(argv[0], BUNDLE_SNAPSHOTS, NULL);
    if (g_file_test(path, G_FILE_TEST_EXISTS)) {
        SnapFile *f = snapfile_open(path, false, err, sizeof err);
        if (f) {
            printf("snapshots:    %s, %d\n", path, snapfile_count(f));
            print_snapshots(f, stdout);
            snapfile_close(f, NULL, 0);
        } else {
            printf("snapshots:    %s\n", err);
        }
    }
    g_free(path);
    bundle_free(b);
    return 0;
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
    if (!strcmp(cmd, "record"))
        return cmd_record(argc - 2, argv + 2);
    if (!strcmp(cmd, "replay"))
        return cmd_replay(argc - 2, argv + 2);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "snapshot"))
        return cmd_snapshot(argc - 2, argv + 2);
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
