/* The host side of the UART: where guest output goes and where typed input
 * comes from.
 *
 * SERIAL_STDIO: output to stdout; input from stdin. On a terminal, stdin is
 *   put in raw mode (restored at exit, also on fatal signals) so keys reach
 *   the guest unchanged, Ctrl-C included; Ctrl-A x quits and Ctrl-A Ctrl-A
 *   sends a Ctrl-A, like QEMU's -nographic. From a pipe, bytes are passed
 *   through as they are, with no escape character.
 * SERIAL_NULL: output discarded, no input.
 * SERIAL_FILE: output written to the file, no input.
 *
 * There is one host console per process, so its state is a file-level
 * singleton. Input is only moved into the UART when the run loop asks
 * (console_poll), at instruction boundaries it chooses: that is what lets
 * record/replay log each byte with the icount at which the guest saw it. */
#include "devices.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_A 0x01

typedef struct Console {
    bool attached;
    FILE *out;              /* NULL: discard */
    bool out_tty;           /* flush every byte */
    bool out_owned;         /* a -serial file we opened */
    bool in_enabled;        /* stdin is an input source */
    bool in_tty;
    bool in_eof;
    bool escape;            /* the previous key was Ctrl-A */
    uint8_t buf[256];       /* read from stdin, not yet taken by the UART */
    size_t buf_pos, buf_len;
} Console;

static Console con;

/* record/replay (console_set_input_hook, console_set_input_from_log) */
static struct {
    void (*hook)(void *opaque, Machine *m, uint8_t byte);
    void *opaque;
    bool from_log;
} rr;

void console_set_input_hook(void (*fn)(void *opaque, Machine *m, uint8_t byte), void *opaque)
{
    rr.hook = fn;
    rr.opaque = opaque;
}

void console_set_input_from_log(bool from_log)
{
    rr.from_log = from_log;
    if (from_log && con.attached && !con.in_tty)
        con.in_enabled = false;
}

bool machine_console_push(Machine *m, uint8_t byte)
{
    if (!m->uart || !uart_rx_ready(m->uart))
        return false;
    uart_rx_push(m->uart, byte);
    return true;
}

/* A byte for the guest from the host: logged when recording, dropped when
 * replaying (the guest's input then comes from the log). */
static void push_input(Machine *m, uint8_t c)
{
    if (rr.from_log)
        return;
    uart_rx_push(m->uart, c);
    if (rr.hook)
        rr.hook(rr.opaque, m, c);
}

/* -serial mon:stdio: the monitor's hook, and who has the terminal */
static struct {
    void (*to_monitor)(void *opaque, const uint8_t *rest, size_t n);
    void *opaque;
    bool monitor_focus;
} mux;

void console_set_mux_hook(void (*to_monitor)(void *opaque, const uint8_t *rest, size_t n),
                          void *opaque)
{
    mux.to_monitor = to_monitor;
    mux.opaque = opaque;
}

void console_mux_focus_guest(void)
{
    mux.monitor_focus = false;
}

void console_mux_focus_monitor(void)
{
    mux.monitor_focus = true;
}

/* ---- raw terminal mode and its restoration ---- */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_tty(void)
{
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
        tio_saved = 0;
    }
}

static void flush_output(void)
{
    if (con.out)
        fflush(con.out);
}

static void console_atexit(void)
{
    flush_output();
    restore_tty();
}

/* Fatal signals: put the terminal back (tcsetattr is async-signal-safe),
 * then die of the same signal with its default action. */
