/* NS16550A UART, as QEMU's virt board exposes it at 0x10000000 (reg-shift 0,
 * one register per byte). The model follows the register semantics Linux's
 * 8250 driver, OpenSBI and U-Boot rely on. Transmission is instant: THR
 * bytes go straight to the output sink, so LSR.THRE and LSR.TEMT are always
 * set and the "THR empty" interrupt fires as soon as it is enabled or a byte
 * is written. Everything here is a pure function of guest accesses and of
 * the bytes the host pushes, which keeps record/replay deterministic. */
#include "devices.h"

#include <glib.h>
#include <string.h>

#define UART_FIFO_SIZE 16

/* register offsets */
enum {
    REG_RBR_THR_DLL = 0,
    REG_IER_DLM = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_ERBFI 0x01  /* received data available */
#define IER_ETBEI 0x02  /* transmitter holding register empty */
#define IER_ELSI  0x04  /* receiver line status */
#define IER_EDSSI 0x08  /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_RLSI   0x06
#define IIR_FIFO_ENABLED 0xc0

#define FCR_FE        0x01
#define FCR_RX_CLEAR  0x02
#define FCR_TX_CLEAR  0x04

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_BI   0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
#define MSR_DELTAS (MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD)

struct Uart {
    Machine *m;
    int irq;

    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divisor;
    bool thr_ipending;          /* "THR empty" interrupt not yet acknowledged */

    uint8_t rx[UART_FIFO_SIZE]; /* ring buffer; depth 1 when the FIFO is off */
    unsigned rx_head, rx_count;

    bool irq_level;
    void (*out)(void *opaque, uint8_t byte);
    void *out_opaque;
};

/* The interrupt identification the guest would read now, by the 16550's
 * fixed priority: line status, received data, THR empty, modem status. */
static uint8_t uart_iir_id(const Uart *u)
{
    if ((u->ier & IER_ELSI) && (u->lsr & (LSR_OE | LSR_BI)))
        return IIR_RLSI;
    if ((u->ier & IER_ERBFI) && (u->lsr & LSR_DR))
        return IIR_RDI;
    if ((u->ier & IER_ETBEI) && u->thr_ipending)
        return IIR_THRI;
    if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
        return IIR_MSI;
    return IIR_NO_INT;
}

/* The interrupt line is level-triggered: high while IIR reports a cause.
 * Only transitions are forwarded, so the PLIC sees clean edges of level. */
static void uart_update_irq(Uart *u)
{
    bool level = uart_iir_id(u) != IIR_NO_INT;
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->m->plic)
            plic_set_irq(u->m->plic, u->irq, level);
    }
}

static unsigned uart_rx_capacity(const Uart *u)
{
    /* Without the FIFO the 16550 behaves like a 16450: one holding byte. */
    return (u->fcr & FCR_FE) ? UART_FIFO_SIZE : 1;
}

static void uart_rx_clear(Uart *u)
{
    u->rx_head = 0;
    u->rx_count = 0;
    u->lsr &= ~LSR_DR;
}

/* Appends a received byte; sets the overrun flag when there is no room, as
 * the hardware does (the byte is lost). */
static void uart_rx_enqueue(Uart *u, uint8_t byte)
{
    if (u->rx_count >= uart_rx_capacity(u)) {
        u->lsr |= LSR_OE;
    } else {
        u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
        u->rx_count++;
        u->lsr |= LSR_DR;
    }
    uart_update_irq(u);
}

/* In loopback mode the modem inputs mirror the modem outputs (DTR->DSR,
 * RTS->CTS, OUT1->RI, OUT2->DCD); 8250 autoconfig probes rely on it.
 * Outside loopback the lines read as a connected, ready terminal, as in
 * QEMU. Changes set the delta bits. */
