/* Compiled fast path of the syslog parser: parse and JSON-encode the common shapes in one pass.
 *
 * collectors/syslog/parse.py is the reference: for every message this code accepts, the line it
 * writes is byte for byte what msgspec writes for parse.py's record (tests/unit/syslog/
 * test_syslog_fastpath.py checks it on generated and corpus input). Anything not plainly one of
 * the shapes below is declined (None) and goes to parse.py:
 *
 *   <PRI>1 RFC3339|- HOST APP PROCID MSGID [SD]|-|text MSG          (RFC 5424, version 1)
 *   <PRI>Mmm dd hh:mm:ss[.frac] [HOST ]TAG[PID]: MSG                 (RFC 3164)
 *
 * Declined, among others: invalid UTF-8, a leading BOM, no PRI or PRI > 191, malformed or
 * impossible timestamps, leap seconds, Feb 29, every vendor dialect's marker (Cisco `: %`,
 * AireOS `: #`, FortiOS key=value heads, PAN-OS and Junos bodies, Aruba ids, UniFi, Meraki),
 * repeated SD-IDs or parameter names, anything the reference's regexes read by backtracking.
 *
 * Also the TCP framer's common case (split_frames; framing.py is its reference).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/jsonout.h"

static PyObject *F5424, *F3164; /* the format names, interned once */

/* A JSON string as msgspec writes it: `"` and `\` escaped, control characters as \b \t \n \f \r
 * or \u00xx, everything else (DEL, non-ASCII UTF-8) as it is. */
/* Bytes a JSON string cannot hold as they are: control characters, `"` and `\`. */
static unsigned char NEEDS_ESCAPE[256];

static void init_tables(void) {
    for (int c = 0; c < 0x20; c++) NEEDS_ESCAPE[c] = 1;
    NEEDS_ESCAPE['"'] = NEEDS_ESCAPE['\\'] = 1;
}

/* Eight bytes at a time (SWAR): does any byte of v need escaping, or is any not ASCII? */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t load8(const unsigned char *s) {
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}
static inline int special8(uint64_t v) {
    uint64_t quote = v ^ (ONES * '"'), backslash = v ^ (ONES * '\\');
    return ((((v - ONES * 0x20) & ~v) | ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash)) & HIGHS) != 0;
}

static int put_json_str(Buf *b, const unsigned char *s, Py_ssize_t n) {
    /* 16 spare bytes: callers write a little punctuation after a string without reserving */
    if (buf_reserve(b, 6 * n + 2 + 16) < 0) return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t run = i;
        while (run + 8 <= n && !special8(load8(s + run))) run += 8;
        while (run < n && !NEEDS_ESCAPE[s[run]]) run++;
        memcpy(o, s + i, (size_t)(run - i));
        o += run - i;
        if (run == n) break;
        unsigned char c = s[run];
        i = run + 1;
        *o++ = '\\';
        switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\t': *o++ = 't'; break;
            case '\n': *o++ = 'n'; break;
            case '\f': *o++ = 'f'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = HEX[c >> 4];
                *o++ = HEX[c & 15];
        }
    }
    *o++ = '"';
    b->len = o - b->data;
    return 0;
}

/* A small non-negative integer (facility, severity); the caller has reserved room. */
static void put_small(Buf *b, int v) {
    char *o = b->data + b->len;
    if (v >= 100) *o++ = (char)('0' + v / 100);
    if (v >= 10) *o++ = (char)('0' + v / 10 % 10);
    *o++ = (char)('0' + v % 10);
    b->len = o - b->data;
}

/* Strict UTF-8, as Python's decoder: no overlongs, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            while (i + 8 <= n && !(load8(s + i) & HIGHS)) i += 8;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n) return 0;
            unsigned char c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && c1 < 0xA0) return 0;
            if (c == 0xED && c1 >= 0xA0) return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n) return 0;
            unsigned char c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) return 0;
            if (c == 0xF0 && c1 < 0x90) return 0;
            if (c == 0xF4 && c1 >= 0x90) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static Py_ssize_t code_points(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) count += (s[i] & 0xC0) != 0x80;
    return count;
}

/* Python's re.ASCII \s */
static inline int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_trailing(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 || c == 0x0b || c == 0x0c;
}

