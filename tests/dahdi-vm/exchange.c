/*
 * exchange: the far end of telvox's real-driver test (tests/dahdi-vm).
 *
 * Two dahdi_dynamic_loc spans are looped: channel N of span 1 (telvox's) is wired to channel N+24 of span 2
 * (this program's). On span 2 the kernel runs the exchange / channel-bank side of each line: fxoks
 * against telvox's fxsks trunks, e&m against e&m, clear against clear. This program drives those
 * channels the way a central office would and checks what telvox does, reading only what the driver
 * reports (events, audio).
 *
 *   exchange selftest A B         no telvox: rings fxoks B, plays span 1's fxsks A by hand (the loop works)
 *   exchange call CH RINGS KEYS HANGUP [PROMPT_S]
 *                                 ring fxoks CH, expect telvox to answer after RINGS rings, hear its prompt,
 *                                 key KEYS (DAHDI_DIAL), then HANGUP=exchange: clear (battery drop) and
 *                                 expect telvox to hang up; HANGUP=telvox: expect telvox to clear first
 *   exchange emwink CH DNIS KEYS [PROMPT_S]
 *                                 seize e&m CH (DAHDI_START), expect telvox's wink, key the called number
 *                                 DNIS, expect the answer, prompt, key KEYS, clear and see telvox release
 *   exchange load DNIS KEYS SECONDS CH...
 *                                 every CH at once: ring (fxoks) / seize (e&m, DNIS) / listen (clear), hear
 *                                 the prompt, key KEYS; once each hears telvox's continuous tone, check
 *                                 SECONDS of it for idle gaps (a transmit underrun makes DAHDI send
 *                                 silence), then clear all
 *
 * Every check prints one line "CHECK <scenario> PASS|FAIL <what>"; a scenario ends with
 * "SCENARIO <name> PASS|FAIL <seconds>". The exit status is the number of failed checks (capped).
 * Build: cc -O2 -Wall -o exchange exchange.c  (needs dahdi/user.h from dahdi-source; tests/dahdi-vm/run does it)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dahdi/user.h>

/* The exchange reads 100 ms at a time: it only listens, and 24 of it share two emulated CPUs with telvox. */
#define BLOCK 800
#define MAXLINES 32
/* A block whose mean |sample| is above this (16-bit linear) carries a prompt or tone (about -45 dBm0). */
#define ENERGY_MIN 150
/* In a tone, this many samples in a row this close to zero are an idle gap (DAHDI's underrun fill). */
#define GAP_SAMPLES 8
#define GAP_LEVEL 48

static double t_start;
static const char *scen = "?";
static int failures;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("[%7.3f] %s: %s\n", now() - t_start, scen, buf);
}

static void check(int ok, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("CHECK %s %s %s\n", scen, ok ? "PASS" : "FAIL", buf);
	if (!ok)
		failures++;
}

