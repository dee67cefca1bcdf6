/*
 * selftest: unit tests of the hwsim_fw core (CRC-32, COBS, framing, dispatch, reply cache, errors)
 * plus a random-bytes loop that feeds garbage and mutated frames and checks the core neither crashes
 * nor stops serving. Build it with -fsanitize=address,undefined where available.
 *
 *   selftest            run every test; prints "selftest: ok" and exits 0, or lists failures, exits 1
 *   selftest --vectors  read hex lines on stdin, print "<cobs hex> <crc32 hex>" for each (cross-check
 *                       against the Python implementation)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hwsim_fw.h"

#if HWSIM_FW_MAX_PAYLOAD < 512 || HWSIM_FW_MAX_IN < 3 || HWSIM_FW_MAX_OUT < 2
#error "selftest needs HWSIM_FW_MAX_PAYLOAD >= 512, HWSIM_FW_MAX_IN >= 3, HWSIM_FW_MAX_OUT >= 2"
#endif

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* ---- helpers ---------------------------------------------------------------------------------- */

static uint32_t rng = 0x12345678u;
static uint32_t rnd(void) /* xorshift32 */
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static uint32_t ref_crc32(const uint8_t *d, size_t n) /* independent bitwise CRC-32 */
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= d[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xFFFFu);
    put16(p + 2, v >> 16);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static float getf(const uint8_t *p)
{
    uint32_t b = get32(p);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static void putf(uint8_t *p, float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    put32(p, b);
}

/* Everything the board writes lands here. */
static uint8_t out[4u * HWSIM_FW_MAX_PAYLOAD + 4096u];
static size_t out_len;
static void capture(void *user, const uint8_t *data, size_t len)
{
    (void)user;
    if (out_len + len > sizeof out) {
        failures++;
        fprintf(stderr, "FAIL: board wrote more than the capture buffer\n");
        return;
    }
    memcpy(out + out_len, data, len);
    out_len += len;
}

/* Wire bytes of a frame; a wrong `crc_xor` corrupts the CRC. */
#define RAW_CAP (5u * HWSIM_FW_MAX_PAYLOAD + 4096u)
static uint8_t raw[RAW_CAP], wire[RAW_CAP + RAW_CAP / 254u + 2u];
static size_t frame(uint8_t version, uint8_t type, uint8_t flags, uint16_t seq, const uint8_t *body,
                    uint32_t len, uint32_t crc_xor)
{
    size_t n;
    raw[0] = version;
    raw[1] = type;
    raw[2] = flags;
    raw[3] = 0;
    put16(raw + 4, seq);
    put32(raw + 6, len);
    if (len)
        memcpy(raw + 10, body, len);
    put32(raw + 10 + len, ref_crc32(raw, 10 + len) ^ crc_xor);
    n = hwsim_cobs_encode(raw, 14 + len, wire);
    wire[n] = 0;
    return n + 1;
}

typedef struct {
    int count;
    uint8_t version, type, flags, status;
    uint16_t seq;
    uint32_t len;
    uint8_t body[HWSIM_FW_MAX_PAYLOAD + 64u];
} reply;

/* Decode what the board wrote since the last call: exactly one well-formed response expected. */
static reply r;
static void take_reply(void)
{
    static uint8_t dec[HWSIM_FW_MAX_PAYLOAD + 64u];
    size_t i, start = 0;
    long n;
    r.count = 0;
    for (i = 0; i < out_len; i++) {
        if (out[i] != 0)
            continue;
        n = hwsim_cobs_decode(out + start, i - start, dec, sizeof dec);
        CHECK(n >= 14);
        if (n >= 14) {
            CHECK(get32(dec + 6) + 14u == (uint32_t)n);
            CHECK(ref_crc32(dec, (size_t)n - 4) == get32(dec + n - 4));
            r.version = dec[0];
            r.type = dec[1];
            r.flags = dec[2];
            r.status = dec[3];
            r.seq = (uint16_t)(dec[4] | (dec[5] << 8));
            r.len = (uint32_t)n - 14u;
            memcpy(r.body, dec + 10, r.len);
        }
        r.count++;
        start = i + 1;
    }
    CHECK(start == out_len); /* every response ends with its delimiter */
    out_len = 0;
}

static reply *ask(hwsim_fw *fw, uint8_t type, uint16_t seq, const uint8_t *body, uint32_t len)
{
    hwsim_fw_feed(fw, wire, frame(1, type, 0, seq, body, len, 0));
    take_reply();
    CHECK(r.count == 1);
    CHECK(r.seq == seq && r.type == type && r.flags == HWSIM_FLAG_RESPONSE && r.version == 1);
    return &r;
}

static void expect_silence(hwsim_fw *fw, size_t n)
{
    uint32_t dropped = fw->frames_dropped;
    hwsim_fw_feed(fw, wire, n);
    CHECK(out_len == 0);
    CHECK(fw->frames_dropped == dropped + 1u);
    out_len = 0;
}

/* ---- a toy board: 3 inputs (12-bit, -1..1), 2 outputs (12-bit, 0..4095 so one code = 1.0) ---- */

static float offset[2], scale[1];
static float forced_y1;
static int hook_calls, params_written_calls, busy_next;
static int check_hook(hwsim_fw *fw, const float *x)
{
    if (x[2] > 0.5f) {
        hwsim_fw_set_message(fw, "x2 above 0.5");
        return HWSIM_ERR_INTERLOCK;
    }
    return HWSIM_OK;
}

static int measure_hook(hwsim_fw *fw, const float *x, float *y)
{
    (void)fw;
    hook_calls++;
    if (busy_next) {
        busy_next = 0;
        return HWSIM_ERR_BUSY;
    }
    y[0] = 2000.0f + scale[0] * 1000.0f * x[0] + offset[0];
    y[1] = forced_y1 + offset[1];
    return HWSIM_OK;
}

static int written_hook(hwsim_fw *fw, uint8_t index)
{
    (void)fw;
    (void)index;
    params_written_calls++;
    return HWSIM_OK;
}

static uint32_t uptime(void *user)
{
    (void)user;
    return 1234u;
}

static const char toy_hello[] = "{\"protocol\": 1, \"name\": \"toy\"}";
static hwsim_fw_param toy_params[2] = {{"offset", 2, offset}, {"scale", 1, scale}};
static hwsim_fw_config toy;
static hwsim_fw fw;

static void toy_init(void)
{
    memset(&toy, 0, sizeof toy);
    toy.hello_json = toy_hello;
    toy.n_in = 3;
    toy.n_out = 2;
    toy.dac_bits = 12;
    toy.adc_bits = 12;
    toy.in_lo = -1.0;
    toy.in_hi = 1.0;
    toy.out_lo = 0.0;
    toy.out_hi = 4095.0;
    toy.max_batch = 50;
    toy.params = toy_params;
    toy.n_params = 2;
    toy.write = capture;
    toy.uptime_ms = uptime;
    toy.check_input = check_hook;
    toy.measure = measure_hook;
    toy.params_written = written_hook;
    offset[0] = offset[1] = 0.0f;
    scale[0] = 1.0f;
    forced_y1 = 7.0f;
    hook_calls = params_written_calls = busy_next = 0;
    CHECK(hwsim_fw_init(&fw, &toy) == HWSIM_INIT_OK);
}

/* MEASURE body of n samples with input codes c0, c1, c2 each */
static uint8_t mbody[2048];
static uint32_t measure_body(uint32_t n, uint16_t c0, uint16_t c1, uint16_t c2)
{
    uint32_t i;
    put32(mbody, n);
    for (i = 0; i < n; i++) {
        put16(mbody + 4 + 6 * i, c0);
        put16(mbody + 6 + 6 * i, c1);
        put16(mbody + 8 + 6 * i, c2);
    }
    return 4 + 6 * n;
}

static uint16_t out_code(uint32_t sample, uint32_t j)
{
    return (uint16_t)(r.body[4 + 4 * sample + 2 * j] | (r.body[5 + 4 * sample + 2 * j] << 8));
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_crc(void)
{
    static uint8_t buf[1000];
    size_t i;
    CHECK(hwsim_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u);
    CHECK(hwsim_crc32(buf, 0) == 0u);
    CHECK(hwsim_crc32(buf, 1) == 0xD202EF8Du); /* one zero byte */
    for (i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd();
    for (i = 0; i < sizeof buf; i += 37)
        CHECK(hwsim_crc32(buf, i) == ref_crc32(buf, i));
    /* incremental update over two pieces equals one pass */
    CHECK((hwsim_crc32_update(hwsim_crc32_update(0xFFFFFFFFu, buf, 300), buf + 300, 700) ^ 0xFFFFFFFFu) ==
          ref_crc32(buf, 1000));
}

static int cobs_is(const uint8_t *src, size_t n, const uint8_t *want, size_t want_n)
{
    static uint8_t enc[2048], dec[2048];
    size_t m = hwsim_cobs_encode(src, n, enc);
    long back = hwsim_cobs_decode(enc, m, dec, sizeof dec);
    return m == want_n && memcmp(enc, want, m) == 0 && back == (long)n && memcmp(dec, src, n) == 0;
}

static void test_cobs_vectors(void)
{
    static uint8_t src[600], want[700];
    size_t i;
    static const uint8_t e_empty[] = {0x01};
    static const uint8_t z1[] = {0x00}, e_z1[] = {0x01, 0x01};
    static const uint8_t z2[] = {0x00, 0x00}, e_z2[] = {0x01, 0x01, 0x01};
    static const uint8_t m1[] = {0x11, 0x22, 0x00, 0x33}, e_m1[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    static const uint8_t t1[] = {0x11, 0x00}, e_t1[] = {0x02, 0x11, 0x01};
    CHECK(cobs_is(src, 0, e_empty, 1));
    CHECK(cobs_is(z1, 1, e_z1, 2));
    CHECK(cobs_is(z2, 2, e_z2, 3));
    CHECK(cobs_is(m1, 4, e_m1, 5));
    CHECK(cobs_is(t1, 2, e_t1, 3));
    for (i = 0; i < 600; i++)
        src[i] = (uint8_t)(i % 255 + 1); /* no zeros */
    /* 253 non-zero bytes: one short block */
    want[0] = 0xFE;
    memcpy(want + 1, src, 253);
    CHECK(cobs_is(src, 253, want, 254));
    /* 254 non-zero bytes: one full block and nothing after it */
    want[0] = 0xFF;
    memcpy(want + 1, src, 254);
    CHECK(cobs_is(src, 254, want, 255));
    /* 255 non-zero bytes: full block, then a block of one */
    want[255] = 0x02;
    want[256] = src[254];
    CHECK(cobs_is(src, 255, want, 257));
    /* 254 non-zero then a zero: full block, block for the zero, final empty block */
    src[254] = 0;
    want[255] = 0x01;
    want[256] = 0x01;
    CHECK(cobs_is(src, 255, want, 257));
    /* 508 non-zero bytes: two full blocks */
    for (i = 0; i < 600; i++)
        src[i] = (uint8_t)(i % 255 + 1);
    want[255] = 0xFF;
    memcpy(want + 256, src + 254, 254);
    CHECK(cobs_is(src, 508, want, 510));
    /* all zeros: one 0x01 per byte plus one */
    memset(src, 0, 300);
    memset(want, 0x01, 301);
    CHECK(cobs_is(src, 300, want, 301));
}

static void test_cobs_roundtrip_and_rejects(void)
{
    static uint8_t src[1200], enc[1300], dec[1200];
    int t;
    for (t = 0; t < 3000; t++) {
        size_t n = rnd() % 1100, i, m;
        uint32_t zero_every = 1u + rnd() % 400u;
        long back;
        for (i = 0; i < n; i++)
            src[i] = (rnd() % zero_every == 0) ? 0 : (uint8_t)(1u + rnd() % 255u);
        m = hwsim_cobs_encode(src, n, enc);
        CHECK(m <= n + n / 254 + 1);
        CHECK(memchr(enc, 0, m) == NULL);
        back = hwsim_cobs_decode(enc, m, dec, sizeof dec);
        CHECK(back == (long)n && memcmp(src, dec, n) == 0);
        if (n > 0)
            CHECK(hwsim_cobs_decode(enc, m, dec, n - 1) == -1); /* does not fit */
    }
    {
        static const uint8_t zero_inside[] = {0x03, 0x11, 0x00};
        static const uint8_t truncated[] = {0x05, 0x11, 0x22};
        static const uint8_t ff_then_01[] = {0xFF};
        static uint8_t var[256];
        CHECK(hwsim_cobs_decode(zero_inside, 3, dec, sizeof dec) == -1);
        CHECK(hwsim_cobs_decode(truncated, 3, dec, sizeof dec) == -1);
        CHECK(hwsim_cobs_decode(ff_then_01, 1, dec, sizeof dec) == -1);
        /* the variant with an extra empty block after a final full block decodes the same */
        memset(var, 0x42, sizeof var);
        var[0] = 0xFF;
        var[255] = 0x01;
        CHECK(hwsim_cobs_decode(var, 256, dec, sizeof dec) == 254);
    }
}

static void test_init_errors(void)
{
    static char long_hello[HWSIM_FW_MAX_PAYLOAD + 2];
    hwsim_fw_config c;
    toy_init();
    c = toy;
    c.write = NULL;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_NO_WRITE);
    c = toy;
    c.measure = NULL;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_NO_MEASURE);
    c = toy;
    c.n_in = HWSIM_FW_MAX_IN + 1;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_SHAPE);
    c = toy;
    c.adc_bits = 17;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_BITS);
    c = toy;
    c.in_hi = -2.0;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_RANGE);
    c = toy;
    memset(long_hello, 'x', sizeof long_hello - 1);
    long_hello[sizeof long_hello - 1] = '\0';
    c.hello_json = long_hello;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_HELLO_TOO_LONG);
    CHECK(hwsim_fw_init_sized(&fw, &toy, sizeof fw - 1) == HWSIM_INIT_BUILD);
    hwsim_fw_feed(&fw, wire, frame(1, HWSIM_MSG_PING, 0, 1, NULL, 0, 0)); /* not initialised: deaf */
    CHECK(out_len == 0);
    c = toy;
    c.max_payload = HWSIM_FW_MAX_PAYLOAD + 1;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_PAYLOAD);
    /* max_batch is capped by the buffers: 6 bytes in, 4 bytes out per sample */
    c = toy;
    c.max_batch = 0;
    CHECK(hwsim_fw_max_batch(&c) == (HWSIM_FW_MAX_PAYLOAD - 4u) / 6u);
    CHECK(hwsim_fw_max_batch(&toy) == 50u);
    c.max_payload = 64; /* a declared max_payload below the buffer caps the batch too */
    CHECK(hwsim_fw_max_batch(&c) == 10u && hwsim_fw_max_payload(&c) == 64u);
}

