/* GDB remote serial protocol transport: the listening socket (TCP or
 * Unix), one debugger connection at a time, packet framing ($data#cs),
 * checksums, acknowledgements (until QStartNoAckMode), escapes ('}' x ^
 * 0x20) and run-length encoding ('*' n) on input, escapes on output, and
 * the out-of-band interrupt byte 0x03. */
#include "stub_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static bool listen_tcp(Rsp *r, const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (!*host)
        host = "127.0.0.1";
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "-gdb: invalid port '%s'", port);
        return false;
    }
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "-gdb: cannot resolve '%s': %s", host, gai_strerror(rc));
        return false;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 2) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "-gdb: cannot listen on %s:%s: %s", host, port, strerror(saved));
        return false;
    }
    set_nonblock(fd);
    r->listen_fd = fd;
    r->address = g_strdup_printf("tcp %s:%s", host, port);
    return true;
}

static bool listen_unix(Rsp *r, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "-gdb: invalid Unix socket path '%s'", path);
        return false;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);   /* a stale socket from an earlier run */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 2) < 0) {
        snprintf(err, errlen, "-gdb: cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    set_nonblock(fd);
    r->listen_fd = fd;
    r->unix_path = g_strdup(path);
    r->address = g_strdup_printf("unix %s", path);
    return true;
}

bool rsp_listen(Rsp *r, const char *spec, char *err, size_t errlen)
{
    r->listen_fd = -1;
    r->fd = -1;
    r->in = g_byte_array_new();
    r->last_sent = g_byte_array_new();
    if (g_str_has_prefix(spec, "unix:"))
        return listen_unix(r, spec + 5, err, errlen);
    const char *rest = spec;
    if (g_str_has_prefix(rest, "tcp:"))
        rest += 4;
    else if (strchr(rest, ':') == NULL || rest[0] == ':')
        ;   /* "1234" or ":1234" */
    else {
        snprintf(err, errlen, "-gdb: unsupported device '%s' (tcp::PORT, tcp:HOST:PORT or unix:PATH)",
                 spec);
        return false;
    }
    const char *colon = strrchr(rest, ':');
    char *host = colon ? g_strndup(rest, (size_t)(colon - rest)) : g_strdup("");
    const char *port = colon ? colon + 1 : rest;
    /* drop QEMU options after the port (",server,nowait" and the like) */
    char *port_only = g_strndup(port, strcspn(port, ","));
    bool ok = listen_tcp(r, host, port_only, err, errlen);
    g_free(host);
    g_free(port_only);
    return ok;
}

void rsp_disconnect(Rsp *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->no_ack = false;
    r->interrupt = false;
    g_byte_array_set_size(r->in, 0);
    g_byte_array_set_size(r->last_sent, 0);
}

void rsp_close(Rsp *r)
{
    rsp_disconnect(r);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    r->listen_fd = -1;
    if (r->unix_path)
        unlink(r->unix_path);
    g_free(r->unix_path);
    g_free(r->address);
    r->unix_path = r->address = NULL;
    if (r->in)
        g_byte_array_free(r->in, TRUE);
    if (r->last_sent)
        g_byte_array_free(r->last_sent, TRUE);
    r->in = r->last_sent = NULL;
}

bool rsp_accept(Rsp *r)
{
    if (r->listen_fd < 0)
        return false;
    int fd = accept(r->listen_fd, NULL, NULL);
    if (fd < 0)
        return false;
    if (r->fd >= 0) {
        static const char msg[] =
            "rewind: a debugger is already connected; only one connection at a time\n";
        /* a GDB would print this as a protocol error; a person sees it */
        ssize_t w = write(fd, msg, sizeof(msg) - 1);
        (void)w;
        fprintf(stderr, "rewind: refused a second debugger connection\n");
        close(fd);
        return false;
    }
    set_nonblock(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  /* fails on Unix sockets: fine */
    r->fd = fd;
    r->no_ack = false;
    r->interrupt = false;
    g_byte_array_set_size(r->in, 0);
    return true;
}

bool rsp_receive(Rsp *r)
{
    if (r->fd < 0)
        return false;
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof(buf));
        if (n > 0) {
            g_byte_array_append(r->in, buf, (guint)n);
            if (r->in->len > RSP_MAX_INPUT) {
                /* no packet is this long: drop all but the tail */
                g_byte_array_remove_range(r->in, 0, r->in->len - RSP_PACKET_SIZE);
            }
            continue;
        }
        if (n == 0)
            return false;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

static void write_all(Rsp *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len && r->fd >= 0) {
        ssize_t n = write(r->fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = r->fd, .events = POLLOUT };
            if (poll(&pfd, 1, 5000) <= 0) {
                rsp_disconnect(r);   /* the debugger stopped reading */
                return;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            rsp_disconnect(r);
            return;
        }
    }
}

int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the packet body (escapes and run-length encoding) into out. */
static bool decode_body(const uint8_t *p, size_t len, GByteArray *out)
{
    g_byte_array_set_size(out, 0);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == '}') {
            if (++i >= len)
                return false;
            c = p[i] ^ 0x20;
            g_byte_array_append(out, &c, 1);
        } else if (c == '*') {
            /* repeat the previous byte (n - 29) more times */
            if (++i >= len || out->len == 0)
                return false;
            int count = p[i] - 29;
            if (count < 0 || count > 126)
                return false;
            uint8_t prev = out->data[out->len - 1];
            for (int k = 0; k < count; k++)
                g_byte_array_append(out, &prev, 1);
        } else {
            g_byte_array_append(out, &c, 1);
        }
        if (out->len > RSP_PACKET_SIZE)
            return false;
    }
    uint8_t nul = 0;
    g_byte_array_append(out, &nul, 1);
    g_byte_array_set_size(out, out->len - 1);   /* NUL kept after the end */
    return true;
}

