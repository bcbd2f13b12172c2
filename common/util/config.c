// common/util/config.c: the schema-driven JSON config parser. The cJSON tree
// never leaves this file: values are checked and copied into typed structs,
// then the tree is freed. cJSON's quirks are handled here: lookups are
// case-sensitive (we walk children ourselves), integers are read from
// valuedouble (valueint saturates) and checked to be integral.
#include <cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"

static const char *
type_name(const cJSON *v)
{
	if (cJSON_IsNumber(v)) {
		return "a number";
	}
	if (cJSON_IsString(v)) {
		return "a string";
	}
	if (cJSON_IsBool(v)) {
		return "a boolean";
	}
	if (cJSON_IsNull(v)) {
		return "null";
	}
	if (cJSON_IsArray(v)) {
		return "an array";
	}
	if (cJSON_IsObject(v)) {
		return "an object";
	}
	return "an unknown value";
}

static enum fb_cfg_kind
kind_of(const cJSON *v)
{
	return cJSON_IsNumber(v)            ? FB_CFG_KIND_NUMBER
			: cJSON_IsString(v) ? FB_CFG_KIND_STRING
			: cJSON_IsBool(v)   ? FB_CFG_KIND_BOOL
			: cJSON_IsArray(v)  ? FB_CFG_KIND_ARRAY
			: cJSON_IsObject(v) ? FB_CFG_KIND_OBJECT
					    : FB_CFG_KIND_NULL;
}

const char *
fb_config_kind_name(enum fb_cfg_kind kind)
{
	static const char *const names[] = {"null", "a boolean", "a number",
			"a string", "an array", "an object"};
	return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind]
							       : "a value";
}

static fb_err parse_section(const char *label, const char *prefix,
		const cJSON *obj, const struct fb_cfg_section *s,
		const struct fb_cfg_section *all, size_t n_all, bool top);

static fb_err
read_integral(const char *label, const char *path, const cJSON *v,
		const struct fb_cfg_field *f, double *out)
{
	if (!cJSON_IsNumber(v)) {
		return fb_errorf(FB_EINVAL,
				"%s: %s: expected an integer, got %s", label,
				path, type_name(v));
	}
	double x = v->valuedouble;
	if (!isfinite(x) || floor(x) != x) {
		return fb_errorf(FB_EINVAL, "%s: %s: %g is not an integer",
				label, path, x);
	}
	if (x < f->min || x > f->max) {
		return fb_errorf(FB_EINVAL,
				"%s: %s: %.17g outside %.17g..%.17g", label,
				path, x, f->min, f->max);
	}
	*out = x;
	return FB_OK;
}

static fb_err
read_double(const char *label, const char *path, const cJSON *v,
		const struct fb_cfg_field *f, double *out)
{
	if (!cJSON_IsNumber(v)) {
		return fb_errorf(FB_EINVAL, "%s: %s: expected a number, got %s",
				label, path, type_name(v));
	}
	double x = v->valuedouble;
	if (!isfinite(x) || x < f->min || x > f->max) {
		return fb_errorf(FB_EINVAL, "%s: %s: %g outside %g..%g", label,
				path, x, f->min, f->max);
	}
	*out = x;
	return FB_OK;
}

// Parses an array of objects, each with the table f->sub, into the
// caller's array of structs (FB_CFG_OBJECT_LIST).
static fb_err
set_object_list(const char *label, const char *path, const cJSON *v,
		const struct fb_cfg_field *f, void *target)
{
	if (!cJSON_IsArray(v)) {
		return fb_errorf(FB_EINVAL, "%s: %s: expected an array, got %s",
				label, path, type_name(v));
	}
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n > f->list_max) {
		return fb_errorf(FB_EINVAL,
				"%s: %s: has %zu elements, at most %zu allowed",
				label, path, n, f->list_max);
	}
	char *base = (char *)target + f->offset;
	size_t k = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		char sub[300];
		snprintf(sub, sizeof(sub), "%.256s[%zu]", path, k);
		if (!cJSON_IsObject(e)) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: expected an object, got %s",
					label, sub, type_name(e));
		}
		struct fb_cfg_section s = {
				"", f->sub, f->n_sub, base + k * f->elem_size};
		char prefix[304];
		snprintf(prefix, sizeof(prefix), "%s.", sub);
		fb_err err = parse_section(label, prefix, e, &s, &s, 1, false);
		if (err != FB_OK) {
			return err;
		}
		k++;
	}
	*(uint32_t *)(void *)((char *)target + f->count_offset) = (uint32_t)n;
	return FB_OK;
}

