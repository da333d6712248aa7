/* Header first, then the length it declares (frame_stream.h). */
#include "frame_stream.h"

#include <errno.h>

/* A descriptor that came with this read joins the frame's, if it may. */
static int merge_object(handoff_object *obj, handoff_object *got)
{
    if (handoff_object_empty(got))
        return 0;
    if (!handoff_object_empty(obj)) {
        handoff_object_close(got);
        return -EPROTO;
    }
    *obj = *got;
    return 0;
}

static ssize_t read_some(int sock, unsigned char *frame, size_t *len, size_t want,
                         handoff_object *obj)
{
    handoff_object got = HANDOFF_OBJECT_NONE;
    ssize_t n = handoff_recv(sock, frame + *len, want - *len, obj != NULL ? &got : NULL);
    if (n > 0 && obj != NULL && merge_object(obj, &got) != 0)
        n = -EPROTO;
    if (n > 0)
        *len += (size_t)n;
    return n;
}

ssize_t frame_stream_read(int sock, unsigned char frame[PROTO_MAX_FRAME], size_t *len,
                          handoff_object *obj)
{
    for (;;) {
        size_t want = *len < PROTO_HEADER_SIZE ? PROTO_HEADER_SIZE : proto_frame_size(frame);
        if (*len == want) {
            *len = 0;
            return (ssize_t)want;
        }
        ssize_t n = read_some(sock, frame, len, want, obj);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            return -EAGAIN; /* the frame so far stays, and so does its object */
        if (n <= 0) {
            if (obj != NULL)
                handoff_object_close(obj);
            return n;
        }
    }
}
