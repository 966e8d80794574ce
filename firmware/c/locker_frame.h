/*
 * locker_frame: the framing of the locker console protocol
 * (firmware/proto/PROTOCOL.md) for a firmware written in C.
 *
 * Copy locker_frame.h and locker_frame.c into your firmware. They need no
 * heap, no stdio and no libc beyond <stddef.h> and <stdint.h>: a frame is
 * built in a buffer you own and written to your UART as it is.
 *
 *     char line[LOCKER_FRAME_MAX + 2];
 *     int n = locker_event(line, sizeof line, seq++, uptime_ms(), "door S1 open");
 *     if (n > 0) uart_write(line, (size_t)n);      // "17 EV 120450 door S1 open*XXXX\n"
 *
 * The harness's decoder (locker-proto, in Rust) reads what these write; the
 * test firmware/proto/tests/c_frame.rs builds this file and checks it.
 */
#ifndef LOCKER_FRAME_H
#define LOCKER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest line either side may send, without its newline. */
#define LOCKER_FRAME_MAX 160

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout)
 * of `len` bytes: the checksum every frame carries. */
uint16_t locker_crc16(const char *bytes, size_t len);

/* Write the frame "<seq> <body>*<CRC>\n" and a terminating NUL into `out`
 * (which must not overlap `body`: format the body into a buffer of its own)
 * (`cap` bytes). Returns the frame's length with its newline (without the
 * NUL), or -1 when the body is empty or only spaces, holds a byte outside
 * printable ASCII or a `*`, or would make the line longer than
 * LOCKER_FRAME_MAX, or when `out` is too small; `out` then holds an empty
 * string. */
int locker_frame(char *out, size_t cap, uint16_t seq, const char *body);

/* The event frame "<seq> EV <t_ms> <event>*<CRC>\n": `event` is the event
 * as PROTOCOL.md words it ("door S1 open", "display \"ENTER CODE\"").
 * Returns as locker_frame does. */
int locker_event(char *out, size_t cap, uint16_t seq, uint64_t t_ms, const char *event);

#ifdef __cplusplus
}
#endif

#endif /* LOCKER_FRAME_H */
