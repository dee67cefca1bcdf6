/*
 * pty_board: the hwsim_fw core served on a POSIX pseudo-terminal, with a board hook that is exactly
 * hwsim.reference.ReferenceDevice: y = tanh(gain * (x @ W)) in double, 12-bit DAC/ADC codes on the
 * wire, ranges (-1, 1), parameter "gain" (n_out values, power-on 1.0), limit max_abs_input 1.0.
 *
 *   pty_board WEIGHTS [--schema-hash HEX16] [--serial SN] [--float-io] [--max-payload N]
 *             [--interlock-above X] [--fail-measure STATUS] [--exit-on-stdin-eof]
 *
 * WEIGHTS: u32 n_in, u32 n_out (little-endian), then n_in * n_out float64 little-endian, row-major
 * (W[i][j], i over inputs). Python:
 *   open(p, "wb").write(struct.pack("<II", *w.shape) + w.astype("<f8").tobytes())
 * It prints the slave path (e.g. /dev/pts/7) as one line on stdout, then serves until SIGTERM/SIGINT
 * (or stdin closes, with --exit-on-stdin-eof) and prints its counters on stderr.
 *
 * --schema-hash: the HELLO schema hash; the firmware does not compute SHA-256. Default: the hash of
 *   the 16 x 16 reference device; other shapes must pass it (ReferenceDevice(n_in, n_out).info.schema_hash()).
 * --float-io: float32 samples on the wire (dac_bits = adc_bits = null), as
 *   ReferenceDevice(dac_bits=None, adc_bits=None).
 * --max-payload N: declare (and enforce) a max_payload below the build's HWSIM_FW_MAX_PAYLOAD.
 * --interlock-above X: test-only fault injection: trip ERR_INTERLOCK for any |input| > X although HELLO
 *   declares max_abs_input 1.0 (12-bit codes can never exceed the real limit).
 * --fail-measure STATUS: test-only fault injection: every measurement fails with STATUS (5 ERR_DEVICE,
 *   7 ERR_BUSY, ...).
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../hwsim_fw.h"

#define BITS 12
#define REF16_SCHEMA_HASH "174d511b78b0e107" /* ReferenceDevice(16, 16).info.schema_hash() */

static double weight[HWSIM_FW_MAX_IN * HWSIM_FW_MAX_OUT];
static unsigned n_in, n_out;
static float gain[HWSIM_FW_MAX_OUT];
static double interlock_limit = 1.0; /* declared max_abs_input */
static double interlock_test = -1.0;  /* --interlock-above, < 0 when off */
static int fail_status = HWSIM_OK;    /* --fail-measure */
static struct timespec t0;
static char hello[1024];
static int master_fd = -1;
static uint8_t out_buf[4096];
static size_t out_len;
static volatile sig_atomic_t stop;

static void die(const char *what)
{
    fprintf(stderr, "pty_board: %s\n", what);
    exit(2);
}

/* ---- board hooks: the reference device ----------------------------------------------------- */

static int check_input(hwsim_fw *fw, const float *x)
{
    unsigned i;
    for (i = 0; i < n_in; i++) {
        double a = fabs((double)x[i]);
        if (a > interlock_limit || (interlock_test >= 0.0 && a > interlock_test)) {
            hwsim_fw_set_message(fw, "interlock: input magnitude above max_abs_input; nothing was driven");
            return HWSIM_ERR_INTERLOCK;
        }
    }
    return HWSIM_OK;
}

static int measure(hwsim_fw *fw, const float *x, float *y)
{
    unsigned i, j;
    if (fail_status != HWSIM_OK) {
        hwsim_fw_set_message(fw, "injected failure (--fail-measure)");
        return fail_status;
    }
    for (j = 0; j < n_out; j++) {
        double acc = 0.0;
        for (i = 0; i < n_in; i++)
            acc += (double)x[i] * weight[i * n_out + j];
        y[j] = (float)tanh((double)gain[j] * acc);
    }
    return HWSIM_OK;
}

static uint32_t uptime_ms(void *user)
{
    struct timespec t;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
}

