/*
 * hwsim_fw: reference firmware core for the hwsim wire protocol v1 (docs/protocol.md).
 *
 * Portable C99: no malloc, no OS calls, no libm; every buffer is static inside `hwsim_fw` and sized
 * by the macros below, so the core runs on an 8-bit MCU as well as behind a POSIX file descriptor.
 *
 * Use:
 *   static hwsim_fw fw;                       // ~2 * HWSIM_FW_MAX_PAYLOAD bytes, keep it static
 *   hwsim_fw_init(&fw, &config);              // config: capabilities, parameter table and hooks
 *   for each received byte b: hwsim_fw_feed_byte(&fw, b);   (or hwsim_fw_feed(&fw, buf, n))
 * Complete frames are handled inside the feed call; responses leave through config.write.
 * Call the feed functions from one context only (the main loop, not a UART interrupt: the
 * measure hook runs inside them).
 */
#ifndef HWSIM_FW_H
#define HWSIM_FW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- build-time sizing (override with -D...) ------------------------------------------------- */

/* Largest request or response body in bytes; declare the same number as "max_payload" in HELLO.
 * RAM use of one hwsim_fw is about 2 * HWSIM_FW_MAX_PAYLOAD + 12 * (HWSIM_FW_MAX_IN + HWSIM_FW_MAX_OUT)
 * + 80 bytes. Plain integer literals, so a sketch can stringify them into its HELLO JSON.
 * Defaults: small on AVR (2 KiB of RAM on an Uno), comfortable elsewhere. */
#ifndef HWSIM_FW_MAX_PAYLOAD
#if defined(__AVR__)
#define HWSIM_FW_MAX_PAYLOAD 192
#else
#define HWSIM_FW_MAX_PAYLOAD 512
#endif
#endif
/* Most scalar inputs and outputs per sample the board may declare. */
#ifndef HWSIM_FW_MAX_IN
#if defined(__AVR__)
#define HWSIM_FW_MAX_IN 8
#else
#define HWSIM_FW_MAX_IN 16
#endif
#endif
#ifndef HWSIM_FW_MAX_OUT
#if defined(__AVR__)
#define HWSIM_FW_MAX_OUT 8
#else
#define HWSIM_FW_MAX_OUT 16
#endif
#endif
/* 1: CRC-32 with a 1 KiB constant table (fast); 0: bitwise, no table (small, ~8x slower per byte).
 * Default 0 on AVR, where a const table would be copied into RAM. */
#ifndef HWSIM_FW_CRC_TABLE
#if defined(__AVR__)
#define HWSIM_FW_CRC_TABLE 0
#else
#define HWSIM_FW_CRC_TABLE 1
#endif
#endif

/* ---- protocol constants ----------------------------------------------------------------------- */

#define HWSIM_PROTOCOL_VERSION 1u
#define HWSIM_HEADER_SIZE 10u
#define HWSIM_CRC_SIZE 4u

#define HWSIM_MSG_HELLO 0x01u
#define HWSIM_MSG_MEASURE 0x02u
#define HWSIM_MSG_SET_PARAMS 0x03u
#define HWSIM_MSG_GET_PARAMS 0x04u
#define HWSIM_MSG_PING 0x05u
/* AUTH (optional, boards with a shared secret; docs/protocol.md "Security model"): this core has no
 * secret, declares no "auth" in HELLO, and answers AUTH with ERR_TYPE. */
#define HWSIM_MSG_AUTH 0x06u

#define HWSIM_FLAG_RESPONSE 0x01u
#define HWSIM_FLAG_RETRANSMIT 0x02u

/* Response status codes; hooks return HWSIM_OK or one of the errors. */
#define HWSIM_OK 0
#define HWSIM_ERR_FRAME 1
#define HWSIM_ERR_VERSION 2
#define HWSIM_ERR_TYPE 3
#define HWSIM_ERR_REQUEST 4
#define HWSIM_ERR_DEVICE 5
#define HWSIM_ERR_INTERLOCK 6
#define HWSIM_ERR_BUSY 7
#define HWSIM_ERR_TOO_LARGE 8
/* Sent by TCP board servers and boards with a shared secret only; this core never sends them. */
#define HWSIM_ERR_LOCKED 9
#define HWSIM_ERR_AUTH 10
#define HWSIM_ERR_IDLE 11

