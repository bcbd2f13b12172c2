// tests/fuzz/replay.c: a plain main() for any libFuzzer target. It feeds
// every regular file of the folders named on the command line (the seed
// corpora) to LLVMFuzzerTestOneInput, in name order, so the corpora run in
// every ordinary test pass without clang or libFuzzer. A target signals a
// failure by crashing or aborting; an empty corpus is a failure too, since
// it would make the test pass vacuously.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

// Runs one file; returns 0 on success, -1 if it cannot be read.
static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t got;
	while (buf != NULL && (got = fread(buf + len, 1, cap - len, fp)) > 0) {
		len += got;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	int bad = ferror(fp) || buf == NULL;
	fclose(fp);
	if (bad) {
		free(buf);
		return -1;
	}
	// An exact-size copy, so ASan catches reads past the input.
	uint8_t *exact = malloc(len > 0 ? len : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t total = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (d == NULL) {
			fprintf(stderr, "replay: cannot open %s\n", argv[i]);
			return 1;
		}
		char **names = NULL;
		size_t n = 0, cap = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.') {
				continue;
			}
			if (n == cap) {
				cap = cap > 0 ? cap * 2 : 64;
				char **nn = realloc(names, cap * sizeof(*nn));
				if (nn == NULL) {
					return 1;
				}
				names = nn;
			}
			names[n] = strdup(e->d_name);
			if (names[n] == NULL) {
				return 1;
			}
			n++;
		}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp_names);
		for (size_t k = 0; k < n; k++) {
			size_t pl = strlen(argv[i]) + strlen(names[k]) + 2;
			char *path = malloc(pl);
			if (path == NULL) {
				return 1;
			}
			snprintf(path, pl, "%s/%s", argv[i], names[k]);
			struct stat st;
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (replay_file(path) != 0) {
					fprintf(stderr, "replay: cannot read %s\n",
							path);
					return 1;
				}
				total++;
			}
			free(path);
			free(names[k]);
		}
		free(names);
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	printf("replayed %zu inputs\n", total);
	return 0;
}
