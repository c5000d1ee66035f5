/* Compiled fast path of the flow decoder: the records of a datagram's data sets straight to NDJSON.
 *
 * collectors/flow/plan.py is the reference. collectors/flow/fastpath.py translates a template's
 * plan items (the same `"key": expression` list the reference compiles into Python) into a
 * program of ops, one per key, and this code runs it over each record of a fixed-length data set,
 * writing what msgspec writes for the reference's record. Anything the ops cannot write exactly
 * (a time outside years 1970-9999, a scaled counter beyond 64 bits) declines the whole datagram
 * (None): the caller then decodes it with the reference, so nothing is counted twice.
 * tests/unit/flow/test_flow_fastpath.py holds both to the same bytes and counters.
 *
 *   plan(record_length, ops) -> capsule     ops: [(prefix, kind, off, len, aux_off, aux_len, role)]
 *   encode(datagram, sets, ctx, rate, boot_ms, export_ms, top) -> (ndjson, records) | None
 *       sets: [(plan, start, end)]; ctx: pre-encoded JSON values; top: (hosts, protocols, other,
 *       limit) of the minute being counted (collectors.flow.top), or None
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

enum {
    OP_LIT,        /* the prefix holds the value too */
    OP_CTX,        /* aux_off: index into ctx (pre-encoded JSON) */
    OP_UINT,       /* big-endian unsigned, 1-8 bytes */
    OP_SINT,       /* big-endian two's complement, 1-8 bytes */
    OP_IP4,
    OP_IP6,
    OP_MAC,
    OP_HEX,
    OP_BOOL,       /* one byte: == 1 */
    OP_SCALED_U,   /* unsigned times (rate or 1) */
    OP_SCALED_S,   /* signed times (rate or 1) */
    OP_T_MS,       /* ms_text(v) */
    OP_T_SEC,      /* ms_text(v * 1000) */
    OP_T_UP_CTX,   /* ms_text(boot_ms + v) if boot_ms else null */
    OP_T_UP_FIELD, /* ms_text(boot + v) if boot else null; boot: the unsigned field at aux */
    OP_T_DELTA,    /* ms_text(export_ms - v // 1000) */
    OP_COUNT
};
enum { ROLE_NONE, ROLE_SRC, ROLE_DST, ROLE_PROTO, ROLE_BYTES, ROLE_PACKETS };

#define MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z: beyond, the reference's strftime rules apply */
#define MAX_CTX 16

typedef struct {
    char *prefix;
    Py_ssize_t prefix_len;
    int kind, off, len, aux_off, aux_len, role;
} Op;

typedef struct {
    Py_ssize_t record_length;
    Py_ssize_t max_value; /* bytes any op's value can take, bar ctx values */
    int nops;
    Op *ops;
} Plan;

static const char PLAN_NAME[] = "collectors.flow._fastflow.plan";

static void plan_free(PyObject *capsule) {
    Plan *plan = PyCapsule_GetPointer(capsule, PLAN_NAME);
    if (plan == NULL) return;
    for (int i = 0; i < plan->nops; i++) PyMem_Free(plan->ops[i].prefix);
    PyMem_Free(plan->ops);
    PyMem_Free(plan);
}