static void test_hello_ping(void)
{
    static const uint8_t echo[] = {0x00, 0x01, 0xFF, 0x00};
    toy_init();
    ask(&fw, HWSIM_MSG_HELLO, 1, NULL, 0);
    CHECK(r.status == HWSIM_OK && r.len == strlen(toy_hello) && memcmp(r.body, toy_hello, r.len) == 0);
    ask(&fw, HWSIM_MSG_PING, 2, echo, 4);
    CHECK(r.status == HWSIM_OK && r.len == 12 && get32(r.body) == 1234u && get32(r.body + 4) == 0u);
    CHECK(memcmp(r.body + 8, echo, 4) == 0);
    ask(&fw, HWSIM_MSG_HELLO, 3, echo, 1); /* a body is ignored, as the Python board does */
    CHECK(r.status == HWSIM_OK && r.len == strlen(toy_hello));
}

static void test_measure_and_rounding(void)
{
    uint32_t len;
    toy_init();
    /* codes 0, 4095, 2048 -> x0 = -1, x1 = 1, x2 ~ 0.0002 */
    len = measure_body(2, 0, 4095, 2048);
    forced_y1 = 2.5f; /* ties round to even: 2.5 -> 2 */
    ask(&fw, HWSIM_MSG_MEASURE, 10, mbody, len);
    CHECK(r.status == HWSIM_OK && r.len == 4 + 2 * 4 && get32(r.body) == 2);
    CHECK(out_code(0, 0) == 1000 && out_code(1, 0) == 1000 && out_code(0, 1) == 2);
    CHECK(fw.measurements == 2 && hook_calls == 2);
    forced_y1 = 3.5f; /* -> 4 */
    ask(&fw, HWSIM_MSG_MEASURE, 11, mbody, len);
    CHECK(out_code(0, 1) == 4);
    forced_y1 = 3.4999998f; /* just below the tie -> 3 */
    ask(&fw, HWSIM_MSG_MEASURE, 12, mbody, len);
    CHECK(out_code(0, 1) == 3);
    forced_y1 = -7.0f; /* clipped to the bottom code */
    ask(&fw, HWSIM_MSG_MEASURE, 13, mbody, len);
    CHECK(out_code(0, 1) == 0);
    forced_y1 = 1e30f; /* clipped to full scale */
    ask(&fw, HWSIM_MSG_MEASURE, 14, mbody, len);
    CHECK(out_code(0, 1) == 4095);
    forced_y1 = 0.0f / (forced_y1 - forced_y1 + 0.0f); /* NaN -> ERR_DEVICE */
    ask(&fw, HWSIM_MSG_MEASURE, 15, mbody, len);
    CHECK(r.status == HWSIM_ERR_DEVICE);
    forced_y1 = 7.0f;
    /* input code mid-scale: x0 = -1 + 3000 * 2 / 4095 */
    len = measure_body(1, 3000, 0, 0);
    ask(&fw, HWSIM_MSG_MEASURE, 16, mbody, len);
    {
        float x0 = (float)(-1.0 + 3000.0 * 2.0 / 4095.0);
        double y = (double)(2000.0f + 1000.0f * x0);
        CHECK(out_code(0, 0) == (uint16_t)(y + 0.5)); /* not a tie here */
    }
    /* empty batch */
    len = measure_body(0, 0, 0, 0);
    ask(&fw, HWSIM_MSG_MEASURE, 17, mbody, len);
    CHECK(r.status == HWSIM_OK && r.len == 4 && get32(r.body) == 0);
}

