/*
 * hwsim_fw.c: reference firmware core for the hwsim wire protocol v1. See hwsim_fw.h and
 * docs/protocol.md. Portable C99, no malloc, no libm, no OS calls.
 */
#include "hwsim_fw.h"

#include <string.h>

#define FULL_FRAME_OVERHEAD (HWSIM_HEADER_SIZE + HWSIM_CRC_SIZE)
#define TX_BODY (HWSIM_HEADER_SIZE)

/* ---- little-endian helpers -------------------------------------------------------------------- */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | ((uint16_t)p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

/* float32 <-> IEEE-754 bits (assumes `float` is IEEE-754 binary32, true on every target we know) */
static float get_f32(const uint8_t *p)
{
    uint32_t bits = get_u32(p);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static void put_f32(uint8_t *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u32(p, bits);
}

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib.crc32) -------------------------------------------- */

#if HWSIM_FW_CRC_TABLE
static const uint32_t crc_table[256] = {
    0x00000000UL, 0x77073096UL, 0xEE0E612CUL, 0x990951BAUL, 0x076DC419UL, 0x706AF48FUL,
    0xE963A535UL, 0x9E6495A3UL, 0x0EDB8832UL, 0x79DCB8A4UL, 0xE0D5E91EUL, 0x97D2D988UL,
    0x09B64C2BUL, 0x7EB17CBDUL, 0xE7B82D07UL, 0x90BF1D91UL, 0x1DB71064UL, 0x6AB020F2UL,
    0xF3B97148UL, 0x84BE41DEUL, 0x1ADAD47DUL, 0x6DDDE4EBUL, 0xF4D4B551UL, 0x83D385C7UL,
    0x136C9856UL, 0x646BA8C0UL, 0xFD62F97AUL, 0x8A65C9ECUL, 0x14015C4FUL, 0x63066CD9UL,
    0xFA0F3D63UL, 0x8D080DF5UL, 0x3B6E20C8UL, 0x4C69105EUL, 0xD56041E4UL, 0xA2677172UL,
    0x3C03E4D1UL, 0x4B04D447UL, 0xD20D85FDUL, 0xA50AB56BUL, 0x35B5A8FAUL, 0x42B2986CUL,
    0xDBBBC9D6UL, 0xACBCF940UL, 0x32D86CE3UL, 0x45DF5C75UL, 0xDCD60DCFUL, 0xABD13D59UL,
    0x26D930ACUL, 0x51DE003AUL, 0xC8D75180UL, 0xBFD06116UL, 0x21B4F4B5UL, 0x56B3C423UL,
    0xCFBA9599UL, 0xB8BDA50FUL, 0x2802B89EUL, 0x5F058808UL, 0xC60CD9B2UL, 0xB10BE924UL,
    0x2F6F7C87UL, 0x58684C11UL, 0xC1611DABUL, 0xB6662D3DUL, 0x76DC4190UL, 0x01DB7106UL,
    0x98D220BCUL, 0xEFD5102AUL, 0x71B18589UL, 0x06B6B51FUL, 0x9FBFE4A5UL, 0xE8B8D433UL,
    0x7807C9A2UL, 0x0F00F934UL, 0x9609A88EUL, 0xE10E9818UL, 0x7F6A0DBBUL, 0x086D3D2DUL,
    0x91646C97UL, 0xE6635C01UL, 0x6B6B51F4UL, 0x1C6C6162UL, 0x856530D8UL, 0xF262004EUL,
    0x6C0695EDUL, 0x1B01A57BUL, 0x8208F4C1UL, 0xF50FC457UL, 0x65B0D9C6UL, 0x12B7E950UL,
    0x8BBEB8EAUL, 0xFCB9887CUL, 0x62DD1DDFUL, 0x15DA2D49UL, 0x8CD37CF3UL, 0xFBD44C65UL,
    0x4DB26158UL, 0x3AB551CEUL, 0xA3BC0074UL, 0xD4BB30E2UL, 0x4ADFA541UL, 0x3DD895D7UL,
    0xA4D1C46DUL, 0xD3D6F4FBUL, 0x4369E96AUL, 0x346ED9FCUL, 0xAD678846UL, 0xDA60B8D0UL,
    0x44042D73UL, 0x33031DE5UL, 0xAA0A4C5FUL, 0xDD0D7CC9UL, 0x5005713CUL, 0x270241AAUL,
    0xBE0B1010UL, 0xC90C2086UL, 0x5768B525UL, 0x206F85B3UL, 0xB966D409UL, 0xCE61E49FUL,
    0x5EDEF90EUL, 0x29D9C998UL, 0xB0D09822UL, 0xC7D7A8B4UL, 0x59B33D17UL, 0x2EB40D81UL,
    0xB7BD5C3BUL, 0xC0BA6CADUL, 0xEDB88320UL, 0x9ABFB3B6UL, 0x03B6E20CUL, 0x74B1D29AUL,
    0xEAD54739UL, 0x9DD277AFUL, 0x04DB2615UL, 0x73DC1683UL, 0xE3630B12UL, 0x94643B84UL,
    0x0D6D6A3EUL, 0x7A6A5AA8UL, 0xE40ECF0BUL, 0x9309FF9DUL, 0x0A00AE27UL, 0x7D079EB1UL,
    0xF00F9344UL, 0x8708A3D2UL, 0x1E01F268UL, 0x6906C2FEUL, 0xF762575DUL, 0x806567CBUL,
    0x196C3671UL, 0x6E6B06E7UL, 0xFED41B76UL, 0x89D32BE0UL, 0x10DA7A5AUL, 0x67DD4ACCUL,
    0xF9B9DF6FUL, 0x8EBEEFF9UL, 0x17B7BE43UL, 0x60B08ED5UL, 0xD6D6A3E8UL, 0xA1D1937EUL,
    0x38D8C2C4UL, 0x4FDFF252UL, 0xD1BB67F1UL, 0xA6BC5767UL, 0x3FB506DDUL, 0x48B2364BUL,
    0xD80D2BDAUL, 0xAF0A1B4CUL, 0x36034AF6UL, 0x41047A60UL, 0xDF60EFC3UL, 0xA867DF55UL,
    0x316E8EEFUL, 0x4669BE79UL, 0xCB61B38CUL, 0xBC66831AUL, 0x256FD2A0UL, 0x5268E236UL,
    0xCC0C7795UL, 0xBB0B4703UL, 0x220216B9UL, 0x5505262FUL, 0xC5BA3BBEUL, 0xB2BD0B28UL,
    0x2BB45A92UL, 0x5CB36A04UL, 0xC2D7FFA7UL, 0xB5D0CF31UL, 0x2CD99E8BUL, 0x5BDEAE1DUL,
    0x9B64C2B0UL, 0xEC63F226UL, 0x756AA39CUL, 0x026D930AUL, 0x9C0906A9UL, 0xEB0E363FUL,
    0x72076785UL, 0x05005713UL, 0x95BF4A82UL, 0xE2B87A14UL, 0x7BB12BAEUL, 0x0CB61B38UL,
    0x92D28E9BUL, 0xE5D5BE0DUL, 0x7CDCEFB7UL, 0x0BDBDF21UL, 0x86D3D2D4UL, 0xF1D4E242UL,
    0x68DDB3F8UL, 0x1FDA836EUL, 0x81BE16CDUL, 0xF6B9265BUL, 0x6FB077E1UL, 0x18B74777UL,
    0x88085AE6UL, 0xFF0F6A70UL, 0x66063BCAUL, 0x11010B5CUL, 0x8F659EFFUL, 0xF862AE69UL,
    0x616BFFD3UL, 0x166CCF45UL, 0xA00AE278UL, 0xD70DD2EEUL, 0x4E048354UL, 0x3903B3C2UL,
    0xA7672661UL, 0xD06016F7UL, 0x4969474DUL, 0x3E6E77DBUL, 0xAED16A4AUL, 0xD9D65ADCUL,
    0x40DF0B66UL, 0x37D83BF0UL, 0xA9BCAE53UL, 0xDEBB9EC5UL, 0x47B2CF7FUL, 0x30B5FFE9UL,
    0xBDBDF21CUL, 0xCABAC28AUL, 0x53B39330UL, 0x24B4A3A6UL, 0xBAD03605UL, 0xCDD70693UL,
    0x54DE5729UL, 0x23D967BFUL, 0xB3667A2EUL, 0xC4614AB8UL, 0x5D681B02UL, 0x2A6F2B94UL,
    0xB40BBE37UL, 0xC30C8EA1UL, 0x5A05DF1BUL, 0x2D02EF8DUL,
};

static uint32_t crc_byte(uint32_t reg, uint8_t b)
{
    return crc_table[(reg ^ b) & 0xFFu] ^ (reg >> 8);
}
#else
static uint32_t crc_byte(uint32_t reg, uint8_t b)
{
    int k;
    reg ^= b;
    for (k = 0; k < 8; k++)
        reg = (reg & 1u) ? (reg >> 1) ^ 0xEDB88320UL : (reg >> 1);
    return reg;
}
#endif

uint32_t hwsim_crc32_update(uint32_t reg, const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        reg = crc_byte(reg, data[i]);
    return reg;
}

uint32_t hwsim_crc32(const uint8_t *data, size_t len)
{
    return hwsim_crc32_update(0xFFFFFFFFUL, data, len) ^ 0xFFFFFFFFUL;
}

/* ---- COBS ------------------------------------------------------------------------------------- */

size_t hwsim_cobs_encode_to(const uint8_t *src, size_t len, hwsim_fw_write_fn write, void *user)
{
    size_t i = 0, out = 0;
    for (;;) {
        size_t j = i;
        uint8_t code;
        while (j < len && src[j] != 0 && j - i < 254u)
            j++;
        code = (uint8_t)(j - i + 1u);
        write(user, &code, 1);
        if (j > i)
            write(user, src + i, j - i);
        out += 1u + (j - i);
        if (code == 0xFFu) {        /* a full block carries no zero */
            i = j;
            if (i == len)
                break;
        } else if (j == len) {      /* the last block */
            break;
        } else {
            i = j + 1u;             /* skip the zero this block stands for */
        }
    }
    return out;
}

typedef struct {
    uint8_t *dst;
    size_t n;
} buf_sink;

static void buf_write(void *user, const uint8_t *data, size_t len)
{
    buf_sink *s = (buf_sink *)user;
    memcpy(s->dst + s->n, data, len);
    s->n += len;
}

size_t hwsim_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    buf_sink sink;
    sink.dst = dst;
    sink.n = 0;
    return hwsim_cobs_encode_to(src, len, buf_write, &sink);
}

