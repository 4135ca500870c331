/* QEMU's device options for the virt board: -drive, -nic, -netdev,
 * -device, parsed into a MachineConfig with QEMU's meanings, and one-line
 * errors for what the board does not have.
 *
 *   -drive file=PATH[,format=raw|qcow2][,if=virtio][,readonly=on|off]
 *   -drive file=PATH,if=none,id=ID,... with -device virtio-blk-device,drive=ID
 *   -nic user[,hostfwd=RULE]...[,model=virtio-net-device|virtio]   -nic none
 *   -netdev user,id=ID[,hostfwd=RULE]... with -device virtio-net-device,netdev=ID
 *   -device virtio-rng | virtio-rng-device [,rng=ID]  (with -object rng-*)
 *
 * Option strings are split with glib; the pieces the config keeps are
 * copied and live as long as the process, like argv (freed at exit so that
 * leak checkers stay quiet). */
#include "machine.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GPtrArray *kept;

static void free_kept(void)
{
    g_ptr_array_free(kept, TRUE);
    kept = NULL;
}

/* A copy of s that lives until exit. */
static char *keep(const char *s)
{
    if (!kept) {
        kept = g_ptr_array_new_with_free_func(g_free);
        atexit(free_kept);
    }
    char *c = g_strdup(s);
    g_ptr_array_add(kept, c);
    return c;
}

/* "key=value" pieces of a comma-separated option; the first piece may be
 * a bare word (the backend: "user"). */
static gchar **split_opts(const char *arg)
{
    return g_strsplit(arg, ",", -1);
}

static bool key_is(const char *piece, const char *key, const char **val)
{
    size_t n = strlen(key);
    if (strncmp(piece, key, n) || piece[n] != '=')
        return false;
    *val = piece + n + 1;
    return true;
}

static bool on_off(const char *opt, const char *key, const char *v, bool *out, char *err,
                   size_t errlen)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no"))
        *out = false;
    else {
        snprintf(err, errlen, "%s: %s=%s: expected on or off", opt, key, v);
        return false;
    }
    return true;
}

/* The first bytes of a qcow2 image: "QFI\xfb". */
static bool looks_like_qcow2(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char magic[4] = { 0 };
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "QFI\xfb", 4);
}

/* -drive if=none,id=ID waits for the -device virtio-blk-device that names
 * it (QEMU's long form; drives nobody names are left out, as on QEMU). */
typedef struct PendingDrive {
    char *id;
    DriveConfig d;
} PendingDrive;
static PendingDrive pending_drives[REWIND_MAX_DRIVES];
static int npending_drives;

bool machine_config_add_drive(MachineConfig *cfg, const char *arg, char *err, size_t errlen)
{
    if (cfg->ndrives >= REWIND_MAX_DRIVES) {
        snprintf(err, errlen, "-drive: at most %d drives", REWIND_MAX_DRIVES);
        return false;
    }
    DriveConfig d = { 0 };
    bool have_format = false, if_none = false;
    const char *id = NULL;
    gchar **p = split_opts(arg);
    bool ok = true;
    for (int i = 0; ok && p[i]; i++) {
        const char *v;
        if (!p[i][0])
            continue;
        if (key_is(p[i], "file", &v)) {
            d.path = keep(v);
        } else if (key_is(p[i], "format", &v)) {
            have_format = true;
            d.format = !strcmp(v, "qcow2") ? DRIVE_FORMAT_QCOW2 : DRIVE_FORMAT_RAW;
            if (strcmp(v, "raw") && strcmp(v, "qcow2")) {
                snprintf(err, errlen, "-drive: format=%s: Rewind reads raw and qcow2 images", v);
                ok = false;
            }
        } else if (key_is(p[i], "if", &v)) {
            if_none = !strcmp(v, "none");
            if (strcmp(v, "virtio") && !if_none) {
                snprintf(err, errlen, "-drive: if=%s: the virt board has virtio disks only "
                         "(if=virtio, or if=none with -device virtio-blk-device)", v);
                ok = false;
            }
        } else if (key_is(p[i], "id", &v)) {
            id = keep(v);
        } else if (key_is(p[i], "readonly", &v)) {
            ok = on_off("-drive", "readonly", v, &d.readonly, err, errlen);
        } else if (key_is(p[i], "media", &v) && !strcmp(v, "disk")) {
            /* the only kind */
        } else if (key_is(p[i], "cache", &v) || key_is(p[i], "aio", &v) ||
                   key_is(p[i], "discard", &v)) {
            /* host-side tuning: nothing to do here */
        } else {
            snprintf(err, errlen, "-drive: unsupported option '%s' (file=, format=, if=virtio, "
                     "readonly=)", p[i]);
            ok = false;
        }
    }
    g_strfreev(p);
    if (ok && !d.path) {
        snprintf(err, errlen, "-drive: file=PATH is required");
        ok = false;
    }
    if (!ok)
        return false;
    if (!have_format)
        d.format = looks_like_qcow2(d.path) ? DRIVE_FORMAT_QCOW2 : DRIVE_FORMAT_RAW;
    if (if_none) {
        if (!id) {
            snprintf(err, errlen, "-drive if=none: id=ID is required (for -device "
                     "virtio-blk-device,drive=ID)");
            return false;
        }
        if (npending_drives >= REWIND_MAX_DRIVES) {
            snprintf(err, errlen, "-drive: at most %d drives", REWIND_MAX_DRIVES);
            return false;
        }
        pending_drives[npending_drives++] = (PendingDrive){ .id = (char *)id, .d = d };
        return true;
    }
    cfg->drives[cfg->ndrives++] = d;
    return true;
}

