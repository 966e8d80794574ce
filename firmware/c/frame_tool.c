/*
 * A host program around locker_frame.c, for its test: each input line is
 * "F <seq> <body>" (a frame), "E <seq> <t_ms> <event>" (an event frame) or
 * "S <cap> <seq> <body>" (a frame into a buffer of only <cap> bytes); each
 * output line is the frame, "REFUSED" when the encoder refused it, or
 * "OVERRUN" when it wrote past the buffer it was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locker_frame.h"

int main(void)
{
    char in[1024];
    char line[LOCKER_FRAME_MAX + 2];
    while (fgets(in, sizeof in, stdin) != NULL) {
        in[strcspn(in, "\n")] = '\0';
        char *rest = NULL;
        int n = -1;
        if (in[0] == 'F' && in[1] == ' ') {
            unsigned long seq = strtoul(in + 2, &rest, 10);
            n = locker_frame(line, sizeof line, (uint16_t)seq, rest + (*rest == ' '));
        } else if (in[0] == 'S' && in[1] == ' ') {
            char small[LOCKER_FRAME_MAX + 2 + 16];
            unsigned long cap = strtoul(in + 2, &rest, 10);
            unsigned long seq = strtoul(rest, &rest, 10);
            if (cap > LOCKER_FRAME_MAX + 2) {
                cap = LOCKER_FRAME_MAX + 2;
            }
            memset(small, '#', sizeof small);
            n = locker_frame(small, cap, (uint16_t)seq, rest + (*rest == ' '));
            for (size_t i = cap; i < sizeof small; i++) {
                if (small[i] != '#') {
                    puts("OVERRUN");
                    n = -2;
                    break;
                }
            }
            if (n >= 0) {
                memcpy(line, small, (size_t)n + 1);
            } else if (n == -2) {
                continue;
            }
        } else if (in[0] == 'E' && in[1] == ' ') {
            unsigned long seq = strtoul(in + 2, &rest, 10);
            unsigned long long t = strtoull(rest, &rest, 10);
            n = locker_event(line, sizeof line, (uint16_t)seq, (uint64_t)t, rest + (*rest == ' '));
        }
        if (n < 0) {
            puts("REFUSED");
        } else {
            fputs(line, stdout);
        }
    }
    return 0;
}
