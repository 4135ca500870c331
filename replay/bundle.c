/* Bundles: a recording is a directory holding "manifest" (a GLib key file)
 * and "events.rlog". The manifest has everything `rewind replay` needs to
 * build the same machine (no other option is needed) and the size and
 * SHA-256 of every input file, checked before replaying. Layout:
 *
 *   [rewind]     version, bundle format
 *   [machine]    ram, smp, bios, kernel, initrd, append, icount_shift,
 *                rtc_start_ns
 *   [record]     check_every and the snapshot options
 *   [drive N]    path, format, readonly (the -drive options, in order)
 *   [devices]    nic_user, hostfwd (informative: replay starts no slirp),
 *                rng
 *   [input NAME] path, size, sha256 (NAME: bios, kernel, initrd, driveN
 *                and driveN.K for the K-th backing file of a qcow2 image)
 *   [recording]  end_icount, exit_status, guest_exited, log_bytes: written
 *                when the recording ends (absent after a crash)
 */
#include "replay.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BUNDLE_FORMAT 1
/* The firmware -bios default (or no -bios) loads; as emulator/board_virt.c.
 * The manifest names the file itself so that it is hashed like any other. */
#define DEFAULT_BIOS_PATH "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

static bool hash_file(const char *path, uint64_t *size, char **hex, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, g_strerror(errno));
        return false;
    }
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    uint8_t buf[65536];
    size_t n;
    uint64_t total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        g_checksum_update(c, buf, n);
        total += n;
    }
    bool ok = !ferror(f);
    fclose(f);
    if (!ok) {
        snprintf(err, errlen, "%s: read error", path);
        g_checksum_free(c);
        return false;
    }
    *size = total;
    *hex = g_strdup(g_checksum_get_string(c));
    g_checksum_free(c);
    return true;
}

static bool add_input(GKeyFile *kf, const char *name, const char *path, char *err, size_t errlen)
{
    uint64_t size;
    char *hex;
    if (!hash_file(path, &size, &hex, err, errlen))
        return false;
    char *group = g_strdup_printf("input %s", name);
    g_key_file_set_string(kf, group, "path", path);
    g_key_file_set_uint64(kf, group, "size", size);
    g_key_file_set_string(kf, group, "sha256", hex);
    g_free(group);
    g_free(hex);
    return true;
}

static char *abs_path(const char *p)
{
    return g_canonicalize_filename(p, NULL);
}

/* Writes kf's text to the manifest, replacing it ("wb") or after it
 * ("ab"). No temporary file and rename, and no fsync (which glib's file
 * setters always do): when the manifest is written the recorder has
 * already truncated the event log, so an older recording in the bundle is
 * gone anyway, and the log is not synced either (a host crash loses the
 * recording in any case); a rename or an fsync costs more than recording a
 * short run. */
static bool write_manifest(GKeyFile *kf, const char *dir, const char *mode, char *err,
                           size_t errlen)
{
    char *path = g_build_filename(dir, BUNDLE_MANIFEST, NULL);
    gsize len;
    char *data = g_key_file_to_data(kf, &len, NULL);
    bool ok = false;
    FILE *f = fopen(path, mode);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, g_strerror(errno));
    } else {
        ok = (mode[0] != 'a' || fputc('\n', f) != EOF) && fwrite(data, 1, len, f) == len;
        int werr = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            werr = errno;
        }
        if (!ok)
            snprintf(err, errlen, "%s: %s", path, g_strerror(werr));
    }
    g_free(data);
    g_free(path);
    return ok;
}