static fb_err
set_field(const char *label, const char *path, const cJSON *v,
		const struct fb_cfg_field *f, void *target)
{
	char *p = (char *)target + f->offset;
	double x;
	fb_err err;
	switch (f->type) {
	case FB_CFG_U32:
		err = read_integral(label, path, v, f, &x);
		if (err == FB_OK) {
			*(uint32_t *)(void *)p = (uint32_t)x;
		}
		return err;
	case FB_CFG_U64:
		err = read_integral(label, path, v, f, &x);
		if (err == FB_OK) {
			*(uint64_t *)(void *)p = (uint64_t)x;
		}
		return err;
	case FB_CFG_DOUBLE_OR_NULL:
		if (cJSON_IsNull(v)) {
			*(double *)(void *)p = NAN;
			return FB_OK;
		}
		if (!cJSON_IsNumber(v)) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: expected a number or null, "
					"got %s",
					label, path, type_name(v));
		}
		return read_double(label, path, v, f, (double *)(void *)p);
	case FB_CFG_DOUBLE:
		return read_double(label, path, v, f, (double *)(void *)p);
	case FB_CFG_BOOL:
		if (!cJSON_IsBool(v)) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: expected true or false, got %s",
					label, path, type_name(v));
		}
		*(bool *)(void *)p = cJSON_IsTrue(v);
		return FB_OK;
	case FB_CFG_ENUM:
		if (!cJSON_IsString(v)) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: expected a string, got %s",
					label, path, type_name(v));
		}
		for (int k = 0; f->choices[k] != NULL; k++) {
			if (strcmp(v->valuestring, f->choices[k]) == 0) {
				*(int *)(void *)p = k;
				return FB_OK;
			}
		}
		{
			char allowed[256] = "";
			for (int k = 0; f->choices[k] != NULL; k++) {
				strncat(allowed, k > 0 ? ", " : "",
						sizeof(allowed) -
								strlen(allowed) -
								1);
				strncat(allowed, f->choices[k],
						sizeof(allowed) -
								strlen(allowed) -
								1);
			}
			return fb_errorf(FB_EINVAL,
					"%s: %s: \"%s\" is not one of: %s",
					label, path, v->valuestring, allowed);
		}
	case FB_CFG_U32_LIST: {
		if (!cJSON_IsArray(v)) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: expected an array, got %s",
					label, path, type_name(v));
		}
		size_t n = (size_t)cJSON_GetArraySize(v);
		if (n == 0 || n > f->list_max) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: needs 1 to %zu elements, has %zu",
					label, path, f->list_max, n);
		}
		uint32_t tmp[64];
		if (n > sizeof(tmp) / sizeof(tmp[0])) {
			return fb_errorf(FB_EINVAL, "%s: %s: too many elements",
					label, path);
		}
		size_t k = 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, v)
		{
			char sub[300];
			snprintf(sub, sizeof(sub), "%.256s[%zu]", path, k);
			err = read_integral(label, sub, e, f, &x);
			if (err != FB_OK) {
				return err;
			}
			tmp[k++] = (uint32_t)x;
		}
		memcpy(p, tmp, n * sizeof(uint32_t));
		*(uint32_t *)(void *)((char *)target + f->count_offset) =
				(uint32_t)n;
		return FB_OK;
	}
	case FB_CFG_STRING:
		if (!cJSON_IsString(v)) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: expected a string, got %s",
					label, path, type_name(v));
		}
		if (strlen(v->valuestring) >= f->str_cap) {
			return fb_errorf(FB_EINVAL,
					"%s: %s: longer than %zu characters",
					label, path, f->str_cap - 1);
		}
		strcpy(p, v->valuestring);
		return FB_OK;
	case FB_CFG_OBJECT_LIST:
		return set_object_list(label, path, v, f, target);
	}
	return fb_errorf(FB_EINVAL, "%s: %s: unsupported field type", label,
			path);
}