static void test_cache(void)
{
    uint32_t len, measured;
    int calls;
    size_t n;
    static uint8_t first[4096];
    size_t first_len;
    toy_init();
    len = measure_body(3, 100, 200, 300);
    n = frame(1, HWSIM_MSG_MEASURE, 0, 40, mbody, len, 0);
    hwsim_fw_feed(&fw, wire, n);
    memcpy(first, out, out_len);
    first_len = out_len;
    take_reply();
    CHECK(r.status == HWSIM_OK && fw.measurements == 3);
    calls = hook_calls;
    measured = fw.measurements;
    /* the same request again, flagged RETRANSMIT: same bytes back, nothing measured */
    n = frame(1, HWSIM_MSG_MEASURE, HWSIM_FLAG_RETRANSMIT, 40, mbody, len, 0);
    hwsim_fw_feed(&fw, wire, n);
    CHECK(out_len == first_len && memcmp(out, first, first_len) == 0);
    out_len = 0;
    CHECK(hook_calls == calls && fw.measurements == measured && fw.cache_hits == 1);
    /* same seq, other body: measured */
    len = measure_body(3, 101, 200, 300);
    ask(&fw, HWSIM_MSG_MEASURE, 40, mbody, len);
    CHECK(fw.measurements == measured + 3);
    /* other seq, same body: measured */
    ask(&fw, HWSIM_MSG_MEASURE, 41, mbody, len);
    CHECK(fw.measurements == measured + 6);
    /* HELLO clears the cache */
    ask(&fw, HWSIM_MSG_HELLO, 42, NULL, 0);
    ask(&fw, HWSIM_MSG_MEASURE, 41, mbody, len);
    CHECK(fw.measurements == measured + 9);
    /* ERR_BUSY is not cached: the retransmission is measured */
    busy_next = 1;
    ask(&fw, HWSIM_MSG_MEASURE, 43, mbody, len);
    CHECK(r.status == HWSIM_ERR_BUSY);
    ask(&fw, HWSIM_MSG_MEASURE, 43, mbody, len);
    CHECK(r.status == HWSIM_OK);
    /* seq wraps around */
    ask(&fw, HWSIM_MSG_PING, 0xFFFF, NULL, 0);
    ask(&fw, HWSIM_MSG_PING, 0, NULL, 0);
}