static inline int two_digits(const unsigned char *s) {
    return is_digit(s[0]) && is_digit(s[1]) ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

static int is_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
static int month_days(long y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days-from-civil (civil-from-days is in jsonout.h; parse.py uses it too). */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* Sign of 2000 * x - m, exactly (m an odd integer, |2000 x| < 2^52): 2000 x is p + e exactly,
 * and a non-zero p - m is a multiple of ulp(p), larger than |e|. */
static int cmp_mid(double x, long long m) {
    double p = 2000.0 * x;
    double e = fma(2000.0, x, -p);
    double d = p - (double)m;
    if (d != 0) return d > 0 ? 1 : -1;
    return e > 0 ? 1 : e < 0 ? -1 : 0;
}

/* Python's round(x, 3), correctly rounded (half to even on x's exact binary value), as the
 * integer k of k / 1000; 0 (declined) for |x| >= 1e12. */
static int round3(double x, long long *k_out) {
    if (!(fabs(x) < 1e12)) return 0;
    long long k = llround(x * 1000.0);
    for (int step = 0; step < 4; step++) {
        int up = cmp_mid(x, 2 * k + 1); /* x against the midpoint between k and k + 1 */
        if (up > 0 || (up == 0 && (k & 1))) {
            k++;
            continue;
        }
        int down = cmp_mid(x, 2 * k - 1); /* and between k - 1 and k */
        if (down < 0 || (down == 0 && (k & 1))) {
            k--;
            continue;
        }
        *k_out = k;
        return 1;
    }
    return 0;
}

/* repr(k / 1000) as msgspec writes it (the shortest decimal that reads back; at most 15
 * significant digits, so k / 1000 itself, trailing zeros dropped). negative: x was below 0,
 * which makes round() of it -0.0 when k is 0. Caller reserves 24 bytes. */
static void put_millis(Buf *b, long long k, int negative) {
    char *o = b->data + b->len;
    if (k < 0 || (k == 0 && negative)) *o++ = '-';
    unsigned long long a = k < 0 ? (unsigned long long)(-k) : (unsigned long long)k;
    unsigned long long whole = a / 1000;
    unsigned frac = (unsigned)(a % 1000);
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    while (n) *o++ = tmp[--n];
    *o++ = '.';
    if (frac == 0) {
        *o++ = '0';
    } else {
        *o++ = (char)('0' + frac / 100);
        if (frac % 100) {
            *o++ = (char)('0' + frac / 10 % 10);
            if (frac % 10) *o++ = (char)('0' + frac % 10);
        }
    }
    b->len = o - b->data;
}

typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
} Span;

#define NONE_SPAN ((Span){NULL, -1})

typedef struct {
    const char *format;
    int facility, severity;
    char timestamp[48];
    int has_timestamp;
    double utc;
    Span hostname, app_name, procid, msgid;
    Span sd;       /* RFC 5424 structured data text ("" when none) */
    Span message;
    const char *warnings[8];
    int n_warnings;
} Rec;

/* --- RFC 3339 ------------------------------------------------------------------------------ */

/* Reads `YYYY-MM-DD[Tt]hh:mm:ss[.f{1,9}][Z|z|+hh:mm|+hhmm]` at s, which must be followed by a
 * space; fills the timestamp and returns its length, or -1 to decline. */
static Py_ssize_t rfc3339(const unsigned char *s, Py_ssize_t n, Rec *r) {
    if (n < 20) return -1;
    if (!is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || !is_digit(s[3]) || s[4] != '-' || s[7] != '-')
        return -1;
    int month = two_digits(s + 5), day = two_digits(s + 8);
    if (month < 0 || day < 0 || (s[10] != 'T' && s[10] != 't')) return -1;
    int hour = two_digits(s + 11), minute = two_digits(s + 14), second = two_digits(s + 17);
    if (hour < 0 || minute < 0 || second < 0 || s[13] != ':' || s[16] != ':') return -1;
    long year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > month_days(year, month)) return -1;
    if (hour > 23 || minute > 59 || second > 60) return -1;
    Py_ssize_t i = 19;
    Py_ssize_t frac_start = i, frac_len = 0;
    if (i < n && s[i] == '.') {
        Py_ssize_t j = i + 1;
        while (j < n && is_digit(s[j])) j++;
        if (j - i - 1 < 1 || j - i - 1 > 9) return -1;
        frac_len = j - i;
        i = j;
    }
    int utc_zone = 1;
    long offset = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        if (i + 5 > n) return -1;
        int oh = two_digits(s + i + 1), om;
        if (oh < 0) return -1;
        if (s[i + 3] == ':') {
            if (i + 6 > n) return -1;
            om = two_digits(s + i + 4);
            if (om < 0) return -1;
            i += 6;
        } else {
            om = two_digits(s + i + 3);
            if (om < 0) return -1;
            i += 5;
        }
        if (oh != 0 || om != 0) {
            if (oh > 23 || om > 59) return -1;
            utc_zone = 0;
            offset = sign * (oh * 3600L + om * 60L);
        }
    }
    if (i >= n || s[i] != ' ') return -1;
    long long epoch_s = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 + minute * 60 + second;
    char *t = r->timestamp;
    if (utc_zone) {
        memcpy(t, s, 10);
        t[10] = 'T';
        memcpy(t + 11, s + 11, 8);
    } else {
        epoch_s -= offset;
        if (!second_text(epoch_s, t)) return -1;
    }
    Py_ssize_t keep = frac_len > 7 ? 7 : frac_len;  /* the dot and six digits */
    memcpy(t + 19, s + frac_start, (size_t)keep);
    t[19 + keep] = 'Z';
    t[20 + keep] = 0;
    r->utc = (double)epoch_s;
    if (keep) {
        char frac[8];
        memcpy(frac, s + frac_start, (size_t)keep);
        frac[keep] = 0;
        r->utc = (double)epoch_s + strtod(frac, NULL);
    }
    r->has_timestamp = 1;
    return i;
}