bool bundle_create(const char *dir, const MachineConfig *cfg, const BundleOptions *opts,
                   char *err, size_t errlen)
{
    if (g_mkdir_with_parents(dir, 0777) != 0) {
        snprintf(err, errlen, "%s: %s", dir, g_strerror(errno));
        return false;
    }
    GKeyFile *kf = g_key_file_new();
    g_key_file_set_comment(kf, NULL, NULL,
                           " A Rewind recording: replay with `rewind replay DIR`", NULL);
    g_key_file_set_string(kf, "rewind", "version", REWIND_VERSION);
    g_key_file_set_integer(kf, "rewind", "bundle_format", BUNDLE_FORMAT);
    g_key_file_set_string(kf, "rewind", "events", BUNDLE_EVENTS);

    bool ok = true;
    g_key_file_set_uint64(kf, "machine", "ram", cfg->ram_size);
    g_key_file_set_integer(kf, "machine", "smp", cfg->smp);
    const char *bios = cfg->bios;
    char *bios_abs = NULL;
    if (bios && !strcmp(bios, "none")) {
        g_key_file_set_string(kf, "machine", "bios", "none");
    } else {
        bios_abs = abs_path(!bios || !strcmp(bios, "default") ? DEFAULT_BIOS_PATH : bios);
        g_key_file_set_string(kf, "machine", "bios", bios_abs);
        ok = add_input(kf, "bios", bios_abs, err, errlen);
    }
    struct { const char *key; const char *path; } files[] = {
        { "kernel", cfg->kernel }, { "initrd", cfg->initrd },
    };
    for (size_t i = 0; ok && i < G_N_ELEMENTS(files); i++) {
        if (!files[i].path)
            continue;
        char *a = abs_path(files[i].path);
        g_key_file_set_string(kf, "machine", files[i].key, a);
        ok = add_input(kf, files[i].key, a, err, errlen);
        g_free(a);
    }
    if (cfg->append)
        g_key_file_set_string(kf, "machine", "append", cfg->append);
    for (int i = 0; ok && i < cfg->ndrives; i++) {
        char *group = g_strdup_printf("drive %d", i);
        char *a = abs_path(cfg->drives[i].path);
        g_key_file_set_string(kf, group, "path", a);
        g_key_file_set_string(kf, group, "format",
                              cfg->drives[i].format == DRIVE_FORMAT_QCOW2 ? "qcow2" : "raw");
        g_key_file_set_boolean(kf, group, "readonly", cfg->drives[i].readonly);
        /* the image and every backing file it reads */
        char **files = machine_drive_files(&cfg->drives[i], err, errlen);
        ok = files != NULL;
        for (int k = 0; ok && files[k]; k++) {
            char *name = k ? g_strdup_printf("drive%d.%d", i, k) : g_strdup_printf("drive%d", i);
            char *fa = abs_path(files[k]);
            ok = add_input(kf, name, fa, err, errlen);
            g_free(fa);
            g_free(name);
        }
        g_strfreev(files);
        g_free(a);
        g_free(group);
    }
    g_key_file_set_boolean(kf, "devices", "nic_user", cfg->nic_user);
    if (cfg->nhostfwd)
        g_key_file_set_string_list(kf, "devices", "hostfwd", cfg->hostfwd, (gsize)cfg->nhostfwd);
    g_key_file_set_boolean(kf, "devices", "rng", cfg->rng);
    g_key_file_set_integer(kf, "machine", "icount_shift", cfg->icount_shift);
    g_key_file_set_boolean(kf, "machine", "idle_sleep", cfg->idle_sleep);
    g_key_file_set_uint64(kf, "machine", "rtc_start_ns", cfg->rtc_start_ns);

    g_key_file_set_uint64(kf, "record", "check_every",
                          opts->check_every ? opts->check_every : RLOG_DEFAULT_CHECK_PERIOD);
    if (opts->snapshot_every)
        g_key_file_set_uint64(kf, "record", "snapshot_every", opts->snapshot_every);
    if (opts->snapshot_time)
        g_key_file_set_uint64(kf, "record", "snapshot_time", opts->snapshot_time);
    if (opts->snapshot_count >= 0)
        g_key_file_set_int64(kf, "record", "snapshot_count", opts->snapshot_count);
    if (opts->snapshot_mem)
        g_key_file_set_uint64(kf, "record", "snapshot_mem", opts->snapshot_mem);
    if (opts->rrsnapshot)
        g_key_file_set_string(kf, "record", "snapshot_name", opts->rrsnapshot);
    if (opts->rrsnapmode)
        g_key_file_set_string(kf, "record", "snapshot_mode", opts->rrsnapmode);

    if (ok)
        ok = write_manifest(kf, dir, "wb", err, errlen);
    g_free(bios_abs);
    g_key_file_free(kf);
    return ok;
}

static GKeyFile *load(const char *dir, char *err, size_t errlen)
{
    char *path = g_build_filename(dir, BUNDLE_MANIFEST, NULL);
    GKeyFile *kf = g_key_file_new();
    GError *ge = NULL;
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        snprintf(err, errlen, "%s: not a Rewind bundle (no such directory)", dir);
    } else if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        snprintf(err, errlen, "%s: not a Rewind bundle (no manifest)", dir);
    } else if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, &ge)) {
        snprintf(err, errlen, "%s: bad manifest: %s", path, ge->message);
        g_error_free(ge);
    } else {
        g_free(path);
        return kf;
    }
    g_free(path);
    g_key_file_free(kf);
    return NULL;
}