/* Decoder step for one non-zero encoded byte. State: `left` data bytes still due in the current
 * block, `code` of the current block (0 before the first). Returns 1 and sets *out when the byte
 * yields a decoded byte (a data byte, or the zero a finished short block stands for). */
static int cobs_step(uint8_t *left, uint8_t *code, uint8_t byte, uint8_t *out)
{
    if (*left == 0) {
        int zero = (*code != 0 && *code != 0xFFu);
        *code = byte;
        *left = (uint8_t)(byte - 1u);
        if (zero) {
            *out = 0;
            return 1;
        }
        return 0;
    }
    *left = (uint8_t)(*left - 1u);
    *out = byte;
    return 1;
}

long hwsim_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    uint8_t left = 0, code = 0, b;
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        if (src[i] == 0)
            return -1;
        if (cobs_step(&left, &code, src[i], &b)) {
            if (n == cap)
                return -1;
            dst[n++] = b;
        }
    }
    return left == 0 ? (long)n : -1;
}

/* ---- sample encodings ------------------------------------------------------------------------- */

static uint32_t sample_bytes(uint8_t bits)
{
    return bits == 0 ? 4u : (bits <= 8 ? 1u : 2u);
}

static uint32_t full_scale(uint8_t bits) { return ((uint32_t)1 << bits) - 1u; }