static void test_params(void)
{
    static uint8_t b[256];
    uint32_t p;
    toy_init();
    /* set offset = (1.5, -2), scale = 0.25 */
    b[0] = 2;
    b[1] = 6;
    memcpy(b + 2, "offset", 6);
    put32(b + 8, 2);
    putf(b + 12, 1.5f);
    putf(b + 16, -2.0f);
    b[20] = 5;
    memcpy(b + 21, "scale", 5);
    put32(b + 26, 1);
    putf(b + 30, 0.25f);
    ask(&fw, HWSIM_MSG_SET_PARAMS, 1, b, 34);
    CHECK(r.status == HWSIM_OK && r.len == 0);
    CHECK(offset[0] == 1.5f && offset[1] == -2.0f && scale[0] == 0.25f && params_written_calls == 2);
    ask(&fw, HWSIM_MSG_GET_PARAMS, 2, NULL, 0);
    CHECK(r.status == HWSIM_OK && r.len == 34 && memcmp(r.body, b, 34) == 0);
    /* second parameter has the wrong count: nothing changes */
    putf(b + 12, 9.0f);
    put32(b + 26, 2);
    ask(&fw, HWSIM_MSG_SET_PARAMS, 3, b, 34);
    CHECK(r.status == HWSIM_ERR_FRAME); /* the block now ends inside its values */
    put32(b + 26, 2);
    putf(b + 34, 1.0f);
    ask(&fw, HWSIM_MSG_SET_PARAMS, 4, b, 38);
    CHECK(r.status == HWSIM_ERR_REQUEST && offset[0] == 1.5f);
    /* unknown name: nothing changes */
    put32(b + 26, 1);
    memcpy(b + 21, "scalf", 5);
    ask(&fw, HWSIM_MSG_SET_PARAMS, 5, b, 34);
    CHECK(r.status == HWSIM_ERR_REQUEST && offset[0] == 1.5f && scale[0] == 0.25f);
    /* trailing bytes, truncation */
    memcpy(b + 21, "scale", 5);
    ask(&fw, HWSIM_MSG_SET_PARAMS, 6, b, 35);
    CHECK(r.status == HWSIM_ERR_FRAME && offset[0] == 1.5f);
    for (p = 0; p < 34; p++) {
        ask(&fw, HWSIM_MSG_SET_PARAMS, (uint16_t)(100 + p), b, p);
        CHECK(r.status == HWSIM_ERR_FRAME);
    }
    CHECK(offset[0] == 1.5f);
    /* empty block is a valid no-op; a GET_PARAMS body is ignored */
    b[0] = 0;
    ask(&fw, HWSIM_MSG_SET_PARAMS, 7, b, 1);
    CHECK(r.status == HWSIM_OK);
    ask(&fw, HWSIM_MSG_GET_PARAMS, 8, b, 1);
    CHECK(r.status == HWSIM_OK && r.len == 34);
    /* an unknown name before a truncated parameter: the structure is judged first (ERR_FRAME) */
    b[0] = 2;
    memcpy(b + 2, "offsex", 6);
    ask(&fw, HWSIM_MSG_SET_PARAMS, 9, b, 33);
    CHECK(r.status == HWSIM_ERR_FRAME && offset[0] == 1.5f);
}