/* --- RFC 5424 ------------------------------------------------------------------------------ */

static inline int sd_name_char(unsigned char c) { return !is_space(c) && c != '=' && c != ']' && c != '"'; }

/* Structured data at s (starting with '['): its length (up to the message), or -1 to decline.
 * Also checks what parse.py would treat differently: repeated SD-IDs or parameter names and
 * Junos SD-IDs. `*message` is set to where the message starts. */
static Py_ssize_t scan_sd(const unsigned char *s, Py_ssize_t n, Py_ssize_t *message) {
    Py_ssize_t pos = 0;
    Span ids[32];
    int n_ids = 0;
    while (pos < n && s[pos] == '[') {
        Py_ssize_t id = ++pos;
        while (pos < n && sd_name_char(s[pos])) pos++;
        Py_ssize_t id_len = pos - id;
        if (id_len == 0 || n_ids == 32) return -1;
        if (id_len >= 10 && memcmp(s + id, "junos@2636", 10) == 0) return -1;
        for (int k = 0; k < n_ids; k++)
            if (ids[k].n == id_len && memcmp(ids[k].p, s + id, (size_t)id_len) == 0) return -1;
        ids[n_ids++] = (Span){s + id, id_len};
        Span names[64];
        int n_names = 0;
        for (;;) {
            Py_ssize_t spaces = pos;
            while (pos < n && s[pos] == ' ') pos++;
            if (pos >= n) return -1;
            if (s[pos] == ']') {
                pos++;
                break;
            }
            if (pos == spaces) return -1;
            Py_ssize_t name = pos;
            while (pos < n && sd_name_char(s[pos])) pos++;
            Py_ssize_t name_len = pos - name;
            if (name_len == 0 || n_names == 64) return -1;
            if (pos + 1 >= n || s[pos] != '=' || s[pos + 1] != '"') return -1;
            for (int k = 0; k < n_names; k++)
                if (names[k].n == name_len && memcmp(names[k].p, s + name, (size_t)name_len) == 0) return -1;
            names[n_names++] = (Span){s + name, name_len};
            pos += 2;
            while (pos < n && s[pos] != '"') pos += s[pos] == '\\' ? 2 : 1;
            if (pos >= n) return -1;
            pos++;
        }
    }
    if (pos == n) {
        *message = n;
    } else if (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r' || s[pos] == '\n') {
        *message = pos + 1;
    } else {
        return -1;
    }
    return pos;
}

/* Writes scanned structured data as JSON: {"id":{"name":"value",...},...}. */
static int put_sd(Buf *b, const unsigned char *s, Py_ssize_t n) {
    if (buf_reserve(b, 6 * n + 8) < 0) return -1;
    PUTS(b, "{");
    Py_ssize_t pos = 0;
    int first_id = 1;
    while (pos < n && s[pos] == '[') {
        Py_ssize_t id = ++pos;
        while (sd_name_char(s[pos])) pos++;
        if (!first_id) PUTS(b, ",");
        first_id = 0;
        if (put_json_str(b, s + id, pos - id) < 0) return -1;
        PUTS(b, ":{");
        int first = 1;
        for (;;) {
            while (s[pos] == ' ') pos++;
            if (s[pos] == ']') {
                pos++;
                break;
            }
            Py_ssize_t name = pos;
            while (sd_name_char(s[pos])) pos++;
            if (!first) PUTS(b, ",");
            first = 0;
            if (put_json_str(b, s + name, pos - name) < 0) return -1;
            PUTS(b, ":");
            pos += 2;
            /* the value with \" \\ \] unescaped (other backslashes stay), then JSON-escaped */
            unsigned char tmp_small[256];
            Py_ssize_t start = pos;
            while (s[pos] != '"') pos += s[pos] == '\\' ? 2 : 1;
            Py_ssize_t len = pos - start;
            unsigned char *tmp = len <= (Py_ssize_t)sizeof tmp_small ? tmp_small : PyMem_Malloc((size_t)len);
            if (tmp == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            Py_ssize_t k = 0;
            for (Py_ssize_t i = start; i < pos; i++) {
                if (s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == ']')) i++;
                tmp[k++] = s[i];
            }
            int rc = put_json_str(b, tmp, k);
            if (tmp != tmp_small) PyMem_Free(tmp);
            if (rc < 0) return -1;
            pos++;
        }
        if (buf_reserve(b, 16) < 0) return -1;
        PUTS(b, "}");
    }
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, "}");
    return 0;
}