static uint16_t get_code(const uint8_t *p, uint8_t bits) { return bits <= 8 ? p[0] : get_u16(p); }

static void put_code(uint8_t *p, uint8_t bits, uint16_t code)
{
    if (bits <= 8)
        p[0] = (uint8_t)code;
    else
        put_u16(p, code);
}

/* The value a code stands for: lo + c * (hi - lo) / (2^bits - 1) in double, rounded to float. */
static float code_value(uint16_t code, uint8_t bits, double lo, double hi)
{
    return (float)(lo + (double)code * (hi - lo) / (double)full_scale(bits));
}

/* Round half to even of 0 <= v < 2^32 (numpy.rint), without libm. */
static uint32_t rint_nonneg(double v)
{
    uint32_t k = (uint32_t)v;
    double frac = v - (double)k; /* exact */
    if (frac > 0.5 || (frac == 0.5 && (k & 1u)))
        k++;
    return k;
}

/* Clip to [lo, hi] and round to the nearest code, as hwsim.quantise.to_codes. */
static uint16_t value_code(float y, uint8_t bits, double lo, double hi)
{
    double v = (double)y;
    double step = (hi - lo) / (double)full_scale(bits);
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return (uint16_t)rint_nonneg((v - lo) / step);
}

static int is_finite(float v) { return (v - v) == 0.0f; }

