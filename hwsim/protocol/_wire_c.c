/* Protocol v1 wire encoding in C, as a CPython extension (hwsim.protocol._wire_c):
 *
 * - COBS encode/decode with the behaviour of the pure-Python functions in hwsim/protocol/cobs.py
 *   (greedy encoder: no block after a final 0xFF block; the decoder also accepts a trailing empty
 *   block), without a Python-level step per block. Errors are ValueErrors whose message cobs.py
 *   turns into a FrameError.
 * - Converter codes of MEASURE bodies with the arithmetic of hwsim/quantise.py (float64:
 *   clip, subtract lo, divide by the step, round half to even; code * step + lo, then float32),
 *   so both paths give the same bits. Built with -ffp-contract=off: no fused multiply-add.
 *
 * hwsim works without this module (pure Python and numpy); the tests hold it to those paths.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static PyObject *cobs_encode(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *in = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + n / 254 + 2);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t code_pos = 0, w = 1;
    unsigned char code = 1;
    int after_full = 0; /* the open block was started because the previous one reached 254 bytes */
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char b = in[i];
        if (b == 0) {
            o[code_pos] = code;
            code_pos = w++;
            code = 1;
            after_full = 0;
        } else {
            o[w++] = b;
            code++;
            after_full = 0;
            if (code == 0xFF) {
                o[code_pos] = code;
                code_pos = w++;
                code = 1;
                after_full = 1;
            }
        }
    }
    if (after_full) {
        w--; /* greedy form: nothing follows a final 0xFF block */
    } else {
        o[code_pos] = code;
    }
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&out, w) < 0) return NULL;
    return out;
}

static PyObject *cobs_decode(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *in = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    if (n > 0 && memchr(in, 0, (size_t)n) != NULL) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "COBS data contains a zero byte; frames end at the first 0x00");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t i = 0, w = 0;
    while (i < n) {
        unsigned int code = in[i];
        Py_ssize_t end = i + (Py_ssize_t)code;
        if (end > n) {
            PyBuffer_Release(&view);
            Py_DECREF(out);
            PyErr_Format(PyExc_ValueError, "COBS block of %u bytes runs %zd bytes past the end of the frame",
                         code - 1, end - n);
            return NULL;
        }
        memcpy(o + w, in + i + 1, (size_t)(code - 1));
        w += (Py_ssize_t)code - 1;
        i = end;
        if (i < n && code != 0xFF) o[w++] = 0; /* a zero follows every block but full ones and the last */
    }
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&out, w) < 0) return NULL;
    return out;
}

/* to_codes(x, lo, hi, step, itemsize) -> bytes: little-endian codes of the float32 values in x. */
static PyObject *to_codes(PyObject *self, PyObject *args) {
    Py_buffer view;
    double lo, hi, step;
    int itemsize;
    if (!PyArg_ParseTuple(args, "y*dddi", &view, &lo, &hi, &step, &itemsize)) return NULL;
    if (view.len % 4 != 0 || (itemsize != 1 && itemsize != 2 && itemsize != 4)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "to_codes needs float32 data and a code size of 1, 2 or 4 bytes");
        return NULL;
    }
    Py_ssize_t n = view.len / 4;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * itemsize);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *in = (const unsigned char *)view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, in + 4 * i, 4);
        double v = (double)f;
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        v -= lo;
        v /= step;
        v = nearbyint(v);
        uint32_t c = (v == v && v > 0.0) ? (uint32_t)v : 0u; /* NaN never reaches here (inputs are checked) */
        for (int k = 0; k < itemsize; k++) o[i * itemsize + k] = (unsigned char)(c >> (8 * k));
    }
    PyBuffer_Release(&view);
    return out;
}

/* from_codes(body, offset, itemsize, lo, step, out) -> largest code: fills the writable float32
 * buffer out with code * step + lo for the little-endian codes in body[offset:]. */
static PyObject *from_codes(PyObject *self, PyObject *args) {
    Py_buffer view, dst;
    Py_ssize_t offset;
    int itemsize;
    double lo, step;
    if (!PyArg_ParseTuple(args, "y*niddw*", &view, &offset, &itemsize, &lo, &step, &dst)) return NULL;
    Py_ssize_t n = dst.len / 4;
    if ((itemsize != 1 && itemsize != 2 && itemsize != 4) || dst.len % 4 != 0 || offset < 0 ||
        offset + n * itemsize > view.len) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "from_codes: body too short for the output, or a bad code size");
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)view.buf + offset;
    unsigned char *o = (unsigned char *)dst.buf;
    uint32_t largest = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = 0;
        for (int k = 0; k < itemsize; k++) c |= (uint32_t)in[i * itemsize + k] << (8 * k);
        if (c > largest) largest = c;
        double v = (double)c;
        v *= step;
        v += lo;
        float f = (float)v;
        memcpy(o + 4 * i, &f, 4);
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&dst);
    return PyLong_FromUnsignedLong(largest);
}

static PyMethodDef methods[] = {
    {"cobs_encode", cobs_encode, METH_O, "COBS-encode a bytes-like object (greedy form, no delimiter)."},
    {"cobs_decode", cobs_decode, METH_O, "Invert cobs_encode; ValueError for input no encoder could have produced."},
    {"to_codes", to_codes, METH_VARARGS, "to_codes(x_f32, lo, hi, step, itemsize) -> little-endian code bytes."},
    {"from_codes", from_codes, METH_VARARGS,
     "from_codes(body, offset, itemsize, lo, step, out_f32) -> largest code; fills out_f32."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire_c", "Protocol v1 wire encoding in C.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__wire_c(void) { return PyModule_Create(&module); }
