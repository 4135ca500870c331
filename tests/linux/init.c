/* /init of the Rewind Linux guest (built by scripts/build-linux-guest with
 * riscv64-linux-gnu-gcc -static; no busybox).
 *
 * Mounts proc, sysfs and devtmpfs, prints a banner, the kernel's uname and
 * the online CPUs, then powers the machine off with reboot(RB_POWER_OFF).
 *
 * With `rewind.shell` on the kernel command line it reads commands from the
 * console first, one per line, after the prompt "rewind-linux$ " (tty echo
 * off; the shell prints each command back after the prompt), so a test can
 * drive it. `help` lists the commands; tests/linux/README.md describes each
 * one and its output. Every command's output ends with a line
 * "rewind-linux: ok" or "rewind-linux: error ...", so a test knows when it
 * is complete.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define TAG "rewind-linux: "
#define MAX_ARGS 32
/* Socket operations give up after this long (guest time), so a broken
 * network ends a command with an error instead of hanging the test. */
#define NET_TIMEOUT_S 20

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

/* A command that fails sets errno and returns -1 (the loop prints
 * "error CMD: strerror"), or prints its own "error CMD: ..." line with
 * fail("CMD: ...") and returns 1. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    fputs(TAG "error ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    return 1;
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

/* Joins argv[0..argc-1] with single spaces into buf. */
static void join(char *buf, size_t size, int argc, char **argv)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < argc && len < size; i++)
        len += snprintf(buf + len, size - len, "%s%s", i ? " " : "", argv[i]);
}

/* Writes n bytes to stdout as they are; returns the last byte written
 * (or `last` if n is 0), so the caller can end an unterminated line. */
static int put_raw(const char *buf, ssize_t n, int last)
{
    if (n <= 0)
        return last;
    fwrite(buf, 1, n, stdout);
    return (unsigned char)buf[n - 1];
}

/* --- files ---------------------------------------------------------------- */

static int cmd_cat(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    char buf[4096];
    ssize_t n;
    int last = '\n';
    while ((n = read(fd, buf, sizeof buf)) > 0)
        last = put_raw(buf, n, last);
    int err = errno;
    close(fd);
    if (last != '\n')
        fputc('\n', stdout);
    errno = err;
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
            int err = errno;
            close(fd);
            errno = err;
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

static int cmd_write(const char *path, int argc, char **argv)
{
    char text[1024];
    join(text, sizeof text - 1, argc, argv);
    strcat(text, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (close(fd) != 0)
        return -1;
    say("wrote %zu bytes to %s", len, path);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int cmd_ls(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") && strcmp(name, "..")) {
            char path[1024];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, name);
            char type = '?';
            long long size = -1;
            if (lstat(path, &st) == 0) {
                size = st.st_size;
                type = S_ISREG(st.st_mode)   ? 'f'
                       : S_ISDIR(st.st_mode) ? 'd'
                       : S_ISLNK(st.st_mode) ? 'l'
                       : S_ISCHR(st.st_mode) ? 'c'
                       : S_ISBLK(st.st_mode) ? 'b'
                       : S_ISFIFO(st.st_mode) ? 'p'
                       : S_ISSOCK(st.st_mode) ? 's' : '?';
            }
            printf("%c %lld %s\n", type, size, name);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

/* mount DEV DIR [FSTYPE [OPTIONS]]: OPTIONS is a comma list; ro, rw,
 * sync, noatime become flags, the rest goes to the file system. */
static int cmd_mount(const char *dev, const char *dir, const char *type,
                     const char *opts)
{
    unsigned long flags = 0;
    char data[256] = "";
    if (opts) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", opts);
        char *save = NULL;
        for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            if (!strcmp(o, "ro"))
                flags |= MS_RDONLY;
            else if (!strcmp(o, "rw"))
                flags &= ~MS_RDONLY;
            else if (!strcmp(o, "sync"))
                flags |= MS_SYNCHRONOUS;
            else if (!strcmp(o, "noatime"))
                flags |= MS_NOATIME;
            else
                snprintf(data + strlen(data), sizeof data - strlen(data), "%s%s",
                         data[0] ? "," : "", o);
        }
    }
    mkdir(dir, 0755);
    if (mount(dev, dir, type, flags, data[0] ? data : NULL) != 0)
        return -1;
    say("mounted %s on %s type %s%s", dev, dir, type,
        flags & MS_RDONLY ? " (ro)" : "");
    return 0;
}

/* --- network --------------------------------------------------------------- */

static int if_ioctl(int s, unsigned long req, const char *ifname,
                    const char *addr)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (addr) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
        sin->sin_family = AF_INET;
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
            errno = EINVAL;
            return -1;
        }
    }
    return ioctl(s, req, &ifr);
}