static void rx_reset(hwsim_fw *fw);

/* ---- set-up and small API --------------------------------------------------------------------- */

uint32_t hwsim_fw_max_payload(const hwsim_fw_config *c)
{
    return c->max_payload != 0 ? c->max_payload : (uint32_t)HWSIM_FW_MAX_PAYLOAD;
}

uint32_t hwsim_fw_max_batch(const hwsim_fw_config *c)
{
    uint32_t in = (uint32_t)c->n_in * sample_bytes(c->dac_bits);
    uint32_t out = (uint32_t)c->n_out * sample_bytes(c->adc_bits);
    uint32_t per = in > out ? in : out;
    uint32_t payload = hwsim_fw_max_payload(c);
    uint32_t cap = (per == 0 || payload < 4u) ? 0 : (payload - 4u) / per;
    return (c->max_batch != 0 && c->max_batch < cap) ? c->max_batch : cap;
}

static uint32_t params_block_size(const hwsim_fw_config *c)
{
    uint32_t size = 1u;
    uint8_t k;
    for (k = 0; k < c->n_params; k++)
        size += 1u + (uint32_t)strlen(c->params[k].name) + 4u + 4u * c->params[k].n_values;
    return size;
}

int hwsim_fw_init_sized(hwsim_fw *fw, const hwsim_fw_config *c, size_t fw_size)
{
    uint8_t k;
    if (fw_size != sizeof *fw)
        return HWSIM_INIT_BUILD;
    memset(fw, 0, sizeof *fw);
    if (c->write == NULL)
        return HWSIM_INIT_NO_WRITE;
    if (c->max_payload > HWSIM_FW_MAX_PAYLOAD)
        return HWSIM_INIT_PAYLOAD;
    if (c->measure == NULL && c->measure_codes == NULL)
        return HWSIM_INIT_NO_MEASURE;
    if (c->dac_bits > 16 || c->adc_bits > 16 ||
        (c->measure_codes != NULL && (c->dac_bits == 0 || c->adc_bits == 0)))
        return HWSIM_INIT_BITS;
    if (c->n_in == 0 || c->n_out == 0 || c->n_in > HWSIM_FW_MAX_IN || c->n_out > HWSIM_FW_MAX_OUT ||
        hwsim_fw_max_batch(c) == 0)
        return HWSIM_INIT_SHAPE;
    if (!(c->in_hi > c->in_lo) || !(c->out_hi > c->out_lo))
        return HWSIM_INIT_RANGE;
    if (c->hello_json == NULL || strlen(c->hello_json) > HWSIM_FW_MAX_PAYLOAD)
        return HWSIM_INIT_HELLO_TOO_LONG;
    if (c->n_params > 0 && c->params == NULL)
        return HWSIM_INIT_PARAM_NAME;
    for (k = 0; k < c->n_params; k++) {
        const char *name = c->params[k].name;
        if (name == NULL || name[0] == '\0' || strlen(name) > 255u || c->params[k].values == NULL)
            return HWSIM_INIT_PARAM_NAME;
        if (c->params[k].n_values > HWSIM_FW_MAX_PAYLOAD)
            return HWSIM_INIT_PARAMS_TOO_LONG;
    }
    if (params_block_size(c) > HWSIM_FW_MAX_PAYLOAD)
        return HWSIM_INIT_PARAMS_TOO_LONG;
    fw->cfg = c;
    fw->max_batch = hwsim_fw_max_batch(c);
    fw->max_payload = hwsim_fw_max_payload(c);
    rx_reset(fw);
    return HWSIM_INIT_OK;
}

void *hwsim_fw_user(const hwsim_fw *fw) { return fw->cfg->user; }

void hwsim_fw_set_message(hwsim_fw *fw, const char *message) { fw->message = message; }

/* A hook's status as a protocol status: anything unknown becomes ERR_DEVICE. */
static int hook_status(hwsim_fw *fw, int status)
{
    if (status == HWSIM_OK)
        return HWSIM_OK;
    if (status < HWSIM_ERR_FRAME || status > HWSIM_ERR_TOO_LARGE) {
        fw->message = "board hook returned an unknown status";
        return HWSIM_ERR_DEVICE;
    }
    return status;
}

