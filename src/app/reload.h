/* reload.h: the control plane driven by signals: config reload (SIGHUP),
 * lame duck mode (SIGUSR2), the ports file, startup warnings. Runs on the
 * main thread; changes reach the workers as commands (worker_command). */
#ifndef GNATSD_RELOAD_H
#define GNATSD_RELOAD_H

#include "conf/opts.h"

void server_reload(void);
/* Returns true when the server should now shut down. */
bool server_lame_duck(void);
void ports_file_write(void);
void ports_file_remove(void);
void reload_warn_plaintext(const opts_t *o);

#endif
