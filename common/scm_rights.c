/* SCM_RIGHTS control data, walked within the bytes the kernel wrote
 * (scm_rights.h says why cmsg_len alone cannot be trusted on xnu). */
#include "scm_rights.h"

#include <string.h>
#include <unistd.h>

/* The descriptor bytes of one header that lie inside the control buffer. */
static size_t data_bytes(const struct msghdr *msg, const struct cmsghdr *c)
{
    const unsigned char *end = (const unsigned char *)msg->msg_control + msg->msg_controllen;
    const unsigned char *data = CMSG_DATA(c);
    if (data > end)
        return 0;
    size_t claimed = c->cmsg_len - CMSG_LEN(0);
    size_t present = (size_t)(end - data);
    return claimed < present ? claimed : present;
}

/* Own walk instead of CMSG_NXTHDR: Darwin's macro loops forever on a
 * cmsg_len of 0, and neither checks that a header is whole. */
static const struct cmsghdr *next_header(const struct msghdr *msg, const struct cmsghdr *c)
{
    size_t offset = (size_t)((const unsigned char *)c - (const unsigned char *)msg->msg_control);
    size_t step = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
    if (step > msg->msg_controllen - offset)
        return NULL;
    offset += step;
    if (msg->msg_controllen - offset < sizeof(struct cmsghdr))
        return NULL;
    return (const struct cmsghdr *)((const unsigned char *)msg->msg_control + offset);
}

static const struct cmsghdr *first_header(const struct msghdr *msg)
{
    if (msg->msg_control == NULL || msg->msg_controllen < sizeof(struct cmsghdr))
        return NULL;
    return (const struct cmsghdr *)msg->msg_control;
}

size_t scm_rights_take(const struct msghdr *msg, int *fds, size_t cap)
{
    size_t n = 0;
    for (const struct cmsghdr *c = first_header(msg); c != NULL && c->cmsg_len >= CMSG_LEN(0);
         c = next_header(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = data_bytes(msg, c) / sizeof(int);
        for (size_t i = 0; i < count; i++, n++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (n < cap)
                fds[n] = fd;
            else
                close(fd);
        }
    }
    return n;
}

void scm_rights_close(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}