static int fail(hwsim_fw *fw, int status, const char *message)
{
    fw->message = message;
    return status;
}

/* ---- message handlers: body in rx_body[0..len), response body out to tx + TX_BODY ------------- */

typedef int (*handler_fn)(hwsim_fw *fw, uint32_t len, uint32_t *out_len);

static int on_hello(hwsim_fw *fw, uint32_t len, uint32_t *out_len)
{
    size_t n = strlen(fw->cfg->hello_json);
    (void)len; /* the request body is empty; anything there is ignored */
    memcpy(fw->tx + TX_BODY, fw->cfg->hello_json, n);
    *out_len = (uint32_t)n;
    return HWSIM_OK;
}

/* Decode sample `i` of a MEASURE body into fw->x (and fw->xc for code input). */
static int read_sample(hwsim_fw *fw, uint32_t i)
{
    const hwsim_fw_config *c = fw->cfg;
    uint32_t sb = sample_bytes(c->dac_bits);
    const uint8_t *p = fw->rx_body + 4u + i * (uint32_t)c->n_in * sb;
    uint16_t j;
    for (j = 0; j < c->n_in; j++, p += sb) {
        if (c->dac_bits == 0) {
            fw->x[j] = get_f32(p);
            if (!is_finite(fw->x[j]))
                return fail(fw, HWSIM_ERR_REQUEST, "input sample is NaN or inf");
        } else {
            fw->xc[j] = get_code(p, c->dac_bits);
            if (fw->xc[j] > full_scale(c->dac_bits))
                return fail(fw, HWSIM_ERR_REQUEST, "input code above 2^dac_bits - 1");
            fw->x[j] = code_value(fw->xc[j], c->dac_bits, c->in_lo, c->in_hi);
        }
    }
    return HWSIM_OK;
}

/* Measure the sample in fw->x / fw->xc and write its outputs at p. */
static int measure_sample(hwsim_fw *fw, uint8_t *p)
{
    const hwsim_fw_config *c = fw->cfg;
    uint32_t sb = sample_bytes(c->adc_bits);
    uint16_t j;
    int st;
    if (c->measure_codes != NULL) {
        st = hook_status(fw, c->measure_codes(fw, fw->xc, fw->yc));
        if (st != HWSIM_OK)
            return st;
        for (j = 0; j < c->n_out; j++, p += sb) {
            if (fw->yc[j] > full_scale(c->adc_bits))
                return fail(fw, HWSIM_ERR_DEVICE, "board returned an output code above 2^adc_bits - 1");
            put_code(p, c->adc_bits, fw->yc[j]);
        }
        return HWSIM_OK;
    }
    st = hook_status(fw, c->measure(fw, fw->x, fw->y));
    if (st != HWSIM_OK)
        return st;
    for (j = 0; j < c->n_out; j++, p += sb) {
        if (fw->y[j] != fw->y[j])
            return fail(fw, HWSIM_ERR_DEVICE, "board returned NaN");
        if (c->adc_bits == 0)
            put_f32(p, fw->y[j]);
        else
            put_code(p, c->adc_bits, value_code(fw->y[j], c->adc_bits, c->out_lo, c->out_hi));
    }
    return HWSIM_OK;
}

static int on_measure(hwsim_fw *fw, uint32_t len, uint32_t *out_len)
{
    const hwsim_fw_config *c = fw->cfg;
    uint32_t n, i, in_per, out_per;
    int st;
    if (len < 4u)
        return fail(fw, HWSIM_ERR_FRAME, "MEASURE body shorter than its u32 sample count");
    n = get_u32(fw->rx_body);
    in_per = (uint32_t)c->n_in * sample_bytes(c->dac_bits);
    if ((len - 4u) % in_per != 0 || (len - 4u) / in_per != n)
        return fail(fw, HWSIM_ERR_FRAME, "MEASURE body size disagrees with its sample count");
    if (n > fw->max_batch)
        return fail(fw, HWSIM_ERR_REQUEST, "MEASURE batch over max_batch; split it");
    /* every sample is decoded and checked before anything is driven: codes, then the interlock */
    for (i = 0; i < n; i++) {
        st = read_sample(fw, i);
        if (st != HWSIM_OK)
            return st;
    }
    for (i = 0; c->check_input != NULL && i < n; i++) {
        st = read_sample(fw, i);
        if (st == HWSIM_OK)
            st = hook_status(fw, c->check_input(fw, fw->x));
        if (st != HWSIM_OK)
            return st;
    }
    /* then measured, one sample at a time */
    out_per = (uint32_t)c->n_out * sample_bytes(c->adc_bits);
    for (i = 0; i < n; i++) {
        st = read_sample(fw, i);
        if (st == HWSIM_OK)
            st = measure_sample(fw, fw->tx + TX_BODY + 4u + i * out_per);
        if (st != HWSIM_OK)
            return st;
        fw->measurements++;
    }
    put_u32(fw->tx + TX_BODY, n);
    *out_len = 4u + n * out_per;
    return HWSIM_OK;
}