static PyObject *make_plan(PyObject *self, PyObject *args) {
    Py_ssize_t record_length;
    PyObject *ops;
    if (!PyArg_ParseTuple(args, "nO!", &record_length, &PyList_Type, &ops)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(ops);
    if (record_length <= 0 || record_length > 65535 || n <= 0 || n > 4096) {
        PyErr_SetString(PyExc_ValueError, "plan: bad record length or op count");
        return NULL;
    }
    Plan *plan = PyMem_Calloc(1, sizeof(Plan));
    if (plan == NULL) return PyErr_NoMemory();
    plan->ops = PyMem_Calloc((size_t)n, sizeof(Op));
    if (plan->ops == NULL) {
        PyMem_Free(plan);
        return PyErr_NoMemory();
    }
    plan->record_length = record_length;
    for (Py_ssize_t i = 0; i < n; i++) {
        Op *op = &plan->ops[i];
        const char *prefix;
        Py_ssize_t prefix_len;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(ops, i), "y#iiiiii", &prefix, &prefix_len, &op->kind, &op->off,
                              &op->len, &op->aux_off, &op->aux_len, &op->role))
            goto fail;
        plan->nops = (int)i + 1;
        op->prefix = PyMem_Malloc((size_t)prefix_len + 1);
        if (op->prefix == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(op->prefix, prefix, (size_t)prefix_len);
        op->prefix_len = prefix_len;
        int k = op->kind, bad = k < 0 || k >= OP_COUNT || op->off < 0 || op->len < 0 ||
                                op->off + op->len > record_length || op->role < ROLE_NONE || op->role > ROLE_PACKETS;
        if (k == OP_CTX) bad = bad || op->aux_off < 0 || op->aux_off >= MAX_CTX;
        if (k == OP_UINT || k == OP_SINT || k == OP_SCALED_U || k == OP_SCALED_S || k >= OP_T_MS)
            bad = bad || op->len < 1 || op->len > 8;
        if (k == OP_IP4) bad = bad || op->len != 4;
        if (k == OP_IP6) bad = bad || op->len != 16;
        if (k == OP_MAC) bad = bad || op->len != 6;
        if (k == OP_BOOL) bad = bad || op->len != 1;
        if (k == OP_T_UP_FIELD)
            bad = bad || op->aux_off < 0 || op->aux_len < 1 || op->aux_len > 8 || op->aux_off + op->aux_len > record_length;
        if (bad) {
            PyErr_Format(PyExc_ValueError, "plan: op %zd (kind %d) does not fit a %zd-byte record", i, k, record_length);
            goto fail;
        }
        plan->max_value += prefix_len + 64 + 3 * (Py_ssize_t)op->len;
    }
    PyObject *capsule = PyCapsule_New(plan, PLAN_NAME, plan_free);
    if (capsule == NULL) goto fail;
    return capsule;
fail:
    for (int i = 0; i < plan->nops; i++) PyMem_Free(plan->ops[i].prefix);
    PyMem_Free(plan->ops);
    PyMem_Free(plan);
    return NULL;
}

/* ---- output buffer ------------------------------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int reserve(Buf *b, Py_ssize_t extra) {
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

static inline void put(Buf *b, const char *s, Py_ssize_t n) {
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
}

static inline void put_u64(Buf *b, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char *o = b->data + b->len;
    while (n) *o++ = tmp[--n];
    b->len = o - b->data;
}

static inline void put_i64(Buf *b, int64_t v) {
    if (v < 0) {
        b->data[b->len++] = '-';
        put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(b, (uint64_t)v);
    }
}

static const char HEX[] = "0123456789abcdef";

static inline uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

static inline int64_t be_signed(const unsigned char *p, int n) {
    uint64_t v = be(p, n);
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~(uint64_t)0 << (8 * n);
    return (int64_t)v;
}

/* "YYYY-MM-DDThh:mm:ss.mmmZ" with quotes, as ms_text writes it (0 <= ms <= MAX_MS). */
static long long last_second = -1;
static char last_text[48];

static void put_ms(Buf *b, long long ms) {
    long long seconds = ms / 1000;
    int millis = (int)(ms % 1000);
    if (seconds != last_second) {
        long long days = seconds / 86400, rest = seconds % 86400;
        /* civil from days (H. Hinnant's algorithm), days since 1970-01-01 >= 0 */
        long long z = days + 719468, era = z / 146097, doe = z - era * 146097;
        long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
        int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
        if (m <= 2) y++;
        int hh = (int)(rest / 3600), mm = (int)(rest % 3600 / 60), ss = (int)(rest % 60);
        snprintf(last_text, sizeof last_text, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d, hh, mm, ss);
        last_second = seconds;
    }
    char *o = b->data + b->len;
    *o++ = '"';
    memcpy(o, last_text, 19);
    o += 19;
    *o++ = '.';
    *o++ = (char)('0' + millis / 100);
    *o++ = (char)('0' + millis / 10 % 10);
    *o++ = (char)('0' + millis % 10);
    *o++ = 'Z';
    *o++ = '"';
    b->len = o - b->data;
}

/* What the top-talker count needs of one record (filled while encoding, applied only once the
 * whole datagram is accepted, so a declined datagram counts nothing). */
typedef struct {
    Py_ssize_t src_off, src_len, dst_off, dst_len; /* address text in the output, len -1: none */
    int has_proto;
    uint64_t proto_u;
    int64_t proto_s;
    int proto_signed;
    __int128 size, packets;
} Seen;