static void uart_update_msr(Uart *u)
{
    uint8_t lines;
    if (u->mcr & MCR_LOOP) {
        lines = 0;
        if (u->mcr & MCR_DTR) lines |= MSR_DSR;
        if (u->mcr & MCR_RTS) lines |= MSR_CTS;
        if (u->mcr & MCR_OUT1) lines |= MSR_RI;
        if (u->mcr & MCR_OUT2) lines |= MSR_DCD;
    } else {
        lines = MSR_DCD | MSR_DSR | MSR_CTS;
    }
    uint8_t old = u->msr & 0xf0;
    uint8_t changed = old ^ lines;
    uint8_t deltas = u->msr & MSR_DELTAS;
    if (changed & MSR_CTS) deltas |= MSR_DCTS;
    if (changed & MSR_DSR) deltas |= MSR_DDSR;
    if (changed & MSR_DCD) deltas |= MSR_DDCD;
    /* TERI: trailing edge of ring indicator (RI went from 1 to 0). */
    if ((old & MSR_RI) && !(lines & MSR_RI)) deltas |= MSR_TERI;
    u->msr = lines | deltas;
    uart_update_irq(u);
}

static uint8_t uart_read_reg(Uart *u, unsigned reg)
{
    uint8_t v = 0;
    switch (reg) {
    case REG_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB)
            return u->divisor & 0xff;
        if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
            u->rx_count--;
        }
        if (!u->rx_count)
            u->lsr &= ~LSR_DR;
        uart_update_irq(u);
        return v;
    case REG_IER_DLM:
        if (u->lcr & LCR_DLAB)
            return u->divisor >> 8;
        return u->ier;
    case REG_IIR_FCR:
        v = uart_iir_id(u);
        /* Reading IIR while it reports THR empty acknowledges that cause. */
        if (v == IIR_THRI) {
            u->thr_ipending = false;
            uart_update_irq(u);
        }
        if (u->fcr & FCR_FE)
            v |= IIR_FIFO_ENABLED;
        return v;
    case REG_LCR:
        return u->lcr;
    case REG_MCR:
        return u->mcr;
    case REG_LSR:
        v = u->lsr | LSR_THRE | LSR_TEMT;
        /* Error bits clear on read. */
        if (u->lsr & (LSR_OE | LSR_BI)) {
            u->lsr &= ~(LSR_OE | LSR_BI);
            uart_update_irq(u);
        }
        return v;
    case REG_MSR:
        v = u->msr;
        if (u->msr & MSR_DELTAS) {
            u->msr &= ~MSR_DELTAS;
            uart_update_irq(u);
        }
        return v;
    case REG_SCR:
        return u->scr;
    }
    return 0;
}

static void uart_write_reg(Uart *u, unsigned reg, uint8_t v)
{
    switch (reg) {
    case REG_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB) {
            u->divisor = (u->divisor & 0xff00) | v;
            return;
        }
        if (u->mcr & MCR_LOOP) {
            /* Loopback: the byte comes back on the receive side only. */
            uart_rx_enqueue(u, v);
        } else if (u->out) {
            u->out(u->out_opaque, v);
        }
        /* Output is instant, so the holding register is empty again. */
        u->thr_ipending = true;
        uart_update_irq(u);
        return;
    case REG_IER_DLM:
        if (u->lcr & LCR_DLAB) {
            u->divisor = (u->divisor & 0x00ff) | (uint16_t)(v << 8);
            return;
        }
        {
            uint8_t old = u->ier;
            u->ier = v & 0x0f;
            /* Enabling ETBEI while THR is empty (always) raises the THR
             * interrupt at once; drivers rely on this to start transmit. */
            if (!(old & IER_ETBEI) && (u->ier & IER_ETBEI))
                u->thr_ipending = true;
        }
        uart_update_irq(u);
        return;
    case REG_IIR_FCR:
        /* Toggling FIFO enable resets both FIFOs, as on the real chip. */
        if ((v ^ u->fcr) & FCR_FE)
            v |= FCR_RX_CLEAR | FCR_TX_CLEAR;
        if (v & FCR_RX_CLEAR)
            uart_rx_clear(u);
        u->fcr = v & 0xc9;      /* FE, DMA mode, trigger level are kept */
        uart_update_irq(u);
        return;
    case REG_LCR:
        u->lcr = v;
        return;
    case REG_MCR:
        u->mcr = v & 0x1f;
        uart_update_msr(u);
        return;
    case REG_LSR:
        /* Read-only on the 16550 (factory test only). */
        return;
    case REG_MSR:
        return;
    case REG_SCR:
        u->scr = v;
        return;
    }
}

/* Registers are byte wide; wider accesses (which Linux never makes with
 * reg-io-width 1) act on the addressed byte, like QEMU's 8250 model. */