/* ---- transport: buffered writes to the pty master ------------------------------------------ */

static void flush_out(void)
{
    size_t done = 0;
    while (done < out_len) {
        ssize_t n = write(master_fd, out_buf + done, out_len - done);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("write to the pty failed");
        }
        done += (size_t)n;
    }
    out_len = 0;
}

static void write_bytes(void *user, const uint8_t *data, size_t len)
{
    (void)user;
    while (len > 0) {
        size_t n = sizeof out_buf - out_len;
        if (n > len)
            n = len;
        memcpy(out_buf + out_len, data, n);
        out_len += n;
        data += n;
        len -= n;
        if (out_len == sizeof out_buf)
            flush_out();
    }
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void load_weights(const char *path)
{
    unsigned char head[8], b[8];
    size_t k;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open the weight file");
    if (fread(head, 1, 8, f) != 8)
        die("weight file shorter than its 8-byte header (u32 n_in, u32 n_out)");
    n_in = le32(head);
    n_out = le32(head + 4);
    if (n_in == 0 || n_out == 0 || n_in > HWSIM_FW_MAX_IN || n_out > HWSIM_FW_MAX_OUT)
        die("weight file declares n_in/n_out of 0 or above HWSIM_FW_MAX_IN/OUT; rebuild with larger ones");
    for (k = 0; k < (size_t)n_in * n_out; k++) {
        uint64_t bits = 0;
        int m;
        if (fread(b, 1, 8, f) != 8)
            die("weight file shorter than n_in * n_out float64 values");
        for (m = 7; m >= 0; m--)
            bits = (bits << 8) | b[m];
        memcpy(&weight[k], &bits, sizeof(double));
    }
    if (fread(b, 1, 1, f) != 0)
        die("weight file longer than n_in * n_out float64 values");
    fclose(f);
}

static int open_pty(int *slave_fd)
{
    struct termios tio;
    char *name;
    int fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0 || (name = ptsname(fd)) == NULL)
        die("cannot open a pseudo-terminal");
    /* Hold the slave open (no EIO on the master between host connections) and make it raw. */
    *slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0 || tcgetattr(*slave_fd, &tio) != 0)
        die("cannot open the pty slave");
    tio.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    tio.c_oflag &= ~(tcflag_t)OPOST;
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    if (tcsetattr(*slave_fd, TCSANOW, &tio) != 0)
        die("cannot make the pty raw");
    printf("%s\n", name);
    fflush(stdout);
    return fd;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    static hwsim_fw fw;
    static hwsim_fw_config cfg;
    static hwsim_fw_param params[1];
    const char *schema_hash = NULL, *serial = "C99-REF-0001", *weights = NULL;
    int watch_stdin = 0, float_io = 0, slave_fd, i, rc;
    long max_payload = 0;
    const char *bits_json;
    struct sigaction sa;
    unsigned j;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--schema-hash") == 0 && i + 1 < argc)
            schema_hash = argv[++i];
        else if (strcmp(argv[i], "--serial") == 0 && i + 1 < argc)
            serial = argv[++i];
        else if (strcmp(argv[i], "--interlock-above") == 0 && i + 1 < argc)
            interlock_test = atof(argv[++i]);
        else if (strcmp(argv[i], "--fail-measure") == 0 && i + 1 < argc)
            fail_status = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-payload") == 0 && i + 1 < argc)
            max_payload = atol(argv[++i]);
        else if (strcmp(argv[i], "--float-io") == 0)
            float_io = 1;
        else if (strcmp(argv[i], "--exit-on-stdin-eof") == 0)
            watch_stdin = 1;
        else if (argv[i][0] != '-' && weights == NULL)
            weights = argv[i];
        else
            die("usage: pty_board WEIGHTS [--schema-hash HEX16] [--serial SN] [--float-io] [--max-payload N] "
                "[--interlock-above X] [--fail-measure STATUS] [--exit-on-stdin-eof]");
    }
    if (weights == NULL)
        die("give the weight file (u32 n_in, u32 n_out, then float64 W row-major)");
    load_weights(weights);
    if (max_payload < 0 || max_payload > (long)HWSIM_FW_MAX_PAYLOAD)
        die("--max-payload must be 1 .. HWSIM_FW_MAX_PAYLOAD of this build");
    if (schema_hash == NULL) {
        if (n_in != 16 || n_out != 16 || float_io)
            die("pass --schema-hash: the built-in one is for the 16 x 16 12-bit reference device only");
        schema_hash = REF16_SCHEMA_HASH;
    }
    for (j = 0; j < n_out; j++)
        gain[j] = 1.0f;
    params[0].name = "gain";
    params[0].n_values = n_out;
    params[0].values = gain;

    cfg.hello_json = hello;
    cfg.n_in = (uint16_t)n_in;
    cfg.n_out = (uint16_t)n_out;
    cfg.dac_bits = float_io ? 0 : BITS;
    cfg.adc_bits = float_io ? 0 : BITS;
    cfg.max_payload = (uint32_t)max_payload;
    bits_json = float_io ? "null" : "12";
    cfg.in_lo = -1.0;
    cfg.in_hi = 1.0;
    cfg.out_lo = -1.0;
    cfg.out_hi = 1.0;
    cfg.max_batch = 4096;
    cfg.params = params;
    cfg.n_params = 1;
    cfg.write = write_bytes;
    cfg.uptime_ms = uptime_ms;
    cfg.check_input = check_input;
    cfg.measure = measure;
    rc = snprintf(hello, sizeof hello,
                  "{\"protocol\": 1, \"firmware_version\": \"hwsim-c99/1.0\", \"serial_number\": \"%s\", "
                  "\"schema_hash\": \"%s\", \"name\": \"reference\", \"input_shape\": [%u], "
                  "\"output_shape\": [%u], \"input_range\": [-1.0, 1.0], \"output_range\": [-1.0, 1.0], "
                  "\"dac_bits\": %s, \"adc_bits\": %s, \"dtype\": \"float32\", \"max_batch\": %lu, "
                  "\"max_payload\": %lu, \"params\": {\"gain\": [%u]}, \"limits\": {\"max_abs_input\": 1.0}, "
                  "\"capabilities\": [\"measure\", \"set_params\", \"get_params\", \"ping\"]}",
                  serial, schema_hash, n_in, n_out, bits_json, bits_json, (unsigned long)hwsim_fw_max_batch(&cfg),
                  (unsigned long)hwsim_fw_max_payload(&cfg), n_out);
    if (rc < 0 || (size_t)rc >= sizeof hello)
        die("HELLO JSON does not fit its buffer; shorten --serial");
    rc = hwsim_fw_init(&fw, &cfg);
    if (rc != HWSIM_INIT_OK) {
        fprintf(stderr, "pty_board: hwsim_fw_init failed with %d (see HWSIM_INIT_* in hwsim_fw.h)\n", rc);
        return 2;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    master_fd = open_pty(&slave_fd);

    while (!stop) {
        struct pollfd pfd[2];
        uint8_t buf[1024];
        ssize_t n;
        pfd[0].fd = master_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = STDIN_FILENO;
        pfd[1].events = POLLIN;
        if (poll(pfd, watch_stdin ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll failed");
        }
        if (watch_stdin && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (read(STDIN_FILENO, buf, sizeof buf) <= 0)
                break;
        }
        if (pfd[0].revents & POLLIN) {
            n = read(master_fd, buf, sizeof buf);
            if (n < 0 && errno != EINTR && errno != EAGAIN)
                die("read from the pty failed");
            if (n > 0) {
                hwsim_fw_feed(&fw, buf, (size_t)n);
                flush_out();
            }
        }
    }
    fprintf(stderr, "pty_board: handled %lu, dropped %lu, cache_hits %lu, measurements %lu\n",
            (unsigned long)fw.frames_handled, (unsigned long)fw.frames_dropped, (unsigned long)fw.cache_hits,
            (unsigned long)fw.measurements);
    close(slave_fd);
    close(master_fd);
    return 0;
}
