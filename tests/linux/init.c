/* /init of the Rewind Linux guest (built by scripts/build-linux-guest with
 * riscv64-linux-gnu-gcc -static; no busybox).
 *
 * Mounts proc, sysfs and devtmpfs, prints a banner, the kernel's uname and
 * the online CPUs, then powers the machine off with reboot(RB_POWER_OFF).
 *
 * With `rewind.shell` on the kernel command line it reads commands from the
 * console first, one per line, after the prompt "rewind-linux$ " (tty echo
 * off; the shell prints each command back after the prompt), so a test can
 * drive it (issue 5 adds commands for the disk, the network, virtio-rng
 * and a module):
 *     echo WORDS        print WORDS
 *     cat FILE          print a file (/proc/..., /sys/..., /mnt/...)
 *     xxd FILE [N]      hex dump of the first N bytes (default 64) of FILE,
 *                       a device such as /dev/vda or /dev/hwrng included
 *     uname             print the uname line again
 *     poweroff          power off (also at end of input)
 * Every command's output ends with a line "rewind-linux: ok" or
 * "rewind-linux: error ...", so a test knows when it is complete.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

#define TAG "rewind-linux: "

static void say(const char *fmt, ...)
{
    va_list ap;
    fputs(TAG, stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void do_mount(const char *src, const char *dir, const char *type)
{
    mkdir(dir, 0755);
    if (mount(src, dir, type, 0, NULL) != 0 && errno != EBUSY)
        say("mount %s on %s failed: %s", type, dir, strerror(errno));
}

static void console_stdio(void)
{
    /* The kernel opens /dev/console as fd 0..2 when it exists in the
     * initramfs; make sure, in case it did not. */
    if (fcntl(1, F_GETFD) == -1) {
        int fd = open("/dev/console", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
}

static void print_uname(void)
{
    struct utsname u;
    if (uname(&u) == 0)
        say("uname: %s %s %s %s %s", u.sysname, u.nodename, u.release,
            u.version, u.machine);
    else
        say("uname failed: %s", strerror(errno));
}

static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = 0;
    return 0;
}

static int cmd_cat(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    char buf[4096];
    ssize_t n;
    int last = '\n';
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, n, stdout);
        last = buf[n - 1];
    }
    close(fd);
    if (last != '\n')
        fputc('\n', stdout);
    return n < 0 ? -1 : 0;
}

static int cmd_xxd(const char *path, long count)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    unsigned char buf[16];
    long off = 0;
    while (off < count) {
        size_t want = count - off < 16 ? (size_t)(count - off) : 16;
        ssize_t n = read(fd, buf, want);
        if (n <= 0) {
            close(fd);
            return n < 0 ? -1 : 0;
        }
        printf("%08lx:", off);
        for (ssize_t i = 0; i < n; i++)
            printf(" %02x", buf[i]);
        fputc('\n', stdout);
        off += n;
    }
    close(fd);
    return 0;
}

static void shell(void)
{
    /* No tty echo: it would interleave typed-ahead input with output.
     * The shell echoes each command after the prompt itself, so the
     * transcript reads in order. */
    struct termios t;
    if (tcgetattr(0, &t) == 0) {
        t.c_lflag &= ~(ECHO | ECHONL);
        tcsetattr(0, TCSANOW, &t);
    }
    char line[512];
    for (;;) {
        fputs("rewind-linux$ ", stdout);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return;
        line[strcspn(line, "\r\n")] = 0;
        printf("%s\n", line);
        char *save = NULL;
        char *cmd = strtok_r(line, " \t", &save);
        char *arg = strtok_r(NULL, " \t", &save);
        char *arg2 = strtok_r(NULL, " \t", &save);
        int rc = 0;
        if (!cmd)
            continue;
        if (!strcmp(cmd, "poweroff"))
            return;
        if (!strcmp(cmd, "echo")) {
            /* Re-join the words that strtok split. */
            printf("%s", arg ? arg : "");
            if (arg2)
                printf(" %s%s%s", arg2, *save ? " " : "", save);
            fputc('\n', stdout);
        } else if (!strcmp(cmd, "uname")) {
            print_uname();
        } else if (!strcmp(cmd, "cat") && arg) {
            rc = cmd_cat(arg);
        } else if (!strcmp(cmd, "xxd") && arg) {
            rc = cmd_xxd(arg, arg2 ? strtol(arg2, NULL, 0) : 64);
        } else {
            say("error: unknown command or missing argument: %s", cmd);
            continue;
        }
        if (rc == 0)
            say("ok");
        else
            say("error %s: %s", cmd, strerror(errno));
    }
}

int main(void)
{
    console_stdio();
    do_mount("proc", "/proc", "proc");
    do_mount("sysfs", "/sys", "sysfs");
    do_mount("devtmpfs", "/dev", "devtmpfs");

    say("init started");
    print_uname();

    char buf[256];
    if (read_small("/sys/devices/system/cpu/online", buf, sizeof buf) == 0)
        say("cpus online: %s", buf);
    if (read_small("/proc/cmdline", buf, sizeof buf) == 0) {
        say("cmdline: %s", buf);
        if (strstr(buf, "rewind.shell"))
            shell();
    }

    say("powering off");
    sync();
    reboot(RB_POWER_OFF);
    say("reboot(RB_POWER_OFF) failed: %s", strerror(errno));
    for (;;)
        pause();
}
