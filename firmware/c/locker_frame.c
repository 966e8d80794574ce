/* locker_frame: see locker_frame.h. */
#include "locker_frame.h"

uint16_t locker_crc16(const char *bytes, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        /* In 16 bits throughout: on a 16-bit int, 0xFF << 8 as int overflows. */
        crc ^= (uint16_t)((uint16_t)(uint8_t)bytes[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* A writer into a caller's buffer that remembers running out of room. */
struct out {
    char *buf;
    size_t cap;
    size_t len;
    int full;
};

static void put(struct out *o, char c)
{
    /* One byte is always kept for the NUL. */
    if (o->len + 1 >= o->cap) {
        o->full = 1;
        return;
    }
    o->buf[o->len++] = c;
}

static void put_u64(struct out *o, uint64_t v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        put(o, digits[--n]);
    }
}

static const char HEX[] = "0123456789ABCDEF";

/* Append "*CRC\n" over everything written so far; the frame's length, or -1. */
static int finish(struct out *o)
{
    uint16_t crc;
    /* The line without its newline: payload, '*', four hex digits. */
    if (o->full || o->len + 5 > LOCKER_FRAME_MAX) {
        goto refuse;
    }
    crc = locker_crc16(o->buf, o->len);
    put(o, '*');
    for (int shift = 12; shift >= 0; shift -= 4) {
        put(o, HEX[(crc >> shift) & 0xF]);
    }
    put(o, '\n');
    if (o->full) {
        goto refuse;
    }
    o->buf[o->len] = '\0';
    return (int)o->len;
refuse:
    if (o->cap > 0) {
        o->buf[0] = '\0';
    }
    return -1;
}

/* Append `body`: printable ASCII without '*', not only spaces. */
static int put_body(struct out *o, const char *body)
{
    int words = 0;
    if (body == NULL) {
        return -1;
    }
    for (const char *p = body; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7E || c == '*') {
            return -1;
        }
        words |= c != ' ';
        put(o, (char)c);
    }
    return words ? 0 : -1;
}

int locker_frame(char *out, size_t cap, uint16_t seq, const char *body)
{
    struct out o = { out, cap, 0, 0 };
    put_u64(&o, seq);
    put(&o, ' ');
    if (put_body(&o, body) != 0) {
        o.full = 1;
    }
    return finish(&o);
}

int locker_event(char *out, size_t cap, uint16_t seq, uint64_t t_ms, const char *event)
{
    struct out o = { out, cap, 0, 0 };
    put_u64(&o, seq);
    put(&o, ' ');
    put(&o, 'E');
    put(&o, 'V');
    put(&o, ' ');
    put_u64(&o, t_ms);
    put(&o, ' ');
    if (put_body(&o, event) != 0) {
        o.full = 1;
    }
    return finish(&o);
}