static int if_up(int s, const char *ifname)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

/* net-up [IF [ADDR/PREFIX [GATEWAY]]]: what slirp's DHCP would give,
 * configured with ioctls: lo up, IF = ADDR, IF up, default route via
 * GATEWAY. */
static int cmd_net_up(const char *ifname, const char *cidr, const char *gw)
{
    char addr[64];
    int prefix = 24;
    snprintf(addr, sizeof addr, "%s", cidr);
    char *slash = strchr(addr, '/');
    if (slash) {
        *slash = 0;
        prefix = atoi(slash + 1);
    }
    if (prefix < 0 || prefix > 32)
        return fail("net-up: bad prefix length /%d", prefix);
    char mask[INET_ADDRSTRLEN];
    struct in_addr m = { htonl(prefix ? 0xffffffffu << (32 - prefix) : 0) };
    inet_ntop(AF_INET, &m, mask, sizeof mask);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return -1;
    const char *step = "lo";
    if (if_ioctl(s, SIOCSIFADDR, "lo", "127.0.0.1") != 0 || if_up(s, "lo") != 0)
        goto out;
    step = "SIOCSIFADDR";
    if (if_ioctl(s, SIOCSIFADDR, ifname, addr) != 0)
        goto out;
    step = "SIOCSIFNETMASK";
    if (if_ioctl(s, SIOCSIFNETMASK, ifname, mask) != 0)
        goto out;
    step = "SIOCSIFFLAGS";
    if (if_up(s, ifname) != 0)
        goto out;
    step = "SIOCADDRT";
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
    struct sockaddr_in *gwa = (struct sockaddr_in *)&rt.rt_gateway;
    struct sockaddr_in *msk = (struct sockaddr_in *)&rt.rt_genmask;
    dst->sin_family = gwa->sin_family = msk->sin_family = AF_INET;
    if (inet_pton(AF_INET, gw, &gwa->sin_addr) != 1) {
        errno = EINVAL;
        goto out;
    }
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)ifname;
    if (ioctl(s, SIOCADDRT, &rt) != 0 && errno != EEXIST)
        goto out;

    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    unsigned char mac[6] = { 0 };
    if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    close(s);
    say("%s %s/%d gateway %s mac %02x:%02x:%02x:%02x:%02x:%02x", ifname, addr,
        prefix, gw, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return 0;
out:;
    int err = errno;
    close(s);
    return fail("net-up: %s %s: %s", ifname, step, strerror(err));
}

