// include/fedbundle/util/config.h: strict JSON configuration files.
// A config is a JSON object; its keys are described by tables of fields
// (a schema) grouped in sections: a section with an empty name holds
// top-level keys, a named section is a nested object ("train": {...}).
// Every key must be known and of the right type and range: an unknown key,
// a wrong type, an out-of-range value or a duplicate key is an error whose
// detail names the file and the key path, e.g.
//   "run.json: train.lr: expected a number, got a string".
// Keys absent from the file keep the value already in the target struct,
// so callers fill in defaults first, unless the field is required.
// Beyond schemas: fb_config_each walks an object or array whose keys are
// not known in advance (handing each value over as its JSON text), and
// fb_config_write_string writes a JSON string for hand-written output.
// cJSON is used only inside config.c: no cJSON type crosses this header.
// Thread-safety: functions are reentrant.
#ifndef FB_INCLUDE_FEDBUNDLE_CONFIG_H
#define FB_INCLUDE_FEDBUNDLE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fedbundle/util/err.h"

enum fb_cfg_type {
	FB_CFG_U32,      // uint32_t, integral JSON number in [min, max]
	FB_CFG_U64,      // uint64_t, integral number in [min, max] (<= 2^53)
	FB_CFG_DOUBLE,   // double, finite number in [min, max]
	FB_CFG_BOOL,     // bool
	FB_CFG_ENUM,     // int: index of the string in choices
	FB_CFG_U32_LIST, // uint32_t array of at most list_max in [min, max];
			 // its length is stored at count_offset (uint32_t)
	FB_CFG_STRING,   // char[str_cap], NUL-terminated
	FB_CFG_DOUBLE_OR_NULL, // double like FB_CFG_DOUBLE; null gives NAN
	FB_CFG_OBJECT_LIST,    // array of at most list_max objects, each
			       // parsed with the table sub into the struct
			       // at offset + k * elem_size; the count is
			       // stored at count_offset (uint32_t)
};

struct fb_cfg_field {
	const char *name;
	enum fb_cfg_type type;
	size_t offset; // offsetof the value in the section's target struct
	double min;
	double max;
	const char *const *choices;     // FB_CFG_ENUM: NULL-terminated names
	size_t list_max;                // FB_CFG_U32_LIST, FB_CFG_OBJECT_LIST
	size_t count_offset;            // FB_CFG_U32_LIST, FB_CFG_OBJECT_LIST
	size_t str_cap;                 // FB_CFG_STRING
	const char *help;               // one line for --help and the docs
	const struct fb_cfg_field *sub; // FB_CFG_OBJECT_LIST: element keys
	size_t n_sub;                   // FB_CFG_OBJECT_LIST
	size_t elem_size;               // FB_CFG_OBJECT_LIST: element bytes
	bool required; // absent from its object: "label: path: missing"
};

// Several sections may share a name: their tables together make the
// schema of that object (a key is looked up in each, in order).
struct fb_cfg_section {
	const char *name; // "" for top-level keys
	const struct fb_cfg_field *fields;
	size_t n_fields;
	void *target;
};

// Parses JSON text (len bytes; need not be NUL-terminated) into the
// sections' targets. label names the input in error details (a path).
// On error the targets may be partly written: callers parse into a copy.
fb_err fb_config_parse(const char *label, const char *text, size_t len,
		const struct fb_cfg_section *sections, size_t n_sections);

// How fb_config_print_key prints a key: a --help line, or a row of the
// Markdown table of docs/configuration.md (fedbundle config-doc).
enum fb_cfg_style {
	FB_CFG_HELP,     // "  PREFIXname  help [choice|...] (default: V)"
	FB_CFG_MARKDOWN, // "| `PREFIXname` | type | range | default | help |"
};

// Prints one key. target is the key's section target filled with the
// defaults (the value at f->offset is printed as the default), or NULL to
// print no default. An empty string default prints as "none".
void fb_config_print_key(FILE *fp, enum fb_cfg_style style, const char *prefix,
		const struct fb_cfg_field *f, const void *target);

// The header of the Markdown table fb_config_print_key's rows belong to
// (nothing for FB_CFG_HELP).
void fb_config_print_header(FILE *fp, enum fb_cfg_style style);

// Writes f's value in target as JSON text into buf (cap bytes, truncated
// and always NUL-terminated): what fb_config_print_key shows as default.
void fb_config_format_value(char *buf, size_t cap, const struct fb_cfg_field *f,
		const void *target);

// Reads the file at path (at most 1 MiB) and parses it.
fb_err fb_config_load(const char *path, const struct fb_cfg_section *sections,
		size_t n_sections);

// The kind of a JSON value, as fb_config_each reports it.
enum fb_cfg_kind {
	FB_CFG_KIND_NULL,
	FB_CFG_KIND_BOOL,
	FB_CFG_KIND_NUMBER,
	FB_CFG_KIND_STRING,
	FB_CFG_KIND_ARRAY,
	FB_CFG_KIND_OBJECT,
};

// "a number", "an array"...: for "expected X, got Y" details.
const char *fb_config_kind_name(enum fb_cfg_kind kind);

// One member of an object or element of an array. The strings live until
// the callback returns.
struct fb_cfg_item {
	const char *key; // the member's name; NULL for an array element
	size_t index;    // its position, from 0
	enum fb_cfg_kind kind;
	const char *text; // the value as compact JSON ("1.5", "\"a\"", "[1,2]")
	const char *string; // FB_CFG_KIND_STRING: the decoded string; else NULL
};

typedef fb_err (*fb_config_each_fn)(void *ctx, const struct fb_cfg_item *item);

// Parses JSON text (len bytes) that must be one value of kind want
// (FB_CFG_KIND_OBJECT or FB_CFG_KIND_ARRAY) and calls fn on each member in
// order; the first error fn returns stops the walk and is returned. Keys
// are not checked for duplicates (fn sees each). Errors name label and
// path: "label: path: expected an object, got an array" (path "" for the
// whole text), invalid JSON or trailing characters as fb_config_parse.
fb_err fb_config_each(const char *label, const char *path, const char *text,
		size_t len, enum fb_cfg_kind want, fb_config_each_fn fn,
		void *ctx);

// Writes s as a JSON string, quoted and escaped the way cJSON prints it
// ('"', '\\', \b \f \n \r \t, other control bytes as \u00XX; other
// bytes as they are). Returns false on a write error.
bool fb_config_write_string(FILE *fp, const char *s);

#endif
