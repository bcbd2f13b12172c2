// tests/unit/fixture.h: the temporary folder the data unit tests
// (test-dataset, test-csvimport, test-catalog, test-partition,
// test-catver) write dataset folders and CSV files into, and remove at
// the end. A fixture that cannot write is the machine's fault, not the
// code's: it prints a TAP "Bail out!" and exits 99 (harness error), so no
// function here returns an error.
// Thread-safety: none; one fixture per test program.
#ifndef FB_TESTS_UNIT_FIXTURE_H
#define FB_TESTS_UNIT_FIXTURE_H

#include <stddef.h>

// Creates the root folder /tmp/fb-test-NAME-XXXXXX.
void fixture_init(const char *name);

// Removes the root folder and everything below it.
void fixture_finish(void);

// The root folder (fixture_init first).
const char *fixture_root(void);

// Removes dir and every file and folder below it; missing is a no-op.
void fixture_remove_tree(const char *dir);

// A fresh, empty folder dN under the root. The string is static and
// stays valid for the next 15 calls.
const char *fixture_dir(void);

// dir/name. The string is static and stays valid for the next 15 calls of
// fixture_path, fixture_put or fixture_write.
const char *fixture_path(const char *dir, const char *name);

// Writes the len bytes at buf to dir/name (replacing it) and returns its
// path, as fixture_path does.
const char *fixture_write(
		const char *dir, const char *name, const void *buf, size_t len);

// fixture_write of the string text, without its terminating NUL.
const char *fixture_put(const char *dir, const char *name, const char *text);

#endif
