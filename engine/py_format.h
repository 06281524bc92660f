/* strata_py_format: text exactly as Python writes it, where nixpkgs' image
 * scripts put Python's output into images (configs, manifest.json, history
 * comments).
 *
 * strata_py_format_json: JSON text exactly as Python's json.dumps(obj, indent=4)
 * writes it, the form of the config and manifest.json in nixpkgs' image
 * archives: keys in the object's order, items and members one per line
 * indented by 4 spaces per level, ", " never (a line ends at ','), ": "
 * after keys, empty containers as [] and {}, no trailing newline, and
 * ensure_ascii: '"', '\\' and the short escapes \b \f \n \r \t, every other
 * character outside ' '..'~' as \uXXXX (lowercase hex, astral characters
 * as surrogate pairs). Numbers as Python prints them: integers in decimal,
 * reals as repr(float) (the shortest digits that round-trip; 1e+16 style
 * from 1e16 up and below 1e-4).
 *
 * strata_py_format_repr_list: repr() of a list of str, as "store paths: %s" puts it
 * in history comments: ['a', 'b'], each item quoted with ' (or " when it
 * holds a ' and no "), \\ \' \t \n \r escaped, other control characters
 * as \xNN, invalid UTF-8 bytes as \udcNN (surrogateescape), and the
 * characters Python does not print (separators, format characters, private
 * use) as \xNN, \uNNNN or \UNNNNNNNN. Python also escapes unassigned code
 * points, which this (having no Unicode tables) prints as they are.
 *
 * Threads: reentrant. */
#ifndef STRATA_PY_FORMAT_H
#define STRATA_PY_FORMAT_H

#include <jansson.h>
#include <stddef.h>

/* New NUL-terminated strings (caller frees). */
char *strata_py_format_json(const json_t *j);
char *strata_py_format_repr_list(const char *const *items, size_t n);

#endif