/* A header field: one or more non-space characters followed by a space. */
static Py_ssize_t field(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, Span *out) {
    Py_ssize_t start = i;
    while (i < n && !is_space(s[i])) i++;
    if (i == start || i >= n || s[i] != ' ') return -1;
    *out = (Span){s + start, i - start};
    return i + 1;
}

static inline int is_dash(Span f) { return f.n == 1 && f.p[0] == '-'; }

static int rfc5424(const unsigned char *s, Py_ssize_t n, Rec *r) {
    /* s is after the PRI; version "1" only (others are flagged by parse.py) */
    if (n < 4 || s[0] != '1' || s[1] != ' ') return 0;
    Py_ssize_t i = 2;
    if (s[i] == '-') {
        if (i + 1 >= n || s[i + 1] != ' ') return 0;
        i += 2;
    } else {
        Py_ssize_t used = rfc3339(s + i, n - i, r);
        if (used < 0) return 0;
        i += used + 1;
    }
    if ((i = field(s, n, i, &r->hostname)) < 0) return 0;
    if ((i = field(s, n, i, &r->app_name)) < 0) return 0;
    if ((i = field(s, n, i, &r->procid)) < 0) return 0;
    if ((i = field(s, n, i, &r->msgid)) < 0) return 0;
    const unsigned char *rest = s + i;
    Py_ssize_t rest_n = n - i;
    r->sd = (Span){rest, 0};
    Span message = {rest, 0};
    int bad_sd = 0;
    if (rest_n > 0) {
        unsigned char c1 = rest_n > 1 ? rest[1] : 0;
        if (rest[0] == '-' && (rest_n == 1 || c1 == ' ' || c1 == '\t' || c1 == '\r' || c1 == '\n')) {
            message = rest_n > 2 ? (Span){rest + 2, rest_n - 2} : (Span){rest, 0};
        } else if (rest[0] == '[') {
            Py_ssize_t at;
            Py_ssize_t sd_len = scan_sd(rest, rest_n, &at);
            if (sd_len < 0) return 0;
            r->sd = (Span){rest, sd_len};
            message = (Span){rest + at, rest_n - at};
        } else {
            bad_sd = 1;
            message = (Span){rest, rest_n};
        }
    }
    if (message.n >= 3 && message.p[0] == 0xEF && message.p[1] == 0xBB && message.p[2] == 0xBF) {
        message.p += 3;
        message.n -= 3;
    }
    while (message.n > 0 && is_trailing(message.p[message.n - 1])) message.n--;
    /* PAN-OS: a body starting with a digit (str.isdigit: any non-ASCII lead byte may be one) */
    if (message.n > 0 && (is_digit(message.p[0]) || message.p[0] >= 0x80)) return 0;
    r->message = message;
    r->format = "rfc5424";
    if (bad_sd) r->warnings[r->n_warnings++] = "bad_structured_data";
    if (code_points(r->hostname.p, r->hostname.n) > 255) r->warnings[r->n_warnings++] = "hostname_too_long";
    if (code_points(r->app_name.p, r->app_name.n) > 48) r->warnings[r->n_warnings++] = "app_name_too_long";
    if (code_points(r->procid.p, r->procid.n) > 128) r->warnings[r->n_warnings++] = "procid_too_long";
    if (code_points(r->msgid.p, r->msgid.n) > 32) r->warnings[r->n_warnings++] = "msgid_too_long";
    /* the NILVALUE */
    if (is_dash(r->hostname)) r->hostname = NONE_SPAN;
    if (is_dash(r->app_name)) r->app_name = NONE_SPAN;
    if (is_dash(r->procid)) r->procid = NONE_SPAN;
    if (is_dash(r->msgid)) r->msgid = NONE_SPAN;
    return 1;
}

/* --- RFC 3164 ------------------------------------------------------------------------------ */

static int month_number(const unsigned char *s) {
    static const char *names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    for (int m = 0; m < 12; m++) {
        const char *w = names[m];
        /* the spellings profiles.MONTHS knows: jan, Jan, JAN */
        if (s[0] == w[0] && s[1] == w[1] && s[2] == w[2]) return m + 1;
        if (s[0] == w[0] - 32 && s[1] == w[1] && s[2] == w[2]) return m + 1;
        if (s[0] == w[0] - 32 && s[1] == w[1] - 32 && s[2] == w[2] - 32) return m + 1;
    }
    return 0;
}