// Refuses an object in which a key appears twice (cJSON keeps both).
static fb_err
check_duplicates(const char *label, const char *prefix, const cJSON *obj)
{
	for (const cJSON *a = obj->child; a != NULL; a = a->next) {
		for (const cJSON *b = a->next; b != NULL; b = b->next) {
			if (strcmp(a->string, b->string) == 0) {
				return fb_errorf(FB_EINVAL,
						"%s: %s%s: key appears twice",
						label, prefix, a->string);
			}
		}
	}
	return FB_OK;
}

// The field named key among the tables of every section named like s
// (a section may be made of several tables, e.g. a "round" section of
// the aggregator's own keys plus the shared hyper-parameters, hparams.h),
// and in *in the section that holds it; NULL if none.
static const struct fb_cfg_field *
find_field(const struct fb_cfg_section *s, const struct fb_cfg_section *all,
		size_t n_all, const char *key, const struct fb_cfg_section **in)
{
	for (size_t j = 0; j < n_all + 1; j++) {
		const struct fb_cfg_section *t = j < n_all ? &all[j] : s;
		if (strcmp(t->name, s->name) != 0) {
			continue;
		}
		for (size_t k = 0; k < t->n_fields; k++) {
			if (strcmp(t->fields[k].name, key) == 0) {
				*in = t;
				return &t->fields[k];
			}
		}
	}
	return NULL;
}

// Refuses an object that lacks a required key of s's tables.
static fb_err
check_required(const char *label, const char *prefix, const cJSON *obj,
		const struct fb_cfg_section *s,
		const struct fb_cfg_section *all, size_t n_all)
{
	for (size_t j = 0; j < n_all + 1; j++) {
		const struct fb_cfg_section *t = j < n_all ? &all[j] : s;
		if (strcmp(t->name, s->name) != 0) {
			continue;
		}
		for (size_t k = 0; k < t->n_fields; k++) {
			const char *key = t->fields[k].name;
			bool found = false;
			for (const cJSON *v = obj->child; v != NULL && !found;
					v = v->next) {
				found = strcmp(v->string, key) == 0;
			}
			if (t->fields[k].required && !found) {
				return fb_errorf(FB_EINVAL, "%s: %s%s: missing",
						label, prefix, key);
			}
		}
	}
	return FB_OK;
}

// Parses obj's keys with s's tables; prefix ("", "train.",
// "clients[2].") starts each key's path in error details.
static fb_err
parse_section(const char *label, const char *prefix, const cJSON *obj,
		const struct fb_cfg_section *s,
		const struct fb_cfg_section *all, size_t n_all, bool top)
{
	fb_err err = check_duplicates(label, prefix, obj);
	if (err != FB_OK) {
		return err;
	}
	for (const cJSON *v = obj->child; v != NULL; v = v->next) {
		char path[256];
		snprintf(path, sizeof(path), "%.120s%.120s", prefix, v->string);
		const struct fb_cfg_section *in = NULL;
		const struct fb_cfg_field *f =
				find_field(s, all, n_all, v->string, &in);
		if (f != NULL) {
			err = set_field(label, path, v, f, in->target);
			if (err != FB_OK) {
				return err;
			}
			continue;
		}
		bool is_section = false;
		for (size_t k = 0; top && k < n_all; k++) {
			if (all[k].name[0] != '\0' &&
					strcmp(all[k].name, v->string) == 0) {
				is_section = true;
			}
		}
		if (!is_section) {
			return fb_errorf(FB_EINVAL, "%s: %s: unknown key",
					label, path);
		}
	}
	return check_required(label, prefix, obj, s, all, n_all);
}

