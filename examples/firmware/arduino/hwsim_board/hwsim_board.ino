/*
 * hwsim_board.ino -- an Arduino speaking hwsim wire protocol v1 through the hwsim_fw core.
 *
 * The toy "physical system": four PWM outputs drive the system under test (through RC low-pass
 * filters, e.g. 10 kOhm + 10 uF, so the 490/980 Hz PWM becomes a DC level), and four analog inputs
 * read its response. One MEASURE sample = write the 4 PWM duty cycles, wait `settle_ms`, read the
 * 4 ADC channels. Without anything attached, wire D3->A0, D5->A1, D6->A2, D9->A3 through the RC
 * filters and the board measures its own filtered PWM: y ~ x.
 *
 *   inputs : 4 x 8-bit codes (PWM duty 0..255)  = input_range  (0.0, 5.0) V
 *   outputs: 4 x 10-bit codes (analogRead 0..1023) = output_range (0.0, 5.0) V
 *   param  : settle_ms (1 value, power-on 2.0, clamped to 0..1000 when used)
 *   limit  : max_input 4.5 V -- the interlock refuses a whole batch with any input above it,
 *            before anything is driven (the host raises InterlockError, never retries)
 *
 * Build (Arduino IDE or arduino-cli): the IDE compiles only the sketch folder, so copy the core next
 * to this file first:
 *     cp ../../hwsim_fw.h ../../hwsim_fw.c .
 *     arduino-cli compile -b arduino:avr:uno . && arduino-cli upload -b arduino:avr:uno -p /dev/ttyACM0 .
 * On AVR the core defaults to HWSIM_FW_MAX_PAYLOAD 192, 8 channels and the table-free CRC (see
 * hwsim_fw.h); about 1 KiB of RAM in all with this sketch's HELLO string.
 *
 * Host side:
 *     hwsim probe /dev/ttyACM0                    # handshake, print the capabilities
 *     python -c "from hwsim.remote import RemoteDevice; import numpy as np; \
 *                d = RemoteDevice('/dev/ttyACM0', baudrate=115200, timeout=2.0); \
 *                print(d.measure(np.full((3, 4), 2.5, np.float32)))"
 * The board resets when the port opens (DTR); RemoteDevice waits through it with its retries, or
 * disable auto-reset with a 10 uF capacitor between RESET and GND.
 *
 * The schema hash below is DeviceInfo(name="arduino-pwm-adc", input_shape=(4,), output_shape=(4,),
 * input_range=(0.0, 5.0), output_range=(0.0, 5.0), dac_bits=8, adc_bits=10,
 * params={"settle_ms": (1,)}).schema_hash(); recompute it (`hwsim probe PORT --schema-hash`) whenever
 * a shape, range, bit width or parameter changes.
 */
#include "hwsim_fw.h"

#define N_CH 4
#define SKETCH_MAX_BATCH 16 /* samples per MEASURE; must not exceed hwsim_fw_max_batch() */
#define MAX_INPUT_V 4.5f
#define STR_(x) #x
#define STR(x) STR_(x)

static const uint8_t pwm_pins[N_CH] = {3, 5, 6, 9};
static const uint8_t adc_pins[N_CH] = {A0, A1, A2, A3};
static float settle_ms[1] = {2.0f};
static const hwsim_fw_param params[1] = {{"settle_ms", 1, settle_ms}};

static const char hello[] =
    "{\"protocol\": 1, \"firmware_version\": \"hwsim-arduino/1.0\", \"serial_number\": \"ARD-0001\", "
    "\"schema_hash\": \"ac5ef475043c2e4c\", \"name\": \"arduino-pwm-adc\", "
    "\"input_shape\": [4], \"output_shape\": [4], \"input_range\": [0.0, 5.0], \"output_range\": [0.0, 5.0], "
    "\"dac_bits\": 8, \"adc_bits\": 10, \"dtype\": \"float32\", "
    "\"max_batch\": " STR(SKETCH_MAX_BATCH) ", \"max_payload\": " STR(HWSIM_FW_MAX_PAYLOAD) ", "
    "\"params\": {\"settle_ms\": [1]}, \"limits\": {\"max_input\": 4.5}, "
    "\"capabilities\": [\"measure\", \"set_params\", \"get_params\", \"ping\"]}";

static hwsim_fw fw;
static hwsim_fw_config cfg;

/* ---- hooks ---------------------------------------------------------------------------------- */

static void write_serial(void *user, const uint8_t *data, size_t len)
{
    (void)user;
    Serial.write(data, len);
}

static uint32_t uptime_ms(void *user)
{
    (void)user;
    return (uint32_t)millis();
}

/* The interlock: runs on every sample of a batch before the first PWM write. */
static int check_input(hwsim_fw *f, const float *x)
{
    for (uint8_t i = 0; i < N_CH; i++) {
        if (x[i] > MAX_INPUT_V) {
            hwsim_fw_set_message(f, "interlock: input above max_input 4.5 V; nothing was driven");
            return HWSIM_ERR_INTERLOCK;
        }
    }
    return HWSIM_OK;
}

/* One sample on raw converter codes: PWM duty in, ADC counts out. */
static int measure_codes(hwsim_fw *f, const uint16_t *x, uint16_t *y)
{
    (void)f;
    float settle = settle_ms[0];
    if (!(settle >= 0.0f))
        settle = 0.0f;
    if (settle > 1000.0f)
        settle = 1000.0f;
    for (uint8_t i = 0; i < N_CH; i++)
        analogWrite(pwm_pins[i], (int)x[i]);
    delayMicroseconds(200); /* let a sample straddle at least one PWM period before waiting */
    delay((unsigned long)settle);
    for (uint8_t i = 0; i < N_CH; i++)
        y[i] = (uint16_t)analogRead(adc_pins[i]);
    return HWSIM_OK;
}

/* ---- Arduino entry points ------------------------------------------------------------------- */

void setup()
{
    Serial.begin(115200);
    pinMode(LED_BUILTIN, OUTPUT);
    for (uint8_t i = 0; i < N_CH; i++) {
        pinMode(pwm_pins[i], OUTPUT);
        analogWrite(pwm_pins[i], 0);
    }
    cfg.hello_json = hello;
    cfg.n_in = N_CH;
    cfg.n_out = N_CH;
    cfg.dac_bits = 8;
    cfg.adc_bits = 10;
    cfg.in_lo = 0.0;
    cfg.in_hi = 5.0;
    cfg.out_lo = 0.0;
    cfg.out_hi = 5.0;
    cfg.max_batch = SKETCH_MAX_BATCH;
    cfg.params = params;
    cfg.n_params = 1;
    cfg.write = write_serial;
    cfg.uptime_ms = uptime_ms;
    cfg.check_input = check_input;
    cfg.measure_codes = measure_codes;
    if (hwsim_fw_init(&fw, &cfg) != HWSIM_INIT_OK || hwsim_fw_max_batch(&cfg) != SKETCH_MAX_BATCH) {
        for (;;) { /* configuration error: fast blink forever */
            digitalWrite(LED_BUILTIN, !digitalRead(LED_BUILTIN));
            delay(100);
        }
    }
}

void loop()
{
    /* Serial keeps its own receive ring buffer, so the core runs here, never in an interrupt. */
    while (Serial.available() > 0)
        hwsim_fw_feed_byte(&fw, (uint8_t)Serial.read());
}
