/* Goldfish RTC (google,goldfish-rtc) at 0x101000, irq 11, as QEMU 7.2:
 *   0x00 TIME_LOW    read: low 32 bits of ns since the epoch, and latches
 *                    the high half for the next TIME_HIGH read
 *   0x04 TIME_HIGH   read: the latched high half
 *        (writing TIME_LOW/TIME_HIGH sets the clock, kept as an offset)
 *   0x08 ALARM_LOW   write: arms the alarm at (ALARM_HIGH << 32 | value)
 *   0x0c ALARM_HIGH
 *   0x10 IRQ_ENABLED
 *   0x14 CLEAR_ALARM
 *   0x18 ALARM_STATUS (1 while an alarm is armed)
 *   0x1c CLEAR_INTERRUPT
 *
 * Time is the host's wall clock read once, at machine start, plus the
 * virtual time elapsed since (machine_now_ns). The single host read lives
 * in rtc_host_clock_ns() so that record/replay can log and substitute it;
 * nothing else here depends on the host. */
#include "devices.h"

#include <glib.h>
#include <time.h>

enum {
    RTC_TIME_LOW = 0x00,
    RTC_TIME_HIGH = 0x04,
    RTC_ALARM_LOW = 0x08,
    RTC_ALARM_HIGH = 0x0c,
    RTC_IRQ_ENABLED = 0x10,
    RTC_CLEAR_ALARM = 0x14,
    RTC_ALARM_STATUS = 0x18,
    RTC_CLEAR_INTERRUPT = 0x1c,
};

struct Rtc {
    Machine *m;
    int irq;
    uint64_t start_ns;      /* host wall clock at machine start */
    uint64_t tick_offset;   /* guest writes to TIME_*: rtc - (start + virtual) */
    uint32_t time_high;     /* latched by a TIME_LOW read */
    uint32_t alarm_high;
    uint64_t alarm;         /* in RTC time (ns since the epoch) */
    bool alarm_running;
    bool irq_enabled;
    bool irq_pending;
    bool irq_level;
};

/* The one read of the host clock (ns since the Unix epoch). */
uint64_t rtc_host_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rtc_now(const Rtc *r)
{
    return r->start_ns + machine_now_ns(r->m) + r->tick_offset;
}

static void rtc_update_irq(Rtc *r)
{
    bool level = r->irq_pending && r->irq_enabled;
    if (level != r->irq_level) {
        r->irq_level = level;
        if (r->m->plic)
            plic_set_irq(r->m->plic, r->irq, level);
    }
}

/* Fires the alarm when its time has come: the alarm disarms itself and
 * raises the interrupt, as QEMU's goldfish_rtc_interrupt. */
static void rtc_check_alarm(Rtc *r)
{
    if (r->alarm_running && rtc_now(r) >= r->alarm) {
        r->alarm_running = false;
        r->irq_pending = true;
        rtc_update_irq(r);
    }
}

void rtc_update(Rtc *r)
{
    rtc_check_alarm(r);
}

uint64_t rtc_alarm_deadline_ns(const Rtc *r)
{
    if (!r->alarm_running)
        return UINT64_MAX;
    uint64_t base = r->start_ns + r->tick_offset;
    /* RTC time = base + virtual ns; solve for the virtual time. */
    if (r->alarm <= base)
        return 0;
    return r->alarm - base;
}

static bool rtc_read(void *opaque, uint64_t offset, unsigned size, uint64_t *val)
{
    Rtc *r = opaque;
    if (size != 4 || (offset & 3))
        return false;
    uint64_t now;
    switch (offset) {
    case RTC_TIME_LOW:
        now = rtc_now(r);
        r->time_high = (uint32_t)(now >> 32);
        *val = (uint32_t)now;
        break;
    case RTC_TIME_HIGH:
        *val = r->time_high;
        break;
    case RTC_ALARM_LOW:
        *val = (uint32_t)r->alarm;
        break;
    case RTC_ALARM_HIGH:
        *val = (uint32_t)(r->alarm >> 32);
        break;
    case RTC_IRQ_ENABLED:
        *val = r->irq_enabled;
        break;
    case RTC_ALARM_STATUS:
        rtc_check_alarm(r);
        *val = r->alarm_running;
        break;
    default:
        *val = 0;
        break;
    }
    return true;
}