static inline int host_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || c == '%' ||
           c == '@' || c == ':' || c == '-';
}

static inline int tag_char(unsigned char c) { return !is_space(c) && c != '[' && c != ']' && c != ':'; }

static int starts(const unsigned char *s, Py_ssize_t n, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    return n >= k && memcmp(s, lit, (size_t)k) == 0;
}

static int rfc3164(const unsigned char *s, Py_ssize_t n, Rec *r, double received_at, long received_year) {
    /* Cisco and AireOS markers anywhere: parse.py's dialects decide those */
    if (n < 16 || s[0] == '%') return 0;
    for (const unsigned char *c = s; (c = memchr(c, ':', (size_t)(n - (c - s)))) != NULL; c++)
        if (c + 2 < s + n && c[1] == ' ' && (c[2] == '%' || c[2] == '#')) return 0;
    int month = month_number(s);
    if (!month || s[3] != ' ') return 0;
    Py_ssize_t i = s[4] == ' ' ? 5 : 4;
    Py_ssize_t day_at = i;
    while (i < n && is_digit(s[i]) && i - day_at < 3) i++;
    Py_ssize_t day_len = i - day_at;
    if (day_len < 1 || day_len > 2 || i >= n || s[i] != ' ') return 0;
    int day = day_len == 1 ? s[day_at] - '0' : two_digits(s + day_at);
    i++;
    if (i + 8 > n) return 0;
    if (i + 5 <= n && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
        s[i + 4] == ' ')
        return 0; /* a year before the time */
    Py_ssize_t time_at = i;
    int hour = two_digits(s + i), minute = two_digits(s + i + 3), second = two_digits(s + i + 6);
    if (hour < 0 || minute < 0 || second < 0 || s[i + 2] != ':' || s[i + 5] != ':') return 0;
    if (hour > 23 || minute > 59 || second > 59) return 0;
    if (day < 1 || day > month_days(2001, month)) return 0; /* Feb 29 declined */
    i += 8;
    Py_ssize_t frac_at = i, frac_len = 0;
    if (i < n && s[i] == '.') {
        Py_ssize_t j = i + 1;
        while (j < n && is_digit(s[j])) j++;
        if (j - i - 1 < 1 || j - i - 1 > 6) return 0;
        frac_len = j - i;
        i = j;
    }
    if (i >= n || s[i] != ' ') return 0;
    i++;
    if (i + 5 <= n && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
        s[i + 4] == ' ')
        return 0; /* a year after the time */
    /* the year: the latest that puts the date no more than a day after its receive time */
    long sod = hour * 3600L + minute * 60L + second;
    double limit = received_at + 86400.0;
    long first = month == 1 && day == 1 ? received_year + 1 : received_year;
    long year = 0;
    long long days = 0;
    if (received_year < 10) return 0;
    for (long y = first; y > received_year - 8; y--) {
        long long d = days_from_civil(y, (unsigned)month, (unsigned)day);
        if ((double)(d * 86400 + sod) <= limit) {
            year = y;
            days = d;
            break;
        }
    }
    if (year == 0 || year > 9999) return 0;
    char *t = r->timestamp;
    digits(t, year, 4);
    t[4] = '-';
    digits(t + 5, month, 2);
    t[7] = '-';
    digits(t + 8, day, 2);
    t[10] = 'T';
    memcpy(t + 11, s + time_at, 8);
    memcpy(t + 19, s + frac_at, (size_t)frac_len);
    t[19 + frac_len] = 'Z';
    t[20 + frac_len] = 0;
    long long epoch_s = days * 86400 + sod;
    r->utc = (double)epoch_s;
    if (frac_len) {
        char frac[8];
        memcpy(frac, s + frac_at, (size_t)frac_len);
        frac[frac_len] = 0;
        r->utc = (double)epoch_s + strtod(frac, NULL);
    }
    r->has_timestamp = 1;
    /* HOSTNAME: a run of [\w.%@:-] not ending in ':' and followed by one space */
    Py_ssize_t h = i;
    while (i < n && host_char(s[i])) i++;
    if (i > h && s[i - 1] != ':' && i < n && s[i] == ' ') {
        if (i + 1 < n && s[i + 1] == ':') return 0; /* "host :" */
        if (!(i - h == 1 && s[h] == '-')) r->hostname = (Span){s + h, i - h};
        i++;
    } else {
        i = h;
    }
    const unsigned char *body = s + i;
    Py_ssize_t body_n = n - i;
    /* profiles.match_body: PAN-OS (a digit, which may be non-ASCII) and FortiOS heads */
    if (body_n == 0 || body[0] == '%' || is_digit(body[0]) || body[0] >= 0x80) return 0;
    if (starts(body, body_n, "date=") || starts(body, body_n, "logver=") || starts(body, body_n, "timestamp=") ||
        starts(body, body_n, "itime="))
        return 0;
    /* TAG[PID]: or TAG: then a space or tab */
    Py_ssize_t j = 0;
    while (j < body_n && tag_char(body[j])) j++;
    if (j == 0 || j > 128 || j >= body_n) return 0;
    for (Py_ssize_t k = 0; k < j; k++)
        if (body[k] == ',') return 0; /* UniFi device prefix */
    Span app = {body, j};
    Span pid = NONE_SPAN;
    if (body[j] == '[') {
        Py_ssize_t p = ++j;
        while (j < body_n && !is_space(body[j]) && body[j] != '[' && body[j] != ']') j++;
        if (j - p > 128 || j >= body_n || body[j] != ']') return 0;
        if (j > p) pid = (Span){body + p, j - p};
        j++;
        if (j < body_n && body[j] == ':') j++;
    } else if (body[j] == ':') {
        j++;
    } else {
        return 0;
    }
    if (j >= body_n || (body[j] != ' ' && body[j] != '\t')) return 0;
    j++;
    Span message = {body + j, body_n - j};
    /* profiles.match_tagged: Aruba `<id>` and Junos `EVENT_TAG:` bodies */
    if (message.n > 0 && message.p[0] == '<') return 0;
    if (message.n > 0 && message.p[0] >= 'A' && message.p[0] <= 'Z') {
        Py_ssize_t k = 0;
        while (k < message.n && ((message.p[k] >= 'A' && message.p[k] <= 'Z') || is_digit(message.p[k]) ||
                                 message.p[k] == '_'))
            k++;
        if (k < message.n && message.p[k] == ':') return 0;
    }
    while (message.n > 0 && is_trailing(message.p[message.n - 1])) message.n--;
    r->app_name = app;
    r->procid = pid;
    r->message = message;
    r->format = "rfc3164";
    return 1;
}