static int find_param(const hwsim_fw_config *c, const uint8_t *name, uint8_t name_len)
{
    uint8_t k;
    for (k = 0; k < c->n_params; k++)
        if (strlen(c->params[k].name) == name_len && memcmp(c->params[k].name, name, name_len) == 0)
            return k;
    return -1;
}

/* Walk a parameter block in one of three passes: STRUCTURE (sizes only, ERR_FRAME), NAMES (known
 * names and counts, ERR_REQUEST), APPLY (store the values). A block is applied only after both checks
 * passed, so a refused SET_PARAMS changes nothing. */
enum { STRUCTURE, NAMES, APPLY };

static int walk_params(hwsim_fw *fw, uint32_t len, int pass)
{
    const hwsim_fw_config *c = fw->cfg;
    const uint8_t *b = fw->rx_body;
    uint32_t p = 1, nv, v;
    uint8_t count, k, name_len;
    int idx, st;
    if (len < 1u)
        return fail(fw, HWSIM_ERR_FRAME, "parameter block shorter than its count byte");
    count = b[0];
    for (k = 0; k < count; k++) {
        if (len - p < 1u)
            return fail(fw, HWSIM_ERR_FRAME, "parameter block shorter than its count says");
        name_len = b[p++];
        if (len - p < (uint32_t)name_len + 4u)
            return fail(fw, HWSIM_ERR_FRAME, "parameter block truncated in a name");
        idx = find_param(c, b + p, name_len);
        nv = get_u32(b + p + name_len);
        p += (uint32_t)name_len + 4u;
        if (nv > (len - p) / 4u)
            return fail(fw, HWSIM_ERR_FRAME, "parameter block truncated in the values");
        if (pass != STRUCTURE && idx < 0)
            return fail(fw, HWSIM_ERR_REQUEST, "unknown parameter; HELLO lists the board's parameters");
        if (pass != STRUCTURE && nv != c->params[idx].n_values)
            return fail(fw, HWSIM_ERR_REQUEST, "wrong number of values for a parameter");
        if (pass == APPLY) {
            for (v = 0; v < nv; v++)
                c->params[idx].values[v] = get_f32(b + p + 4u * v);
            if (c->params_written != NULL) {
                st = hook_status(fw, c->params_written(fw, (uint8_t)idx));
                if (st != HWSIM_OK)
                    return st;
            }
        }
        p += 4u * nv;
    }
    if (p != len)
        return fail(fw, HWSIM_ERR_FRAME, "parameter block has bytes after its last parameter");
    return HWSIM_OK;
}

static int on_set_params(hwsim_fw *fw, uint32_t len, uint32_t *out_len)
{
    int st = walk_params(fw, len, STRUCTURE);
    *out_len = 0;
    if (st == HWSIM_OK)
        st = walk_params(fw, len, NAMES);
    return st != HWSIM_OK ? st : walk_params(fw, len, APPLY);
}

static int on_get_params(hwsim_fw *fw, uint32_t len, uint32_t *out_len)
{
    const hwsim_fw_config *c = fw->cfg;
    uint8_t *p = fw->tx + TX_BODY;
    uint32_t v;
    uint8_t k;
    size_t name_len;
    (void)len; /* the request body is empty; anything there is ignored */
    *p++ = c->n_params;
    for (k = 0; k < c->n_params; k++) {
        name_len = strlen(c->params[k].name);
        *p++ = (uint8_t)name_len;
        memcpy(p, c->params[k].name, name_len);
        p += name_len;
        put_u32(p, c->params[k].n_values);
        p += 4;
        for (v = 0; v < c->params[k].n_values; v++, p += 4)
            put_f32(p, c->params[k].values[v]);
    }
    *out_len = (uint32_t)(p - (fw->tx + TX_BODY));
    return HWSIM_OK;
}