typedef struct {
    Seen *items;
    Py_ssize_t len, cap;
} SeenList;

static Seen *seen_next(SeenList *s) {
    if (s->len == s->cap) {
        Py_ssize_t cap = s->cap ? s->cap * 2 : 256;
        Seen *items = PyMem_Realloc(s->items, (size_t)cap * sizeof(Seen));
        if (items == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        s->items = items;
        s->cap = cap;
    }
    Seen *item = &s->items[s->len++];
    item->src_len = item->dst_len = -1;
    item->has_proto = 0;
    item->size = item->packets = 0;
    return item;
}

#define DECLINE 1

/* One record: 0 written, DECLINE, -1 error (exception set). */
static int encode_record(Buf *b, const Plan *plan, const unsigned char *r, const char **ctx, const Py_ssize_t *ctx_len,
                         Py_ssize_t ctx_total, uint64_t rate, long long boot_ms, long long export_ms, Seen *seen) {
    if (reserve(b, plan->max_value + ctx_total + 2) < 0) return -1;
    for (int i = 0; i < plan->nops; i++) {
        const Op *op = &plan->ops[i];
        const unsigned char *v = r + op->off;
        put(b, op->prefix, op->prefix_len);
        Py_ssize_t value_at = b->len;
        long long ms;
        switch (op->kind) {
        case OP_LIT:
            break;
        case OP_CTX:
            put(b, ctx[op->aux_off], ctx_len[op->aux_off]);
            break;
        case OP_UINT: {
            uint64_t x = be(v, op->len);
            put_u64(b, x);
            if (op->role == ROLE_PROTO) {
                seen->has_proto = 1;
                seen->proto_signed = 0;
                seen->proto_u = x;
            }
            break;
        }
        case OP_SINT: {
            int64_t x = be_signed(v, op->len);
            put_i64(b, x);
            if (op->role == ROLE_PROTO) {
                seen->has_proto = 1;
                seen->proto_signed = 1;
                seen->proto_s = x;
            }
            break;
        }
        case OP_SCALED_U:
        case OP_SCALED_S: {
            __int128 x = op->kind == OP_SCALED_U ? (__int128)be(v, op->len) : (__int128)be_signed(v, op->len);
            x *= (__int128)(rate ? rate : 1);
            if (x > (__int128)UINT64_MAX || x < (__int128)INT64_MIN) return DECLINE; /* beyond msgspec's ints */
            if (x < 0)
                put_i64(b, (int64_t)x);
            else
                put_u64(b, (uint64_t)x);
            if (op->role == ROLE_BYTES) seen->size = x;
            if (op->role == ROLE_PACKETS) seen->packets = x;
            break;
        }
        case OP_IP4: {
            char *o = b->data + b->len;
            *o++ = '"';
            for (int k = 0; k < 4; k++) {
                unsigned x = v[k];
                if (k) *o++ = '.';
                if (x >= 100) *o++ = (char)('0' + x / 100);
                if (x >= 10) *o++ = (char)('0' + x / 10 % 10);
                *o++ = (char)('0' + x % 10);
            }
            *o++ = '"';
            b->len = o - b->data;
            break;
        }
        case OP_IP6: {
            b->data[b->len++] = '"';
            if (inet_ntop(AF_INET6, v, b->data + b->len, 48) == NULL) return DECLINE;
            b->len += (Py_ssize_t)strlen(b->data + b->len);
            b->data[b->len++] = '"';
            break;
        }
        case OP_MAC:
        case OP_HEX: {
            char *o = b->data + b->len;
            *o++ = '"';
            for (int k = 0; k < op->len; k++) {
                if (k && op->kind == OP_MAC) *o++ = ':';
                *o++ = HEX[v[k] >> 4];
                *o++ = HEX[v[k] & 15];
            }
            *o++ = '"';
            b->len = o - b->data;
            break;
        }
        case OP_BOOL:
            if (v[0] == 1)
                put(b, "true", 4);
            else
                put(b, "false", 5);
            break;
        case OP_T_MS:
        case OP_T_SEC:
        case OP_T_UP_CTX:
        case OP_T_UP_FIELD:
        case OP_T_DELTA: {
            uint64_t x = be(v, op->len);
            if (op->kind == OP_T_MS) {
                if (x > (uint64_t)MAX_MS) return DECLINE;
                ms = (long long)x;
            } else if (op->kind == OP_T_SEC) {
                if (x > (uint64_t)(MAX_MS / 1000)) return DECLINE;
                ms = (long long)x * 1000;
            } else if (op->kind == OP_T_DELTA) {
                __int128 t = (__int128)export_ms - (__int128)(x / 1000);
                if (t < 0 || t > MAX_MS) return DECLINE;
                ms = (long long)t;
            } else {
                __int128 boot = op->kind == OP_T_UP_CTX ? (__int128)boot_ms : (__int128)be(r + op->aux_off, op->aux_len);
                if (boot == 0) {
                    put(b, "null", 4);
                    break;
                }
                __int128 t = boot + (__int128)x;
                if (t < 0 || t > MAX_MS) return DECLINE;
                ms = (long long)t;
            }
            put_ms(b, ms);
            break;
        }
        default:
            return DECLINE;
        }
        if (op->role == ROLE_SRC || op->role == ROLE_DST) {
            /* the address text without its quotes; null (a LIT) leaves the host out */
            if (op->kind == OP_IP4 || op->kind == OP_IP6) {
                Py_ssize_t off = value_at + 1, len = b->len - value_at - 2;
                if (op->role == ROLE_SRC) {
                    seen->src_off = off;
                    seen->src_len = len;
                } else {
                    seen->dst_off = off;
                    seen->dst_len = len;
                }
            }
        }
    }
    b->data[b->len++] = '}';
    b->data[b->len++] = '\n';
    return 0;
}

/* counts[0..2] += (size, packets, 1), the reference's Python ints kept. */
static int add_counts(PyObject *counts, __int128 size, __int128 packets) {
    if (!PyList_Check(counts) || PyList_GET_SIZE(counts) < 3) {
        PyErr_SetString(PyExc_TypeError, "top counts must be lists of three ints");
        return -1;
    }
    __int128 values[3] = {size, packets, 1};
    for (int k = 0; k < 3; k++) {
        PyObject *add = values[k] < 0 ? PyLong_FromLongLong((long long)values[k])
                                       : PyLong_FromUnsignedLongLong((unsigned long long)values[k]);
        if (add == NULL) return -1;
        PyObject *sum = PyNumber_Add(PyList_GET_ITEM(counts, k), add);
        Py_DECREF(add);
        if (sum == NULL) return -1;
        PyList_SetItem(counts, k, sum); /* steals sum */
    }
    return 0;
}

static PyObject *new_counts(void) {
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) return NULL;
    PyObject *counts = PyList_New(3);
    if (counts == NULL) {
        Py_DECREF(zero);
        return NULL;
    }
    for (int k = 0; k < 3; k++) {
        Py_INCREF(zero);
        PyList_SET_ITEM(counts, k, zero);
    }
    Py_DECREF(zero);
    return counts;
}

