/* Flow load generator for the benchmarks: NetFlow v5, v9, IPFIX or sFlow v5 datagrams with
 * sendmmsg, at a target rate of flow records (sFlow: samples) per second for a fixed count, only
 * to loopback. Each source port is its own exporter with its own sequence numbers, so a collector
 * that counts sequence gaps sees exactly the datagrams the kernel dropped. v9 and IPFIX send their
 * template first and again every 4096 datagrams, each time in a datagram of its own.
 * Prints one JSON line with what it sent.
 * Build: cc -O2 -o bench/bin/flowgen bench/flowgen.c
 * Usage: flowgen v5|v9|ipfix|sflow HOST PORT RATE COUNT [SOURCE_PORTS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DATAGRAM 1500
#define TEMPLATE_EVERY 4096
#define TEMPLATE_ID 256

enum kind { V5, V9, IPFIX, SFLOW };

struct exporter {
    int sock;
    uint32_t sequence;  /* v5: flows, v9: datagrams, IPFIX: records, sFlow: datagrams */
    uint32_t sample_sequence;
    long datagrams;
    uint32_t sub_agent; /* sFlow: each exporter is a sub agent of one agent, with its own sequence */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t *put8(uint8_t *p, uint8_t v) { *p = v; return p + 1; }
static uint8_t *put16(uint8_t *p, uint16_t v) { v = htons(v); memcpy(p, &v, 2); return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v) { v = htonl(v); memcpy(p, &v, 4); return p + 4; }
static uint8_t *put64(uint8_t *p, uint64_t v) { p = put32(p, (uint32_t)(v >> 32)); return put32(p, (uint32_t)v); }

/* What record i of the run looks like: hosts, ports and counters that vary like real traffic. */
struct flow { uint32_t src, dst; uint16_t sport, dport; uint8_t proto, flags; uint32_t in_if, out_if, bytes, packets; };

static struct flow flow_of(long i) {
    static const uint16_t services[] = {443, 80, 53, 22, 123, 8080};
    struct flow f;
    f.src = (10u << 24) | (uint32_t)((i * 2654435761u) & 0x00FFFFFF);
    f.dst = (192u << 24) | (0u << 16) | (2u << 8) | (uint32_t)(1 + i % 250);
    f.sport = (uint16_t)(1024 + (i * 7919) % 60000);
    f.dport = services[i % 6];
    f.proto = (i % 3 == 2) ? 17 : 6;
    f.flags = f.proto == 6 ? 0x1b : 0;
    f.in_if = 1 + i % 24;
    f.out_if = 25 + i % 24;
    f.bytes = 64 + (uint32_t)(i % 1400) * 3;
    f.packets = 1 + (uint32_t)(i % 40);
    return f;
}

static const uint16_t ipfix_fields[][2] = {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {10, 4}, {14, 4},
                                           {1, 8}, {2, 8}, {152, 8}, {153, 8}};
static const uint16_t v9_fields[][2] = {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {10, 2}, {14, 2},
                                        {1, 4}, {2, 4}, {22, 4}, {21, 4}};
#define NFIELDS 12
#define IPFIX_RECORD 54
#define V9_RECORD 34
#define SFLOW_SAMPLE 152

static int per_datagram(enum kind k) {
    switch (k) {
    case V5: return 30;
    case V9: return (1400 - 20 - 4) / V9_RECORD;
    case IPFIX: return (1400 - 16 - 4) / IPFIX_RECORD;
    default: return (1400 - 28) / SFLOW_SAMPLE;
    }
}

static size_t template_datagram(enum kind k, uint8_t *buf, struct exporter *e, uint32_t unix_s, uint32_t uptime_ms) {
    uint8_t *p = buf;
    const uint16_t (*fields)[2] = k == IPFIX ? ipfix_fields : v9_fields;
    if (k == IPFIX) {
        p = put16(p, 10); p = put16(p, 0); p = put32(p, unix_s); p = put32(p, e->sequence); p = put32(p, 1);
    } else {
        p = put16(p, 9); p = put16(p, 1); p = put32(p, uptime_ms); p = put32(p, unix_s);
        p = put32(p, e->sequence++); p = put32(p, 1);
    }
    uint8_t *set = p;
    p = put16(p, k == IPFIX ? 2 : 0); p = put16(p, 0);
    p = put16(p, TEMPLATE_ID); p = put16(p, NFIELDS);
    for (int j = 0; j < NFIELDS; j++) { p = put16(p, fields[j][0]); p = put16(p, fields[j][1]); }
    put16(set + 2, (uint16_t)(p - set));
    if (k == IPFIX) put16(buf + 2, (uint16_t)(p - buf));
    return (size_t)(p - buf);
}