static int on_ping(hwsim_fw *fw, uint32_t len, uint32_t *out_len)
{
    const hwsim_fw_config *c = fw->cfg;
    put_u32(fw->tx + TX_BODY, c->uptime_ms != NULL ? c->uptime_ms(c->user) : 0u);
    put_u32(fw->tx + TX_BODY + 4, fw->measurements);
    memcpy(fw->tx + TX_BODY + 8, fw->rx_body, len);
    *out_len = 8u + len;
    return HWSIM_OK;
}

static const struct {
    uint8_t type;
    handler_fn fn;
} handlers[] = {
    {HWSIM_MSG_HELLO, on_hello},
    {HWSIM_MSG_MEASURE, on_measure},
    {HWSIM_MSG_SET_PARAMS, on_set_params},
    {HWSIM_MSG_GET_PARAMS, on_get_params},
    {HWSIM_MSG_PING, on_ping},
};

static handler_fn find_handler(uint8_t type)
{
    size_t k;
    for (k = 0; k < sizeof handlers / sizeof handlers[0]; k++)
        if (handlers[k].type == type)
            return handlers[k].fn;
    return NULL;
}

/* ---- responses -------------------------------------------------------------------------------- */

static const char *default_message(int status)
{
    switch (status) {
    case HWSIM_ERR_FRAME: return "frame could not be used";
    case HWSIM_ERR_VERSION: return "protocol version not supported; this board speaks version 1";
    case HWSIM_ERR_TYPE: return "unknown message type";
    case HWSIM_ERR_REQUEST: return "bad request body";
    case HWSIM_ERR_INTERLOCK: return "safety interlock tripped";
    case HWSIM_ERR_BUSY: return "board busy; try again";
    case HWSIM_ERR_TOO_LARGE: return "body over max_payload; send smaller requests";
    default: return "device failure";
    }
}

/* Finish the response in tx (body already at TX_BODY unless it is an error) and send it. */
static void respond(hwsim_fw *fw, uint8_t type, uint16_t seq, int status, uint32_t body_len)
{
    uint8_t *t = fw->tx;
    static const uint8_t delimiter = 0;
    if (status != HWSIM_OK) {
        const char *msg = fw->message != NULL ? fw->message : default_message(status);
        body_len = (uint32_t)strlen(msg);
        if (body_len > HWSIM_FW_MAX_PAYLOAD)
            body_len = HWSIM_FW_MAX_PAYLOAD;
        memcpy(t + TX_BODY, msg, body_len);
    }
    t[0] = HWSIM_PROTOCOL_VERSION;
    t[1] = type;
    t[2] = HWSIM_FLAG_RESPONSE;
    t[3] = (uint8_t)status;
    put_u16(t + 4, seq);
    put_u32(t + 6, body_len);
    put_u32(t + TX_BODY + body_len, hwsim_crc32(t, HWSIM_HEADER_SIZE + body_len));
    fw->tx_len = FULL_FRAME_OVERHEAD + body_len;
    hwsim_cobs_encode_to(t, fw->tx_len, fw->cfg->write, fw->cfg->user);
    fw->cfg->write(fw->cfg->user, &delimiter, 1);
}

static void resend(hwsim_fw *fw)
{
    static const uint8_t delimiter = 0;
    hwsim_cobs_encode_to(fw->tx, fw->tx_len, fw->cfg->write, fw->cfg->user);
    fw->cfg->write(fw->cfg->user, &delimiter, 1);
}

/* A well-formed frame sits in rx_hdr / rx_body (body only when it fits). */
static void handle_frame(hwsim_fw *fw)
{
    const uint8_t *h = fw->rx_hdr;
    uint8_t type = h[1];
    uint16_t seq = get_u16(h + 4);
    uint32_t len = fw->rx_length, out_len = 0, body_crc;
    handler_fn fn;
    int status;

    if (h[2] & HWSIM_FLAG_RESPONSE) { /* a board never answers a response (e.g. an echo) */
        fw->frames_dropped++;
        return;
    }
    fw->frames_handled++;
    fw->message = NULL;
    fw->cache_valid = 0; /* any response below overwrites the cached one */
    if (h[0] != HWSIM_PROTOCOL_VERSION) {
        respond(fw, type, seq, HWSIM_ERR_VERSION, 0);
        return;
    }
    fn = find_handler(type);
    if (fn == NULL) {
        respond(fw, type, seq, HWSIM_ERR_TYPE, 0);
        return;
    }
    if (len > fw->max_payload) {
        respond(fw, type, seq, HWSIM_ERR_TOO_LARGE, 0);
        return;
    }
    status = fn(fw, len, &out_len);
    respond(fw, type, seq, status, out_len);
    if (type != HWSIM_MSG_HELLO && status != HWSIM_ERR_BUSY) {
        body_crc = hwsim_crc32(fw->rx_body, len);
        fw->cache_valid = 1;
        fw->cache_type = type;
        fw->cache_seq = seq;
        fw->cache_body_len = len;
        fw->cache_body_crc = body_crc;
    }
}