bool bundle_finish(const char *dir, uint64_t end_icount, int exit_status, bool guest_exited,
                   uint64_t log_bytes, uint64_t net_tx_frames, char *err, size_t errlen)
{
    /* appended to what bundle_create wrote; a section cut short by a crash
     * reads as an unfinished recording */
    GKeyFile *kf = g_key_file_new();
    g_key_file_set_uint64(kf, "recording", "end_icount", end_icount);
    g_key_file_set_integer(kf, "recording", "exit_status", exit_status);
    g_key_file_set_boolean(kf, "recording", "guest_exited", guest_exited);
    g_key_file_set_uint64(kf, "recording", "log_bytes", log_bytes);
    g_key_file_set_uint64(kf, "recording", "net_tx_frames", net_tx_frames);
    bool ok = write_manifest(kf, dir, "ab", err, errlen);
    g_key_file_free(kf);
    return ok;
}

void bundle_free(Bundle *b)
{
    if (!b)
        return;
    g_free(b->dir);
    g_free(b->manifest_path);
    g_free(b->events_path);
    g_free(b->version);
    g_free((char *)b->cfg.bios);
    g_free((char *)b->cfg.kernel);
    g_free((char *)b->cfg.initrd);
    g_free((char *)b->cfg.append);
    for (int i = 0; i < b->cfg.ndrives; i++)
        g_free((char *)b->cfg.drives[i].path);
    g_strfreev(b->hostfwd);
    g_free((char *)b->opts.rrsnapshot);
    g_free((char *)b->opts.rrsnapmode);
    if (b->keyfile)
        g_key_file_free(b->keyfile);
    g_free(b);
}

/* Required keys: a missing or malformed one makes the manifest bad. */
static bool get_u64(GKeyFile *kf, const char *g, const char *k, uint64_t *v, const char *mpath,
                    char *err, size_t errlen)
{
    GError *ge = NULL;
    *v = g_key_file_get_uint64(kf, g, k, &ge);
    if (ge) {
        snprintf(err, errlen, "%s: bad manifest: [%s] %s: %s", mpath, g, k, ge->message);
        g_error_free(ge);
        return false;
    }
    return true;
}

