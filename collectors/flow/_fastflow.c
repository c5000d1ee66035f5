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

#include "../common/jsonout.h"

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

/* "YYYY-MM-DDThh:mm:ss.mmmZ" with quotes, as ms_text writes it (0 <= ms <= MAX_MS). The texts
 * of the last seconds are kept: a record's start and end are usually a second or two apart. */
#define SECOND_SLOTS 4
static long long cached_second[SECOND_SLOTS] = {-1, -1, -1, -1};
static char cached_text[SECOND_SLOTS][20];

static const char *cached_second_text(long long seconds) {
    int slot = (int)(seconds & (SECOND_SLOTS - 1));
    char *t = cached_text[slot];
    if (cached_second[slot] != seconds) {
        second_text(seconds, t);
        cached_second[slot] = seconds;
    }
    return t;
}

static void put_ms(Buf *b, long long ms) {
    int millis = (int)(ms % 1000);
    const char *text = cached_second_text(ms / 1000);
    char *o = b->data + b->len;
    *o++ = '"';
    memcpy(o, text, 19);
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
    if (buf_reserve(b, plan->max_value + ctx_total + 2) < 0) return -1;
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
        PyObject *item = PyList_GET_ITEM(counts, k);
        if (PyLong_CheckExact(item)) {
            /* the common case, without building an int for the addend */
            int overflow;
            long long have = PyLong_AsLongLongAndOverflow(item, &overflow);
            if (!overflow && !(have == -1 && PyErr_Occurred())) {
                __int128 total = (__int128)have + values[k];
                if (total >= INT64_MIN && total <= INT64_MAX) {
                    PyObject *sum = PyLong_FromLongLong((long long)total);
                    if (sum == NULL) return -1;
                    PyList_SetItem(counts, k, sum);
                    continue;
                }
            }
            PyErr_Clear();
        }
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

/* ---- sFlow v5: the common flow-sample layout (collectors/flow/sflow.py `_common_flow`) ---------- */

static inline uint32_t u32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline unsigned u16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }


static void put_mac(Buf *b, const unsigned char *v) {
    char *o = b->data + b->len;
    *o++ = '"';
    for (int k = 0; k < 6; k++) {
        if (k) *o++ = ':';
        *o++ = HEX[v[k] >> 4];
        *o++ = HEX[v[k] & 15];
    }
    *o++ = '"';
    b->len = o - b->data;
}

static void put_ip4(Buf *b, const unsigned char *v, Py_ssize_t *off, Py_ssize_t *len) {
    char *o = b->data + b->len;
    *o++ = '"';
    *off = o - b->data;
    for (int k = 0; k < 4; k++) {
        unsigned x = v[k];
        if (k) *o++ = '.';
        if (x >= 100) *o++ = (char)('0' + x / 100);
        if (x >= 10) *o++ = (char)('0' + x / 10 % 10);
        *o++ = (char)('0' + x % 10);
    }
    *len = (o - b->data) - *off;
    *o++ = '"';
    b->len = o - b->data;
}

static inline void put_opt(Buf *b, int has, uint64_t v) {
    if (has)
        put_u64(b, v);
    else
        PUTS(b, "null");
}