static void test_errors(void)
{
    static uint8_t big[HWSIM_FW_MAX_PAYLOAD + 64];
    uint32_t len;
    size_t n;
    toy_init();
    n = frame(2, HWSIM_MSG_PING, 0, 5, NULL, 0, 0);
    hwsim_fw_feed(&fw, wire, n);
    take_reply();
    CHECK(r.count == 1 && r.status == HWSIM_ERR_VERSION && r.seq == 5 && r.len > 0);
    ask(&fw, 0x7F, 6, NULL, 0);
    CHECK(r.status == HWSIM_ERR_TYPE);
    ask(&fw, 0x00, 7, NULL, 0);
    CHECK(r.status == HWSIM_ERR_TYPE);
    /* body over max_payload: answered, not dropped (the core streams it through the CRC) */
    memset(big, 0xAB, sizeof big);
    ask(&fw, HWSIM_MSG_PING, 8, big, HWSIM_FW_MAX_PAYLOAD + 1);
    CHECK(r.status == HWSIM_ERR_TOO_LARGE);
    ask(&fw, HWSIM_MSG_PING, 9, big, HWSIM_FW_MAX_PAYLOAD);
    CHECK(r.status == HWSIM_OK && r.len == HWSIM_FW_MAX_PAYLOAD + 8);
    {   /* far over the buffers: streamed through, nothing past rx_body is touched */
        static uint8_t huge[4 * HWSIM_FW_MAX_PAYLOAD + 2048];
        len = measure_body(2, 1, 2, 3);
        ask(&fw, HWSIM_MSG_MEASURE, 30, mbody, len);
        memset(huge, 0xFF, sizeof huge);
        ask(&fw, HWSIM_MSG_PING, 31, huge, sizeof huge);
        CHECK(r.status == HWSIM_ERR_TOO_LARGE && fw.measurements == 2);
        ask(&fw, HWSIM_MSG_PING, 32, NULL, 0);
        CHECK(r.status == HWSIM_OK && get32(r.body + 4) == 2);
        fw.measurements = 0;
    }
    {   /* a declared max_payload below the buffer is enforced */
        static hwsim_fw_config small;
        small = toy;
        small.max_payload = 64;
        CHECK(hwsim_fw_init(&fw, &small) == HWSIM_INIT_OK);
        ask(&fw, HWSIM_MSG_PING, 33, big, 65);
        CHECK(r.status == HWSIM_ERR_TOO_LARGE);
        ask(&fw, HWSIM_MSG_PING, 34, big, 64);
        CHECK(r.status == HWSIM_OK);
        len = measure_body(11, 1, 2, 3);
        ask(&fw, HWSIM_MSG_MEASURE, 35, mbody, len); /* 70 bytes */
        CHECK(r.status == HWSIM_ERR_TOO_LARGE);
        CHECK(hwsim_fw_init(&fw, &toy) == HWSIM_INIT_OK);
    }
    /* MEASURE body problems */
    ask(&fw, HWSIM_MSG_MEASURE, 10, mbody, 3);
    CHECK(r.status == HWSIM_ERR_FRAME);
    len = measure_body(2, 1, 2, 3);
    ask(&fw, HWSIM_MSG_MEASURE, 11, mbody, len - 1);
    CHECK(r.status == HWSIM_ERR_FRAME);
    ask(&fw, HWSIM_MSG_MEASURE, 12, mbody, len + 1);
    CHECK(r.status == HWSIM_ERR_FRAME);
    len = measure_body(51, 1, 2, 3); /* over max_batch 50 */
    ask(&fw, HWSIM_MSG_MEASURE, 13, mbody, len);
    CHECK(r.status == HWSIM_ERR_REQUEST);
    ask(&fw, HWSIM_MSG_MEASURE, 13, mbody, len - 6); /* ... with a body for 50: the size is judged first */
    CHECK(r.status == HWSIM_ERR_FRAME);
    len = measure_body(50, 1, 2, 3);
    ask(&fw, HWSIM_MSG_MEASURE, 14, mbody, len);
    CHECK(r.status == HWSIM_OK && fw.measurements == 50);
    len = measure_body(2, 4096, 2, 3); /* code beyond 12 bits */
    ask(&fw, HWSIM_MSG_MEASURE, 15, mbody, len);
    CHECK(r.status == HWSIM_ERR_REQUEST && fw.measurements == 50);
    /* interlock: the last sample trips it, no sample is measured */
    len = measure_body(3, 1, 2, 3);
    put16(mbody + 4 + 6 * 2 + 4, 4000);
    hook_calls = 0;
    ask(&fw, HWSIM_MSG_MEASURE, 16, mbody, len);
    CHECK(r.status == HWSIM_ERR_INTERLOCK && hook_calls == 0 && fw.measurements == 50);
    CHECK(r.len == strlen("x2 above 0.5") && memcmp(r.body, "x2 above 0.5", r.len) == 0);
    put16(mbody + 4 + 4, 4000);     /* the first sample trips the interlock, */
    put16(mbody + 4 + 6 * 2, 4096); /* the last has a bad code: codes are judged first */
    ask(&fw, HWSIM_MSG_MEASURE, 17, mbody, len);
    CHECK(r.status == HWSIM_ERR_REQUEST && hook_calls == 0);
    /* a frame flagged RESPONSE is not answered */
    n = frame(1, HWSIM_MSG_PING, HWSIM_FLAG_RESPONSE, 17, NULL, 0, 0);
    expect_silence(&fw, n);
}

