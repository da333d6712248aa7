/* The daemon's side of the handoff rendezvous, one file per OS:
 *
 *   Darwin  handoff_service_darwin.c: the Mach service (bootstrap_check_in
 *           on the plist's MachServices name) and a thread that answers
 *           each client's nonce with the memory entry offered under it,
 *           after checking the sender's audit token against the socket the
 *           nonce went out on (Chromium's MachPortRendezvousServer);
 *   Linux   handoff_service_linux.c: nothing to do, since the memfd rides
 *           in the reply's own SCM_RIGHTS message.
 *
 * Called from the request loop; 0 or -errno. */
#ifndef MEMPOOL_HANDOFF_SERVICE_H
#define MEMPOOL_HANDOFF_SERVICE_H

#include "handoff.h"

/* Takes the Mach service `service_name` and starts answering on it. */
int handoff_service_start(const char *service_name);
/* Stops answering: no object is handed over after it returns. */
void handoff_service_stop(void);
/* Releases what is still pending and gives the service back. */
void handoff_service_free(void);

/* Offers `obj` (made by handoff_export) to the process at the other end of
 * `sock`, under obj->nonce, for a few seconds; the object stays the
 * caller's to close, the offer holds a reference of its own. Call it
 * before the reply that carries the nonce is sent, so that the client
 * never asks for something not yet offered. */
int handoff_offer(int sock, const handoff_object *obj);

/* Withdraws what handoff_offer offered under obj->nonce, when the reply
 * that announced it could not be sent: nobody will come for it. */
void handoff_withdraw(const handoff_object *obj);

#endif