static void set_timeouts(int s)
{
    struct timeval tv = { NET_TIMEOUT_S, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Sends the optional line, closes the sending half, then prints whatever
 * arrives until the peer closes. */
static int talk(int s, const char *what, int argc, char **argv)
{
    if (argc > 0) {
        char text[1024];
        join(text, sizeof text - 1, argc, argv);
        strcat(text, "\n");
        size_t len = strlen(text);
        if (send(s, text, len, MSG_NOSIGNAL) != (ssize_t)len)
            return fail("%s: send: %s", what, strerror(errno));
    }
    shutdown(s, SHUT_WR);
    char buf[4096];
    ssize_t n;
    long total = 0;
    int last = '\n';
    while ((n = recv(s, buf, sizeof buf, 0)) > 0) {
        last = put_raw(buf, n, last);
        total += n;
    }
    int err = errno;
    if (last != '\n')
        fputc('\n', stdout);
    if (n < 0)
        return fail("%s: recv after %ld bytes: %s", what, total, strerror(err));
    say("received %ld bytes", total);
    return 0;
}

/* fetch IP PORT [TEXT...] */
static int cmd_fetch(const char *ip, const char *port, int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return fail("fetch: bad address %s", ip);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    set_timeouts(s);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = errno;
        close(s);
        return fail("fetch: connect %s:%s: %s", ip, port, strerror(err));
    }
    say("connected to %s:%s", ip, port);
    int rc = talk(s, "fetch", argc, argv);
    close(s);
    return rc;
}

/* serve PORT [TEXT...]: one connection, for the host through a hostfwd. */
static int cmd_serve(const char *port, int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)),
                              .sin_addr = { htonl(INADDR_ANY) } };
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 1) != 0) {
        int err = errno;
        close(s);
        return fail("serve: bind/listen port %s: %s", port, strerror(err));
    }
    set_timeouts(s);    /* accept() honours SO_RCVTIMEO */
    say("listening on port %s", port);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &plen);
    int err = errno;
    close(s);
    if (c < 0)
        return fail("serve: accept: %s", strerror(err));
    char pa[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, pa, sizeof pa);
    say("connection from %s:%d", pa, ntohs(peer.sin_port));
    set_timeouts(c);
    int rc = talk(c, "serve", argc, argv);
    close(c);
    return rc;
}

/* --- devices, modules, misc ------------------------------------------------- */

static int cmd_random(long count)
{
    if (count <= 0 || count > 4096)
        return fail("random: N must be 1..4096");
    int fd = open("/dev/hwrng", O_RDONLY);
    if (fd < 0)
        return -1;
    unsigned char buf[4096];
    long got = 0;
    while (got < count) {
        ssize_t n = read(fd, buf + got, count - got);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            errno = err;
            return -1;
        }
        got += n;
    }
    close(fd);
    for (long i = 0; i < count; i++)
        printf("%02x", buf[i]);
    fputc('\n', stdout);
    return 0;
}

static int cmd_insmod(const char *path, int argc, char **argv)
{
    char params[1024];
    join(params, sizeof params, argc, argv);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long rc = syscall(SYS_finit_module, fd, params, 0);
    int err = errno;
    close(fd);
    errno = err;
    return rc == 0 ? 0 : -1;
}

static int cmd_rmmod(const char *name)
{
    return syscall(SYS_delete_module, name, O_NONBLOCK) == 0 ? 0 : -1;
}

static int cmd_dmesg(void)
{
    int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
    if (size <= 0)
        size = 1 << 17;
    char *buf = malloc(size);
    if (!buf)
        return -1;
    int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
    if (n < 0) {
        free(buf);
        return -1;
    }
    if (put_raw(buf, n, '\n') != '\n')
        fputc('\n', stdout);
    free(buf);
    return 0;
}

static int cmd_date(void)
{
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    struct tm tm;
    char text[64];
    gmtime_r(&rt.tv_sec, &tm);
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    say("date %lld.%09ld %s monotonic %lld.%09ld", (long long)rt.tv_sec,
        rt.tv_nsec, text, (long long)mono.tv_sec, mono.tv_nsec);
    return 0;
}