/* --- one message --------------------------------------------------------------------------- */

static int put_opt(Buf *b, Span f) {
    if (f.p == NULL) {
        if (buf_reserve(b, 4) < 0) return -1;
        PUTS(b, "null");
        return 0;
    }
    return put_json_str(b, f.p, f.n);
}

/* 1: line written to b; 0: declined; -1: Python error. */
static int encode_one(Buf *b, const unsigned char *s, Py_ssize_t n, const unsigned char *source,
                      Py_ssize_t source_n, const unsigned char *received, Py_ssize_t received_n, double received_at,
                      long received_year, int *is_5424) {
    if (n < 4 || s[0] != '<') return 0;
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) return 0;
    Py_ssize_t end = -1;
    for (Py_ssize_t k = 2; k < 5 && k < n; k++)
        if (s[k] == '>') {
            end = k;
            break;
        }
    if (end < 0) return 0;
    int pri = 0;
    for (Py_ssize_t k = 1; k < end; k++) {
        if (!is_digit(s[k])) return 0;
        pri = pri * 10 + (s[k] - '0');
    }
    if (pri > 191) return 0;
    if (!valid_utf8(s, n)) return 0;
    Rec r;
    memset(&r, 0, sizeof r);
    r.hostname = r.app_name = r.procid = r.msgid = NONE_SPAN;
    r.facility = pri >> 3;
    r.severity = pri & 7;
    const unsigned char *body = s + end + 1;
    Py_ssize_t body_n = n - end - 1;
    int ok;
    if (body_n > 0 && body[0] >= '1' && body[0] <= '9')
        ok = rfc5424(body, body_n, &r);
    else
        ok = rfc3164(body, body_n, &r, received_at, received_year);
    if (!ok) return 0;
    *is_5424 = r.format[3] == '5';

    long long skew = 0;
    double skew_from = r.utc - received_at;
    if (r.has_timestamp) {
        if (!round3(skew_from, &skew)) return 0;
        if (!(-3600000 <= skew && skew <= 3600000)) {
            /* clock_skew comes before every other warning parse.py adds on these paths */
            memmove(r.warnings + 1, r.warnings, sizeof(r.warnings[0]) * (size_t)r.n_warnings);
            r.warnings[0] = "clock_skew";
            r.n_warnings++;
        }
    }
    if (buf_reserve(b, 256) < 0) return -1;
    PUTS(b, "{\"service\":\"syslog\",\"received_at\":");
    if (put_json_str(b, received, received_n) < 0) return -1;
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, ",\"source\":");
    if (put_json_str(b, source, source_n) < 0) return -1;
    if (buf_reserve(b, 32) < 0) return -1;
    PUTS(b, ",\"facility\":");
    put_small(b, r.facility);
    PUTS(b, ",\"severity\":");
    put_small(b, r.severity);
    if (buf_reserve(b, 80) < 0) return -1;
    PUTS(b, ",\"timestamp\":");
    if (r.has_timestamp) {
        if (put_json_str(b, (const unsigned char *)r.timestamp, (Py_ssize_t)strlen(r.timestamp)) < 0) return -1;
    } else {
        PUTS(b, "null");
    }
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, ",\"hostname\":");
    if (put_opt(b, r.hostname) < 0) return -1;
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, ",\"app_name\":");
    if (put_opt(b, r.app_name) < 0) return -1;
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, ",\"procid\":");
    if (put_opt(b, r.procid) < 0) return -1;
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, ",\"msgid\":");
    if (put_opt(b, r.msgid) < 0) return -1;
    if (buf_reserve(b, 24) < 0) return -1;
    PUTS(b, ",\"structured_data\":");
    if (r.sd.n > 0) {
        if (put_sd(b, r.sd.p, r.sd.n) < 0) return -1;
    } else {
        PUTS(b, "{}");
    }
    if (buf_reserve(b, 16) < 0) return -1;
    PUTS(b, ",\"message\":");
    if (put_json_str(b, r.message.p, r.message.n) < 0) return -1;
    if (buf_reserve(b, 40) < 0) return -1;
    PUTS(b, ",\"format\":\"");
    put(b, r.format, (Py_ssize_t)strlen(r.format));
    PUTS(b, "\",\"raw\":");
    if (put_json_str(b, s, n) < 0) return -1;
    if (buf_reserve(b, 48) < 0) return -1; /* the key and up to 18 characters of number */
    PUTS(b, ",\"clock_skew_s\":");
    if (r.has_timestamp) {
        put_millis(b, skew, signbit(skew_from) != 0);
    } else {
        PUTS(b, "null");
    }
    if (buf_reserve(b, 24 + 24 * r.n_warnings) < 0) return -1;
    PUTS(b, ",\"parse_warnings\":[");
    for (int k = 0; k < r.n_warnings; k++) {
        if (k) PUTS(b, ",");
        PUTS(b, "\"");
        put(b, r.warnings[k], (Py_ssize_t)strlen(r.warnings[k]));
        PUTS(b, "\"");
    }
    PUTS(b, "]}\n");
    return 1;
}

