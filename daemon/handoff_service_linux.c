/* The rendezvous on Linux: there is none. A memfd can ride on the Unix
 * socket, so handoff_send attaches it to the block reply itself (SCM_RIGHTS)
 * and the client finds it in that very message; nothing waits to be
 * fetched, and there is no service to take or thread to run. */
#include "handoff_service.h"

#include <errno.h>

int handoff_service_start(const char *service_name)
{
    (void)service_name;
    return 0;
}

void handoff_service_stop(void) {}

void handoff_service_free(void) {}

int handoff_offer(int sock, const handoff_object *obj)
{
    (void)sock;
    return obj->fd >= 0 ? 0 : -EBADF;
}

/* Nothing was left waiting: the descriptor went with the reply, or not. */
void handoff_withdraw(const handoff_object *obj) { (void)obj; }
