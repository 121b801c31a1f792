/* version.h: what this build of gnatsd-c is: its own version and the git commit
 * it was built from, beside the nats-server version it speaks (SERVER_VERSION,
 * common.h: what -v, INFO and /varz "version" say, because clients and tools
 * parse it).
 *
 *   gnatsd_c_version  "0.2.0" at a tag, "0.1.0-dev.2cde44b" between tags,
 *                     "-dirty" appended for uncommitted changes
 *   gnatsd_c_git      the short commit, "" when unknown (nats-server's gitCommit
 *                     is empty then too: "Git: [not set]", no /varz git_commit)
 *
 * tools/version.sh derives both (also without git, from the VERSION file); the
 * Makefile writes them into $(BUILD)/gen/gnatsd_c_version.h and version.c alone
 * includes that, so a new commit recompiles one file (version.c says more). */
#ifndef GNATSD_VERSION_H
#define GNATSD_VERSION_H

extern const char gnatsd_c_version[];
extern const char gnatsd_c_git[];
/* The commit as the startup log's "Git:" field shows it: the commit or "not set". */
const char *gnatsd_c_git_or_not_set(void);
/* "gnatsd-c 0.2.0 (git abc1234)", or "gnatsd-c 0.2.0" without a commit: the
 * one-line identity -h and the man pages print. */
const char *gnatsd_c_ident(void);

#endif