RspEvent rsp_next_packet(Rsp *r, GByteArray *out)
{
    for (;;) {
        guint8 *d = r->in->data;
        size_t n = r->in->len, i = 0;
        /* skip acks, interrupts and noise up to a '$' */
        while (i < n && d[i] != '$') {
            if (d[i] == 0x03)
                r->interrupt = true;
            else if (d[i] == '-' && !r->no_ack && r->last_sent->len)
                write_all(r, r->last_sent->data, r->last_sent->len);
            i++;
        }
        if (i)
            g_byte_array_remove_range(r->in, 0, (guint)i);
        if (r->fd < 0)
            return RSP_EOF;
        d = r->in->data;
        n = r->in->len;
        if (n == 0)
            return RSP_NONE;
        uint8_t *hash = memchr(d + 1, '#', n - 1);
        if (!hash) {
            if (n > RSP_PACKET_SIZE * 2)    /* never terminated: drop it */
                g_byte_array_set_size(r->in, 0);
            return RSP_NONE;
        }
        size_t body_len = (size_t)(hash - (d + 1));
        if (n < body_len + 4)
            return RSP_NONE;            /* checksum not here yet */
        uint8_t sum = 0;
        for (size_t k = 0; k < body_len; k++)
            sum += d[1 + k];
        int h1 = hexval(hash[1]), h2 = hexval(hash[2]);
        bool good = h1 >= 0 && h2 >= 0 && (uint8_t)(h1 << 4 | h2) == sum;
        bool decoded = good && decode_body(d + 1, body_len, out);
        g_byte_array_remove_range(r->in, 0, (guint)(body_len + 4));
        if (!r->no_ack)
            write_all(r, good ? "+" : "-", 1);
        if (!good)
            continue;
        if (!decoded) {
            /* a well-framed packet we cannot decode: answer with an error */
            rsp_send_str(r, "E01");
            continue;
        }
        return RSP_PACKET;
    }
}

void rsp_send(Rsp *r, const void *data, size_t len)
{
    if (r->fd < 0)
        return;
    const uint8_t *p = data;
    GByteArray *f = r->last_sent;
    g_byte_array_set_size(f, 0);
    uint8_t c = '$', sum = 0;
    g_byte_array_append(f, &c, 1);
    for (size_t i = 0; i < len; i++) {
        c = p[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            uint8_t esc = '}';
            g_byte_array_append(f, &esc, 1);
            sum += esc;
            c ^= 0x20;
        }
        g_byte_array_append(f, &c, 1);
        sum += c;
    }
    char tail[4];
    snprintf(tail, sizeof(tail), "#%02x", sum);
    g_byte_array_append(f, (const guint8 *)tail, 3);
    write_all(r, f->data, f->len);
}

void rsp_send_str(Rsp *r, const char *s)
{
    rsp_send(r, s, strlen(s));
}

bool rsp_wait(Rsp *r, int timeout_ms)
{
    struct pollfd pfd[2];
    int n = 0, conn = -1, lis = -1;
    if (r->fd >= 0) {
        conn = n;
        pfd[n++] = (struct pollfd){ .fd = r->fd, .events = POLLIN };
    }
    if (r->listen_fd >= 0) {
        lis = n;
        pfd[n++] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
    }
    if (n == 0)
        return false;
    int rc = poll(pfd, (nfds_t)n, timeout_ms);
    if (rc <= 0)
        return false;
    if (lis >= 0 && (pfd[lis].revents & POLLIN))
        rsp_accept(r);
    return conn >= 0 && (pfd[conn].revents & (POLLIN | POLLHUP | POLLERR));
}