static bool uart_mmio_read(void *opaque, uint64_t offset, unsigned size, uint64_t *val)
{
    (void)size;
    Uart *u = opaque;
    *val = offset < 8 ? uart_read_reg(u, (unsigned)offset) : 0;
    return true;
}

static bool uart_mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t val)
{
    (void)size;
    Uart *u = opaque;
    if (offset < 8)
        uart_write_reg(u, (unsigned)offset, (uint8_t)val);
    return true;
}

void uart_reset(Uart *u)
{
    /* Power-on state of the 16550: LSR says "transmitter empty", modem
     * lines read as a ready terminal. The host side (output sink) stays. */
    u->ier = u->lcr = u->mcr = u->scr = u->fcr = 0;
    u->lsr = LSR_THRE | LSR_TEMT;
    u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    u->divisor = 12;    /* 9600 baud at 1.8432 MHz; the value is irrelevant */
    u->thr_ipending = false;
    u->rx_head = u->rx_count = 0;
    if (u->irq_level)
        plic_set_irq(u->m->plic, u->irq, false);
    u->irq_level = false;
}

/* Snapshot state: the registers, the receive FIFO and the line level. */
typedef struct UartState {
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint8_t thr_ipending, irq_level;
    uint16_t divisor;
    uint8_t rx[UART_FIFO_SIZE];
    uint32_t rx_head, rx_count;
} UartState;

static void uart_save(const void *opaque, void *buf)
{
    const Uart *u = opaque;
    UartState s;
    memset(&s, 0, sizeof s);
    s.ier = u->ier; s.lcr = u->lcr; s.mcr = u->mcr; s.lsr = u->lsr;
    s.msr = u->msr; s.scr = u->scr; s.fcr = u->fcr;
    s.thr_ipending = u->thr_ipending;
    s.irq_level = u->irq_level;
    s.divisor = u->divisor;
    memcpy(s.rx, u->rx, sizeof s.rx);
    s.rx_head = u->rx_head;
    s.rx_count = u->rx_count;
    memcpy(buf, &s, sizeof s);
}

static void uart_load(void *opaque, const void *buf)
{
    Uart *u = opaque;
    UartState s;
    memcpy(&s, buf, sizeof s);
    u->ier = s.ier; u->lcr = s.lcr; u->mcr = s.mcr; u->lsr = s.lsr;
    u->msr = s.msr; u->scr = s.scr; u->fcr = s.fcr;
    u->thr_ipending = s.thr_ipending;
    u->irq_level = s.irq_level;
    u->divisor = s.divisor;
    memcpy(u->rx, s.rx, sizeof u->rx);
    u->rx_head = s.rx_head % UART_FIFO_SIZE;
    u->rx_count = s.rx_count <= UART_FIFO_SIZE ? s.rx_count : UART_FIFO_SIZE;
}

static const DeviceStateOps uart_state_ops = {
    .name = "uart", .size = sizeof(UartState), .save = uart_save, .load = uart_load,
};

Uart *uart_new(Machine *m, uint64_t base, int irq)
{
    Uart *u = g_new0(Uart, 1);
    u->m = m;
    u->irq = irq;
    uart_reset(u);

    MmioRegion r = {
        .name = "uart",
        .base = base,
        .size = VIRT_UART0_SIZE,
        .opaque = u,
        .read = uart_mmio_read,
        .write = uart_mmio_write,
    };
    if (!machine_add_mmio(m, &r) || !machine_add_device_state(m, &uart_state_ops, u)) {
        g_free(u);
        return NULL;
    }
    return u;
}

void uart_free(Uart *u)
{
    g_free(u);
}

bool uart_rx_ready(const Uart *u)
{
    /* In loopback the receiver is disconnected from the outside world. */
    if (u->mcr & MCR_LOOP)
        return false;
    return u->rx_count < uart_rx_capacity(u);
}

void uart_rx_push(Uart *u, uint8_t byte)
{
    if (u->mcr & MCR_LOOP)
        return;
    uart_rx_enqueue(u, byte);
}

void uart_set_output(Uart *u, void (*out)(void *opaque, uint8_t byte), void *opaque)
{
    u->out = out;
    u->out_opaque = opaque;
}
