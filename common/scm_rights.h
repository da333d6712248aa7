/* The descriptors a message brought (SCM_RIGHTS control data), read so
 * that every one that arrived can be closed and nothing past the control
 * bytes the kernel wrote is read.
 *
 * Why the byte count and not only cmsg_len: xnu installs every descriptor
 * of a message in the receiver even when the control buffer is too small
 * (bsd/kern/uipc_socket.c soreceive_ctl calls unp_externalize before
 * copyout_control truncates), and copies the header unchanged, so
 * cmsg_len can describe more descriptors than the buffer holds. Linux
 * trims cmsg_len and closes the excess itself (net/core/scm.c
 * scm_detach_fds). A caller gives recvmsg room for the most descriptors one
 * message can carry (HANDOFF_RECV_FDS_MAX in each handoff_*.c), so that
 * on both kernels every descriptor that arrived is in the buffer. */
#ifndef MEMPOOL_SCM_RIGHTS_H
#define MEMPOOL_SCM_RIGHTS_H

#include <stddef.h>
#include <sys/socket.h>

/* Copies up to `cap` of the descriptors in msg's control data to fds and
 * closes any past `cap`; returns how many arrived (those kept plus those
 * closed). msg->msg_controllen is the byte count recvmsg returned. */
size_t scm_rights_take(const struct msghdr *msg, int *fds, size_t cap);

/* Closes fds[0..n). */
void scm_rights_close(const int *fds, size_t n);

#endif