/* MinuteCounter.add for one host or protocol key (collectors/flow/top.py). */
static int count_key(PyObject *table, PyObject *key, PyObject *other, Py_ssize_t limit, __int128 size,
                     __int128 packets) {
    PyObject *counts = PyDict_GetItemWithError(table, key); /* borrowed */
    if (counts == NULL) {
        if (PyErr_Occurred()) return -1;
        if (limit >= 0 && PyDict_GET_SIZE(table) >= limit) return add_counts(other, size, packets);
        PyObject *fresh = new_counts();
        if (fresh == NULL) return -1;
        int failed = PyDict_SetItem(table, key, fresh) < 0 || add_counts(fresh, size, packets) < 0;
        Py_DECREF(fresh);
        return failed ? -1 : 0;
    }
    return add_counts(counts, size, packets);
}

static int count_top(PyObject *top, const Buf *b, const SeenList *seen) {
    PyObject *hosts, *protocols, *other;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(top, "O!O!O!n", &PyDict_Type, &hosts, &PyDict_Type, &protocols, &PyList_Type, &other, &limit))
        return -1;
    for (Py_ssize_t i = 0; i < seen->len; i++) {
        const Seen *s = &seen->items[i];
        const Py_ssize_t offs[2] = {s->src_off, s->dst_off}, lens[2] = {s->src_len, s->dst_len};
        for (int h = 0; h < 2; h++) {
            if (lens[h] < 0) continue;
            PyObject *host = PyUnicode_DecodeASCII(b->data + offs[h], lens[h], NULL);
            if (host == NULL) return -1;
            int failed = count_key(hosts, host, other, limit, s->size, s->packets);
            Py_DECREF(host);
            if (failed) return -1;
        }
        if (s->has_proto) {
            PyObject *protocol = s->proto_signed ? PyLong_FromLongLong(s->proto_s)
                                                 : PyLong_FromUnsignedLongLong(s->proto_u);
            if (protocol == NULL) return -1;
            int failed = count_key(protocols, protocol, other, -1, s->size, s->packets);
            Py_DECREF(protocol);
            if (failed) return -1;
        }
    }
    return 0;
}

