/* Packet handlers: one function per packet family, dispatched on the first
 * characters. Every handler validates its arguments and answers a
 * malformed packet with an error ("E01" syntax, "E14" inaccessible
 * memory or register, as QEMU does); a packet we do not know gets the
 * empty reply, which tells GDB it is unsupported. */
#include "stub_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#define E_SYNTAX "E01"
#define E_ACCESS "E14"
#define E_RANGE "E22"

static const char hexdigits[] = "0123456789abcdef";

/* Parses a hex number at *p (at least one digit, at most 16), moving *p
 * past it. */
static bool parse_hex(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;
    while (hexval(**p) >= 0) {
        if (++n > 16)
            return false;
        v = v << 4 | (uint64_t)hexval(**p);
        (*p)++;
    }
    *out = v;
    return n > 0;
}

static bool expect_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static void append_hex_bytes(GString *r, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_string_append_c(r, hexdigits[b[i] >> 4]);
        g_string_append_c(r, hexdigits[b[i] & 15]);
    }
}

/* Decodes exactly n bytes of hex at p. */
static bool decode_hex_bytes(const char *p, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(p[2 * i]), lo = hi >= 0 ? hexval(p[2 * i + 1]) : -1;
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void reply(GdbStub *s, const char *text)
{
    rsp_send_str(&s->rsp, text);
}

static void reply_gstring(GdbStub *s)
{
    rsp_send(&s->rsp, s->reply->str, s->reply->len);
}

/* ---- threads: thread id = hart + 1 ---- */

/* Parses a thread id: -1 (all), 0 (any) or N. Returns the hart, -1 for
 * "all/any", or -2 when invalid. */
static int parse_thread(GdbStub *s, const char *p, const char **end)
{
    if (p[0] == '-' && p[1] == '1') {
        *end = p + 2;
        return -1;
    }
    uint64_t t;
    if (p[0] == 'p') {
        /* multiprocess syntax pPID.TID: only process 1 */
        p++;
        uint64_t pid;
        if (!parse_hex(&p, &pid) || !expect_char(&p, '.'))
            return -2;
    }
    if (!parse_hex(&p, &t))
        return -2;
    *end = p;
    if (t == 0)
        return -1;
    if (t > (uint64_t)machine_nharts(s->m))
        return -2;
    return (int)t - 1;
}

static int hart_or_default(GdbStub *s, int h)
{
    return h >= 0 ? h : 0;
    (void)s;
}

/* The hart a step without a thread id steps: the Hc one, or with Hc0 /
 * Hc-1 the selected (last stopped) one, as GDB expects. */
static int step_default(GdbStub *s)
{
    return s->c_hart >= 0 ? s->c_hart : hart_or_default(s, s->g_hart);
}

/* ---- registers ---- */

static bool append_reg(GdbStub *s, int hart, int regno)
{
    int size = gdb_reg_size(s, regno);
    uint64_t v;
    if (!size || !machine_read_reg(s->m, hart, regno, &v))
        return false;
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    append_hex_bytes(s->reply, b, (size_t)size);
    return true;
}

static void handle_g(GdbStub *s)
{
    int hart = hart_or_default(s, s->g_hart);
    g_string_truncate(s->reply, 0);
    for (int r = 0; r <= REG_PC; r++) {
        if (!append_reg(s, hart, r)) {
            reply(s, E_ACCESS);
            return;
        }
    }
    reply_gstring(s);
}

static void handle_G(GdbStub *s, const char *p, size_t len)
{
    int hart = hart_or_default(s, s->g_hart);
    if (len != 33 * 16) {
        reply(s, E_SYNTAX);
        return;
    }
    uint64_t vals[33];
    for (int r = 0; r <= REG_PC; r++) {
        uint8_t b[8];
        if (!decode_hex_bytes(p + 16 * r, b, 8)) {
            reply(s, E_SYNTAX);
            return;
        }
        vals[r] = 0;
        for (int i = 7; i >= 0; i--)
            vals[r] = vals[r] << 8 | b[i];
    }
    for (int r = 1; r <= REG_PC; r++)
        machine_write_reg(s->m, hart, r, vals[r]);
    reply(s, "OK");
}

static void handle_p(GdbStub *s, const char *p)
{
    uint64_t regno;
    if (!parse_hex(&p, &regno) || *p || regno > 0x10000) {
        reply(s, E_SYNTAX);
        return;
    }
    g_string_truncate(s->reply, 0);
    if (!append_reg(s, hart_or_default(s, s->g_hart), (int)regno)) {
        reply(s, E_ACCESS);
        return;
    }
    reply_gstring(s);
}

static void handle_P(GdbStub *s, const char *p)
{
    uint64_t regno;
    if (!parse_hex(&p, &regno) || !expect_char(&p, '=') || regno > 0x10000) {
        reply(s, E_SYNTAX);
        return;
    }
    int size = gdb_reg_size(s, (int)regno);
    uint8_t b[8] = { 0 };
    if (!size) {
        reply(s, E_ACCESS);
        return;
    }
    if (strlen(p) != (size_t)size * 2 || !decode_hex_bytes(p, b, (size_t)size)) {
        reply(s, E_SYNTAX);
        return;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    if (!machine_write_reg(s->m, hart_or_default(s, s->g_hart), (int)regno, v)) {
        reply(s, E_ACCESS);
        return;
    }
    reply(s, "OK");
}

/* ---- memory ---- */

static bool parse_addr_len(const char **p, uint64_t *addr, uint64_t *len)
{
    return parse_hex(p, addr) && expect_char(p, ',') && parse_hex(p, len);
}

static void handle_m(GdbStub *s, const char *p)
{
    uint64_t addr, len;
    if (!parse_addr_len(&p, &addr, &len) || *p) {
        reply(s, E_SYNTAX);
        return;
    }
    if (len > (RSP_PACKET_SIZE - 8) / 2)
        len = (RSP_PACKET_SIZE - 8) / 2;
    uint8_t *buf = g_malloc(len ? len : 1);
    size_t got = machine_read_mem(s->m, hart_or_default(s, s->g_hart), addr, buf, len,
                                  s->phys_mem);
    if (got == 0 && len) {
        g_free(buf);
        reply(s, E_ACCESS);
        return;
    }
    g_string_truncate(s->reply, 0);
    append_hex_bytes(s->reply, buf, got);
    g_free(buf);
    reply_gstring(s);
}

static void write_mem(GdbStub *s, uint64_t addr, const uint8_t *buf, uint64_t len)
{
    size_t done = machine_write_mem(s->m, hart_or_default(s, s->g_hart), addr, buf, len,
                                    s->phys_mem);
    reply(s, done == len ? "OK" : E_ACCESS);
}

static void handle_M(GdbStub *s, const char *p)
{
    uint64_t addr, len;
    if (!parse_addr_len(&p, &addr, &len) || !expect_char(&p, ':') ||
        len > RSP_PACKET_SIZE || strlen(p) != len * 2) {
        reply(s, E_SYNTAX);
        return;
    }
    uint8_t *buf = g_malloc(len ? len : 1);
    if (!decode_hex_bytes(p, buf, len))
        reply(s, E_SYNTAX);
    else
        write_mem(s, addr, buf, len);
    g_free(buf);
}

/* X: binary data, already unescaped by the transport */
static void handle_X(GdbStub *s, const char *pkt, size_t pkt_len)
{
    const char *p = pkt + 1;
    uint64_t addr, len;
    if (!parse_addr_len(&p, &addr, &len) || !expect_char(&p, ':')) {
        reply(s, E_SYNTAX);
        return;
    }
    size_t have = pkt_len - (size_t)(p - pkt);
    if (have != len) {
        reply(s, E_SYNTAX);
        return;
    }
    write_mem(s, addr, (const uint8_t *)p, len);
}

/* ---- breakpoints and watchpoints ---- */

static void handle_Z(GdbStub *s, const char *p, bool insert)
{
    int type = *p++ - '0';
    uint64_t addr, kind;
    if (type < 0 || type > 4 || !expect_char(&p, ',') || !parse_addr_len(&p, &addr, &kind) ||
        (*p && *p != ';')) {
        reply(s, E_SYNTAX);
        return;
    }
    if (type >= 2) {
        /* kind is the length in bytes; types 2, 3, 4 are WP_WRITE/READ/ACCESS */
        bool ok = insert ? machine_set_watchpoint(s->m, addr, kind, type)
                         : machine_clear_watchpoint(s->m, addr, kind, type);
        reply(s, ok || !insert ? "OK" : E_RANGE);
        return;
    }
    int bt = type == 0 ? BP_SOFTWARE : BP_HARDWARE;
    bool ok = insert ? machine_set_breakpoint(s->m, addr, bt)
                     : machine_clear_breakpoint(s->m, addr, bt);
    /* removing one that is not there is not an error for GDB */
    reply(s, ok || !insert ? "OK" : E_RANGE);
}

/* ---- queries ---- */

static void handle_qSupported(GdbStub *s, const char *p)
{
    s->gdb_swbreak = s->gdb_hwbreak = false;
    if (*p == ':') {
        gchar **feats = g_strsplit(p + 1, ";", -1);
        for (int i = 0; feats[i]; i++) {
            if (!strcmp(feats[i], "swbreak+"))
                s->gdb_swbreak = true;
            else if (!strcmp(feats[i], "hwbreak+"))
                s->gdb_hwbreak = true;
        }
        g_strfreev(feats);
    }
    char buf[240];
    snprintf(buf, sizeof(buf),
             "PacketSize=%x;QStartNoAckMode+;qXfer:features:read+;swbreak+;hwbreak+;"
             "vContSupported+%s",
             RSP_PACKET_SIZE, s->rev ? ";ReverseStep+;ReverseContinue+" : "");
    reply(s, buf);
}

static void handle_qXfer(GdbStub *s, const char *p)
{
    /* qXfer:features:read:ANNEX:OFFSET,LENGTH */
    const char *pre = "features:read:";
    if (strncmp(p, pre, strlen(pre)) != 0) {
        reply(s, "");
        return;
    }
    p += strlen(pre);
    const char *colon = strchr(p, ':');
    if (!colon) {
        reply(s, E_SYNTAX);
        return;
    }
    size_t annex_len = (size_t)(colon - p);
    const char *q = colon + 1;
    uint64_t off, len;
    if (!parse_addr_len(&q, &off, &len) || *q) {
        reply(s, E_SYNTAX);
        return;
    }
    if (annex_len != strlen("target.xml") || strncmp(p, "target.xml", annex_len) != 0) {
        reply(s, "E00");
        return;
    }
    size_t xml_len;
    const char *xml = gdb_target_xml(s, &xml_len);
    if (len > RSP_PACKET_SIZE / 2)
        len = RSP_PACKET_SIZE / 2;   /* room for escapes */
    g_string_truncate(s->reply, 0);
    if (off >= xml_len) {
        g_string_append_c(s->reply, 'l');
    } else {
        size_t n = xml_len - off < len ? xml_len - off : len;
        g_string_append_c(s->reply, off + n >= xml_len ? 'l' : 'm');
        g_string_append_len(s->reply, xml + off, (gssize)n);
    }
    reply_gstring(s);
}

static void handle_thread_info(GdbStub *s)
{
    g_string_assign(s->reply, "m");
    for (int i = 0; i < machine_nharts(s->m); i++)
        g_string_append_printf(s->reply, i ? ",%x" : "%x", i + 1);
    reply_gstring(s);
}

static void handle_thread_extra(GdbStub *s, const char *p)
{
    const char *end;
    int h = parse_thread(s, p, &end);
    if (h < 0 || *end) {
        reply(s, E_SYNTAX);
        return;
    }
    uint64_t priv = 3;
    machine_read_reg(s->m, h, REG_PRIV, &priv);
    static const char *const modes[4] = { "U", "S", "?", "M" };
    char text[64];
    snprintf(text, sizeof(text), "hart %d, %s-mode", h, modes[priv & 3]);
    g_string_truncate(s->reply, 0);
    append_hex_bytes(s->reply, (const uint8_t *)text, strlen(text));
    reply_gstring(s);
}

/* ---- monitor commands: qRcmd,HEX ---- */

static void gather_output(void *opaque, const char *text, size_t len)
{
    g_string_append_len(opaque, text, (gssize)len);
}

/* Runs the hex-encoded command line on the monitor; its output goes back
 * as O packets (hex), then OK, as GDB expects. */
static void handle_qRcmd(GdbStub *s, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2) {
        reply(s, E_SYNTAX);
        return;
    }
    char *line = g_malloc(n / 2 + 1);
    if (!decode_hex_bytes(hex, (uint8_t *)line, n / 2)) {
        g_free(line);
        reply(s, E_SYNTAX);
        return;
    }
    line[n / 2] = 0;
    if (!s->mon) {
        s->mon = monitor_new(s->m, true);
        s->mon_owned = true;
        monitor_set_stub(s->mon, s);
    }
    GString *out = g_string_new(NULL);
    monitor_execute(s->mon, line, gather_output, out, hart_or_default(s, s->g_hart), true);
    g_free(line);
    for (size_t off = 0; off < out->len; off += 2048) {
        size_t k = out->len - off < 2048 ? out->len - off : 2048;
        g_string_assign(s->reply, "O");
        append_hex_bytes(s->reply, (const uint8_t *)out->str + off, k);
        reply_gstring(s);
    }
    g_string_free(out, TRUE);
    reply(s, "OK");
}

static void handle_q(GdbStub *s, const char *pkt)
{
    if (g_str_has_prefix(pkt, "qSupported")) {
        handle_qSupported(s, pkt + strlen("qSupported"));
    } else if (g_str_has_prefix(pkt, "qXfer:")) {
        handle_qXfer(s, pkt + strlen("qXfer:"));
    } else if (!strcmp(pkt, "qC")) {
        char buf[32];
        snprintf(buf, sizeof(buf), "QC%x", hart_or_default(s, s->g_hart) + 1);
        reply(s, buf);
    } else if (!strcmp(pkt, "qfThreadInfo")) {
        handle_thread_info(s);
    } else if (!strcmp(pkt, "qsThreadInfo")) {
        reply(s, "l");
    } else if (g_str_has_prefix(pkt, "qThreadExtraInfo,")) {
        handle_thread_extra(s, pkt + strlen("qThreadExtraInfo,"));
    } else if (!strcmp(pkt, "qAttached") || g_str_has_prefix(pkt, "qAttached:")) {
        reply(s, "1");
    } else if (!strcmp(pkt, "qSymbol::")) {
        reply(s, "OK");
    } else if (g_str_has_prefix(pkt, "qRcmd,")) {
        handle_qRcmd(s, pkt + strlen("qRcmd,"));
    } else if (!strcmp(pkt, "qqemu.PhyMemMode")) {
        reply(s, s->phys_mem ? "1" : "0");  /* as QEMU's stub */
    } else {
        reply(s, "");   /* qOffsets, qTStatus ... */
    }
}

static void handle_Q(GdbStub *s, const char *pkt)
{
    if (!strcmp(pkt, "QStartNoAckMode")) {
        reply(s, "OK");             /* acknowledged in ack mode still */
        s->rsp.no_ack = true;
    } else if (!strcmp(pkt, "Qqemu.PhyMemMode:1") || !strcmp(pkt, "Qqemu.PhyMemMode:0")) {
        s->phys_mem = pkt[strlen(pkt) - 1] == '1';   /* QEMU's packet */
        reply(s, "OK");
    } else {
        reply(s, "");
    }
}

/* ---- execution control ---- */

static void handle_H(GdbStub *s, const char *p)
{
    char op = *p++;
    const char *end;
    int h = parse_thread(s, p, &end);
    if ((op != 'g' && op != 'c') || h == -2 || *end) {
        reply(s, E_SYNTAX);
        return;
    }
    if (op == 'g') {
        if (h >= 0)     /* Hg0 / Hg-1 ("any"): keep the current hart */
            s->g_hart = h;
    } else {
        s->c_hart = h;  /* -1: all harts */
    }
    reply(s, "OK");
}

static void handle_T(GdbStub *s, const char *p)
{
    const char *end;
    int h = parse_thread(s, p, &end);
    reply(s, h >= 0 && !*end ? "OK" : E_SYNTAX);
}

/* s/c [addr]: resume at addr when given */
static ResumeKind handle_resume(GdbStub *s, const char *p, bool step, int hart)
{
    if (*p) {
        uint64_t addr;
        if (!parse_hex(&p, &addr) || *p) {
            reply(s, E_SYNTAX);
            return RESUME_NONE;
        }
        machine_write_reg(s->m, hart, REG_PC, addr);
    }
    if (step) {
        s->step_hart = hart;
        return RESUME_STEP;
    }
    return RESUME_CONTINUE;
}

/* vCont;ACTION[:TID];...  All-stop: a step action steps its hart by one
 * instruction while the others stay still; otherwise any continue action
 * runs the whole machine. */
static ResumeKind handle_vCont(GdbStub *s, const char *p)
{
    int step = -2;
    bool cont = false;
    if (!*p) {
        reply(s, E_SYNTAX);
        return RESUME_NONE;
    }
    while (*p == ';') {
        p++;
        char act = *p++;
        if (act == 'C' || act == 'S') {
            uint64_t sig;   /* signals mean nothing to a machine: ignored */
            if (!parse_hex(&p, &sig)) {
                reply(s, E_SYNTAX);
                return RESUME_NONE;
            }
            act = (char)(act - 'A' + 'a');
        }
        if (act != 'c' && act != 's') {
            reply(s, E_SYNTAX);
            return RESUME_NONE;
        }
        int h = -1;
        if (*p == ':') {
            const char *end;
            h = parse_thread(s, p + 1, &end);
            if (h == -2) {
                reply(s, E_SYNTAX);
                return RESUME_NONE;
            }
            p = end;
        }
        if (act == 's' && step == -2)
            step = h >= 0 ? h : step_default(s);
        if (act == 'c')
            cont = true;
    }
    if (*p) {
        reply(s, E_SYNTAX);
        return RESUME_NONE;
    }
    if (step >= 0) {
        s->step_hart = step;
        return RESUME_STEP;
    }
    return cont ? RESUME_CONTINUE : RESUME_NONE;
}

static ResumeKind handle_v(GdbStub *s, const char *pkt)
{
    if (!strcmp(pkt, "vCont?")) {
        reply(s, "vCont;c;C;s;S");
    } else if (g_str_has_prefix(pkt, "vCont")) {
        return handle_vCont(s, pkt + 5);
    } else if (g_str_has_prefix(pkt, "vKill")) {
        reply(s, "OK");
        return RESUME_KILL;
    } else {
        reply(s, "");   /* vMustReplyEmpty, vFile ... */
    }
    return RESUME_NONE;
}

void gdb_send_watch_stop(GdbStub *s, int hart, int wp_type, uint64_t addr)
{
    char buf[96];
    const char *kind = wp_type == WP_READ ? "rwatch" : wp_type == WP_ACCESS ? "awatch" : "watch";
    snprintf(buf, sizeof(buf), "T%02xthread:%x;%s:%" PRIx64 ";", SIG_TRAP, hart + 1, kind, addr);
    s->g_hart = hart;
    reply(s, buf);
}

void gdb_send_stop(GdbStub *s, int hart, int sig, int bp_type)
{
    char buf[64];
    const char *why = "";
    if (bp_type == BP_SOFTWARE && s->gdb_swbreak)
        why = "swbreak:;";
    else if (bp_type == BP_HARDWARE && s->gdb_hwbreak)
        why = "hwbreak:;";
    snprintf(buf, sizeof(buf), "T%02xthread:%x;%s", sig, hart + 1, why);
    s->g_hart = hart;
    reply(s, buf);
}

ResumeKind gdb_handle_packet(GdbStub *s, char *pkt, size_t len)
{
    if (len == 0) {
        reply(s, "");
        return RESUME_NONE;
    }
    /* text packets must not hold NUL; binary (X) ones may */
    if (pkt[0] != 'X' && strlen(pkt) != len) {
        reply(s, E_SYNTAX);
        return RESUME_NONE;
    }
    int c_hart = step_default(s);
    switch (pkt[0]) {
    case '?':
        gdb_send_stop(s, hart_or_default(s, s->g_hart), 5, -1);
        break;
    case 'g':
        if (len == 1)
            handle_g(s);
        else
            reply(s, E_SYNTAX);
        break;
    case 'G': handle_G(s, pkt + 1, len - 1); break;
    case 'p': handle_p(s, pkt + 1); break;
    case 'P': handle_P(s, pkt + 1); break;
    case 'm': handle_m(s, pkt + 1); break;
    case 'M': handle_M(s, pkt + 1); break;
    case 'X': handle_X(s, pkt, len); break;
    case 'Z': handle_Z(s, pkt + 1, true); break;
    case 'z': handle_Z(s, pkt + 1, false); break;
    case 'q':
        handle_q(s, pkt);
        if (s->mon && monitor_quit_requested(s->mon))
            return RESUME_KILL;     /* `monitor quit` */
        break;
    case 'Q': handle_Q(s, pkt); break;
    case 'H': handle_H(s, pkt + 1); break;
    case 'T': handle_T(s, pkt + 1); break;
    case 's': return handle_resume(s, pkt + 1, true, c_hart);
    case 'c': return handle_resume(s, pkt + 1, false, c_hart);
    case 'v': return handle_v(s, pkt);
    case 'b':
        /* bs / bc: reverse step and continue, replay only */
        if (!s->rev || len != 2 || (pkt[1] != 's' && pkt[1] != 'c')) {
            reply(s, "");
            break;
        }
        s->step_hart = c_hart;
        return pkt[1] == 's' ? RESUME_REVERSE_STEP : RESUME_REVERSE_CONTINUE;
    case 'D':
        reply(s, "OK");
        return RESUME_DETACH;
    case 'k':
        return RESUME_KILL;
    default:
        reply(s, "");
        break;
    }
    return RESUME_NONE;
}