static bool add_blk_device(MachineConfig *cfg, const char *name, gchar **p, char *err,
                           size_t errlen)
{
    const char *drive = NULL;
    for (int i = 1; p[i]; i++) {
        const char *v;
        if (key_is(p[i], "drive", &v))
            drive = v;
        else if (!key_is(p[i], "id", &v)) {
            snprintf(err, errlen, "-device %s: unsupported option '%s'", name, p[i]);
            return false;
        }
    }
    for (int i = 0; drive && i < npending_drives; i++) {
        PendingDrive *pd = &pending_drives[i];
        if (pd->id && !strcmp(pd->id, drive)) {
            if (cfg->ndrives >= REWIND_MAX_DRIVES) {
                snprintf(err, errlen, "-device %s: at most %d drives", name, REWIND_MAX_DRIVES);
                return false;
            }
            cfg->drives[cfg->ndrives++] = pd->d;
            pd->id = NULL;      /* used */
            return true;
        }
    }
    snprintf(err, errlen, "-device %s: needs drive=ID of a -drive if=none,id=ID given before "
             "it (and not used by another device)", name);
    return false;
}

/* hostfwd=... pieces of -nic user / -netdev user. */
static bool user_net_options(MachineConfig *cfg, const char *opt, gchar **p, int from,
                             const char **id, char *err, size_t errlen)
{
    for (int i = from; p[i]; i++) {
        const char *v;
        if (!p[i][0])
            continue;
        if (key_is(p[i], "hostfwd", &v)) {
            if (cfg->nhostfwd >= REWIND_MAX_HOSTFWD) {
                snprintf(err, errlen, "%s: at most %d hostfwd rules", opt, REWIND_MAX_HOSTFWD);
                return false;
            }
            cfg->hostfwd[cfg->nhostfwd++] = keep(v);
        } else if (key_is(p[i], "model", &v)) {
            if (strcmp(v, "virtio-net-device") && strcmp(v, "virtio")) {
                snprintf(err, errlen, "%s: model=%s: the virt board has virtio-net only "
                         "(model=virtio-net-device)", opt, v);
                return false;
            }
        } else if (id && key_is(p[i], "id", &v)) {
            *id = v;
        } else if (key_is(p[i], "mac", &v) || key_is(p[i], "net", &v) ||
                   key_is(p[i], "host", &v) || key_is(p[i], "dns", &v) ||
                   key_is(p[i], "dhcpstart", &v) || key_is(p[i], "ipv6", &v) ||
                   key_is(p[i], "ipv4", &v) || key_is(p[i], "hostname", &v)) {
            snprintf(err, errlen, "%s: '%s' is not supported: the network is QEMU's default "
                     "10.0.2.0/24 (guest 10.0.2.15, host 10.0.2.2, DNS 10.0.2.3)", opt, p[i]);
            return false;
        } else {
            snprintf(err, errlen, "%s: unsupported option '%s' (hostfwd=, model=)", opt, p[i]);
            return false;
        }
    }
    return true;
}