/* Answer from the reply cache when the request is a repeat; returns 1 when it did. The length test
 * comes before the CRC: a body too large to be stored never matches (cached bodies always fit). */
static int answer_from_cache(hwsim_fw *fw)
{
    const uint8_t *h = fw->rx_hdr;
    if (!fw->cache_valid || h[0] != HWSIM_PROTOCOL_VERSION || (h[2] & HWSIM_FLAG_RESPONSE) ||
        h[1] != fw->cache_type || get_u16(h + 4) != fw->cache_seq || fw->rx_length != fw->cache_body_len ||
        hwsim_crc32(fw->rx_body, fw->rx_length) != fw->cache_body_crc)
        return 0;
    fw->frames_handled++;
    fw->cache_hits++;
    resend(fw);
    return 1;
}

/* ---- receiver --------------------------------------------------------------------------------- */

static void rx_reset(hwsim_fw *fw)
{
    fw->rx_pos = 0;
    fw->rx_length = 0;
    fw->rx_crc = 0xFFFFFFFFUL;
    fw->rx_left = 0;
    fw->rx_code = 0;
    fw->rx_bad = 0;
}

/* One decoded byte of the current frame. */
static void rx_decoded(hwsim_fw *fw, uint8_t b)
{
    uint32_t p = fw->rx_pos;
    if (p < HWSIM_HEADER_SIZE) {
        fw->rx_hdr[p] = b;
        fw->rx_crc = crc_byte(fw->rx_crc, b);
        if (p == HWSIM_HEADER_SIZE - 1u) {
            fw->rx_length = get_u32(fw->rx_hdr + 6);
            if (fw->rx_length > 0xFFFFFFFFUL - FULL_FRAME_OVERHEAD)
                fw->rx_bad = 1;
        }
    } else if (p - HWSIM_HEADER_SIZE < fw->rx_length) {
        fw->rx_crc = crc_byte(fw->rx_crc, b);
        if (p - HWSIM_HEADER_SIZE < HWSIM_FW_MAX_PAYLOAD)
            fw->rx_body[p - HWSIM_HEADER_SIZE] = b;
    } else if (p - HWSIM_HEADER_SIZE - fw->rx_length < HWSIM_CRC_SIZE) {
        fw->rx_crc_bytes[p - HWSIM_HEADER_SIZE - fw->rx_length] = b;
    } else {
        fw->rx_bad = 1; /* longer than its header says */
        return;
    }
    fw->rx_pos = p + 1u;
}

/* The 0x00 delimiter: judge the frame and handle it. */
static void rx_end(hwsim_fw *fw)
{
    int ok;
    if (fw->rx_code == 0 && !fw->rx_bad) { /* nothing since the last delimiter: idle filler */
        rx_reset(fw);
        return;
    }
    ok = !fw->rx_bad && fw->rx_left == 0 && fw->rx_pos >= FULL_FRAME_OVERHEAD &&
         fw->rx_pos == FULL_FRAME_OVERHEAD + fw->rx_length &&
         (uint32_t)~fw->rx_crc == get_u32(fw->rx_crc_bytes);
    if (!ok)
        fw->frames_dropped++;
    else if (!answer_from_cache(fw))
        handle_frame(fw);
    rx_reset(fw);
}

void hwsim_fw_feed_byte(hwsim_fw *fw, uint8_t byte)
{
    uint8_t b;
    if (fw->cfg == NULL) /* hwsim_fw_init failed or was not called: stay deaf */
        return;
    if (byte == 0) {
        rx_end(fw);
        return;
    }
    if (fw->rx_bad)
        return;
    if (cobs_step(&fw->rx_left, &fw->rx_code, byte, &b))
        rx_decoded(fw, b);
}

void hwsim_fw_feed(hwsim_fw *fw, const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        hwsim_fw_feed_byte(fw, data[i]);
}