/* encode_batch(messages, senders, received_at, received_text, received_year)
 *   -> (runs: list[bytes], declined: list[int], formats: list[str | None])
 * The NDJSON of the accepted messages comes in runs: runs[0] holds the lines before the first
 * declined message, runs[j + 1] those after declined[j]; so len(runs) == len(declined) + 1. */
static PyObject *encode_batch(PyObject *module, PyObject *args) {
    PyObject *messages, *senders, *received_obj;
    double received_at;
    long received_year;
    if (!PyArg_ParseTuple(args, "O!O!dUl", &PyList_Type, &messages, &PyList_Type, &senders, &received_at,
                          &received_obj, &received_year))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(messages);
    if (PyList_GET_SIZE(senders) < count) {
        PyErr_SetString(PyExc_ValueError, "encode_batch: fewer senders than messages");
        return NULL;
    }
    Py_ssize_t received_n;
    const char *received = PyUnicode_AsUTF8AndSize(received_obj, &received_n);
    if (received == NULL) return NULL;
    PyObject *runs = PyList_New(0), *declined = PyList_New(0), *formats = PyList_New(count);
    Buf b = {NULL, 0, 0};
    if (runs == NULL || declined == NULL || formats == NULL) goto fail;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *data = PyList_GET_ITEM(messages, k), *sender = PyList_GET_ITEM(senders, k);
        PyObject *format = Py_None;
        if (PyBytes_Check(data) && PyUnicode_Check(sender)) {
            Py_ssize_t source_n;
            const char *source = PyUnicode_AsUTF8AndSize(sender, &source_n);
            if (source == NULL) goto fail;
            Py_ssize_t mark = b.len;
            int is_5424 = 0;
            int rc = encode_one(&b, (const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                                (const unsigned char *)source, source_n, (const unsigned char *)received, received_n,
                                received_at, received_year, &is_5424);
            if (rc < 0) goto fail;
            if (rc > 0)
                format = is_5424 ? F5424 : F3164;
            else
                b.len = mark;
        }
        Py_INCREF(format);
        PyList_SET_ITEM(formats, k, format);
        if (format == Py_None) {
            PyObject *run = PyBytes_FromStringAndSize(b.data, b.len), *index = PyLong_FromSsize_t(k);
            int bad = run == NULL || index == NULL || PyList_Append(runs, run) < 0 || PyList_Append(declined, index) < 0;
            Py_XDECREF(run);
            Py_XDECREF(index);
            if (bad) goto fail;
            b.len = 0;
        }
    }
    PyObject *last = PyBytes_FromStringAndSize(b.data, b.len);
    if (last == NULL || PyList_Append(runs, last) < 0) {
        Py_XDECREF(last);
        goto fail;
    }
    Py_DECREF(last);
    PyMem_Free(b.data);
    return Py_BuildValue("(NNN)", runs, declined, formats);
fail:
    PyMem_Free(b.data);
    Py_XDECREF(runs);
    Py_XDECREF(declined);
    Py_XDECREF(formats);
    return NULL;
}