static void fatal_signal(int sig)
{
    restore_tty();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void enter_raw_mode(void)
{
    struct termios tio;
    if (tcgetattr(STDIN_FILENO, &tio) != 0)
        return;
    saved_tio = tio;
    tio_saved = 1;
    /* As QEMU's stdio backend: no line editing, echo, flow control or CR
     * translation on input, 8-bit characters; keep output processing so
     * the guest's "\n" still returns the carriage. ISIG is off so Ctrl-C
     * and Ctrl-Z go to the guest. */
    tio.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    tio.c_oflag |= OPOST;
    tio.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
    tio.c_cflag &= ~(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &tio);

    static const int sigs[] = { SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
    /* SIGINT cannot come from the keyboard any more (ISIG is off), but
     * `kill -INT` still can: handle it the same way. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
}

/* ---- output ---- */

/* Reverse execution re-executes what the user has seen already: its output
 * is not printed twice (console_mute_output). */
static bool output_muted;

void console_mute_output(bool mute)
{
    output_muted = mute;
}

static void console_out(void *opaque, uint8_t byte)
{
    if (output_muted)
        return;
    (void)opaque;
    if (!con.out)
        return;
    putc(byte, con.out);
    /* Interactive: show each byte now. Otherwise let stdio buffer whole
     * lines, so a log being followed (tail -f) or a killed run still shows
     * everything up to the last newline; the rest is flushed when the
     * machine idles and at exit. */
    if (con.out_tty || byte == '\n')
        fflush(con.out);
}

void console_attach(Machine *m)
{
    if (con.attached) {
        /* A new machine in the same process (tests, replay): keep the host
         * side as it is and just connect the new UART. */
        if (m->uart)
            uart_set_output(m->uart, console_out, NULL);
        return;
    }
    memset(&con, 0, sizeof con);
    con.attached = true;

    switch (m->cfg.serial) {
    case SERIAL_STDIO:
        con.out = stdout;
        con.out_tty = isatty(STDOUT_FILENO);
        con.in_tty = isatty(STDIN_FILENO);
        /* replaying: a pipe is not read at all, a terminal for Ctrl-A keys */
        con.in_enabled = !rr.from_log || con.in_tty;
        if (con.in_tty)
            enter_raw_mode();
        break;
    case SERIAL_FILE:
        con.out = m->cfg.serial_path ? fopen(m->cfg.serial_path, "w") : NULL;
        if (!con.out)
            fprintf(stderr, "rewind: -serial file:%s: %s; serial output is discarded\n",
                    m->cfg.serial_path ? m->cfg.serial_path : "", strerror(errno));
        else
            con.out_owned = true;
        break;
    case SERIAL_NULL:
        break;
    }
    atexit(console_atexit);
    if (m->uart)
        uart_set_output(m->uart, console_out, NULL);
}

/* ---- input ---- */

/* Reads whatever stdin has now, without blocking (poll first: making stdin
 * O_NONBLOCK would also affect stdout when both are the same terminal). */
static void fill_buffer(void)
{
    if (!con.in_enabled || con.in_eof || con.buf_pos < con.buf_len)
        return;
    struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
    if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    ssize_t n = read(STDIN_FILENO, con.buf, sizeof con.buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        con.in_eof = true;      /* end of a pipe, or a closed terminal */
        return;
    }
    con.buf_pos = 0;
    con.buf_len = (size_t)n;
}

bool console_poll(Machine *m)
{
    /* a guest busy-polling the UART never idles: flush here too, so that
     * whoever reads a pipe sees its prompt */
    flush_output();
    machine_poll_host(m);
    if (!con.in_enabled || !m->uart || mux.monitor_focus)
        return false;
    for (;;) {
        fill_buffer();
        if (con.buf_pos >= con.buf_len)
            break;
        /* escape keys are taken even when the UART is full */
        uint8_t c = con.buf[con.buf_pos];
        if (!rr.from_log && !uart_rx_ready(m->uart) &&
            (!con.in_tty || (con.escape ? c == CTRL_A : c != CTRL_A)))
            break;
        con.buf_pos++;
        if (!con.in_tty) {
            push_input(m, c);
            continue;
        }
        if (con.escape) {
            con.escape = false;
            if (c == 'x' || c == 'X') {
                flush_output();
                fprintf(stderr, "\r\nrewind: terminated\r\n");
                machine_request_exit(m, 0);
                return true;
            }
            if (c == CTRL_A) {
                push_input(m, CTRL_A);
            } else if ((c == 'c' || c == 'C') && mux.to_monitor) {
                mux.monitor_focus = true;
                size_t n = con.buf_len - con.buf_pos;
                con.buf_pos = con.buf_len;
                mux.to_monitor(mux.opaque, con.buf + con.buf_len - n, n);
                return false;
            } else if (c == 'h' || c == 'H' || c == '?') {
                fprintf(stderr, "\r\nC-a x    exit\r\nC-a C-a  send C-a\r\n%sC-a h    this help\r\n",
                        mux.to_monitor ? "C-a c    switch between console and monitor\r\n" : "");
            }
            /* Other keys after Ctrl-A are swallowed, as in QEMU. */
            continue;
        }
        if (c == CTRL_A) {
            con.escape = true;
            continue;
        }
        push_input(m, c);
    }
    return false;
}

void console_wait(Machine *m, int timeout_ms)
{
    flush_output();
    if (timeout_ms < 0)
        timeout_ms = 0;
    /* Bytes already read that the UART can take now: no need to wait.
     * Bytes the UART cannot take yet, or no input source at all: more host
     * input would not help, so this is a plain sleep. */
    if (con.buf_pos < con.buf_len) {
        if (m->uart && uart_rx_ready(m->uart))
            return;
        machine_host_wait(m, -1, timeout_ms);
        return;
    }
    bool tty_input = con.in_enabled && !con.in_eof;
    machine_host_wait(m, tty_input ? STDIN_FILENO : -1, timeout_ms);
}
