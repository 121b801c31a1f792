/* version.h: what this build of gnatsd-c is, beside the nats-server version it
 * speaks (SERVER_VERSION in common.h stays what clients gate features on and
 * what tools parse from `-v`).
 *
 *   GNATSD_C_VERSION  gnatsd-c's own version: "0.2.0" at a tag, "0.1.0-dev.2cde44b"
 *                     between tags, "-dirty" appended for uncommitted changes
 *                     (tools/version.sh says how it is derived, also without git)
 *   GNATSD_C_GIT      the short git commit, "" when unknown (nats-server's gitCommit
 *                     is empty then too: "Git: [not set]", no /varz git_commit)
 *
 * Both are string literals. The Makefile writes them into
 * $(BUILD)/gen/gnatsd_c_version.h, replacing that file only when they change, and
 * names it with -DGNATSD_C_VERSION_FILE: the compiler's dependency files then
 * rebuild exactly the objects that include this header when the commit moves. A
 * plain -D of the values would leave those objects stale (make does not see a
 * changed command line), and making it a dependency of every object would rebuild
 * the whole tree for each commit. A -DGNATSD_C_VERSION (and -DGNATSD_C_GIT) given
 * directly wins, for a packager's own build; with neither, the defaults below. */
#ifndef GNATSD_VERSION_H
#define GNATSD_VERSION_H

#if defined(GNATSD_C_VERSION_FILE) && !defined(GNATSD_C_VERSION)
#include GNATSD_C_VERSION_FILE
#endif

#ifndef GNATSD_C_VERSION
#define GNATSD_C_VERSION "unknown"
#endif
#ifndef GNATSD_C_GIT
#define GNATSD_C_GIT ""
#endif

#endif