static PyObject *encode(PyObject *self, PyObject *args) {
    Py_buffer datagram;
    PyObject *sets, *ctx_tuple, *top;
    unsigned long long rate;
    long long boot_ms, export_ms;
    if (!PyArg_ParseTuple(args, "y*O!O!KLLO", &datagram, &PyList_Type, &sets, &PyTuple_Type, &ctx_tuple, &rate,
                          &boot_ms, &export_ms, &top))
        return NULL;
    PyObject *result = NULL;
    Buf b = {NULL, 0, 0};
    SeenList seen = {NULL, 0, 0};
    const char *ctx[MAX_CTX];
    Py_ssize_t ctx_len[MAX_CTX], ctx_total = 0, nctx = PyTuple_GET_SIZE(ctx_tuple);
    for (Py_ssize_t i = 0; i < MAX_CTX; i++) {
        ctx[i] = "null";
        ctx_len[i] = 4;
    }
    if (nctx > MAX_CTX) {
        PyErr_SetString(PyExc_ValueError, "too many context values");
        goto done;
    }
    for (Py_ssize_t i = 0; i < nctx; i++) {
        PyObject *item = PyTuple_GET_ITEM(ctx_tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "context values must be bytes (JSON)");
            goto done;
        }
        ctx[i] = PyBytes_AS_STRING(item);
        ctx_len[i] = PyBytes_GET_SIZE(item);
        ctx_total += ctx_len[i];
    }
    const unsigned char *data = datagram.buf;
    Py_ssize_t records = 0;
    for (Py_ssize_t s = 0; s < PyList_GET_SIZE(sets); s++) {
        PyObject *capsule;
        Py_ssize_t start, end;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(sets, s), "Onn", &capsule, &start, &end)) goto done;
        Plan *plan = PyCapsule_GetPointer(capsule, PLAN_NAME);
        if (plan == NULL) goto done;
        if (start < 0 || end < start || end > datagram.len) {
            PyErr_SetString(PyExc_ValueError, "set bounds outside the datagram");
            goto done;
        }
        Py_ssize_t rl = plan->record_length;
        for (Py_ssize_t p = start; p + rl <= end; p += rl) {
            Seen *item = seen_next(&seen);
            if (item == NULL) goto done;
            int rc = encode_record(&b, plan, data + p, ctx, ctx_len, ctx_total, rate, boot_ms, export_ms, item);
            if (rc < 0) goto done;
            if (rc == DECLINE) {
                result = Py_NewRef(Py_None);
                goto done;
            }
            records++;
        }
    }
    if (top != Py_None && count_top(top, &b, &seen) < 0) goto done;
    PyObject *ndjson = PyBytes_FromStringAndSize(b.data ? b.data : "", b.len);
    if (ndjson == NULL) goto done;
    result = Py_BuildValue("(Nn)", ndjson, records);
done:
    PyMem_Free(b.data);
    PyMem_Free(seen.items);
    PyBuffer_Release(&datagram);
    return result;
}

static PyMethodDef methods[] = {
    {"plan", make_plan, METH_VARARGS, "plan(record_length, ops) -> capsule: a template's program of ops."},
    {"encode", encode, METH_VARARGS,
     "encode(datagram, sets, ctx, rate, boot_ms, export_ms, top) -> (ndjson, records), or None to decline."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastflow", "Compiled fast path of collectors.flow (see fastpath.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastflow(void) { return PyModule_Create(&moduledef); }
