/* What the compiled fast paths share to write NDJSON: a growable output buffer, hex digits, and
 * a UTC second as "YYYY-MM-DDTHH:MM:SS" (collectors/syslog/_fastparse.c, collectors/flow/
 * _fastflow.c). Static functions in a header: each extension keeps its own copy, inlined. */
#ifndef NOCRAVEN_JSONOUT_H
#define NOCRAVEN_JSONOUT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

/* Room for `extra` more bytes (capacity doubling from 16 KiB); -1 with MemoryError set. */
static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + extra) cap *= 2;
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* Append what buf_reserve made room for. */
static inline void put(Buf *b, const char *s, Py_ssize_t n) {
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
}
#define PUTS(b, lit) put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

static const char HEX[] = "0123456789abcdef";

/* `width` decimal digits of v >= 0, zero-padded. */
static inline void digits(char *o, long v, int width) {
    for (int k = width - 1; k >= 0; k--, v /= 10) o[k] = (char)('0' + v % 10);
}

/* Howard Hinnant's civil-from-days: the date `z` days after 1970-01-01 (z may be negative). */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS" of a UTC second into out (19 chars and a NUL); 0 outside years 1-9999. */
static int second_text(long long epoch_s, char *out) {
    long long days = epoch_s >= 0 ? epoch_s / 86400 : -((-epoch_s + 86399) / 86400);
    long long rem = epoch_s - days * 86400;
    long long y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999) return 0;
    digits(out, (long)y, 4);
    out[4] = '-';
    digits(out + 5, m, 2);
    out[7] = '-';
    digits(out + 8, d, 2);
    out[10] = 'T';
    digits(out + 11, (long)(rem / 3600), 2);
    out[13] = ':';
    digits(out + 14, (long)(rem / 60 % 60), 2);
    out[16] = ':';
    digits(out + 17, (long)(rem % 60), 2);
    out[19] = 0;
    return 1;
}

#endif