Bundle *bundle_open(const char *dir, char *err, size_t errlen)
{
    GKeyFile *kf = load(dir, err, errlen);
    if (!kf)
        return NULL;
    Bundle *b = g_new0(Bundle, 1);
    b->keyfile = kf;
    b->dir = g_strdup(dir);
    b->manifest_path = g_build_filename(dir, BUNDLE_MANIFEST, NULL);
    b->events_path = g_build_filename(dir, BUNDLE_EVENTS, NULL);
    machine_config_defaults(&b->cfg);
    const char *mp = b->manifest_path;

    b->version = g_key_file_get_string(kf, "rewind", "version", NULL);
    uint64_t fmt, ram, smp, shift, rtc;
    if (!b->version) {
        snprintf(err, errlen, "%s: bad manifest: no [rewind] version", mp);
        goto fail;
    }
    if (!get_u64(kf, "rewind", "bundle_format", &fmt, mp, err, errlen))
        goto fail;
    if (fmt != BUNDLE_FORMAT) {
        snprintf(err, errlen, "%s: bundle format %" PRIu64 ", this Rewind reads %d", mp, fmt,
                 BUNDLE_FORMAT);
        goto fail;
    }
    if (!get_u64(kf, "machine", "ram", &ram, mp, err, errlen) ||
        !get_u64(kf, "machine", "smp", &smp, mp, err, errlen) ||
        !get_u64(kf, "machine", "icount_shift", &shift, mp, err, errlen) ||
        !get_u64(kf, "machine", "rtc_start_ns", &rtc, mp, err, errlen))
        goto fail;
    if (ram == 0 || smp < 1 || smp > REWIND_MAX_HARTS || shift > 10) {
        snprintf(err, errlen, "%s: bad manifest: impossible machine (ram %" PRIu64
                 ", smp %" PRIu64 ", icount_shift %" PRIu64 ")", mp, ram, smp, shift);
        goto fail;
    }
    b->cfg.ram_size = ram;
    b->cfg.smp = (int)smp;
    b->cfg.icount_shift = (int)shift;
    b->cfg.rtc_start_ns = rtc;
    b->cfg.idle_sleep = g_key_file_get_boolean(kf, "machine", "idle_sleep", NULL);
    b->cfg.bios = g_key_file_get_string(kf, "machine", "bios", NULL);
    if (!b->cfg.bios) {
        snprintf(err, errlen, "%s: bad manifest: no [machine] bios", mp);
        goto fail;
    }
    b->cfg.kernel = g_key_file_get_string(kf, "machine", "kernel", NULL);
    b->cfg.initrd = g_key_file_get_string(kf, "machine", "initrd", NULL);
    b->cfg.append = g_key_file_get_string(kf, "machine", "append", NULL);
    for (int i = 0; i < REWIND_MAX_DRIVES; i++) {
        char *group = g_strdup_printf("drive %d", i);
        if (!g_key_file_has_group(kf, group)) {
            g_free(group);
            break;
        }
        char *path = g_key_file_get_string(kf, group, "path", NULL);
        char *format = g_key_file_get_string(kf, group, "format", NULL);
        DriveConfig *d = &b->cfg.drives[b->cfg.ndrives++];
        d->path = path;
        d->readonly = g_key_file_get_boolean(kf, group, "readonly", NULL);
        bool good = path && format && (!strcmp(format, "raw") || !strcmp(format, "qcow2"));
        d->format = good && !strcmp(format, "qcow2") ? DRIVE_FORMAT_QCOW2 : DRIVE_FORMAT_RAW;
        g_free(format);
        if (!good) {
            snprintf(err, errlen, "%s: bad manifest: [%s] needs a path and a format (raw or "
                     "qcow2)", mp, group);
            g_free(group);
            goto fail;
        }
        g_free(group);
    }
    b->cfg.nic_user = g_key_file_get_boolean(kf, "devices", "nic_user", NULL);
    b->cfg.rng = g_key_file_get_boolean(kf, "devices", "rng", NULL);
    gsize nfwd = 0;
    b->hostfwd = g_key_file_get_string_list(kf, "devices", "hostfwd", &nfwd, NULL);
    for (gsize i = 0; b->hostfwd && i < nfwd && i < REWIND_MAX_HOSTFWD; i++)
        b->cfg.hostfwd[b->cfg.nhostfwd++] = b->hostfwd[i];

    b->opts.check_every = g_key_file_get_uint64(kf, "record", "check_every", NULL);
    b->opts.snapshot_every = g_key_file_get_uint64(kf, "record", "snapshot_every", NULL);
    b->opts.snapshot_time = g_key_file_get_uint64(kf, "record", "snapshot_time", NULL);
    b->opts.snapshot_count = g_key_file_has_key(kf, "record", "snapshot_count", NULL)
                                 ? g_key_file_get_int64(kf, "record", "snapshot_count", NULL)
                                 : -1;
    b->opts.snapshot_mem = g_key_file_get_uint64(kf, "record", "snapshot_mem", NULL);
    b->opts.rrsnapshot = g_key_file_get_string(kf, "record", "snapshot_name", NULL);
    b->opts.rrsnapmode = g_key_file_get_string(kf, "record", "snapshot_mode", NULL);

    GError *ge = NULL;
    if (g_key_file_has_group(kf, "recording") &&
        g_key_file_has_key(kf, "recording", "net_tx_frames", NULL)) {
        b->end_icount = g_key_file_get_uint64(kf, "recording", "end_icount", &ge);
        b->finished = !ge;
        g_clear_error(&ge);
        b->net_tx_frames = g_key_file_get_uint64(kf, "recording", "net_tx_frames", NULL);
        b->exit_status = g_key_file_get_integer(kf, "recording", "exit_status", NULL);
        b->guest_exited = g_key_file_get_boolean(kf, "recording", "guest_exited", NULL);
    }
    /* every file the machine loads must be listed with its checksum */
    const char *keys[] = { "bios", "kernel", "initrd" };
    const char *vals[] = { b->cfg.bios, b->cfg.kernel, b->cfg.initrd };
    for (int i = 0; i < 3; i++) {
        if (!vals[i] || !strcmp(vals[i], "none"))
            continue;
        char *group = g_strdup_printf("input %s", keys[i]);
        char *p = g_key_file_get_string(kf, group, "path", NULL);
        char *h = g_key_file_get_string(kf, group, "sha256", NULL);
        bool good = p && h && !strcmp(p, vals[i]) && strlen(h) == 64 &&
                    g_key_file_has_key(kf, group, "size", NULL);
        g_free(p);
        g_free(h);
        if (!good) {
            snprintf(err, errlen, "%s: bad manifest: [%s] missing or does not match [machine] %s",
                     mp, group, keys[i]);
            g_free(group);
            goto fail;
        }
        g_free(group);
    }
    return b;
fail:
    bundle_free(b);
    return NULL;
}