/* hwsim_fw_init results (configuration mistakes, found once at start-up). */
#define HWSIM_INIT_OK 0
#define HWSIM_INIT_NO_WRITE (-1)        /* config.write is NULL */
#define HWSIM_INIT_NO_MEASURE (-2)      /* neither measure nor measure_codes is set */
#define HWSIM_INIT_SHAPE (-3)           /* n_in/n_out is 0 or above HWSIM_FW_MAX_IN/OUT */
#define HWSIM_INIT_BITS (-4)            /* bits above 16, or measure_codes without both bits */
#define HWSIM_INIT_HELLO_TOO_LONG (-5)  /* hello_json missing or longer than HWSIM_FW_MAX_PAYLOAD */
#define HWSIM_INIT_PARAMS_TOO_LONG (-6) /* the GET_PARAMS reply would not fit HWSIM_FW_MAX_PAYLOAD */
#define HWSIM_INIT_RANGE (-7)           /* a range with hi <= lo */
#define HWSIM_INIT_PARAM_NAME (-8)      /* a parameter name that is NULL, empty or over 255 chars */
#define HWSIM_INIT_BUILD (-9)           /* hwsim_fw.c and the caller were built with different sizing macros */
#define HWSIM_INIT_PAYLOAD (-10)        /* config.max_payload above HWSIM_FW_MAX_PAYLOAD */

typedef struct hwsim_fw hwsim_fw;

/* Send `len` bytes to the host (UART, fd, ...). Must send all of them. */
typedef void (*hwsim_fw_write_fn)(void *user, const uint8_t *data, size_t len);

/* One settable parameter: `values` is board-owned storage of `n_values` floats holding the current
 * (power-on) values; SET_PARAMS writes it, GET_PARAMS reads it. */
typedef struct {
    const char *name;
    uint32_t n_values;
    float *values;
} hwsim_fw_param;

typedef struct {
    /* What the board is. hello_json is the HELLO reply (docs/protocol.md, "HELLO capabilities");
     * it must agree with the numbers below and declare "max_payload": hwsim_fw_max_payload(&config)
     * and "max_batch": hwsim_fw_max_batch(&config). It may be longer than max_payload (up to
     * HWSIM_FW_MAX_PAYLOAD). */
    const char *hello_json;
    uint16_t n_in, n_out;          /* scalars per sample */
    uint8_t dac_bits, adc_bits;    /* converter resolution 1..16, or 0 for float32 samples */
    double in_lo, in_hi;           /* input_range */
    double out_lo, out_hi;         /* output_range */
    uint32_t max_batch;            /* samples per MEASURE the board accepts (capped to fit max_payload) */
    uint32_t max_payload;          /* declared max_payload: 0 means HWSIM_FW_MAX_PAYLOAD, never more */
    const hwsim_fw_param *params;  /* parameter table (may be NULL when n_params is 0) */
    uint8_t n_params;

    /* Hooks. Return HWSIM_OK or an error status (HWSIM_ERR_DEVICE, HWSIM_ERR_INTERLOCK,
     * HWSIM_ERR_BUSY, ...); hwsim_fw_set_message() may set the text sent with the error. */
    hwsim_fw_write_fn write;                                   /* required */
    uint32_t (*uptime_ms)(void *user);                         /* optional; PING reports 0 without */
    /* optional; called for every sample of a MEASURE before any is measured (the interlock):
     * an error here refuses the whole batch and nothing is measured. */
    int (*check_input)(hwsim_fw *fw, const float *x);
    /* one of the two measure hooks: on decoded values (x: n_in floats, y: n_out floats to fill;
     * outputs are clipped to the output range and quantised by the core) ... */
    int (*measure)(hwsim_fw *fw, const float *x, float *y);
    /* ... or on raw converter codes (needs dac_bits and adc_bits; y codes must be <= 2^adc_bits-1). */
    int (*measure_codes)(hwsim_fw *fw, const uint16_t *x, uint16_t *y);
    /* optional; called after SET_PARAMS stored new values for parameter `index` */
    int (*params_written)(hwsim_fw *fw, uint8_t index);
    void *user;                                                /* for the hooks: hwsim_fw_user() */
} hwsim_fw_config;

