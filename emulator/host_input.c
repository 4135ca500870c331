/* Inputs from the host other than the console: network frames from slirp
 * and random bytes for virtio-rng. They reach the devices only here,
 * between two runs of the machine (console_poll calls machine_poll_host),
 * so each arrives at an instruction boundary with an exact icount that
 * recording logs (through the hook) and replay reproduces (through
 * machine_host_input_push, with the host side switched off).
 *
 * Idle: a machine whose input may come from the host must not race
 * virtual time ahead while the host has not answered yet (a TCP peer on
 * the host needs real time to reply). With a NIC, or with an RNG buffer
 * posted, machine_run reports every hart waiting as RUN_IDLE instead of
 * jumping to the next timer; the run loop waits for the host a while and
 * then jumps with machine_idle_skip (replay/replay_idle.c logs that). */
#include "devices.h"
#include "virtio.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/random.h>

void machine_set_host_input_hook(Machine *m, HostInputHook fn, void *opaque)
{
    m->host_hook = fn;
    m->host_hook_opaque = opaque;
}

static void deliver(Machine *m, HostInputKind kind, const uint8_t *data, size_t len)
{
    if (m->host_hook)
        m->host_hook(m->host_hook_opaque, m, kind, data, len);
}

static void host_random(uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* no entropy source at all: the guest still gets its bytes */
            for (; done < len; done++)
                buf[done] = (uint8_t)g_random_int();
            break;
        }
        done += (size_t)n;
    }
}

void machine_poll_host(Machine *m)
{
    if (m->cfg.inputs_from_log)
        return;
    if (m->net && m->virtio_net) {
        const uint8_t *frame;
        size_t len;
        net_slirp_poll(m->net, -1, 0);
        while (virtio_net_can_receive(m->virtio_net) && net_slirp_peek(m->net, &frame, &len)) {
            deliver(m, HOST_INPUT_NET, frame, len);
            virtio_net_receive(m->virtio_net, frame, len);
            net_slirp_pop(m->net);
        }
    }
    if (m->virtio_rng) {
        size_t want;
        uint8_t buf[VIRTIO_RNG_MAX_FILL];
        while ((want = virtio_rng_wanted(m->virtio_rng)) > 0) {
            host_random(buf, want);
            deliver(m, HOST_INPUT_RNG, buf, want);
            virtio_rng_fill(m->virtio_rng, buf, want);
        }
    }
}

bool machine_host_input_push(Machine *m, HostInputKind kind, const uint8_t *data, size_t len)
{
    switch (kind) {
    case HOST_INPUT_NET:
        return m->virtio_net && virtio_net_receive(m->virtio_net, data, len);
    case HOST_INPUT_RNG:
        return m->virtio_rng && virtio_rng_fill(m->virtio_rng, data, len);
    }
    return false;
}

void host_net_send(Machine *m, const uint8_t *frame, size_t len)
{
    if (m->net)
        net_slirp_send(m->net, frame, len);
}

uint64_t machine_net_tx_frames(const Machine *m)
{
    return m->virtio_net ? virtio_net_tx_count(m->virtio_net) : 0;
}

bool machine_config_idle_sleep(const Machine *m)
{
    return m->cfg.idle_sleep;
}

bool machine_waits_for_host(Machine *m)
{
    if (m->cfg.nic_user || m->cfg.idle_sleep)
        return true;
    return m->virtio_rng && virtio_queue_has_avail(m->virtio_rng, 0);
}

void machine_host_wait(Machine *m, int fd, int timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (m->net) {
        net_slirp_poll(m->net, fd, timeout_ms);
        return;
    }
    if (fd >= 0) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, timeout_ms);
    } else if (timeout_ms > 0) {
        poll(NULL, 0, timeout_ms);
    }
}