static void test_malformed(void)
{
    static uint8_t body[40];
    size_t n, i;
    toy_init();
    memset(body, 0x5A, sizeof body);
    /* bad CRC */
    expect_silence(&fw, frame(1, HWSIM_MSG_PING, 0, 1, body, 8, 0x00010000u));
    /* shorter than 14 decoded bytes */
    n = hwsim_cobs_encode(body, 13, wire);
    wire[n] = 0;
    expect_silence(&fw, n + 1);
    /* header length says more, and less, than the frame holds */
    for (i = 0; i < 2; i++) {
        n = frame(1, HWSIM_MSG_PING, 0, 2, body, 8, 0);
        raw[6] = (uint8_t)(i == 0 ? 9 : 7);
        put32(raw + 18, ref_crc32(raw, 18));
        n = hwsim_cobs_encode(raw, 22, wire);
        wire[n] = 0;
        expect_silence(&fw, n + 1);
    }
    /* a huge length field */
    frame(1, HWSIM_MSG_PING, 0, 3, body, 8, 0);
    put32(raw + 6, 0xFFFFFFF5u);
    n = hwsim_cobs_encode(raw, 22, wire);
    wire[n] = 0;
    expect_silence(&fw, n + 1);
    /* truncated COBS block: cut a frame short before its delimiter */
    n = frame(1, HWSIM_MSG_PING, 0, 4, body, 30, 0);
    wire[n - 6] = 0;
    expect_silence(&fw, n - 5);
    /* repeated delimiters are idle filler, not dropped frames */
    wire[0] = wire[1] = wire[2] = 0;
    hwsim_fw_feed(&fw, wire, 3);
    CHECK(out_len == 0 && fw.frames_dropped == 6);
    /* still serving; a request split byte by byte is answered once, at its delimiter */
    n = frame(1, HWSIM_MSG_PING, 0, 5, body, 8, 0);
    for (i = 0; i < n; i++) {
        CHECK(out_len == 0);
        hwsim_fw_feed_byte(&fw, wire[i]);
    }
    take_reply();
    CHECK(r.count == 1 && r.status == HWSIM_OK && r.seq == 5);
}