/* The firmware state. Treat the fields as private; declared here so it can be allocated statically. */
struct hwsim_fw {
    const hwsim_fw_config *cfg;
    uint32_t max_batch;
    uint32_t max_payload;
    /* receiver: streaming COBS decode + header parse + running CRC */
    uint32_t rx_pos;           /* decoded bytes of the current frame (saturates) */
    uint32_t rx_length;        /* body length from the header */
    uint32_t rx_crc;           /* running CRC register over header and body */
    uint8_t rx_left;           /* COBS: data bytes left in the current block */
    uint8_t rx_code;           /* COBS: code byte of the current block, 0 before the first */
    uint8_t rx_bad;            /* frame already malformed: skip to the next 0x00 */
    uint8_t rx_hdr[HWSIM_HEADER_SIZE];
    uint8_t rx_crc_bytes[HWSIM_CRC_SIZE];
    uint8_t rx_body[HWSIM_FW_MAX_PAYLOAD];
    /* last response = the reply cache */
    uint8_t tx[HWSIM_HEADER_SIZE + HWSIM_FW_MAX_PAYLOAD + 8u + HWSIM_CRC_SIZE];
    uint32_t tx_len;
    uint8_t cache_valid;
    uint8_t cache_type;
    uint16_t cache_seq;
    uint32_t cache_body_len;
    uint32_t cache_body_crc;
    /* counters */
    uint32_t measurements;     /* samples measured since power-on (reported by PING) */
    uint32_t frames_handled;   /* well-formed requests answered (from the cache or not) */
    uint32_t frames_dropped;   /* malformed frames silently dropped */
    uint32_t cache_hits;       /* requests answered from the reply cache */
    const char *message;       /* error text for the current response */
    /* one sample of scratch for the measure hooks */
    float x[HWSIM_FW_MAX_IN];
    float y[HWSIM_FW_MAX_OUT];
    uint16_t xc[HWSIM_FW_MAX_IN];
    uint16_t yc[HWSIM_FW_MAX_OUT];
};

/* Check `config` and reset `fw` to power-on state; returns HWSIM_INIT_OK or a HWSIM_INIT_* error.
 * `config` must outlive `fw`. (A macro, so the caller's idea of sizeof(hwsim_fw) is checked.) */
#define hwsim_fw_init(fw, config) hwsim_fw_init_sized((fw), (config), sizeof *(fw))
int hwsim_fw_init_sized(hwsim_fw *fw, const hwsim_fw_config *config, size_t fw_size);

/* Feed received bytes; handles (and answers) every frame they complete. */
void hwsim_fw_feed_byte(hwsim_fw *fw, uint8_t byte);
void hwsim_fw_feed(hwsim_fw *fw, const uint8_t *data, size_t len);

/* The max_payload and largest MEASURE batch this configuration declares and accepts
 * (config.max_batch capped so request and reply fit max_payload). */
uint32_t hwsim_fw_max_payload(const hwsim_fw_config *config);
uint32_t hwsim_fw_max_batch(const hwsim_fw_config *config);

/* For hooks: the config's user pointer, and the text to send with the error status being returned
 * (a string that stays valid, e.g. a literal). */
void *hwsim_fw_user(const hwsim_fw *fw);
void hwsim_fw_set_message(hwsim_fw *fw, const char *message);

/* Building blocks, exposed for tests and for hosts that reuse them. */
uint32_t hwsim_crc32_update(uint32_t reg, const uint8_t *data, size_t len); /* reg starts 0xFFFFFFFF */
uint32_t hwsim_crc32(const uint8_t *data, size_t len);                      /* zlib.crc32 */
/* COBS-encode `len` bytes through `write` (no delimiter); returns the number of bytes written. */
size_t hwsim_cobs_encode_to(const uint8_t *src, size_t len, hwsim_fw_write_fn write, void *user);
/* COBS-encode into dst (capacity >= len + len / 254 + 1); returns the encoded size (no delimiter). */
size_t hwsim_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);
/* COBS-decode `len` bytes (no delimiter) into dst of capacity `cap`; returns the decoded size,
 * or -1 when the input is not valid COBS (a zero byte, a truncated block) or does not fit. */
long hwsim_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* HWSIM_FW_H */
