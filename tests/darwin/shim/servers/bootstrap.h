/* Cross-build shim, on the include path only for tests/darwin/cross-build.sh
 * (after every real header folder): Zig 0.11's macOS headers have no
 * <servers/bootstrap.h>. On a Mac the SDK's own file is used.
 *
 * The declarations the daemon's Mach rendezvous needs, with the signatures
 * of Apple's launchd header (liblaunch/bootstrap.h); the functions live in
 * libSystem (libxpc), whose stubs Zig ships. */
#ifndef __BOOTSTRAP_H__
#define __BOOTSTRAP_H__

#include <mach/message.h>
#include <mach/std_types.h>
#include <sys/cdefs.h>

__BEGIN_DECLS

#define BOOTSTRAP_MAX_NAME_LEN 128

typedef char name_t[BOOTSTRAP_MAX_NAME_LEN];

#define BOOTSTRAP_SUCCESS 0
#define BOOTSTRAP_NOT_PRIVILEGED 1100
#define BOOTSTRAP_NAME_IN_USE 1101
#define BOOTSTRAP_UNKNOWN_SERVICE 1102
#define BOOTSTRAP_SERVICE_ACTIVE 1103
#define BOOTSTRAP_BAD_COUNT 1104
#define BOOTSTRAP_NO_MEMORY 1105
#define BOOTSTRAP_NO_CHILDREN 1106

/* The task's bootstrap port; set before main() runs. */
extern mach_port_t bootstrap_port;

/* Receive right for a MachServices name of the caller's launchd job. */
kern_return_t bootstrap_check_in(mach_port_t bp, const name_t service_name,
                                 mach_port_t *sp);

/* Send right for a service registered under service_name. */
kern_return_t bootstrap_look_up(mach_port_t bp, const name_t service_name,
                                mach_port_t *sp);

const char *bootstrap_strerror(kern_return_t r);

__END_DECLS

#endif /* __BOOTSTRAP_H__ */