bool machine_config_add_nic(MachineConfig *cfg, const char *arg, char *err, size_t errlen)
{
    gchar **p = split_opts(arg);
    bool ok;
    if (p[0] && !strcmp(p[0], "none") && !p[1]) {
        cfg->nic_user = false;
        ok = true;
    } else if (!p[0] || strcmp(p[0], "user")) {
        snprintf(err, errlen, "-nic %s: only user networking (slirp) exists here: -nic user",
                 arg);
        ok = false;
    } else if (cfg->nic_user) {
        snprintf(err, errlen, "-nic: one network card only");
        ok = false;
    } else {
        ok = user_net_options(cfg, "-nic", p, 1, NULL, err, errlen);
        cfg->nic_user = ok;
    }
    g_strfreev(p);
    return ok;
}

/* -netdev user,id=ID waits for the -device that names it. */
static char *netdev_id;

bool machine_config_add_netdev(MachineConfig *cfg, const char *arg, char *err, size_t errlen)
{
    gchar **p = split_opts(arg);
    const char *id = NULL;
    bool ok;
    if (!p[0] || strcmp(p[0], "user")) {
        snprintf(err, errlen, "-netdev %s: only user networking (slirp) exists here", arg);
        ok = false;
    } else if (netdev_id) {
        snprintf(err, errlen, "-netdev: one network backend only");
        ok = false;
    } else {
        ok = user_net_options(cfg, "-netdev", p, 1, &id, err, errlen);
        if (ok && !id) {
            snprintf(err, errlen, "-netdev user: id=ID is required");
            ok = false;
        }
        if (ok)
            netdev_id = keep(id);
    }
    g_strfreev(p);
    return ok;
}

bool machine_config_add_device(MachineConfig *cfg, const char *arg, char *err, size_t errlen)
{
    gchar **p = split_opts(arg);
    const char *name = p[0] ? p[0] : "";
    bool ok = true;
    if (!strcmp(name, "virtio-rng") || !strcmp(name, "virtio-rng-device")) {
        if (cfg->rng) {
            snprintf(err, errlen, "-device %s: one virtio-rng only", name);
            ok = false;
        }
        for (int i = 1; ok && p[i]; i++) {
            const char *v;
            if (!key_is(p[i], "rng", &v) && !key_is(p[i], "id", &v)) {
                snprintf(err, errlen, "-device %s: unsupported option '%s'", name, p[i]);
                ok = false;
            }
        }
        cfg->rng = ok;
    } else if (!strcmp(name, "virtio-net-device") || !strcmp(name, "virtio-net")) {
        const char *nd = NULL;
        for (int i = 1; ok && p[i]; i++) {
            const char *v;
            if (key_is(p[i], "netdev", &v))
                nd = v;
            else if (!key_is(p[i], "id", &v)) {
                snprintf(err, errlen, "-device %s: unsupported option '%s'", name, p[i]);
                ok = false;
            }
        }
        if (ok && (!nd || !netdev_id || strcmp(nd, netdev_id))) {
            snprintf(err, errlen, "-device %s: needs netdev=ID of a -netdev user,id=ID given "
                     "before it", name);
            ok = false;
        } else if (ok && cfg->nic_user) {
            snprintf(err, errlen, "-device %s: one network card only", name);
            ok = false;
        }
        if (ok)
            cfg->nic_user = true;
    } else if (!strcmp(name, "virtio-blk-device") || !strcmp(name, "virtio-blk")) {
        ok = add_blk_device(cfg, name, p, err, errlen);
    } else if (g_str_has_suffix(name, "-pci")) {
        snprintf(err, errlen, "-device %s: Rewind's virt board has no PCI bus; use the "
                 "virtio-mmio device (virtio-rng-device, virtio-net-device, -drive if=virtio)",
                 name);
        ok = false;
    } else {
        snprintf(err, errlen, "-device %s: unknown device (virtio-rng-device, "
                 "virtio-net-device, virtio-blk-device)", name);
        ok = false;
    }
    g_strfreev(p);
    return ok;
}