static int cmd_sleep(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

static const char help[] =
    "commands (each ends with \"" TAG "ok\" or \"" TAG "error ...\"):\n"
    "  echo WORDS              cat FILE               xxd FILE [N]\n"
    "  ls DIR                  write FILE TEXT...     rm FILE\n"
    "  mkdir DIR               sync                   uname\n"
    "  mount DEV DIR [FSTYPE [OPTIONS]]  (ext2, options ro,rw,sync,noatime,...)\n"
    "  umount DIR              net-up [IF [ADDR/PREFIX [GATEWAY]]]\n"
    "  fetch IP PORT [TEXT...] serve PORT [TEXT...]\n"
    "  random N                insmod FILE [PARAM=VALUE...]\n"
    "  rmmod NAME              dmesg                  date\n"
    "  sleep MS                help                   poweroff\n";

/* --- the command loop -------------------------------------------------------- */

static int run(int argc, char **argv)
{
    const char *c = argv[0];
    /* argv[argc] is NULL, so argv[1] or argv[2] may be read unchecked. */
#define NEED(n) \
    if (argc < (n) + 1) \
        return fail("%s: needs %d argument%s (try help)", c, n, n > 1 ? "s" : "")
    if (!strcmp(c, "echo")) {
        char text[1024];
        join(text, sizeof text, argc - 1, argv + 1);
        printf("%s\n", text);
        return 0;
    }
    if (!strcmp(c, "help")) {
        fputs(help, stdout);
        return 0;
    }
    if (!strcmp(c, "uname")) {
        print_uname();
        return 0;
    }
    if (!strcmp(c, "cat")) {
        NEED(1);
        return cmd_cat(argv[1]);
    }
    if (!strcmp(c, "xxd")) {
        NEED(1);
        return cmd_xxd(argv[1], argc > 2 ? strtol(argv[2], NULL, 0) : 64);
    }
    if (!strcmp(c, "ls")) {
        NEED(1);
        return cmd_ls(argv[1]);
    }
    if (!strcmp(c, "write")) {
        NEED(1);
        return cmd_write(argv[1], argc - 2, argv + 2);
    }
    if (!strcmp(c, "rm")) {
        NEED(1);
        return unlink(argv[1]);
    }
    if (!strcmp(c, "mkdir")) {
        NEED(1);
        return mkdir(argv[1], 0755);
    }
    if (!strcmp(c, "sync")) {
        sync();
        return 0;
    }
    if (!strcmp(c, "mount")) {
        NEED(2);
        return cmd_mount(argv[1], argv[2], argc > 3 ? argv[3] : "ext2",
                         argc > 4 ? argv[4] : NULL);
    }
    if (!strcmp(c, "umount")) {
        NEED(1);
        return umount2(argv[1], 0);
    }
    if (!strcmp(c, "net-up"))
        return cmd_net_up(argc > 1 ? argv[1] : "eth0",
                          argc > 2 ? argv[2] : "10.0.2.15/24",
                          argc > 3 ? argv[3] : "10.0.2.2");
    if (!strcmp(c, "fetch")) {
        NEED(2);
        return cmd_fetch(argv[1], argv[2], argc - 3, argv + 3);
    }
    if (!strcmp(c, "serve")) {
        NEED(1);
        return cmd_serve(argv[1], argc - 2, argv + 2);
    }
    if (!strcmp(c, "random")) {
        NEED(1);
        return cmd_random(strtol(argv[1], NULL, 0));
    }
    if (!strcmp(c, "insmod")) {
        NEED(1);
        return cmd_insmod(argv[1], argc - 2, argv + 2);
    }
    if (!strcmp(c, "rmmod")) {
        NEED(1);
        return cmd_rmmod(argv[1]);
    }
    if (!strcmp(c, "dmesg"))
        return cmd_dmesg();
    if (!strcmp(c, "date"))
        return cmd_date();
    if (!strcmp(c, "sleep")) {
        NEED(1);
        return cmd_sleep(strtol(argv[1], NULL, 0));
    }
    return fail("%s: unknown command (try help)", c);
#undef NEED
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
    char line[1024];
    for (;;) {
        fputs("rewind-linux$ ", stdout);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return;
        line[strcspn(line, "\r\n")] = 0;
        printf("%s\n", line);
        char *argv[MAX_ARGS + 1];
        int argc = 0;
        char *save = NULL;
        for (char *w = strtok_r(line, " \t", &save); w && argc < MAX_ARGS;
             w = strtok_r(NULL, " \t", &save))
            argv[argc++] = w;
        argv[argc] = NULL;
        if (argc == 0)
            continue;
        if (!strcmp(argv[0], "poweroff"))
            return;
        errno = 0;
        int rc = run(argc, argv);
        fflush(stdout);
        if (rc == 0)
            say("ok");
        else if (rc < 0)
            say("error %s: %s", argv[0], strerror(errno));
        /* rc > 0: the command has printed its own error line */
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
