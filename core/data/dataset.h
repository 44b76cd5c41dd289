/* dataset.h — find and read benchmark data files laid out like the Hugging Face hub:
 * <data-dir>/<dataset id>/<config>/<split>.<ext>, config "default" when there is none.
 *
 * Formats, by extension (a trailing .gz is read through zlib): .jsonl (one JSON object per
 * non-blank line), .json (an array of objects, an object with a "data" array, or JSON Lines
 * in a .json file), .csv and .tsv (header row, RFC 4180 quoting, every value a string).
 * Documents keep the dataset's own column names and JSON value types. */
#ifndef EVALLUA_DATA_DATASET_H
#define EVALLUA_DATA_DATASET_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "util/buf.h"

/* Find the file of one split, trying .jsonl, .jsonl.gz, .json, .json.gz, .csv, .csv.gz,
 * .tsv, .tsv.gz in that order: writes its path into path (pathlen bytes) and returns 0, or
 * returns -1 with err naming the path expected and, when the config folder exists, the
 * splits found there. config NULL or "" means "default". */
int dataset_find(const char *data_dir, const char *id, const char *config, const char *split,
                 char *path, size_t pathlen, char *err, size_t errlen);

/* Read a data file into a JSON array of document objects (an empty array for an empty
 * file). Returns a tree the caller cJSON_Delete's, or NULL with err set ("PATH:LINE: ..."
 * for a malformed line or row). */
cJSON *dataset_read(const char *path, char *err, size_t errlen);

/* 1 when path names a JSON Lines file (.jsonl, .jsonl.gz). */
int dataset_is_jsonl(const char *path);

/* The bytes of a data file (gzip decompressed, a leading UTF-8 byte order mark dropped),
 * NUL-terminated after text->len bytes, for readers that take the text itself. Returns 0,
 * or -1 with err set. */
int dataset_read_text(const char *path, buf *text, char *err, size_t errlen);

#endif