/* One flow sample's record, or DECLINE when it is not of the common layout. */
static int sflow_sample(Buf *b, const unsigned char *body, Py_ssize_t end, int expanded, const char *head,
                        Py_ssize_t head_len, const char *mid, Py_ssize_t mid_len, Seen *seen) {
    uint32_t seq, source_type, source_index, rate, pool, drops, count;
    uint32_t input_if, output_if;
    int has_in, has_out;
    Py_ssize_t position;
    if (expanded) {
        if (end < 44) return DECLINE;
        seq = u32(body), source_type = u32(body + 4), source_index = u32(body + 8), rate = u32(body + 12);
        pool = u32(body + 16), drops = u32(body + 20);
        has_in = u32(body + 24) == 0, input_if = u32(body + 28);
        has_out = u32(body + 32) == 0, output_if = u32(body + 36);
        count = u32(body + 40);
        position = 44;
    } else {
        if (end < 32) return DECLINE;
        seq = u32(body);
        uint32_t source_id = u32(body + 4);
        source_type = source_id >> 24, source_index = source_id & 0xFFFFFF;
        rate = u32(body + 8), pool = u32(body + 12), drops = u32(body + 16);
        input_if = u32(body + 20), output_if = u32(body + 24);
        has_in = input_if >> 30 == 0, has_out = output_if >> 30 == 0;
        count = u32(body + 28);
        position = 32;
    }
    if (count != 1 && count != 2) return DECLINE;
    int switch_data = count == 2;
    if (end < position + 24) return DECLINE;
    const unsigned char *first = body + position;
    uint32_t tag = u32(first), length = u32(first + 4), protocol = u32(first + 8), frame_length = u32(first + 12);
    uint32_t header_length = u32(first + 20);
    Py_ssize_t start = position + 8, stop = start + (Py_ssize_t)length;
    if (tag != 1 || protocol != 1 || length < 16 || stop > end) return DECLINE;
    Py_ssize_t header_end = start + 16 + (Py_ssize_t)header_length;
    if (header_end > stop) header_end = stop;
    const unsigned char *header = body + start + 16;
    Py_ssize_t size = header_end - (start + 16);
    if (size < 14) return DECLINE;
    unsigned ether_type = u16(header + 12);
    int has_vlan = 0;
    unsigned vlan = 0;
    Py_ssize_t ip = 14;
    if ((ether_type == 0x8100 || ether_type == 0x88A8 || ether_type == 0x9100) && size >= 18) {
        has_vlan = 1;
        vlan = u16(header + 14) & 0x0FFF;
        ether_type = u16(header + 16);
        ip = 18;
    }
    if (ether_type != 0x0800 || size < ip + 20 || header[ip] >> 4 != 4) return DECLINE;
    const unsigned char *iph = header + ip;
    unsigned ihl = iph[0] & 0x0F, tos = iph[1], total_length = u16(iph + 2), ident = u16(iph + 4);
    unsigned flags_offset = u16(iph + 6), ttl = iph[8], ip_protocol = iph[9];
    if (flags_offset & 0x1FFF) return DECLINE;
    Py_ssize_t transport = ip + (Py_ssize_t)ihl * 4;
    int has_flags = 0;
    unsigned tcp_flags = 0;
    if (ip_protocol == 6 && size >= transport + 14) {
        has_flags = 1;
        tcp_flags = ((header[transport + 12] & 0x01u) << 8) | header[transport + 13];
    } else if (!(ip_protocol == 17 && size >= transport + 4)) {
        return DECLINE;
    }
    unsigned src_port = u16(header + transport), dst_port = u16(header + transport + 2);
    uint32_t src_vlan = 0, src_priority = 0, dst_vlan = 0, dst_priority = 0;
    if (switch_data) {
        if (end < stop + 8 + 16) return DECLINE;
        uint32_t stag = u32(body + stop), slength = u32(body + stop + 4);
        if (stag != 1001 || slength < 16 || stop + 8 + (Py_ssize_t)slength > end) return DECLINE;
        src_vlan = u32(body + stop + 8), src_priority = u32(body + stop + 12);
        dst_vlan = u32(body + stop + 16), dst_priority = u32(body + stop + 20);
    }
    if (buf_reserve(b, head_len + mid_len + 2048) < 0) return -1;
    uint64_t scale = rate ? rate : 1;
    put(b, head, head_len);
    PUTS(b, ",\"src_addr\":");
    put_ip4(b, iph + 12, &seen->src_off, &seen->src_len);
    PUTS(b, ",\"dst_addr\":");
    put_ip4(b, iph + 16, &seen->dst_off, &seen->dst_len);
    PUTS(b, ",\"src_port\":");
    put_u64(b, src_port);
    PUTS(b, ",\"dst_port\":");
    put_u64(b, dst_port);
    PUTS(b, ",\"protocol\":");
    put_u64(b, ip_protocol);
    PUTS(b, ",\"bytes\":");
    put_u64(b, frame_length);
    PUTS(b, ",\"packets\":1,\"start\":null,\"end\":null,\"input_if\":");
    put_opt(b, has_in, input_if);
    PUTS(b, ",\"output_if\":");
    put_opt(b, has_out, output_if);
    PUTS(b, ",\"tcp_flags\":");
    put_opt(b, has_flags, tcp_flags);
    PUTS(b, ",\"sampling_rate\":");
    put_opt(b, rate != 0, rate);
    PUTS(b, ",\"bytes_scaled\":");
    put_u64(b, (uint64_t)frame_length * scale);
    PUTS(b, ",\"packets_scaled\":");
    put_u64(b, scale);
    put(b, mid, mid_len);
    PUTS(b, ",\"sflow_sequence\":");
    put_u64(b, seq);
    PUTS(b, ",\"sflow_source_id_type\":");
    put_u64(b, source_type);
    PUTS(b, ",\"sflow_source_id_index\":");
    put_u64(b, source_index);
    PUTS(b, ",\"sflow_sample_pool\":");
    put_u64(b, pool);
    PUTS(b, ",\"sflow_drops\":");
    put_u64(b, drops);
    PUTS(b, ",\"dataLinkFrameSize\":");
    put_u64(b, frame_length);
    PUTS(b, ",\"sflow_header_protocol\":1,\"destinationMacAddress\":");
    put_mac(b, header);
    PUTS(b, ",\"sourceMacAddress\":");
    put_mac(b, header + 6);
    if (has_vlan) {
        PUTS(b, ",\"dot1qVlanId\":");
        put_u64(b, vlan);
    }
    PUTS(b, ",\"ethernetType\":2048,\"ipVersion\":4,\"ipClassOfService\":");
    put_u64(b, tos);
    PUTS(b, ",\"totalLengthIPv4\":");
    put_u64(b, total_length);
    PUTS(b, ",\"fragmentIdentification\":");
    put_u64(b, ident);
    PUTS(b, ",\"fragmentOffset\":0,\"fragmentFlags\":");
    put_u64(b, flags_offset >> 13);
    PUTS(b, ",\"ipTTL\":");
    put_u64(b, ttl);
    PUTS(b, ",\"ipv4IHL\":");
    put_u64(b, ihl);
    if (switch_data) {
        PUTS(b, ",\"vlanId\":");
        put_u64(b, src_vlan);
        PUTS(b, ",\"postVlanId\":");
        put_u64(b, dst_vlan);
        PUTS(b, ",\"dot1qPriority\":");
        put_u64(b, src_priority);
        PUTS(b, ",\"sflow_dst_priority\":");
        put_u64(b, dst_priority);
    }
    PUTS(b, "}\n");
    seen->has_proto = 1;
    seen->proto_signed = 0;
    seen->proto_u = ip_protocol;
    seen->size = (__int128)frame_length * scale; /* `bytes_scaled or bytes`: 0 only when the frame is */
    seen->packets = scale;
    return 0;
}

