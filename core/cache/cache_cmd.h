/* cache_cmd.h — `evallua cache stats|clear [--cache PATH]`. */
#ifndef EVALLUA_CACHE_CACHE_CMD_H
#define EVALLUA_CACHE_CACHE_CMD_H

#include <stdio.h>

/* Run subcommand sub ("stats" or "clear") on the cache at path (NULL: cache_default_path()),
   printing the report to out and errors to errout. A missing cache file is reported, not
   created. Returns the exit status: 0 done, 2 bad usage or a cache error. */
int cache_cmd_run(const char *sub, const char *path, FILE *out, FILE *errout);

#endif