/* A second board: raw code hook, 8-bit in, 10-bit out, and a float32 board. */
static int codes_hook(hwsim_fw *f, const uint16_t *x, uint16_t *y)
{
    (void)f;
    y[0] = (uint16_t)(x[0] * 4u + 3u);
    y[1] = (uint16_t)(x[0] == 255 ? 2000u : x[1]); /* 2000 is beyond 10 bits */
    return HWSIM_OK;
}

static int float_hook(hwsim_fw *f, const float *x, float *y)
{
    (void)f;
    y[0] = x[0] * 2.0f;
    y[1] = -x[0];
    return HWSIM_OK;
}

static void test_other_encodings(void)
{
    static hwsim_fw_config c;
    static uint8_t b[64];
    c = toy;
    c.measure = NULL;
    c.measure_codes = codes_hook;
    c.check_input = NULL;
    c.dac_bits = 8;
    c.adc_bits = 10;
    c.n_in = 2;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_OK);
    put32(b, 2);
    b[4] = 10, b[5] = 20, b[6] = 30, b[7] = 40;
    ask(&fw, HWSIM_MSG_MEASURE, 1, b, 8);
    CHECK(r.status == HWSIM_OK && r.len == 4 + 2 * 4);
    CHECK(out_code(0, 0) == 43 && out_code(0, 1) == 20 && out_code(1, 0) == 123 && out_code(1, 1) == 40);
    b[4] = 255;
    ask(&fw, HWSIM_MSG_MEASURE, 2, b, 8);
    CHECK(r.status == HWSIM_ERR_DEVICE);

    c = toy;
    c.measure = float_hook;
    c.check_input = NULL;
    c.dac_bits = 0;
    c.adc_bits = 0;
    c.n_in = 1;
    CHECK(hwsim_fw_init(&fw, &c) == HWSIM_INIT_OK);
    put32(b, 2);
    putf(b + 4, 1.25f);
    putf(b + 8, -3.0e7f);
    ask(&fw, HWSIM_MSG_MEASURE, 3, b, 12);
    CHECK(r.status == HWSIM_OK && r.len == 4 + 2 * 8);
    CHECK(getf(r.body + 4) == 2.5f && getf(r.body + 8) == -1.25f && getf(r.body + 12) == -6.0e7f);
    put32(b + 8, 0x7F800000u); /* inf */
    ask(&fw, HWSIM_MSG_MEASURE, 4, b, 12);
    CHECK(r.status == HWSIM_ERR_REQUEST);
}

