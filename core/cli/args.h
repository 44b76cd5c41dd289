/* args.h — command-line flags: one table of every flag with all the spellings users type
 * (evallua's own, lm-eval's and Evalchemy's), parsed into a Lua table of canonical names. */
#ifndef EVALLUA_CLI_ARGS_H
#define EVALLUA_CLI_ARGS_H

#include <lua.h>
#include <stdio.h>

/* Parse argv[first..argc) for `command` into a new table on the Lua stack:
   canonical flag names -> string (or true for bare booleans, or an array for repeatable
   flags), and `positional` -> array of the other arguments. Returns 0, or -1 with a message
   naming the bad flag (and the nearest known spelling) in err. */
int args_parse(lua_State *L, const char *command, int argc, char **argv, int first,
               char *err, size_t errlen);

/* Print the help of one command ("run", "list", "show", "exec") or the overview (NULL). */
void args_print_help(FILE *out, const char *command);

#endif
