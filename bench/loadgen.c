/* Syslog load generator for the benchmarks: UDP with sendmmsg, or TCP octet-counted/newline,
 * at a target rate for a fixed count, only to loopback. Prints one JSON line with what it sent.
 * Build: cc -O2 -o bench/bin/loadgen bench/loadgen.c
 * Usage: loadgen udp|tcp|tcp-lf HOST PORT RATE COUNT [SOURCE_PORTS]
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

static const char *hosts[] = {"core-sw1", "edge-fw2", "wlc-01", "ap-114", "srv-dns1", "10.20.30.40"};
static const char *apps[] = {"sshd", "kernel", "dhcpd", "%LINK-3-UPDOWN", "stm", "named"};
static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make_message(char *buf, size_t cap, long i) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (i % 2 == 0) {
        return snprintf(buf, cap,
            "<%ld>%s %2d %02d:%02d:%02d %s %s[%ld]: Accepted publickey for admin from 10.1.%ld.%ld port %ld ssh2 seq=%ld",
            (i % 24) * 8 + 6, months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            hosts[i % 6], apps[i % 6], 1000 + i % 5000, (i / 7) % 250, i % 250, 40000 + i % 20000, i);
    }
    return snprintf(buf, cap,
        "<%ld>1 %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %ld ID%ld [meta sequenceId=\"%ld\"] Interface Gi1/0/%ld changed state to up seq=%ld",
        (i % 24) * 8 + 5, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        i % 1000, hosts[i % 6], apps[(i + 1) % 6], 2000 + i % 3000, i % 50, i, i % 48, i);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s udp|tcp|tcp-lf HOST PORT RATE COUNT [SOURCE_PORTS]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 || (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "loadgen: only 127.0.0.0/8 targets\n");
        return 2;
    }
    double rate = atof(argv[4]);
    long count = atol(argv[5]);
    int nsock = argc > 6 ? atoi(argv[6]) : 1;
    if (nsock < 1 || nsock > 64) nsock = 1;
    int udp = strcmp(mode, "udp") == 0;
    int socks[64];
    for (int s = 0; s < nsock; s++) {
        socks[s] = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (connect(socks[s], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
        if (!udp) break;
    }
    static char bufs[BATCH][2048];
    static char tcpbuf[BATCH * 2100];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long sent = 0, bytes = 0;
    double start = now_s();
    while (sent < count) {
        int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
        if (udp) {
            for (int k = 0; k < n; k++) {
                int len = make_message(bufs[k], sizeof bufs[k], sent + k);
                iov[k].iov_base = bufs[k];
                iov[k].iov_len = len;
                memset(&msgs[k], 0, sizeof msgs[k]);
                msgs[k].msg_hdr.msg_iov = &iov[k];
                msgs[k].msg_hdr.msg_iovlen = 1;
                bytes += len;
            }
            int done = 0;
            while (done < n) {
                int r = sendmmsg(socks[(sent / BATCH) % nsock], msgs + done, n - done, 0);
                if (r < 0) { usleep(100); continue; }
                done += r;
            }
        } else {
            size_t off = 0;
            for (int k = 0; k < n; k++) {
                char msg[2048];
                int len = make_message(msg, sizeof msg, sent + k);
                if (strcmp(mode, "tcp") == 0)
                    off += sprintf(tcpbuf + off, "%d %s", len, msg);
                else
                    off += sprintf(tcpbuf + off, "%s\n", msg);
                bytes += len;
            }
            size_t w = 0;
            while (w < off) {
                ssize_t r = write(socks[0], tcpbuf + w, off - w);
                if (r < 0) { perror("write"); return 1; }
                w += r;
            }
        }
        sent += n;
        double ahead = sent / rate - (now_s() - start);
        if (ahead > 0.0005) usleep((useconds_t)(ahead * 1e6));
        if (now_s() - start > 600) break; /* bounded in time whatever the arguments */
    }
    double elapsed = now_s() - start;
    printf("{\"sent\": %ld, \"bytes\": %ld, \"seconds\": %.3f, \"rate\": %.0f}\n", sent, bytes, elapsed, sent / elapsed);
    for (int s = 0; s < nsock; s++) close(socks[s]);
    return 0;
}
