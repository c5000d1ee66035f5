/* SNMP trap load generator for bench/snmptrap.py: sends prepared datagrams (made by
 * collectors/snmptrap/compose.py) round-robin with sendmmsg, at a target rate for a fixed count,
 * only to loopback. Prints one JSON line with what it sent.
 * Input file: records of a 2-byte big-endian length, then that many bytes.
 * Build: cc -O2 -o bench/bin/trapgen bench/trapgen.c
 * Usage: trapgen FILE HOST PORT RATE COUNT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DATAGRAMS 100000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s FILE HOST PORT RATE COUNT\n", argv[0]);
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 || (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "trapgen: only 127.0.0.0/8 targets\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) { perror(argv[1]); return 2; }
    static unsigned char *data[MAX_DATAGRAMS];
    static size_t lengths[MAX_DATAGRAMS];
    int pool = 0;
    unsigned char head[2];
    while (pool < MAX_DATAGRAMS && fread(head, 1, 2, in) == 2) {
        size_t len = ((size_t)head[0] << 8) | head[1];
        data[pool] = malloc(len);
        if (!data[pool] || fread(data[pool], 1, len, in) != len) { fprintf(stderr, "trapgen: short file\n"); return 2; }
        lengths[pool++] = len;
    }
    fclose(in);
    if (pool == 0) { fprintf(stderr, "trapgen: no datagrams in %s\n", argv[1]); return 2; }
    double rate = atof(argv[4]);
    long count = atol(argv[5]);
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(sock, (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long sent = 0, bytes = 0;
    double start = now_s();
    while (sent < count) {
        int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
        for (int k = 0; k < n; k++) {
            int which = (int)((sent + k) % pool);
            iov[k].iov_base = data[which];
            iov[k].iov_len = lengths[which];
            memset(&msgs[k], 0, sizeof msgs[k]);
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            bytes += lengths[which];
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(sock, msgs + done, n - done, 0);
            if (r < 0) { usleep(100); continue; }
            done += r;
        }
        sent += n;
        double ahead = sent / rate - (now_s() - start);
        if (ahead > 0.0005) usleep((useconds_t)(ahead * 1e6));
        if (now_s() - start > 600) break; /* bounded in time whatever the arguments */
    }
    double elapsed = now_s() - start;
    printf("{\"sent\": %ld, \"bytes\": %ld, \"seconds\": %.3f, \"rate\": %.0f}\n", sent, bytes, elapsed, sent / elapsed);
    close(sock);
    return 0;
}
