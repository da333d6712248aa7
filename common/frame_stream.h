/* Frames on a stream socket: macOS's client protocol (no SOCK_SEQPACKET
 * for AF_UNIX there), and Linux's in the tests-only MEMPOOL_STREAM_SOCKETS
 * build. Shared by the daemon (daemon/server.c, non-blocking sockets) and
 * the client library (client/session.c, blocking), so that the one framing
 * both sides rely on is the one the unit tests feed split headers, single
 * bytes, oversized lengths and hang-ups (tests/unit/check_frame_stream.c). */
#ifndef MEMPOOL_FRAME_STREAM_H
#define MEMPOOL_FRAME_STREAM_H

#include <stddef.h>
#include <sys/types.h>

#include "handoff.h"
#include "proto.h"

/* Reads what `sock` has of the current frame into frame[*len..]: the
 * header first, then the payload length it declares (proto_frame_size,
 * which never asks for more than PROTO_MAX_FRAME), and never past the
 * frame, so what follows stays in the socket and keeps a poll readable.
 * *len is the frame's bytes so far (0 to begin one).
 *
 * obj NULL: nothing may come attached; a descriptor is closed and the
 * result is -EPROTO. Otherwise a descriptor that arrives with any part of
 * the frame lands in *obj (HANDOFF_OBJECT_NONE when the frame began); a
 * second one is -EPROTO. On every failure *obj is closed.
 *
 * Returns the frame's length once it is whole (and sets *len to 0 for the
 * next), -EAGAIN while it is not (non-blocking socket), 0 when the peer hung
 * up (mid-frame too), or -errno. */
ssize_t frame_stream_read(int sock, unsigned char frame[PROTO_MAX_FRAME], size_t *len,
                          handoff_object *obj);

#endif