/* Garbage in: random bytes, then frames with a valid CRC and random header/body, then mutated valid
 * requests. After each burst a delimiter and a PING must get exactly one correct answer. */
static void test_random_bytes(void)
{
    static uint8_t junk[4096], body[HWSIM_FW_MAX_PAYLOAD + 128u];
    int round, k;
    size_t i, n;
    toy_init();
    for (round = 0; round < 400; round++) {
        size_t jn = rnd() % sizeof junk;
        uint32_t density = 1u + rnd() % 300u;
        for (i = 0; i < jn; i++)
            junk[i] = (rnd() % density == 0) ? 0 : (uint8_t)rnd();
        hwsim_fw_feed(&fw, junk, jn);
        for (k = 0; k < 8; k++) { /* well-formed frames with random content reach the handlers */
            uint32_t len = rnd() % 3u == 0 ? rnd() % (HWSIM_FW_MAX_PAYLOAD + 100u) : rnd() % 64u;
            uint8_t type = (uint8_t)(rnd() % 8u);
            for (i = 0; i < len; i++)
                body[i] = (uint8_t)rnd();
            if (type == HWSIM_MSG_MEASURE && len >= 4 && rnd() % 2u)
                put32(body, (len - 4) / 6u); /* a plausible count */
            if (type == HWSIM_MSG_SET_PARAMS && len >= 1 && rnd() % 2u)
                body[0] = (uint8_t)(rnd() % 3u);
            n = frame((uint8_t)(rnd() % 5u == 0 ? rnd() : 1u), type, (uint8_t)(rnd() % 4u), (uint16_t)rnd(),
                      body, len, 0);
            for (i = 0; i < 2 && n > 1; i++) /* sometimes flip a byte (keeps it zero-free) */
                if (rnd() % 4u == 0)
                    wire[rnd() % (n - 1)] ^= (uint8_t)(1u + rnd() % 254u) | 1u;
            hwsim_fw_feed(&fw, wire, n);
        }
        out_len = 0;
        {
            static const uint8_t zero = 0;
            hwsim_fw_feed(&fw, &zero, 1);
        }
        out_len = 0;
        ask(&fw, HWSIM_MSG_PING, (uint16_t)(60000u + (unsigned)round), body, 3);
        CHECK(r.count == 1 && r.status == HWSIM_OK && r.len == 11);
        /* parameters and the measurement path still behave */
        offset[0] = 0.0f;
        scale[0] = 1.0f;
        n = measure_body(1, 4095, 0, 0);
        ask(&fw, HWSIM_MSG_MEASURE, (uint16_t)(50000u + (unsigned)round), mbody, (uint32_t)n);
        CHECK(r.status == HWSIM_OK && out_code(0, 0) == 3000);
    }
    CHECK(fw.frames_dropped > 0 && fw.frames_handled > 0);
}

/* ---- --vectors: COBS and CRC of stdin hex lines, for the Python cross-check ---------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int vectors(void)
{
    static char line[1 << 16];
    static uint8_t data[1 << 15], enc[(1 << 15) + 256];
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t n = 0, i, m;
        for (i = 0; hexval(line[i]) >= 0 && hexval(line[i + 1]) >= 0 && n < sizeof data; i += 2)
            data[n++] = (uint8_t)(hexval(line[i]) * 16 + hexval(line[i + 1]));
        m = hwsim_cobs_encode(data, n, enc);
        for (i = 0; i < m; i++)
            printf("%02x", enc[i]);
        printf(" %08lx\n", (unsigned long)hwsim_crc32(data, n));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--vectors") == 0)
        return vectors();
    test_crc();
    test_cobs_vectors();
    test_cobs_roundtrip_and_rejects();
    test_init_errors();
    test_hello_ping();
    test_measure_and_rounding();
    test_cache();
    test_params();
    test_errors();
    test_malformed();
    test_other_encodings();
    test_random_bytes();
    if (failures) {
        fprintf(stderr, "selftest: %d failure(s)\n", failures);
        return 1;
    }
    printf("selftest: ok (CRC %s)\n", HWSIM_FW_CRC_TABLE ? "table" : "bitwise");
    return 0;
}