/* ------------------------------------------------------------------------------------------ G.711 */
static int ulaw_to_linear(unsigned char u)
{
	int t;
	u = ~u;
	t = ((u & 0x0f) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return (u & 0x80) ? 0x84 - t : t - 0x84;
}

static int alaw_to_linear(unsigned char a)
{
	int t, seg;
	a ^= 0x55;
	t = (a & 0x0f) << 4;
	seg = (a & 0x70) >> 4;
	if (seg == 0)
		t += 8;
	else
		t = (t + 0x108) << (seg - 1);
	return (a & 0x80) ? t : -t;
}

/* ------------------------------------------------------------------------------------------ lines */
struct line {
	int fd, no, alaw;
	const char *sig;
	/* events */
	int ringeron, ringeroff, last_event;
	/* audio */
	long samples;
	double first_energy;     /* when a block first carried energy, 0 = not yet */
	int gap_check;           /* count idle gaps from now on */
	long gap_samples_seen;   /* samples checked for gaps */
	int gaps, run;           /* idle gaps found; current run of near-zero samples */
	int gap_max;             /* longest gap, samples */
	long gap_total;          /* samples in gaps */
	double first_gap;
};

static const char *event_name(int e)
{
	static char buf[40];
	if (e & DAHDI_EVENT_PULSEDIGIT) {
		snprintf(buf, sizeof buf, "PULSEDIGIT(%c)", e & 0xff);
		return buf;
	}
	if (e & (DAHDI_EVENT_DTMFDOWN | DAHDI_EVENT_DTMFUP)) {
		snprintf(buf, sizeof buf, "DTMF(%c)", e & 0xff);
		return buf;
	}
	switch (e) {
	case DAHDI_EVENT_ONHOOK: return "ONHOOK";
	case DAHDI_EVENT_RINGOFFHOOK: return "RINGOFFHOOK";
	case DAHDI_EVENT_WINKFLASH: return "WINKFLASH";
	case DAHDI_EVENT_ALARM: return "ALARM";
	case DAHDI_EVENT_NOALARM: return "NOALARM";
	case DAHDI_EVENT_DIALCOMPLETE: return "DIALCOMPLETE";
	case DAHDI_EVENT_RINGERON: return "RINGERON";
	case DAHDI_EVENT_RINGEROFF: return "RINGEROFF";
	case DAHDI_EVENT_HOOKCOMPLETE: return "HOOKCOMPLETE";
	case DAHDI_EVENT_BITSCHANGED: return "BITSCHANGED";
	case DAHDI_EVENT_PULSE_START: return "PULSE_START";
	case DAHDI_EVENT_RINGBEGIN: return "RINGBEGIN";
	case DAHDI_EVENT_WRITE_UNDERRUN: return "WRITE_UNDERRUN";
	case DAHDI_EVENT_READ_OVERRUN: return "READ_OVERRUN";
	default:
		snprintf(buf, sizeof buf, "event %d", e);
		return buf;
	}
}

static void line_open(struct line *l, int no)
{
	struct dahdi_params p;
	struct dahdi_bufferinfo bi;
	int bs = BLOCK;

	memset(l, 0, sizeof *l);
	l->no = no;
	l->fd = open("/dev/dahdi/channel", O_RDWR | O_NONBLOCK);
	if (l->fd < 0 || ioctl(l->fd, DAHDI_SPECIFY, &no) || ioctl(l->fd, DAHDI_SET_BLOCKSIZE, &bs)) {
		printf("exchange: cannot open DAHDI channel %d: %s\n", no, strerror(errno));
		exit(100);
	}
	memset(&bi, 0, sizeof bi);
	bi.txbufpolicy = DAHDI_POLICY_IMMEDIATE;
	bi.rxbufpolicy = DAHDI_POLICY_IMMEDIATE;
	bi.numbufs = 16; /* 1.6 s of room for a slow reader: a full receive queue must not look like telvox's fault */
	bi.bufsize = BLOCK;
	if (ioctl(l->fd, DAHDI_SET_BUFINFO, &bi))
		note("ch%d: DAHDI_SET_BUFINFO: %s", no, strerror(errno));
	memset(&p, 0, sizeof p);
	p.channo = no;
	if (ioctl(l->fd, DAHDI_GET_PARAMS, &p) == 0) {
		l->alaw = p.curlaw == DAHDI_LAW_ALAW;
		switch (p.sigtype) {
		case DAHDI_SIG_FXOKS: l->sig = "fxoks"; break;
		case DAHDI_SIG_FXSKS: l->sig = "fxsks"; break;
		case DAHDI_SIG_EM: l->sig = "e&m"; break;
		case DAHDI_SIG_CLEAR: l->sig = "clear"; break;
		default: l->sig = "other"; break;
		}
	} else {
		l->sig = "?";
	}
}

static void audio(struct line *l, const unsigned char *b, int n)
{
	long sum = 0;
	int i;
	for (i = 0; i < n; i++) {
		int x = l->alaw ? alaw_to_linear(b[i]) : ulaw_to_linear(b[i]);
		sum += abs(x);
		if (l->gap_check) {
			if (abs(x) <= GAP_LEVEL) {
				if (++l->run == GAP_SAMPLES) {
					if (!l->gaps++)
						l->first_gap = now() - t_start;
				}
			} else {
				if (l->run >= GAP_SAMPLES) {
					l->gap_total += l->run;
					if (l->run > l->gap_max)
						l->gap_max = l->run;
				}
				l->run = 0;
			}
		}
	}
	if (l->gap_check)
		l->gap_samples_seen += n;
	l->samples += n;
	if (n > 0 && sum / n >= ENERGY_MIN && !l->first_energy)
		l->first_energy = now();
}

/* Reads what is there: audio into the analyser, events returned one by one (0: none pending). */
static int pump(struct line *l)
{
	unsigned char buf[BLOCK * 2];
	int e, r;
	for (;;) {
		e = 0;
		if (ioctl(l->fd, DAHDI_GETEVENT, &e) == 0 && e) {
			if (e == DAHDI_EVENT_RINGERON)
				l->ringeron++;
			if (e == DAHDI_EVENT_RINGEROFF)
				l->ringeroff++;
			l->last_event = e;
			return e;
		}
		r = read(l->fd, buf, sizeof buf);
		if (r > 0) {
			audio(l, buf, r);
			continue;
		}
		if (r < 0 && errno == ELAST)
			continue; /* an event is pending: GETEVENT takes it */
		return 0;
	}
}

/* Waits until one of want[] (0-terminated) arrives on l, or timeout_s. Returns it, or 0 on timeout. */
static int await_event(struct line *l, double timeout_s, const int *want)
{
	double end = now() + timeout_s;
	for (;;) {
		struct pollfd pf = { .fd = l->fd, .events = POLLIN | POLLPRI };
		int e, i, left_ms = (int)((end - now()) * 1000);
		while ((e = pump(l))) {
			note("ch%d %s <- %s", l->no, l->sig, event_name(e));
			for (i = 0; want[i]; i++)
				if (want[i] == e)
					return e;
		}
		if (left_ms <= 0)
			return 0;
		poll(&pf, 1, left_ms < 100 ? left_ms : 100);
	}
}

/* Keeps reading (audio and events, noted) for secs. */
static void listen_for(struct line *l, double secs)
{
	static const int none[] = { 0 };
	await_event(l, secs, none);
}

/* Waits up to timeout_s for a block with energy after 'since'; returns the delay or -1. */
static double await_energy(struct line *l, double timeout_s)
{
	double t0 = now(), end = t0 + timeout_s;
	l->first_energy = 0;
	while (now() < end && !l->first_energy)
		listen_for(l, 0.05);
	return l->first_energy ? l->first_energy - t0 : -1;
}

static int hook(struct line *l, int op, const char *name)
{
	int r = ioctl(l->fd, DAHDI_HOOK, &op);
	if (r && errno == EINPROGRESS)
		r = 0; /* O_NONBLOCK: accepted, HOOKCOMPLETE follows */
	note("ch%d %s -> HOOK %s%s%s", l->no, l->sig, name, r ? ": " : "", r ? strerror(errno) : "");
	return r;
}

/* Keys digits with the kernel's DTMF generator and waits for DIALCOMPLETE (nothing is written meanwhile:
 * a write cancels a dial). */
static int key(struct line *l, const char *digits)
{
	static const int done[] = { DAHDI_EVENT_DIALCOMPLETE, 0 };
	struct dahdi_dialoperation op;
	memset(&op, 0, sizeof op);
	op.op = DAHDI_DIAL_OP_REPLACE;
	snprintf(op.dialstr, sizeof op.dialstr, "T%s", digits);
	if (ioctl(l->fd, DAHDI_DIAL, &op)) {
		note("ch%d DAHDI_DIAL %s: %s", l->no, op.dialstr, strerror(errno));
		return -1;
	}
	note("ch%d %s -> DIAL %s", l->no, l->sig, op.dialstr);
	return await_event(l, 1.0 + 0.3 * strlen(digits), done) ? 0 : -1;
}

/* ------------------------------------------------------------------------------------ stall watch */
/* A TCG guest stops when the host does not run its emulated CPUs; when it runs again, DAHDI's core timer
 * catches up in one burst and drains that much of every transmit queue at once. Such a stall is the
 * host's, not telvox's: a watcher above telvox's priority (SCHED_FIFO 50) records every wake-up that came
 * much later than asked. Idle gaps are excused only when such stalls, longer than the audio telvox keeps
 * queued, happened in the same window, no more gaps than stalls, and none longer than the longest stall. */
#define STALL_MIN_MS 30      /* a wake-up this late is a stall of the guest */
#define STALL_EXCUSE_MS 100  /* a stall this long can drain telvox's queue (16 buffers, 8 kept queued) */
#define MAX_STALLS 256
struct stalls {
	volatile int n;
	volatile int stop;
	double at[MAX_STALLS], ms[MAX_STALLS];
};
static struct stalls *stalls;

static void watch_stalls(void)
{
	struct sched_param sp = { .sched_priority = 90 };
	struct timespec req = { 0, 5 * 1000 * 1000 };
	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		note("stall watcher: SCHED_FIFO refused: %s", strerror(errno));
	while (!stalls->stop) {
		double t0 = now(), late_ms;
		nanosleep(&req, NULL);
		late_ms = (now() - t0) * 1000 - 5;
		if (late_ms >= STALL_MIN_MS && stalls->n < MAX_STALLS) {
			stalls->at[stalls->n] = t0 - t_start;
			stalls->ms[stalls->n] = late_ms;
			stalls->n++;
		}
	}
}

/* The long stalls from 'from' (scenario seconds) on: how many, and the longest (ms). */
static int long_stalls(double from, double *longest)
{
	int i, n = 0;
	*longest = 0;
	for (i = 0; stalls && i < stalls->n; i++) {
		if (stalls->at[i] + stalls->ms[i] / 1000 >= from && stalls->ms[i] >= STALL_EXCUSE_MS) {
			n++;
			if (stalls->ms[i] > *longest)
				*longest = stalls->ms[i];
		}
	}
	return n;
}

/* --------------------------------------------------------------------------------------- scenarios */

/* Rings fxoks line l until telvox answers; returns the rings heard (completed ring bursts) or -1. */
static int ring_until_answer(struct line *l, int max_rings)
{
	static const int answer[] = { DAHDI_EVENT_RINGOFFHOOK, 0 };
	double t0 = now();
	if (hook(l, DAHDI_RING, "RING"))
		return -1;
	if (!await_event(l, 6.0 * (max_rings + 1) + 1, answer))
		return -1;
	note("ch%d answered %.2f s after the ring started, after %d ring(s)", l->no, now() - t0, l->ringeroff);
	/* The exchange trips the ringing: without this the cadence keeps ringing at the answered line. */
	hook(l, DAHDI_OFFHOOK, "OFFHOOK (ring trip)");
	return l->ringeroff;
}

/* The line after telvox answered: its prompt, our digits. */
static void prompt_and_keys(struct line *l, const char *keys, double prompt_s)
{
	double d = await_energy(l, prompt_s);
	check(d >= 0, "ch%d hears telvox's prompt (energy %.0f ms after the answer)", l->no, d * 1000);
	if (*keys) {
		listen_for(l, 0.3);
		check(key(l, keys) == 0, "ch%d keyed \"%s\" (DAHDI_DIAL, DIALCOMPLETE)", l->no, keys);
	}
}

/* The exchange clears (kewlstart: battery drop) and telvox must put its side on hook. */
static void exchange_clears(struct line *l, double release_s)
{
	static const int onhook[] = { DAHDI_EVENT_ONHOOK, 0 };
	double t0 = now();
	int e;
	hook(l, DAHDI_ONHOOK, "ONHOOK (clear)");
	/* fxoks: HOOKCOMPLETE when the battery drop ends; then ONHOOK once the far end (telvox) is on hook
	 * for rxflashtime (1.25 s). e&m: ONHOOK when telvox releases. */
	e = await_event(l, release_s, onhook);
	check(e == DAHDI_EVENT_ONHOOK, "ch%d: telvox released the line %.2f s after the exchange cleared", l->no,
	      now() - t0);
}

static int scenario_call(int ch, int rings, const char *keys, const char *hangup, double prompt_s)
{
	static const int onhook[] = { DAHDI_EVENT_ONHOOK, 0 };
	struct line l;
	int got;
	line_open(&l, ch);
	check(!strcmp(l.sig, "fxoks"), "ch%d is fxoks (is %s)", ch, l.sig);
	got = ring_until_answer(&l, rings + 2);
	check(got == rings, "ch%d: telvox answered after %d ring(s) (wanted %d)", ch, got, rings);
	if (got < 0)
		return 1;
	prompt_and_keys(&l, keys, prompt_s);
	if (!strcmp(hangup, "exchange")) {
		listen_for(&l, 1.0);
		exchange_clears(&l, 4.0);
	} else {
		double t0 = now();
		int e = await_event(&l, 15.0, onhook);
		check(e == DAHDI_EVENT_ONHOOK, "ch%d: telvox hung up first (ONHOOK %.2f s after the keys)", ch, now() - t0);
		hook(&l, DAHDI_ONHOOK, "ONHOOK");
	}
	close(l.fd);
	return 0;
}

/* Seizes e&m line l the way a wink-start exchange does: DAHDI_START, telvox's wink, then the called
 * number as DTMF once the seizure is steady. Returns 0 when telvox then answers. */
static int em_seize(struct line *l, const char *dnis, int report)
{
	static const int wink[] = { DAHDI_EVENT_WINKFLASH, 0 };
	static const int started[] = { DAHDI_EVENT_HOOKCOMPLETE, 0 };
	static const int answer[] = { DAHDI_EVENT_RINGOFFHOOK, 0 };
	double t0 = now();
	int e;
	hook(l, DAHDI_START, "START (seize)");
	e = await_event(l, 3.0, wink);
	if (report || !e)
		check(e == DAHDI_EVENT_WINKFLASH, "ch%d: telvox winked %.0f ms after the seizure", l->no,
		      (now() - t0) * 1000);
	if (!e)
		return -1;
	/* DAHDI's start state ends (HOOKCOMPLETE) with the line off hook: then the digits. */
	await_event(l, 3.0, started);
	if (*dnis && key(l, dnis)) {
		check(0, "ch%d: keyed the called number %s", l->no, dnis);
		return -1;
	}
	t0 = now();
	e = await_event(l, 12.0, answer);
	if (report || !e)
		check(e == DAHDI_EVENT_RINGOFFHOOK, "ch%d: telvox answered (off hook) %.2f s after the called number %s",
		      l->no, now() - t0, dnis);
	return e ? 0 : -1;
}

static int scenario_emwink(int ch, const char *dnis, const char *keys, double prompt_s)
{
	struct line l;
	line_open(&l, ch);
	check(!strcmp(l.sig, "e&m"), "ch%d is e&m (is %s)", ch, l.sig);
	listen_for(&l, 0.2);
	if (em_seize(&l, dnis, 1))
		return 1;
	prompt_and_keys(&l, keys, prompt_s);
	listen_for(&l, 1.0);
	exchange_clears(&l, 3.0);
	close(l.fd);
	return 0;
}

/* No telvox: span 1's fxsks channel a is driven from here too, to prove the loop and the zone work. */
static int scenario_selftest(int a_no, int b_no)
{
	static const int ringbegin[] = { DAHDI_EVENT_RINGBEGIN, 0 };
	static const int ringend[] = { DAHDI_EVENT_RINGOFFHOOK, 0 };
	static const int onhook[] = { DAHDI_EVENT_ONHOOK, 0 };
	struct line a, b;
	double t0;
	int e;
	line_open(&a, a_no);
	line_open(&b, b_no);
	check(!strcmp(a.sig, "fxsks") && !strcmp(b.sig, "fxoks"), "ch%d is fxsks (%s), ch%d fxoks (%s)", a_no, a.sig,
	      b_no, b.sig);
	listen_for(&a, 2.2); /* an fxs channel ignores ring for 2 s after open */
	t0 = now();
	hook(&b, DAHDI_RING, "RING");
	e = await_event(&a, 1.0, ringbegin);
	check(e, "ch%d sees RINGBEGIN %.0f ms after ch%d rings", a_no, (now() - t0) * 1000, b_no);
	e = await_event(&a, 3.0, ringend);
	check(e, "ch%d sees RINGOFFHOOK (ring burst over) %.2f s after the ring", a_no, now() - t0);
	hook(&a, DAHDI_OFFHOOK, "OFFHOOK (answer)");
	t0 = now();
	e = await_event(&b, 1.0, ringend);
	check(e, "ch%d sees the answer (RINGOFFHOOK) %.0f ms after", b_no, (now() - t0) * 1000);
	hook(&b, DAHDI_OFFHOOK, "OFFHOOK (ring trip)");
	listen_for(&b, 0.2);
	listen_for(&a, 0.1);
	key(&b, "1");
	a.first_energy = 0;
	listen_for(&a, 0.3);
	check(a.first_energy > 0, "ch%d hears the DTMF ch%d keyed (audio crosses the loop)", a_no, b_no);
	t0 = now();
	hook(&b, DAHDI_ONHOOK, "ONHOOK (clear)");
	e = await_event(&a, 1.0, onhook);
	check(e, "ch%d sees ONHOOK (battery drop) %.0f ms after ch%d cleared", a_no, (now() - t0) * 1000, b_no);
	hook(&a, DAHDI_ONHOOK, "ONHOOK");
	listen_for(&b, 1.6);
	close(a.fd);
	close(b.fd);
	return 0;
}

/* One channel of the load test: bring the call up, wait for the continuous tone, check it for gaps. */
static int load_one(int ch, const char *dnis, const char *keys, double secs, double up_by, double check_until)
{
	struct line l;
	double wait, checked_from, longest;
	int nstalls;
	line_open(&l, ch);
	if (!strcmp(l.sig, "fxoks")) {
		if (ring_until_answer(&l, 4) < 0) {
			check(0, "ch%d (fxoks): telvox answered", ch);
			return 1;
		}
	} else if (!strcmp(l.sig, "e&m")) {
		if (em_seize(&l, dnis, 0))
			return 1;
	}
	/* The prompt, then the keys that send the flow to its endless tone. */
	if (await_energy(&l, 8.0) < 0) {
		check(0, "ch%d (%s): hears telvox's prompt", ch, l.sig);
		return 1;
	}
	listen_for(&l, 0.3);
	if (key(&l, keys) < 0) {
		check(0, "ch%d (%s): keyed \"%s\"", ch, l.sig, keys);
		return 1;
	}
	/* Everyone is up by up_by; from then on the tone must flow without a gap until check_until. */
	wait = up_by - (now() - t_start);
	listen_for(&l, wait > 1.5 ? wait : 1.5);
	if (await_energy(&l, 3.0) < 0) {
		check(0, "ch%d (%s): hears telvox's tone", ch, l.sig);
		return 1;
	}
	listen_for(&l, 0.2);
	l.gap_check = 1;
	l.run = 0;
	checked_from = now() - t_start;
	wait = check_until - (now() - t_start);
	listen_for(&l, wait > 1 ? wait : 1);
	if (l.gaps)
		note("ch%d: first idle gap at %.3f s", ch, l.first_gap);
	nstalls = long_stalls(checked_from - 0.5, &longest);
	if (l.gaps && nstalls && l.gaps <= 2 * nstalls && l.gap_max / 8.0 <= longest + 40) {
		check(l.gap_samples_seen >= (long)(secs * 8000 * 0.9),
		      "ch%d (%s): %.1f s of telvox's tone; %d idle gap(s) (the longest %.1f ms) fall in %d stall(s) of the "
		      "whole guest by the host (the longest %.0f ms, more than telvox keeps queued): not telvox's",
		      ch, l.sig, l.gap_samples_seen / 8000.0, l.gaps, l.gap_max / 8.0, nstalls, longest);
	} else {
		check(l.gaps == 0 && l.gap_samples_seen >= (long)(secs * 8000 * 0.9),
		      "ch%d (%s): %.1f s of telvox's tone, %d idle gap(s) (%.1f ms in all, the longest %.1f ms; %d long "
		      "stall(s) of the guest)",
		      ch, l.sig, l.gap_samples_seen / 8000.0, l.gaps, l.gap_total / 8.0, l.gap_max / 8.0, nstalls);
	}
	if (strcmp(l.sig, "clear"))
		exchange_clears(&l, 4.0);
	close(l.fd);
	return 0;
}

static int scenario_load(const char *dnis, const char *keys, double secs, int n, char **chans)
{
	/* Bring-up: rings are counted by telvox, so allow for the slowest (answer after a few rings). */
	double up_by = (now() - t_start) + 22.0, check_until = up_by + 6.0 + secs;
	int i, status, failed = 0;
	pid_t pids[MAXLINES], watcher = -1;
	double longest = 0;
	int nlong;
	if (n > MAXLINES)
		n = MAXLINES;
	stalls = mmap(NULL, sizeof *stalls, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stalls == MAP_FAILED) {
		stalls = NULL;
	} else {
		memset(stalls, 0, sizeof *stalls);
		watcher = fork();
		if (watcher == 0) {
			watch_stalls();
			_exit(0);
		}
	}
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			load_one(atoi(chans[i]), dnis, keys, secs, up_by, check_until);
			fflush(stdout);
			_exit(failures > 100 ? 100 : failures);
		}
	}
	for (i = 0; i < n; i++) {
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	if (stalls) {
		stalls->stop = 1;
		waitpid(watcher, &status, 0);
		for (i = 0; i < stalls->n; i++)
			note("the guest stalled %.0f ms at %.3f s", stalls->ms[i], stalls->at[i]);
		nlong = long_stalls(0, &longest);
		note("%d stall(s) of %d ms or more, %d of them %d ms or more (the longest %.0f ms)", stalls->n,
		     STALL_MIN_MS, nlong, STALL_EXCUSE_MS, longest);
	}
	check(failed == 0, "%d of %d channels carried the call and the tone without a gap", n - failed, n);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_start = now();
	if (argc >= 4 && !strcmp(argv[1], "selftest")) {
		scen = "selftest";
		scenario_selftest(atoi(argv[2]), atoi(argv[3]));
	} else if (argc >= 6 && !strcmp(argv[1], "call")) {
		scen = !strcmp(argv[5], "exchange") ? "call-exchange-clears" : "call-telvox-clears";
		scenario_call(atoi(argv[2]), atoi(argv[3]), argv[4], argv[5], argc > 6 ? atof(argv[6]) : 8.0);
	} else if (argc >= 5 && !strcmp(argv[1], "emwink")) {
		scen = "em-wink";
		scenario_emwink(atoi(argv[2]), argv[3], argv[4], argc > 5 ? atof(argv[5]) : 8.0);
	} else if (argc >= 6 && !strcmp(argv[1], "load")) {
		scen = "load";
		scenario_load(argv[2], argv[3], atof(argv[4]), argc - 5, argv + 5);
	} else {
		fprintf(stderr, "usage: exchange selftest FXS FXO | call CH RINGS KEYS exchange|telvox [PROMPT_S] |\n"
				"       emwink CH DNIS KEYS [PROMPT_S] | load DNIS KEYS SECONDS CH...\n");
		return 2;
	}
	bad = failures;
	printf("SCENARIO %s %s %.1f\n", scen, bad ? "FAIL" : "PASS", now() - t_start);
	return bad > 100 ? 100 : bad;
}