/* A data datagram of n records starting at record number first; returns its length. */
static size_t data_datagram(enum kind k, uint8_t *buf, struct exporter *e, long first, int n, uint32_t unix_s,
                            uint32_t uptime_ms) {
    uint8_t *p = buf;
    uint64_t now_ms = (uint64_t)unix_s * 1000;
    if (k == V5) {
        p = put16(p, 5); p = put16(p, (uint16_t)n); p = put32(p, uptime_ms); p = put32(p, unix_s); p = put32(p, 0);
        p = put32(p, e->sequence); p = put8(p, 0); p = put8(p, 0); p = put16(p, 0);
        e->sequence += (uint32_t)n;
        for (int r = 0; r < n; r++) {
            struct flow f = flow_of(first + r);
            p = put32(p, f.src); p = put32(p, f.dst); p = put32(p, 0); p = put16(p, (uint16_t)f.in_if);
            p = put16(p, (uint16_t)f.out_if); p = put32(p, f.packets); p = put32(p, f.bytes);
            p = put32(p, uptime_ms - 2000); p = put32(p, uptime_ms - 100); p = put16(p, f.sport); p = put16(p, f.dport);
            p = put8(p, 0); p = put8(p, f.flags); p = put8(p, f.proto); p = put8(p, 0);
            p = put16(p, 0); p = put16(p, 0); p = put8(p, 0); p = put8(p, 0); p = put16(p, 0);
        }
        return (size_t)(p - buf);
    }
    if (k == SFLOW) {
        p = put32(p, 5); p = put32(p, 1); p = put32(p, 0x7F000001); p = put32(p, e->sub_agent);
        p = put32(p, e->sequence++); p = put32(p, uptime_ms); p = put32(p, (uint32_t)n);
        for (int r = 0; r < n; r++) {
            struct flow f = flow_of(first + r);
            uint8_t *sample = p;
            p = put32(p, 1); p = put32(p, 0);                       /* flow sample, length below */
            p = put32(p, ++e->sample_sequence); p = put32(p, f.in_if); p = put32(p, 1024);
            p = put32(p, e->sample_sequence * 1024); p = put32(p, 0); p = put32(p, f.in_if); p = put32(p, f.out_if);
            p = put32(p, 2);                                        /* records */
            p = put32(p, 1); p = put32(p, 16 + 64);                 /* raw packet header */
            p = put32(p, 1); p = put32(p, f.bytes); p = put32(p, 4); p = put32(p, 64);
            uint8_t *frame = p;
            memset(frame, 0, 64);
            memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
            uint8_t *ip = frame + 14;
            put8(ip, 0x45); put16(ip + 2, (uint16_t)(f.bytes > 18 ? f.bytes - 18 : 46)); put8(ip + 8, 64);
            put8(ip + 9, f.proto); put32(ip + 12, f.src); put32(ip + 16, f.dst);
            uint8_t *l4 = ip + 20;
            put16(l4, f.sport); put16(l4 + 2, f.dport);
            if (f.proto == 6) { put8(l4 + 12, 0x50); put8(l4 + 13, f.flags); }
            p = frame + 64;
            p = put32(p, 1001); p = put32(p, 16);                   /* extended switch */
            p = put32(p, 10); p = put32(p, 0); p = put32(p, 20); p = put32(p, 0);
            put32(sample + 4, (uint32_t)(p - sample - 8));
        }
        return (size_t)(p - buf);
    }
    if (k == IPFIX) {
        p = put16(p, 10); p = put16(p, 0); p = put32(p, unix_s); p = put32(p, e->sequence); p = put32(p, 1);
        e->sequence += (uint32_t)n;
    } else {
        p = put16(p, 9); p = put16(p, (uint16_t)n); p = put32(p, uptime_ms); p = put32(p, unix_s);
        p = put32(p, e->sequence++); p = put32(p, 1);
    }
    uint8_t *set = p;
    p = put16(p, TEMPLATE_ID); p = put16(p, 0);
    for (int r = 0; r < n; r++) {
        struct flow f = flow_of(first + r);
        p = put32(p, f.src); p = put32(p, f.dst); p = put16(p, f.sport); p = put16(p, f.dport);
        p = put8(p, f.proto); p = put8(p, f.flags);
        if (k == IPFIX) {
            p = put32(p, f.in_if); p = put32(p, f.out_if); p = put64(p, f.bytes); p = put64(p, f.packets);
            p = put64(p, now_ms - 2000); p = put64(p, now_ms - 100);
        } else {
            p = put16(p, (uint16_t)f.in_if); p = put16(p, (uint16_t)f.out_if); p = put32(p, f.bytes);
            p = put32(p, f.packets); p = put32(p, uptime_ms - 2000); p = put32(p, uptime_ms - 100);
        }
    }
    while (k == V9 && (p - set) % 4) p = put8(p, 0);
    put16(set + 2, (uint16_t)(p - set));
    if (k == IPFIX) put16(buf + 2, (uint16_t)(p - buf));
    return (size_t)(p - buf);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s v5|v9|ipfix|sflow HOST PORT RATE COUNT [SOURCE_PORTS]\n", argv[0]);
        return 2;
    }
    enum kind k;
    if (strcmp(argv[1], "v5") == 0) k = V5;
    else if (strcmp(argv[1], "v9") == 0) k = V9;
    else if (strcmp(argv[1], "ipfix") == 0) k = IPFIX;
    else if (strcmp(argv[1], "sflow") == 0) k = SFLOW;
    else { fprintf(stderr, "flowgen: unknown kind %s (v5, v9, ipfix or sflow)\n", argv[1]); return 2; }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 || (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "flowgen: only 127.0.0.0/8 targets\n");
        return 2;
    }
    double rate = atof(argv[4]);
    long count = atol(argv[5]);
    int nexp = argc > 6 ? atoi(argv[6]) : 1;
    if (nexp < 1 || nexp > 64) nexp = 1;
    if (rate <= 0 || count <= 0) { fprintf(stderr, "flowgen: RATE and COUNT must be positive\n"); return 2; }
    static struct exporter exporters[64];
    for (int s = 0; s < nexp; s++) {
        exporters[s].sock = socket(AF_INET, SOCK_DGRAM, 0);
        exporters[s].sub_agent = (uint32_t)s;
        if (connect(exporters[s].sock, (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
    }
    static uint8_t bufs[BATCH][MAX_DATAGRAM];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    int per = per_datagram(k);
    long sent = 0, datagrams = 0, bytes = 0;
    uint32_t boot = (uint32_t)time(NULL) - 3600;
    double start = now_s();
    while (sent < count) {
        uint32_t unix_s = (uint32_t)time(NULL);
        uint32_t uptime_ms = (unix_s - boot) * 1000;
        /* One batch goes out on one exporter's socket; batches take turns among exporters. */
        struct exporter *e = &exporters[(datagrams / BATCH) % nexp];
        int n = 0;
        long batch_records = 0;
        while (n < BATCH && sent + batch_records < count) {
            size_t len;
            if ((k == V9 || k == IPFIX) && e->datagrams % TEMPLATE_EVERY == 0) {
                len = template_datagram(k, bufs[n], e, unix_s, uptime_ms);
            } else {
                int records = count - sent - batch_records < per ? (int)(count - sent - batch_records) : per;
                len = data_datagram(k, bufs[n], e, sent + batch_records, records, unix_s, uptime_ms);
                batch_records += records;
            }
            e->datagrams++;
            iov[n].iov_base = bufs[n];
            iov[n].iov_len = len;
            memset(&msgs[n], 0, sizeof msgs[n]);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            bytes += (long)len;
            n++;
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(e->sock, msgs + done, n - done, 0);
            if (r < 0) { usleep(100); continue; }
            done += r;
        }
        datagrams += n;
        sent += batch_records;
        double ahead = sent / rate - (now_s() - start);
        if (ahead > 0.0005) usleep((useconds_t)(ahead * 1e6));
        if (now_s() - start > 600) break; /* bounded in time whatever the arguments */
    }
    double elapsed = now_s() - start;
    printf("{\"kind\": \"%s\", \"records\": %ld, \"datagrams\": %ld, \"bytes\": %ld, \"exporters\": %d, "
           "\"seconds\": %.3f, \"rate\": %.0f}\n",
           argv[1], sent, datagrams, bytes, nexp, elapsed, sent / elapsed);
    for (int s = 0; s < nexp; s++) close(exporters[s].sock);
    return 0;
}