bool bundle_verify_inputs(const Bundle *b, char *err, size_t errlen)
{
    GKeyFile *kf = b->keyfile;
    gsize n = 0;
    gchar **groups = g_key_file_get_groups(kf, &n);
    bool ok = true;
    for (gsize i = 0; ok && i < n; i++) {
        if (!g_str_has_prefix(groups[i], "input "))
            continue;
        char *path = g_key_file_get_string(kf, groups[i], "path", NULL);
        char *want = g_key_file_get_string(kf, groups[i], "sha256", NULL);
        uint64_t want_size = g_key_file_get_uint64(kf, groups[i], "size", NULL);
        uint64_t size;
        char *got = NULL;
        char sub[512];
        if (!path || !want) {
            snprintf(err, errlen, "%s: bad manifest: [%s] has no path or sha256",
                     b->manifest_path, groups[i]);
            ok = false;
        } else if (!hash_file(path, &size, &got, sub, sizeof sub)) {
            snprintf(err, errlen, "%s: input file missing: %s (%s)", b->dir, path, sub);
            ok = false;
        } else if (size != want_size || g_ascii_strcasecmp(got, want) != 0) {
            snprintf(err, errlen, "%s: input file changed since recording: %s (sha256 %s, "
                     "now %s)", b->dir, path, want, got);
            ok = false;
        }
        g_free(got);
        g_free(path);
        g_free(want);
    }
    g_strfreev(groups);
    return ok;
}

void bundle_print_summary(const Bundle *b, FILE *out)
{
    const MachineConfig *c = &b->cfg;
    fprintf(out, "bundle:       %s\n", b->dir);
    fprintf(out, "recorded by:  rewind %s\n", b->version);
    fprintf(out, "machine:      virt, %" PRIu64 " MiB RAM, %d hart%s, icount shift %d\n",
            c->ram_size >> 20, c->smp, c->smp == 1 ? "" : "s", c->icount_shift);
    fprintf(out, "bios:         %s\n", c->bios);
    if (c->kernel)
        fprintf(out, "kernel:       %s\n", c->kernel);
    if (c->initrd)
        fprintf(out, "initrd:       %s\n", c->initrd);
    if (c->append)
        fprintf(out, "append:       %s\n", c->append);
    for (int i = 0; i < c->ndrives; i++)
        fprintf(out, "drive %d:      %s (%s%s)\n", i, c->drives[i].path,
                c->drives[i].format == DRIVE_FORMAT_QCOW2 ? "qcow2" : "raw",
                c->drives[i].readonly ? ", read-only" : "");
    if (c->nic_user)
        fprintf(out, "network:      virtio-net, user (slirp)%s\n",
                c->nhostfwd ? ", with host forwarding" : "");
    if (c->rng)
        fprintf(out, "rng:          virtio-rng\n");
    fprintf(out, "rtc start:    %" PRIu64 " ns since the epoch\n", c->rtc_start_ns);
    fprintf(out, "check every:  %" PRIu64 " instructions\n", b->opts.check_every);
    if (b->opts.snapshot_every || b->opts.snapshot_time || b->opts.snapshot_count >= 0 ||
        b->opts.snapshot_mem || b->opts.rrsnapshot || b->opts.rrsnapmode) {
        fprintf(out, "snap options:");
        if (b->opts.rrsnapshot)
            fprintf(out, " initial '%s'", b->opts.rrsnapshot);
        if (b->opts.rrsnapmode)
            fprintf(out, " mode %s", b->opts.rrsnapmode);
        if (b->opts.snapshot_every)
            fprintf(out, " every %" PRIu64 " instructions", b->opts.snapshot_every);
        if (b->opts.snapshot_time)
            fprintf(out, " every %" PRIu64 " s", b->opts.snapshot_time);
        if (b->opts.snapshot_count >= 0)
            fprintf(out, " keep %" PRId64, b->opts.snapshot_count);
        if (b->opts.snapshot_mem)
            fprintf(out, " memory %" PRIu64 " MiB", b->opts.snapshot_mem >> 20);
        fprintf(out, "\n");
    }
    if (b->finished) {
        fprintf(out, "recording:    ended at icount %" PRIu64 ", %s %d\n", b->end_icount,
                b->guest_exited ? "guest exit status" : "stopped from outside, status",
                b->exit_status);
        if (c->nic_user)
            fprintf(out, "network:      the guest sent %" PRIu64 " frames\n",
                    b->net_tx_frames);
    } else {
        fprintf(out, "recording:    no end section (the recorder did not finish)\n");
    }
}
