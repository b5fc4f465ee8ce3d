// An echo load generator: CONNS connections to 127.0.0.1:PORT, each sending a SIZE-byte
// message, reading the whole echo back and sending the next, for a warm-up of 0.5 s and
// then SECONDS more. It prints the round trips per second of the measured part on stdout.
// bench/echo_load.ts builds it, runs it against each echo server and compares them.
//
// Build: cc -O2 -o <out> bench/echo_load.c
// Run:   <out> PORT CONNS SIZE SECONDS
//
// Why C: a load generator must cost the server's core nothing and be cheaper per round
// trip than the server, or it measures itself. A Deno client spends about as much per
// round trip as a Deno server does, so on its own core it caps the rate the servers can
// show, and on the same core it takes half of it. One thread on epoll costs a few
// system calls per round trip, well under any server's share.
//
// Each connection stamps its round's message in the first and last byte (its round
// count, mod 256) and checks the echo's, as bench/echo_bench.ts's client does, so a
// server that sends back other bytes than it got fails the run rather than passes it.
// A wrong echo, a closed connection, a failed connect or a run that overruns its time
// ends the process with a message on stderr and exit status 1 (bad arguments: 2).
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARM_UP 0.5
// Beyond the run's own length: a server that stops answering, or a connect that hangs,
// ends the process here rather than never.
#define OVERRUN_LIMIT 10

typedef struct {
  int fd;
  unsigned events; // what epoll watches now: EPOLLOUT while sending, EPOLLIN after
  unsigned round;
  size_t sent, got;
  unsigned char first; // the echo's first byte, kept until the last one arrives
  unsigned char *message;
} Conn;

static int epoll_fd;
static size_t size;

static void fail(const char *what) {
  fprintf(stderr, "echo_load: %s\n", what);
  exit(1);
}

static void fail_errno(const char *what) {
  fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void overrun(int sig) {
  (void)sig;
  static const char text[] = "echo_load: Cannot finish: the run overran its time\n";
  (void)write(2, text, sizeof text - 1);
  _exit(1);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void watch(Conn *c, unsigned events) {
  if (c->events == events) return;
  struct epoll_event e = {.events = events, .data.ptr = c};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &e)) fail_errno("Cannot watch a connection");
  c->events = events;
}

// Sends what is left of the message; watches for room to send more, or for the echo.
static void send_rest(Conn *c) {
  ssize_t n = send(c->fd, c->message + c->sent, size - c->sent, MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN) fail_errno("Cannot send");
  if (n > 0) c->sent += n;
  watch(c, c->sent < size ? EPOLLOUT : EPOLLIN);
}

static void start_round(Conn *c) {
  c->message[0] = c->message[size - 1] = c->round & 255;
  c->sent = c->got = 0;
  send_rest(c);
}

// Reads what has come of the echo; returns 1 when the round is complete and checked.
static int receive(Conn *c, unsigned char *scratch) {
  ssize_t n = recv(c->fd, scratch, size - c->got, 0);
  if (n == 0) fail("Cannot echo: the server closed a connection");
  if (n < 0) {
    if (errno == EAGAIN) return 0;
    fail_errno("Cannot receive");
  }
  if (c->got == 0) c->first = scratch[0];
  c->got += n;
  if (c->got < size) return 0;
  unsigned char mark = c->round & 255, last = scratch[n - 1];
  if (c->first != mark || last != mark) {
    fprintf(stderr,
            "echo_load: Cannot echo: round %u came back starting %u and ending %u, not %u\n",
            c->round, c->first, last, mark);
    exit(1);
  }
  c->round++;
  return 1;
}

// Connects with TCP_NODELAY, as the servers set it: a message goes out at once.
static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail_errno("Cannot open a socket");
  struct sockaddr_in addr = {
      .sin_family = AF_INET,
      .sin_port = htons(port),
      .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
  };
  // Blocking: connects are done before the clock starts, and the alarm bounds a hang.
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr)) {
    fail_errno("Cannot connect to the server");
  }
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) {
    fail_errno("Cannot set TCP_NODELAY");
  }
  if (fcntl(fd, F_SETFL, O_NONBLOCK)) fail_errno("Cannot make a socket nonblocking");
  return fd;
}

static long positive(const char *text, const char *name, long max) {
  char *end;
  errno = 0;
  long n = strtol(text, &end, 10);
  if (errno || *end || end == text || n < 1 || n > max) {
    fprintf(stderr, "echo_load: %s must be an integer from 1 to %ld, got %s\n", name, max,
            text);
    exit(2);
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s PORT CONNS SIZE SECONDS\n", argv[0]);
    return 2;
  }
  int port = positive(argv[1], "PORT", 65535);
  int conns = positive(argv[2], "CONNS", 100000);
  size = positive(argv[3], "SIZE", 1 << 30);
  char *end;
  double seconds = strtod(argv[4], &end);
  if (*end || end == argv[4] || !(seconds > 0 && seconds <= 3600)) {
    fprintf(stderr, "echo_load: SECONDS must be a number above 0, at most 3600, got %s\n",
            argv[4]);
    return 2;
  }
  signal(SIGALRM, overrun);
  alarm((unsigned)(WARM_UP + seconds) + OVERRUN_LIMIT);

  epoll_fd = epoll_create1(0);
  if (epoll_fd < 0) fail_errno("Cannot create an epoll instance");
  Conn *cs = calloc(conns, sizeof *cs);
  // One scratch buffer for every echo: only its first and last bytes are kept.
  unsigned char *scratch = malloc(size);
  if (!cs || !scratch) fail("Cannot allocate the buffers");
  for (int i = 0; i < conns; i++) {
    Conn *c = &cs[i];
    c->fd = connect_to(port);
    // Its own message each: a connection's partly sent message must keep its stamp.
    c->message = malloc(size);
    if (!c->message) fail("Cannot allocate the buffers");
    memset(c->message, 42, size);
    c->events = EPOLLIN;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &e)) {
      fail_errno("Cannot watch a connection");
    }
  }

  for (int i = 0; i < conns; i++) start_round(&cs[i]);
  long long trips = 0, measured_from = 0;
  double start = now(), warm = start + WARM_UP, end_time = warm + seconds;
  int measuring = 0;
  struct epoll_event events[256];
  for (;;) {
    double t = now();
    if (!measuring && t >= warm) {
      measuring = 1;
      measured_from = trips;
      start = t;
    }
    if (t >= end_time) break;
    int ready = epoll_wait(epoll_fd, events, 256, 100);
    if (ready < 0 && errno != EINTR) fail_errno("Cannot wait for the connections");
    for (int j = 0; j < ready; j++) {
      Conn *c = events[j].data.ptr;
      if (c->sent < size) {
        send_rest(c);
      } else if (receive(c, scratch)) {
        trips++;
        // Send the next message now, not on the next wakeup: most often it all goes.
        start_round(c);
      }
    }
  }
  trips -= measured_from;
  if (trips == 0) fail("Cannot measure: no round trip completed in the measured time");
  printf("%.0f\n", trips / (now() - start));
  return 0;
}