static bool rtc_write(void *opaque, uint64_t offset, unsigned size, uint64_t val)
{
    Rtc *r = opaque;
    if (size != 4 || (offset & 3))
        return false;
    uint32_t v = (uint32_t)val;
    uint64_t now, want;
    switch (offset) {
    case RTC_TIME_LOW:
        now = rtc_now(r);
        want = (now & ~0xffffffffull) | v;
        r->tick_offset += want - now;
        rtc_check_alarm(r);
        break;
    case RTC_TIME_HIGH:
        now = rtc_now(r);
        want = (now & 0xffffffffull) | ((uint64_t)v << 32);
        r->tick_offset += want - now;
        rtc_check_alarm(r);
        break;
    case RTC_ALARM_LOW:
        /* Writing the low half arms the alarm with the stored high half;
         * an alarm already in the past fires at once. */
        r->alarm = ((uint64_t)r->alarm_high << 32) | v;
        r->alarm_running = true;
        rtc_check_alarm(r);
        break;
    case RTC_ALARM_HIGH:
        r->alarm_high = v;
        break;
    case RTC_IRQ_ENABLED:
        r->irq_enabled = v & 1;
        rtc_update_irq(r);
        break;
    case RTC_CLEAR_ALARM:
        r->alarm_running = false;
        break;
    case RTC_CLEAR_INTERRUPT:
        r->irq_pending = false;
        rtc_update_irq(r);
        break;
    default:
        break;
    }
    return true;
}

void rtc_reset(Rtc *r)
{
    /* the alarm and interrupt state go; the time the guest set stays, as
     * a battery-backed clock's does */
    r->alarm_running = false;
    r->irq_enabled = false;
    r->irq_pending = false;
    if (r->irq_level)
        plic_set_irq(r->m->plic, r->irq, false);
    r->irq_level = false;
}

/* Snapshot state: everything but the Machine pointer and the irq number.
 * start_ns is saved too (record/replay decides where it comes from). */
typedef struct RtcState {
    uint64_t start_ns, tick_offset, alarm;
    uint32_t time_high, alarm_high;
    uint8_t alarm_running, irq_enabled, irq_pending, irq_level;
} RtcState;

static void rtc_save(const void *opaque, void *buf)
{
    const Rtc *r = opaque;
    RtcState s;
    __builtin_memset(&s, 0, sizeof s);  /* padding too: states compare bytewise */
    s.start_ns = r->start_ns;
    s.tick_offset = r->tick_offset;
    s.alarm = r->alarm;
    s.time_high = r->time_high;
    s.alarm_high = r->alarm_high;
    s.alarm_running = r->alarm_running;
    s.irq_enabled = r->irq_enabled;
    s.irq_pending = r->irq_pending;
    s.irq_level = r->irq_level;
    __builtin_memcpy(buf, &s, sizeof s);
}

static void rtc_load(void *opaque, const void *buf)
{
    Rtc *r = opaque;
    RtcState s;
    __builtin_memcpy(&s, buf, sizeof s);
    r->start_ns = s.start_ns;
    r->tick_offset = s.tick_offset;
    r->alarm = s.alarm;
    r->time_high = s.time_high;
    r->alarm_high = s.alarm_high;
    r->alarm_running = s.alarm_running;
    r->irq_enabled = s.irq_enabled;
    r->irq_pending = s.irq_pending;
    r->irq_level = s.irq_level;
}

static const DeviceStateOps rtc_state_ops = {
    .name = "rtc", .size = sizeof(RtcState), .save = rtc_save, .load = rtc_load,
};

Rtc *rtc_new(Machine *m, uint64_t base, int irq)
{
    Rtc *r = g_new0(Rtc, 1);
    r->m = m;
    r->irq = irq;
    /* record/replay passes the recorded start time in the config */
    r->start_ns = m->cfg.rtc_start_ns ? m->cfg.rtc_start_ns : rtc_host_clock_ns();
    MmioRegion reg = {
        .name = "rtc",
        .base = base,
        .size = VIRT_RTC_SIZE,
        .opaque = r,
        .read = rtc_read,
        .write = rtc_write,
    };
    if (!machine_add_mmio(m, &reg) || !machine_add_device_state(m, &rtc_state_ops, r)) {
        g_free(r);
        return NULL;
    }
    return r;
}

void rtc_free(Rtc *r)
{
    g_free(r);
}
