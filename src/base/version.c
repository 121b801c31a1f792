/* version.c: the one file compiled with the build's version macros.
 *
 * The Makefile writes GNATSD_C_VERSION and GNATSD_C_GIT (tools/version.sh) into
 * $(BUILD)/gen/gnatsd_c_version.h, replacing that file only when they change, and
 * names it with -DGNATSD_C_VERSION_FILE: the compiler's dependency file for this
 * object then rebuilds it when the commit moves. A plain -D of the values would
 * leave the object stale (make does not see a changed command line). A
 * -DGNATSD_C_VERSION (and -DGNATSD_C_GIT) given directly wins, for a packager's
 * own build; with neither, "unknown" and no commit. */
#include "base/version.h"

#if defined(GNATSD_C_VERSION_FILE) && !defined(GNATSD_C_VERSION)
#include GNATSD_C_VERSION_FILE
#endif
#ifndef GNATSD_C_VERSION
#define GNATSD_C_VERSION "unknown"
#endif
#ifndef GNATSD_C_GIT
#define GNATSD_C_GIT ""
#endif

const char gnatsd_c_version[] = GNATSD_C_VERSION;
const char gnatsd_c_git[] = GNATSD_C_GIT;

const char *gnatsd_c_git_or_not_set(void)
{
    return gnatsd_c_git[0] ? gnatsd_c_git : "not set";
}

const char *gnatsd_c_ident(void)
{
    return gnatsd_c_git[0] ? "gnatsd-c " GNATSD_C_VERSION " (git " GNATSD_C_GIT ")"
                           : "gnatsd-c " GNATSD_C_VERSION;
}