// The prefix of a named section's keys: "train." ("" for the top level).
static void
section_prefix(const struct fb_cfg_section *s, char *out, size_t cap)
{
	snprintf(out, cap, "%.100s%s", s->name, s->name[0] != '\0' ? "." : "");
}

// The index of the first section named like sections[k].
static size_t
first_named(const struct fb_cfg_section *sections, size_t k)
{
	size_t j = 0;
	while (strcmp(sections[j].name, sections[k].name) != 0) {
		j++;
	}
	return j;
}

// Parses text into *root: one JSON value and nothing but whitespace
// after it; errors name the line and column of invalid JSON.
static fb_err
parse_root(const char *label, const char *text, size_t len, cJSON **root)
{
	const char *end = NULL;
	cJSON *r = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (r == NULL) {
		const char *at = cJSON_GetErrorPtr();
		size_t line = 1, col = 1;
		for (const char *c = text;
				at != NULL && c < at && c < text + len; c++) {
			if (*c == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		return fb_errorf(FB_EINVAL, "%s:%zu:%zu: invalid JSON", label,
				line, col);
	}
	// Anything but whitespace after the value is an error.
	for (const char *c = end; c != NULL && c < text + len; c++) {
		if (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t' &&
				*c != '\0') {
			cJSON_Delete(r);
			return fb_errorf(FB_EINVAL,
					"%s: trailing characters after the JSON "
					"object",
					label);
		}
	}
	*root = r;
	return FB_OK;
}

fb_err
fb_config_parse(const char *label, const char *text, size_t len,
		const struct fb_cfg_section *sections, size_t n_sections)
{
	cJSON *root = NULL;
	fb_err err = parse_root(label, text, len, &root);
	if (err != FB_OK) {
		return err;
	}
	if (!cJSON_IsObject(root)) {
		err = fb_errorf(FB_EINVAL, "%s: expected a JSON object, got %s",
				label, type_name(root));
		goto out;
	}
	const struct fb_cfg_section *top = NULL;
	for (size_t k = 0; k < n_sections; k++) {
		if (sections[k].name[0] == '\0') {
			top = &sections[k];
		}
	}
	static const struct fb_cfg_section empty = {"", NULL, 0, NULL};
	err = parse_section(label, "", root, top != NULL ? top : &empty,
			sections, n_sections, true);
	for (size_t k = 0; err == FB_OK && k < n_sections; k++) {
		if (sections[k].name[0] == '\0' ||
				first_named(sections, k) != k) {
			continue; // parsed with the first table of its name
		}
		const cJSON *sub = NULL;
		for (const cJSON *v = root->child; v != NULL; v = v->next) {
			if (strcmp(v->string, sections[k].name) == 0) {
				sub = v;
			}
		}
		if (sub == NULL) {
			continue;
		}
		if (!cJSON_IsObject(sub)) {
			err = fb_errorf(FB_EINVAL,
					"%s: %s: expected an object, got %s",
					label, sections[k].name,
					type_name(sub));
			break;
		}
		char prefix[128];
		section_prefix(&sections[k], prefix, sizeof(prefix));
		err = parse_section(label, prefix, sub, &sections[k], sections,
				n_sections, false);
	}
out:
	cJSON_Delete(root);
	return err;
}

fb_err
fb_config_each(const char *label, const char *path, const char *text,
		size_t len, enum fb_cfg_kind want, fb_config_each_fn fn,
		void *ctx)
{
	cJSON *root = NULL;
	fb_err err = parse_root(label, text, len, &root);
	if (err != FB_OK) {
		return err;
	}
	if (kind_of(root) != want) {
		err = fb_errorf(FB_EINVAL, "%s: %s%sexpected %s, got %s", label,
				path, path[0] != '\0' ? ": " : "",
				fb_config_kind_name(want), type_name(root));
		goto out;
	}
	size_t k = 0;
	for (const cJSON *v = root->child; v != NULL && err == FB_OK;
			v = v->next) {
		char *value = cJSON_PrintUnformatted(v);
		if (value == NULL) {
			err = FB_ENOMEM;
			break;
		}
		struct fb_cfg_item item = {
				.key = want == FB_CFG_KIND_OBJECT ? v->string
								  : NULL,
				.index = k++,
				.kind = kind_of(v),
				.text = value,
				.string = cJSON_IsString(v) ? v->valuestring
							    : NULL,
		};
		err = fn(ctx, &item);
		free(value);
	}
out:
	cJSON_Delete(root);
	return err;
}

bool
fb_config_write_string(FILE *fp, const char *s)
{
	bool ok = fputc('"', fp) != EOF;
	for (const unsigned char *c = (const unsigned char *)s; ok && *c != 0;
			c++) {
		const char *e = NULL;
		switch (*c) {
		case '"':
			e = "\\\"";
			break;
		case '\\':
			e = "\\\\";
			break;
		case '\b':
			e = "\\b";
			break;
		case '\f':
			e = "\\f";
			break;
		case '\n':
			e = "\\n";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\t':
			e = "\\t";
			break;
		}
		if (e != NULL) {
			ok = fputs(e, fp) != EOF;
		} else if (*c < 0x20) {
			ok = fprintf(fp, "\\u%04x", *c) > 0;
		} else {
			ok = fputc(*c, fp) != EOF;
		}
	}
	return ok && fputc('"', fp) != EOF;
}

fb_err
fb_config_load(const char *path, const struct fb_cfg_section *sections,
		size_t n_sections)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 1u << 20, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	err = fb_config_parse(path, text, len, sections, n_sections);
	free(text);
	return err;
}

void
fb_config_format_value(char *buf, size_t cap, const struct fb_cfg_field *f,
		const void *target)
{
	const char *p = (const char *)target + f->offset;
	size_t used = 0;
	buf[0] = '\0';
	switch (f->type) {
	case FB_CFG_U32:
		snprintf(buf, cap, "%u", *(const uint32_t *)(const void *)p);
		break;
	case FB_CFG_U64:
		snprintf(buf, cap, "%llu",
				(unsigned long long)*(
						const uint64_t *)(const void *)
						p);
		break;
	case FB_CFG_DOUBLE:
		snprintf(buf, cap, "%.10g", *(const double *)(const void *)p);
		break;
	case FB_CFG_DOUBLE_OR_NULL: {
		double d = *(const double *)(const void *)p;
		snprintf(buf, cap, isnan(d) ? "null" : "%.10g", d);
		break;
	}
	case FB_CFG_OBJECT_LIST:
		snprintf(buf, cap, "[]");
		break;
	case FB_CFG_BOOL:
		snprintf(buf, cap, "%s",
				*(const bool *)(const void *)p ? "true"
							       : "false");
		break;
	case FB_CFG_ENUM:
		snprintf(buf, cap, "\"%s\"",
				f->choices[*(const int *)(const void *)p]);
		break;
	case FB_CFG_U32_LIST: {
		uint32_t n = *(const uint32_t *)(const void
						*)((const char *)target +
				f->count_offset);
		for (uint32_t k = 0; k <= n && used + 1 < cap; k++) {
			int w = k == n ? snprintf(buf + used, cap - used, "]")
				       : snprintf(buf + used, cap - used,
							 "%s%u",
							 k > 0 ? ", " : "[",
							 ((const uint32_t *)(const void *)
											 p)
									 [k]);
			used += w > 0 ? (size_t)w : 0;
		}
		if (n == 0) {
			snprintf(buf, cap, "[]");
		}
		break;
	}
	case FB_CFG_STRING:
		snprintf(buf, cap, p[0] == '\0' ? "none" : "\"%s\"", p);
		break;
	}
}

// The accepted values of f, for the docs' range column.
static void
format_range(char *buf, size_t cap, const struct fb_cfg_field *f)
{
	switch (f->type) {
	case FB_CFG_U32:
	case FB_CFG_U64:
		snprintf(buf, cap, "%.0f .. %.0f", f->min, f->max);
		break;
	case FB_CFG_DOUBLE:
		snprintf(buf, cap, "%.10g .. %.10g", f->min, f->max);
		break;
	case FB_CFG_DOUBLE_OR_NULL:
		snprintf(buf, cap, "null or %.10g .. %.10g", f->min, f->max);
		break;
	case FB_CFG_OBJECT_LIST:
		snprintf(buf, cap, "at most %zu objects", f->list_max);
		break;
	case FB_CFG_U32_LIST:
		snprintf(buf, cap, "at most %zu of %.0f .. %.0f", f->list_max,
				f->min, f->max);
		break;
	case FB_CFG_ENUM: {
		size_t used = 0;
		buf[0] = '\0';
		for (size_t k = 0; f->choices[k] != NULL && used + 1 < cap;
				k++) {
			int w = snprintf(buf + used, cap - used, "%s`%s`",
					k > 0 ? ", " : "", f->choices[k]);
			used += w > 0 ? (size_t)w : 0;
		}
		break;
	}
	case FB_CFG_BOOL:
		snprintf(buf, cap, "true, false");
		break;
	case FB_CFG_STRING:
		snprintf(buf, cap, "at most %zu bytes", f->str_cap - 1);
		break;
	}
}

static const char *const type_names[] = {
		[FB_CFG_U32] = "integer",
		[FB_CFG_U64] = "integer",
		[FB_CFG_DOUBLE] = "number",
		[FB_CFG_BOOL] = "boolean",
		[FB_CFG_ENUM] = "string (choice)",
		[FB_CFG_U32_LIST] = "array of integers",
		[FB_CFG_STRING] = "string",
		[FB_CFG_DOUBLE_OR_NULL] = "number or null",
		[FB_CFG_OBJECT_LIST] = "array of objects",
};

void
fb_config_print_header(FILE *fp, enum fb_cfg_style style)
{
	if (style == FB_CFG_MARKDOWN) {
		fprintf(fp,
				"| key | type | range | default | meaning |\n"
				"|---|---|---|---|---|\n");
	}
}

static void
print_help_line(FILE *fp, const char *name, const struct fb_cfg_field *f,
		const char *def)
{
	fprintf(fp, "  %-24s %s", name, f->help);
	if (f->type == FB_CFG_ENUM) {
		fprintf(fp, " [");
		for (size_t k = 0; f->choices[k] != NULL; k++) {
			fprintf(fp, "%s%s", k > 0 ? "|" : "", f->choices[k]);
		}
		fprintf(fp, "]");
	}
	if (def != NULL) {
		fprintf(fp, " (default: %s)", def);
	}
	fputc('\n', fp);
}

// Writes s with the Markdown table's separator escaped.
static void
put_cell(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|') {
			fputc('\\', fp);
		}
		fputc(*s, fp);
	}
}

void
fb_config_print_key(FILE *fp, enum fb_cfg_style style, const char *prefix,
		const struct fb_cfg_field *f, const void *target)
{
	char name[64], def[256], range[256];
	snprintf(name, sizeof(name), "%s%s", prefix, f->name);
	if (target != NULL) {
		fb_config_format_value(def, sizeof(def), f, target);
	}
	if (style == FB_CFG_HELP) {
		print_help_line(fp, name, f, target != NULL ? def : NULL);
		return;
	}
	format_range(range, sizeof(range), f);
	fprintf(fp, "| `%s` | %s | ", name, type_names[f->type]);
	put_cell(fp, range);
	fprintf(fp, " | ");
	if (target != NULL) {
		fputc('`', fp);
		put_cell(fp, def);
		fputc('`', fp);
	}
	fprintf(fp, " | ");
	put_cell(fp, f->help);
	fprintf(fp, " |\n");
}