/* split_frames(buf, pos, max_bytes, resume, out) -> pos
 * The TCP framer's common case (collectors/syslog/framing.py, the reference): appends to `out`
 * the frames from `pos` on that are plainly octet-counted (`LEN SP <...`) or end at LF/NUL (a
 * CR before it dropped), all within max_bytes, and skips empty ones. Stops at the first frame
 * that needs the framer's own logic: incomplete, undecided, over the maximum. `resume`: bytes
 * at `pos` == 0 already searched for a terminator in an earlier call (framing.py's `_scanned`). */
static PyObject *split_frames(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, max_bytes, resume;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "y*nnnO!", &view, &pos, &max_bytes, &resume, &PyList_Type, &out)) return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t end = view.len;
    if (pos < 0) pos = 0;
    while (pos < end) {
        unsigned char first = b[pos];
        if (first == '\n' || first == 0) {
            pos++;
            continue;
        }
        if (first >= '1' && first <= '9') {
            Py_ssize_t q = pos;
            while (q < end && q - pos < 10 && b[q] >= '0' && b[q] <= '9') q++;
            if (q - pos <= 9) {
                if (q == end || (q + 1 == end && b[q] == ' ')) break; /* octet count or not: wait */
                if (b[q] == ' ' && b[q + 1] == '<') {
                    Py_ssize_t length = 0;
                    for (Py_ssize_t i = pos; i < q; i++) length = length * 10 + (b[i] - '0');
                    Py_ssize_t start = q + 1;
                    if (length > max_bytes || start + length > end) break;
                    PyObject *frame = PyBytes_FromStringAndSize((const char *)b + start, length);
                    if (frame == NULL || PyList_Append(out, frame) < 0) {
                        Py_XDECREF(frame);
                        PyBuffer_Release(&view);
                        return NULL;
                    }
                    Py_DECREF(frame);
                    pos = start + length;
                    continue;
                }
            }
        }
        Py_ssize_t from = pos == 0 && resume > 0 && resume <= end ? resume : pos;
        const unsigned char *nl = memchr(b + from, '\n', (size_t)(end - from));
        const unsigned char *nul = memchr(b + from, 0, (size_t)((nl ? nl - b : end) - from));
        const unsigned char *stop = nul ? nul : nl;
        if (stop == NULL) break;
        Py_ssize_t at = stop - b;
        Py_ssize_t frame_end = at > pos && b[at - 1] == '\r' ? at - 1 : at;
        if (frame_end - pos > max_bytes) break;
        if (frame_end > pos) {
            PyObject *frame = PyBytes_FromStringAndSize((const char *)b + pos, frame_end - pos);
            if (frame == NULL || PyList_Append(out, frame) < 0) {
                Py_XDECREF(frame);
                PyBuffer_Release(&view);
                return NULL;
            }
            Py_DECREF(frame);
        }
        pos = at + 1;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);
}

static PyMethodDef methods[] = {
    {"encode_batch", encode_batch, METH_VARARGS,
     "encode_batch(messages, senders, received_at, received_text, received_year) -> (runs, declined, formats)\n"
     "The NDJSON of parse.py's records for the messages the fast path takes, in runs split at the\n"
     "ones it declines (their indexes in declined, their formats None)."},
    {"split_frames", split_frames, METH_VARARGS,
     "split_frames(buf, pos, max_bytes, resume, out) -> pos\n"
     "framing.SyslogFramer's common case: plain frames from pos appended to out; stops where the\n"
     "framer's own logic is needed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastparse", "Compiled fast path of collectors.syslog.parse (see parse.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastparse(void) {
    init_tables();
    F5424 = PyUnicode_InternFromString("rfc5424");
    F3164 = PyUnicode_InternFromString("rfc3164");
    if (F5424 == NULL || F3164 == NULL) return NULL;
    return PyModule_Create(&moduledef);
}
