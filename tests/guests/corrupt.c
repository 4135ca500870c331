/* corrupt: a small sensor logger with a memory-corruption bug, the guest of
 * the reverse-debugging demo (scripts/demo.py, docs/walkthrough.md).
 *
 * The logger keeps its readings in sensor_log.slot[]: slot 0 is a header and
 * reading i goes to slot i + 1. The array was sized for the readings alone,
 * so the last reading lands one slot past the end, on the field that follows
 * the array: the configured limit. Nothing goes wrong there and then; much
 * later the range check quietly accepts readings it should reject, and the
 * self-check at the end finds the limit changed:
 *
 *     logger: FAIL: limit is 1380929348, expected 16
 *
 * (1380929348 is 0x524f4f44, "DOOR": the tag of the last reading.)
 *
 * The finisher still reports success (exit 0): the bug is the point of the
 * program, and the test suite (guest-corrupt, corrupt.expect) checks that
 * the corruption and its report happen, identically on every run and under
 * QEMU too. */
#include "rt.h"

#include <stdio.h>

#define NREADINGS 8
#define LIMIT     16          /* readings above this are out of range */

#define TAG(s) ((uint32_t)(s)[0] | (uint32_t)(s)[1] << 8 | \
                (uint32_t)(s)[2] << 16 | (uint32_t)(s)[3] << 24)

struct record {
    uint32_t tag;             /* sensor name: four ASCII characters */
    int32_t value;
};

struct reading {
    const char *name;
    int32_t value;
};

struct sensor_log {
    struct record slot[NREADINGS];   /* slot 0 is the header... */
    uint32_t limit;                  /* set once from the configuration */
    uint32_t rejected;               /* readings above the limit */
};

struct sensor_log sensor_log = { .limit = LIMIT };

static const struct reading readings[NREADINGS] = {
    { "FAN0", 12 }, { "FAN1", 14 }, { "PUMP", 9 },  { "TMP1", 21 },
    { "TMP2", 15 }, { "VOLT", 12 }, { "AMPS", 30 }, { "DOOR", 1 },
};

static void tag_text(uint32_t tag, char out[5])
{
    for (int k = 0; k < 4; k++)
        out[k] = (char)(tag >> (8 * k));
    out[4] = '\0';
}

__attribute__((noinline)) void write_header(void)
{
    sensor_log.slot[0].tag = TAG("LOG0");
    sensor_log.slot[0].value = NREADINGS;
}

/* Stores reading i of the batch; slot 0 is the header. */
__attribute__((noinline)) void store_reading(unsigned i, uint32_t tag, int32_t value)
{
    sensor_log.slot[i + 1].tag = tag;      /* BUG: i + 1 runs past the end */
    sensor_log.slot[i + 1].value = value;
}

__attribute__((noinline)) void load_readings(void)
{
    for (unsigned i = 0; i < NREADINGS; i++) {
        store_reading(i, TAG(readings[i].name), readings[i].value);
        printf("logger: reading %u: %s = %ld\n", i, readings[i].name,
               (long)readings[i].value);
    }
}

/* Works on the stored copies, long after the damage was done. */
__attribute__((noinline)) void summarise(void)
{
    long sum = 0, max = 0;
    sensor_log.rejected = 0;
    for (unsigned i = 1; i < NREADINGS; i++) {   /* slot 0 is the header */
        long v = sensor_log.slot[i].value;
        sum += v;
        if (v > max)
            max = v;
        if (v > (long)sensor_log.limit)
            sensor_log.rejected++;
    }
    printf("logger: %d slots, sum %ld, max %ld, %lu out of range\n",
           NREADINGS - 1, sum, max, (unsigned long)sensor_log.rejected);
}

/* The self-check that notices: the limit must still be the configured one. */
__attribute__((noinline)) int check_config(void)
{
    if (sensor_log.limit != LIMIT) {
        char text[5];
        tag_text(sensor_log.limit, text);
        printf("logger: FAIL: limit is %lu, expected %d\n",
               (unsigned long)sensor_log.limit, LIMIT);
        printf("logger: (0x%08lx, \"%s\" in memory)\n",
               (unsigned long)sensor_log.limit, text);
        return 0;
    }
    printf("logger: config ok, limit %d\n", LIMIT);
    return 1;
}

int main(void)
{
    printf("logger: %d readings, limit %lu\n", NREADINGS,
           (unsigned long)sensor_log.limit);
    write_header();
    load_readings();
    summarise();
    if (!check_config())
        printf("logger: the log is corrupt; see docs/walkthrough.md\n");
    rt_pass();
}
