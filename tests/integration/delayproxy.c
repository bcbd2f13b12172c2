// tests/integration/delayproxy.c: a TCP proxy that delays every byte by a
// fixed time in each direction, for test-fed-netns.sh on kernels without
// the netem queueing discipline (tc netem adds the same latency in the
// kernel where it exists). Single-threaded: one poll() loop; data read
// from one side is queued with its due time and written to the other side
// once due, so the added latency holds for every chunk, in order.
// With CUT_BYTES, the first connection whose client has sent that many
// bytes is cut there: the first CUT_BYTES reach the target, then both
// sides are closed (a connection lost in the middle of an upload, for
// test-fed-resend.sh); later connections are left alone. With rCUT_BYTES
// (an 'r' before the number) the client's bytes all pass, but the first
// reply the target starts after the client has sent CUT_BYTES is dropped
// and both sides are closed (an ACK lost on its way back).
// usage: delayproxy LISTEN_IP PORT TARGET_IP TARGET_PORT DELAY_MS
//        [[r]CUT_BYTES]
// Runs until killed. Test-only code: blocking connect and writes.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define CHUNK 16384

struct chunk {
	struct chunk *next;
	uint64_t due_ms;
	size_t len;
	unsigned char data[CHUNK];
};

struct side {
	int fd;
	bool eof;                  // no more to read from fd
	struct chunk *head, *tail; // queued for the OTHER side
};

struct conn {
	bool used;
	struct side s[2]; // 0: the client, 1: the target
	uint64_t up;      // bytes passed on from the client
};

static uint64_t cut_at; // CUT_BYTES; 0 once used (or not given)
static bool cut_reply;  // rCUT_BYTES: cut the reply instead

static struct conn conns[MAX_CONNS];

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
tcp_to(const char *ip, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
			.sin_port = htons((uint16_t)port)};
	if (fd < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1 ||
			connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
drop(struct conn *c)
{
	for (int k = 0; k < 2; k++) {
		close(c->s[k].fd);
		for (struct chunk *q = c->s[k].head, *n; q != NULL; q = n) {
			n = q->next;
			free(q);
		}
	}
	memset(c, 0, sizeof(*c));
}

int
main(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr,
				"usage: delayproxy LISTEN_IP PORT TARGET_IP "
				"TARGET_PORT DELAY_MS [[r]CUT_BYTES]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	uint64_t delay = strtoull(argv[5], NULL, 10);
	if (argc == 7 && argv[6][0] == 'r') {
		cut_reply = true;
		cut_at = strtoull(argv[6] + 1, NULL, 10);
	} else {
		cut_at = argc == 7 ? strtoull(argv[6], NULL, 10) : 0;
	}
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
			.sin_port = htons((uint16_t)atoi(argv[2]))};
	if (lfd < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 ||
			bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
			listen(lfd, 16) != 0) {
		perror("delayproxy: listen");
		return 1;
	}
	for (;;) {
		struct pollfd p[1 + 2 * MAX_CONNS];
		int idx[1 + 2 * MAX_CONNS];
		int n = 0;
		p[n].fd = lfd;
		p[n].events = POLLIN;
		idx[n++] = -1;
		uint64_t now = now_ms(), next = now + 1000;
		for (int c = 0; c < MAX_CONNS; c++) {
			if (!conns[c].used) {
				continue;
			}
			for (int k = 0; k < 2; k++) {
				struct side *s = &conns[c].s[k];
				if (!s->eof) {
					p[n].fd = s->fd;
					p[n].events = POLLIN;
					idx[n++] = c * 2 + k;
				}
				if (s->head != NULL && s->head->due_ms < next) {
					next = s->head->due_ms;
				}
			}
		}
		int wait = next > now ? (int)(next - now) : 0;
		if (poll(p, (nfds_t)n, wait) < 0 && errno != EINTR) {
			perror("delayproxy: poll");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) ==
					0) {
				continue;
			}
			if (idx[i] < 0) {
				int cfd = accept(lfd, NULL, NULL);
				int tfd = cfd >= 0
						? tcp_to(argv[3], atoi(argv[4]))
						: -1;
				int c = 0;
				while (c < MAX_CONNS && conns[c].used) {
					c++;
				}
				if (tfd < 0 || c == MAX_CONNS) {
					if (cfd >= 0) {
						close(cfd);
					}
					if (tfd >= 0) {
						close(tfd);
					}
					continue;
				}
				setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
						sizeof(one));
				conns[c].used = true;
				conns[c].s[0].fd = cfd;
				conns[c].s[1].fd = tfd;
				continue;
			}
			struct conn *c = &conns[idx[i] / 2];
			struct side *s = &c->s[idx[i] % 2];
			if (!c->used) {
				continue;
			}
			struct chunk *q = malloc(sizeof(*q));
			ssize_t r = q != NULL ? read(s->fd, q->data, CHUNK)
					      : -1;
			if (r <= 0) {
				free(q);
				s->eof = true;
				continue;
			}
			q->len = (size_t)r;
			q->due_ms = now_ms() + delay;
			q->next = NULL;
			if (s->tail != NULL) {
				s->tail->next = q;
			} else {
				s->head = q;
			}
			s->tail = q;
		}
		now = now_ms();
		for (int ci = 0; ci < MAX_CONNS; ci++) {
			struct conn *c = &conns[ci];
			if (!c->used) {
				continue;
			}
			bool dead = false;
			for (int k = 0; k < 2 && !dead; k++) {
				struct side *s = &c->s[k];
				while (s->head != NULL &&
						s->head->due_ms <= now) {
					struct chunk *q = s->head;
					size_t off = 0, len = q->len;
					if (k == 1 && cut_reply && cut_at > 0 &&
							c->up >= cut_at) {
						fprintf(stderr,
								"delayproxy: reply "
								"dropped after %llu "
								"bytes up\n",
								(unsigned long long)
										c->up);
						cut_at = 0;
						dead = true;
						len = 0;
					} else if (k == 0 && !cut_reply &&
							cut_at > 0 &&
							c->up + len >= cut_at) {
						len = (size_t)(cut_at - c->up);
						cut_at = 0;
						dead = true; // after these bytes
						fprintf(stderr,
								"delayproxy: cut "
								"after %llu bytes "
								"up\n",
								(unsigned long long)(c->up +
										len));
					}
					while (off < len) {
						ssize_t w = write(
								c->s[1 - k].fd,
								q->data + off,
								len - off);
						if (w <= 0) {
							dead = true;
							break;
						}
						off += (size_t)w;
					}
					if (k == 0) {
						c->up += off;
					}
					s->head = q->next;
					if (s->head == NULL) {
						s->tail = NULL;
					}
					free(q);
					if (dead) {
						break;
					}
				}
				// A side that ended, with nothing left to pass
				// on, ends the connection.
				if (s->eof && s->head == NULL) {
					dead = true;
				}
			}
			if (dead) {
				drop(c);
			}
		}
	}
}