/* sflow(datagram, position, samples, head, mid, top) -> (ndjson, records) | None: the samples
 * from `position` (after the datagram header, which the caller read); head: the record's JSON up
 * to and with "version", mid: its "sflow_sub_agent" and "sflow_uptime_ms" items. */
static PyObject *sflow(PyObject *self, PyObject *args) {
    Py_buffer datagram;
    Py_ssize_t position, samples;
    const char *head, *mid;
    Py_ssize_t head_len, mid_len;
    PyObject *top;
    if (!PyArg_ParseTuple(args, "y*nny#y#O", &datagram, &position, &samples, &head, &head_len, &mid, &mid_len, &top))
        return NULL;
    PyObject *result = NULL;
    Buf b = {NULL, 0, 0};
    SeenList seen = {NULL, 0, 0};
    const unsigned char *data = datagram.buf;
    Py_ssize_t records = 0, end = datagram.len;
    if (position < 0 || samples < 0 || samples > 1024) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    for (Py_ssize_t s = 0; s < samples; s++) {
        if (end - position < 8) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        uint32_t tag = u32(data + position), length = u32(data + position + 4);
        position += 8;
        if ((Py_ssize_t)length > end - position) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        if (tag == 1 || tag == 3) {
            Seen *item = seen_next(&seen);
            if (item == NULL) goto done;
            int rc = sflow_sample(&b, data + position, (Py_ssize_t)length, tag == 3, head, head_len, mid, mid_len, item);
            if (rc < 0) goto done;
            if (rc == DECLINE) {
                result = Py_NewRef(Py_None);
                goto done;
            }
            records++;
        } else if (tag == 2 || tag == 4 || tag == 5) {
            result = Py_NewRef(Py_None); /* counters and drops: the reference's */
            goto done;
        }
        position += (Py_ssize_t)length; /* other formats are skipped by their length */
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
    {"sflow", sflow, METH_VARARGS,
     "sflow(datagram, position, samples, head, mid, top) -> (ndjson, records), or None to decline."},
    {"plan", make_plan, METH_VARARGS, "plan(record_length, ops) -> capsule: a template's program of ops."},
    {"encode", encode, METH_VARARGS,
     "encode(datagram, sets, ctx, rate, boot_ms, export_ms, top) -> (ndjson, records), or None to decline."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastflow", "Compiled fast path of collectors.flow (see fastpath.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastflow(void) { return PyModule_Create(&moduledef); }
